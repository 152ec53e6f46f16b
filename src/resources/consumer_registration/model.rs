//! The typed view of `maestro_consumer_registration`: [`Spec`] for the arguments (the name, the
//! labels and the one API registrations go through), [`Registration`] for the consumer as
//! Maestro holds it. Every attribute name is written once, in [`attr`].

use crate::framework::Value;
use crate::resources::common::opt_text;
use std::collections::BTreeMap;

pub mod attr {
    pub const NAME: &str = "name";
    pub const LABELS: &str = "labels";
    pub const MAESTRO_API: &str = "maestro_api";
    pub const PLATFORM_API: &str = "platform_api";
    pub const URL: &str = "url";
    pub const BEARER_TOKEN: &str = "bearer_token";
    pub const CA_PEM: &str = "ca_pem";
    pub const REGION: &str = "region";
    pub const ID: &str = "id";
    pub const CREATED_AT: &str = "created_at";
}

/// Where the bearer token comes from when `maestro_api.bearer_token` is not set: the provider
/// process's environment, so a token never has to be in configuration or state.
pub const BEARER_TOKEN_ENV: &str = "MAESTRO_API_BEARER_TOKEN";

/// Which API registers the consumer.
#[derive(Clone, Debug, PartialEq)]
pub enum Api {
    /// Maestro's own REST API, `<url>/api/maestro/v1/consumers`.
    Maestro { url: String, bearer_token: Option<String>, ca_pem: Option<String> },
    /// The regional platform API behind API Gateway, `<url>/api/v0/management_clusters`, signed
    /// with SigV4 (`execute-api`, `region`) with the provider's credentials. It can create and
    /// read, not change or delete.
    Platform { url: String, region: String, ca_pem: Option<String> },
}

impl Api {
    /// The API a value's blocks name; `None` when neither is set (refused at validate time).
    pub fn from_value(v: &Value) -> Option<Api> {
        let maestro = v.get(attr::MAESTRO_API);
        if !maestro.is_null() {
            return Some(Api::Maestro {
                url: opt_text(maestro, attr::URL).unwrap_or_default(),
                bearer_token: opt_text(maestro, attr::BEARER_TOKEN)
                    .or_else(|| std::env::var(BEARER_TOKEN_ENV).ok().filter(|t| !t.is_empty())),
                ca_pem: opt_text(maestro, attr::CA_PEM),
            });
        }
        let platform = v.get(attr::PLATFORM_API);
        (!platform.is_null()).then(|| Api::Platform {
            url: opt_text(platform, attr::URL).unwrap_or_default(),
            region: opt_text(platform, attr::REGION).unwrap_or_default(),
            ca_pem: opt_text(platform, attr::CA_PEM),
        })
    }

    pub fn url(&self) -> &str {
        match self {
            Api::Maestro { url, .. } | Api::Platform { url, .. } => url,
        }
    }

    pub fn ca_pem(&self) -> Option<&str> {
        match self {
            Api::Maestro { ca_pem, .. } | Api::Platform { ca_pem, .. } => ca_pem.as_deref(),
        }
    }

    /// What the user reads in messages: which API, at which URL.
    pub fn describe(&self) -> String {
        match self {
            Api::Maestro { url, .. } => format!("Maestro's REST API at {url}"),
            Api::Platform { url, .. } => format!("the regional platform API at {url}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Spec {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub api: Option<Api>,
}

impl Spec {
    pub fn from_value(v: &Value) -> Spec {
        Spec {
            name: opt_text(v, attr::NAME).unwrap_or_default(),
            labels: v.get(attr::LABELS).string_map_entries(),
            api: Api::from_value(v),
        }
    }
}

/// A consumer as Maestro answers it (`kind: "Consumer"`). `labels` is left out of Maestro's
/// answer when there are none, which is the empty map here.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct Registration {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub created_at: Option<String>,
}

impl Registration {
    /// Writes what Maestro holds into `state`. Labels left unset in the configuration (null)
    /// stay null while Maestro has none, so an unlabelled registration plans no change.
    pub fn write(&self, state: &mut Value) {
        state.set(attr::ID, Value::string(&self.id));
        state.set(attr::NAME, Value::string(&self.name));
        let labels =
            if self.labels.is_empty() && state.get(attr::LABELS).is_null() { Value::Null } else { Value::string_map(&self.labels) };
        state.set(attr::LABELS, labels);
        state.set(attr::CREATED_AT, self.created_at.clone().map(Value::String).unwrap_or(Value::Null));
    }
}

/// A page of a consumer list: `{kind: "ConsumerList", page, size, total, items}`.
#[derive(Debug, serde::Deserialize)]
pub struct Page {
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub items: Vec<Registration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maestro_leaves_labels_out_when_there_are_none_and_state_keeps_them_null() {
        let found: Registration =
            serde_json::from_str(r#"{"id":"u","kind":"Consumer","href":"/x","name":"mc-1","created_at":"t"}"#).unwrap();
        assert!(found.labels.is_empty());
        let mut state = Value::object([(attr::LABELS, Value::Null)]);
        found.write(&mut state);
        assert!(state.get(attr::LABELS).is_null());
        let mut configured = Value::object([(attr::LABELS, Value::object([("a", Value::string("b"))]))]);
        found.write(&mut configured);
        assert_eq!(configured.get(attr::LABELS), &Value::Map(Default::default()), "drift from configured labels shows");
    }

    #[test]
    fn the_api_is_the_block_that_is_set() {
        let v = Value::object([
            (attr::MAESTRO_API, Value::Null),
            (attr::PLATFORM_API, Value::object([(attr::URL, Value::string("https://a/prod")), (attr::REGION, Value::string("us-east-1"))])),
        ]);
        assert_eq!(Api::from_value(&v), Some(Api::Platform { url: "https://a/prod".into(), region: "us-east-1".into(), ca_pem: None }));
        assert_eq!(Api::from_value(&Value::object([(attr::NAME, Value::string("x"))])), None);
    }
}
