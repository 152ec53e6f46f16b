//! Consumers through Maestro's REST API (`/api/maestro/v1/consumers`) or, for create and read,
//! the regional platform API's `/api/v0/management_clusters` (the same consumer objects,
//! passed through). Each function is one remote operation on one consumer.

use super::model::{Api, Page, Registration};
use super::platform_api;
use super::transport::{Answer, Failure, Request, Transport};
use crate::provider::AwsClients;
use std::collections::BTreeMap;

const CONSUMERS: &str = "/api/maestro/v1/consumers";
const MANAGEMENT_CLUSTERS: &str = "/api/v0/management_clusters";
/// The platform API's largest page.
const PAGE_SIZE: u64 = 100;

/// Why an operation failed, in words for a diagnostic.
#[derive(Debug)]
pub enum Error {
    Failed(String),
    /// Maestro refused to delete: resource bundles still reference the consumer.
    InUse(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Failed(s) | Error::InUse(s) => f.write_str(s),
        }
    }
}

pub struct Client<'a> {
    api: &'a Api,
    clients: &'a AwsClients,
    transport: Transport,
}

/// What create did: registered the consumer, or found it registered already.
pub struct Created {
    pub registration: Registration,
    pub adopted: bool,
    /// An attempt's answer was lost, so a registration found may be this create's own.
    pub uncertain: bool,
}

impl<'a> Client<'a> {
    pub fn new(api: &'a Api, clients: &'a AwsClients) -> Result<Client<'a>, Error> {
        let transport = Transport::new(api.ca_pem()).map_err(Error::Failed)?;
        Ok(Client { api, clients, transport })
    }

    fn collection(&self) -> String {
        let base = self.api.url().trim_end_matches('/');
        match self.api {
            Api::Maestro { .. } => format!("{base}{CONSUMERS}"),
            Api::Platform { .. } => format!("{base}{MANAGEMENT_CLUSTERS}"),
        }
    }

    async fn call(
        &self,
        what: &str,
        method: hyper::Method,
        url: String,
        body: Option<serde_json::Value>,
        uncertain: &mut bool,
    ) -> Result<Answer, Error> {
        let body = body.map(|b| b.to_string().into_bytes());
        let credentials = match self.api {
            Api::Platform { region, .. } => Some((platform_api::credentials(self.clients).await.map_err(Error::Failed)?, region.as_str())),
            Api::Maestro { .. } => None,
        };
        let build = || -> Result<Request, String> {
            let mut headers = vec![("accept".to_string(), "application/json".to_string())];
            if body.is_some() {
                headers.push(("content-type".into(), "application/json".into()));
            }
            if let Api::Maestro { bearer_token: Some(token), .. } = self.api {
                headers.push(("authorization".into(), format!("Bearer {token}")));
            }
            let mut request = Request { method: method.clone(), url: url.clone(), headers, body: body.clone() };
            if let Some((credentials, region)) = &credentials {
                platform_api::sign(&mut request, credentials, region)?;
            }
            Ok(request)
        };
        self.transport.send(what, uncertain, build).await.map_err(|f| self.failure(what, f))
    }

    fn failure(&self, what: &str, failure: Failure) -> Error {
        Error::Failed(format!("{what} through {} failed: {failure}", self.api.describe()))
    }

    fn unexpected(&self, what: &str, answer: &Answer) -> Error {
        let hint = match (answer.status, self.api) {
            (401, Api::Maestro { bearer_token: None, .. }) => format!(" Maestro asks for a bearer token: set maestro_api.bearer_token or {}.", super::model::BEARER_TOKEN_ENV),
            (401, Api::Maestro { .. }) => " Maestro did not accept the bearer token.".to_string(),
            (403, Api::Platform { .. }) => format!(
                " The platform API (or API Gateway in front of it) refused the caller {} of account {}: it takes requests signed for `execute-api` in platform_api.region by a privileged account only.",
                self.clients.caller_arn, self.clients.account_id
            ),
            _ => String::new(),
        };
        Error::Failed(format!("{what} through {}: {}.{hint}", self.api.describe(), answer.describe()))
    }

    fn parse<T: serde::de::DeserializeOwned>(&self, what: &str, answer: &Answer) -> Result<T, Error> {
        answer.json().map_err(|e| Error::Failed(format!("{what} through {}: {e}", self.api.describe())))
    }

    /// POST; a name Maestro already holds is looked up by name and taken over.
    pub async fn create(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<Created, Error> {
        let what = format!("Registering consumer {name:?}");
        let mut uncertain = false;
        let body = serde_json::json!({"name": name, "labels": labels});
        let answer = self.call(&what, hyper::Method::POST, self.collection(), Some(body), &mut uncertain).await?;
        if answer.status == 201 || answer.status == 200 {
            return Ok(Created { registration: self.parse(&what, &answer)?, adopted: false, uncertain });
        }
        // Maestro answers 409 maestro-6; the platform API passes it through as 502.
        let taken = answer.status == 409 || answer.error().is_some_and(|(code, _)| code == "maestro-6");
        if !taken {
            return Err(self.unexpected(&what, &answer));
        }
        match self.find_by_name(name).await? {
            Some(registration) => Ok(Created { registration, adopted: true, uncertain }),
            None => Err(Error::Failed(format!(
                "{what} through {}: Maestro says the name is taken ({}), but no consumer of that name could be found.",
                self.api.describe(),
                answer.describe()
            ))),
        }
    }

    /// GET by ID; `None` when Maestro has no such consumer.
    pub async fn get(&self, id: &str) -> Result<Option<Registration>, Error> {
        let what = format!("Reading consumer {id}");
        let url = format!("{}/{}", self.collection(), urlencoding::encode(id));
        let answer = self.call(&what, hyper::Method::GET, url, None, &mut false).await?;
        match answer.status {
            200 => Ok(Some(self.parse(&what, &answer)?)),
            404 => Ok(None),
            _ => Err(self.unexpected(&what, &answer)),
        }
    }

    /// The consumer named `name`: Maestro's `search=name = '<name>'`, or, through the platform
    /// API (which has no search), every page of the list.
    pub async fn find_by_name(&self, name: &str) -> Result<Option<Registration>, Error> {
        Ok(self.list(Some(name)).await?.into_iter().find(|r| r.name == name))
    }

    /// Every consumer (or the one named), page by page.
    pub async fn list(&self, name: Option<&str>) -> Result<Vec<Registration>, Error> {
        let what = "Listing consumers".to_string();
        let mut found = Vec::new();
        for page in 1u64.. {
            let mut url = format!("{}?page={page}&size={PAGE_SIZE}", self.collection());
            if let (Some(name), Api::Maestro { .. }) = (name, self.api) {
                // Names are RFC 1123 labels (validated), so the quotes cannot be escaped from.
                url.push_str(&format!("&search={}", urlencoding::encode(&format!("name = '{name}'"))));
            }
            let answer = self.call(&what, hyper::Method::GET, url, None, &mut false).await?;
            if answer.status != 200 {
                return Err(self.unexpected(&what, &answer));
            }
            let listed: Page = self.parse(&what, &answer)?;
            let count = listed.items.len() as u64;
            found.extend(listed.items);
            if count == 0 || page * PAGE_SIZE >= listed.total {
                break;
            }
        }
        Ok(found)
    }

    /// PATCH `{labels}`: Maestro replaces the labels as a whole.
    pub async fn set_labels(&self, id: &str, labels: &BTreeMap<String, String>) -> Result<Registration, Error> {
        let what = format!("Changing the labels of consumer {id}");
        let url = format!("{}/{}", self.collection(), urlencoding::encode(id));
        let answer = self.call(&what, hyper::Method::PATCH, url, Some(serde_json::json!({ "labels": labels })), &mut false).await?;
        match answer.status {
            200 => self.parse(&what, &answer),
            _ => Err(self.unexpected(&what, &answer)),
        }
    }

    /// DELETE; Maestro answers 204 also for a consumer already gone.
    pub async fn delete(&self, id: &str, name: &str) -> Result<(), Error> {
        let what = format!("Deleting consumer {name:?} ({id})");
        let url = format!("{}/{}", self.collection(), urlencoding::encode(id));
        let answer = self.call(&what, hyper::Method::DELETE, url, None, &mut false).await?;
        match answer.status {
            200 | 204 | 404 => Ok(()),
            // 403 maestro-4: a foreign key from the resources table (resource bundles, soft-deleted
            // ones included, until their agent confirms the removal).
            403 if answer.error().is_some_and(|(code, reason)| code == "maestro-4" || reason.contains("fk_resources_consumers")) => {
                Err(Error::InUse(answer.describe()))
            }
            _ => Err(self.unexpected(&what, &answer)),
        }
    }
}
