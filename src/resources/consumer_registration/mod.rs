//! `maestro_consumer_registration`: the consumer registered with the Maestro server, the last
//! hand step of the runbook ("Consumer Registration & Verification"). Until a consumer is
//! registered, Maestro sends its agent no work; with this resource one apply takes a management
//! cluster from nothing to receiving work.
//!
//! A resource of its own rather than a block of `maestro_consumer`: it talks to Maestro (or the
//! platform API), not to AWS IoT, has its own failure modes (a server not up yet, work still
//! targeting the consumer at destroy), and may be managed by another team or from another
//! configuration than the consumer's AWS side.
//!
//! One file per layer: `schema`, `model` (typed arguments and the consumer Maestro answers),
//! `plan` (pure planning), `consumers` (the consumer operations of both APIs), `platform_api`
//! (SigV4 for API Gateway) and `transport` (HTTP, TLS and retries).

mod consumers;
mod model;
mod plan;
mod platform_api;
mod schema;
mod transport;

use crate::framework::{Applied, AttributePath, Diagnostic, Diagnostics, Plan, Resource, Schema, Value};
use crate::provider::AwsClients;
use async_trait::async_trait;
use consumers::{Client, Error};
use model::{attr, Api, Spec};

pub struct ConsumerRegistration;

/// The API the value's blocks name, with the platform API's region defaulted to the provider's.
fn api_of(v: &Value, c: &AwsClients) -> Result<Api, Diagnostics> {
    match Api::from_value(v) {
        Some(Api::Platform { url, region, ca_pem }) if region.is_empty() => Ok(Api::Platform { url, region: c.region.clone(), ca_pem }),
        Some(api) => Ok(api),
        None => {
            Err(Diagnostic::error("No API", "Give `maestro_api` or `platform_api`: the API the consumer is registered through.").into())
        }
    }
}

fn failed(summary: &str, e: Error) -> Diagnostics {
    Diagnostic::error(summary, e.to_string()).into()
}

#[async_trait]
impl Resource<AwsClients> for ConsumerRegistration {
    fn type_name(&self) -> &'static str {
        "maestro_consumer_registration"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    // No resource identity: the name alone does not say which Maestro (or platform API) holds
    // the consumer, so import takes `<name>,<url>[,<region>]` (see `plan::parse_import_id`).

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        schema::validate(config, diags);
    }

    async fn modify_plan(&self, _client: Option<&AwsClients>, plan: &mut Plan<'_>, diags: &mut Diagnostics) {
        if let Some(refusal) = plan::refuse_platform_label_change(plan.prior, &plan.planned) {
            diags.push(refusal);
        }
    }

    async fn create(&self, c: &AwsClients, planned: &Value) -> Applied {
        let spec = Spec::from_value(planned);
        let api = match api_of(planned, c) {
            Ok(api) => api,
            Err(d) => return Applied::failed(Value::Null, d),
        };
        let client = match Client::new(&api, c) {
            Ok(client) => client,
            Err(e) => return Applied::failed(Value::Null, failed("Consumer not registered", e)),
        };
        let created = match client.create(&spec.name, &spec.labels).await {
            Ok(created) => created,
            Err(e) => return Applied::failed(Value::Null, failed("Consumer not registered", e)),
        };
        let mut registration = created.registration;
        let mut state = planned.clone();
        let mut diags = Diagnostics::new();
        if created.adopted {
            // Registered before (by hand, by the GCP chart's CronJob, by another configuration):
            // taken over, and brought to the configured labels where the API allows it.
            let labels_differ = registration.labels != spec.labels;
            if labels_differ && matches!(api, Api::Maestro { .. }) {
                match client.set_labels(&registration.id, &spec.labels).await {
                    Ok(updated) => registration = updated,
                    Err(e) => {
                        registration.write(&mut state);
                        return Applied::failed(state, failed("Registered consumer's labels not set", e));
                    }
                }
            }
            if !created.uncertain {
                diags.push(
                    Diagnostic::warning(
                        "Consumer already registered: taken over",
                        format!(
                            "Maestro already had a consumer named {:?} (id {}), so it was not registered again: this resource now manages that registration{}, and destroying it deletes it from Maestro.",
                            spec.name,
                            registration.id,
                            match (labels_differ, &api) {
                                (true, Api::Maestro { .. }) => ", with its labels replaced by the configuration's",
                                (true, Api::Platform { .. }) => " (its labels differ from the configuration's and the platform API cannot change them)",
                                _ => "",
                            }
                        ),
                    )
                    .at(AttributePath::root(attr::NAME)),
                );
            } else {
                tracing::info!(name = %spec.name, "an earlier attempt's answer was lost; the consumer found is this create's own");
            }
        }
        registration.write(&mut state);
        Applied { state, diags }
    }

    async fn read(&self, c: &AwsClients, state: &Value) -> Result<Option<Value>, Diagnostics> {
        let api = api_of(state, c)?;
        let client = Client::new(&api, c).map_err(|e| failed("Consumer registration not read", e))?;
        let found = match state.get(attr::ID).as_str() {
            Some(id) => client.get(id).await,
            // Imported: known by name only until now.
            None => client.find_by_name(&Spec::from_value(state).name).await,
        }
        .map_err(|e| failed("Consumer registration not read", e))?;
        let Some(registration) = found else { return Ok(None) };
        let mut new = state.clone();
        registration.write(&mut new);
        Ok(Some(new))
    }

    async fn update(&self, c: &AwsClients, prior: &Value, planned: &Value) -> Applied {
        let mut state = planned.clone();
        for computed in [attr::ID, attr::CREATED_AT] {
            state.set(computed, prior.get(computed).clone());
        }
        let spec = Spec::from_value(planned);
        if Spec::from_value(prior).labels == spec.labels {
            // Only how the API is reached changed: nothing to tell Maestro.
            return Applied::ok(state);
        }
        let api = match api_of(planned, c) {
            Ok(api) => api,
            Err(d) => return Applied::failed(prior.clone(), d),
        };
        let id = prior.get(attr::ID).as_str().unwrap_or_default().to_string();
        let result = match Client::new(&api, c) {
            Ok(client) => client.set_labels(&id, &spec.labels).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(registration) => {
                registration.write(&mut state);
                Applied::ok(state)
            }
            Err(e) => Applied::failed(prior.clone(), failed("Consumer labels not changed", e)),
        }
    }

    async fn delete(&self, c: &AwsClients, state: &Value) -> Diagnostics {
        let api = match api_of(state, c) {
            Ok(api) => api,
            Err(d) => return d,
        };
        let name = Spec::from_value(state).name;
        let Some(id) = state.get(attr::ID).as_str() else { return Diagnostics::new() };
        if let Api::Platform { .. } = api {
            let mut diags = Diagnostics::new();
            diags.warning(
                "Consumer left registered in Maestro",
                format!("The regional platform API cannot delete management clusters, so consumer {name:?} (id {id}) stays registered in Maestro and is only removed from state. Delete it through Maestro's REST API (DELETE /api/maestro/v1/consumers/{id}) once no work targets it."),
            );
            return diags;
        }
        let client = match Client::new(&api, c) {
            Ok(client) => client,
            Err(e) => return failed("Consumer registration not deleted", e),
        };
        match client.delete(id, &name).await {
            Ok(()) => Diagnostics::new(),
            Err(Error::InUse(answer)) => Diagnostic::error(
                "Consumer still has work",
                format!(
                    "Maestro refuses to delete consumer {name:?} (id {id}) while resource bundles still target it ({answer}). Remove that work first: delete the consumer's resource bundles (GET /api/maestro/v1/resource-bundles?search=consumer_name = '{name}' lists them; their ManifestWorks were sent through Maestro's gRPC source API), and wait until the consumer's agent confirms their removal, since Maestro keeps a deleted bundle until then. Then destroy again. The registration is still in Maestro and in state, and nothing that depends on it was deleted."
                ),
            )
            .at(AttributePath::root(attr::NAME))
            .into(),
            Err(e) => failed("Consumer registration not deleted", e),
        }
    }

    async fn import(&self, c: &AwsClients, id: &str) -> Result<Value, Diagnostics> {
        let invalid = |detail: String| -> Diagnostics { Diagnostic::error("Invalid import ID", detail).into() };
        let (name, maestro_api, mut platform_api) = plan::parse_import_id(id).map_err(invalid)?;
        // The provider's region is what an unset `region` means: recorded as unset, so a
        // configuration that leaves it out plans no change after the import.
        if platform_api.get(attr::REGION).as_str() == Some(c.region.as_str()) {
            platform_api.set(attr::REGION, Value::Null);
        }
        if let Err(why) = crate::policy::naming::check_consumer_name(&name) {
            return Err(invalid(format!("The name {why}")));
        }
        let url = maestro_api.get(attr::URL).as_str().or(platform_api.get(attr::URL).as_str()).unwrap_or_default().to_string();
        schema::check_api_url(&url).map_err(|why| invalid(format!("The URL {why}")))?;
        Ok(Value::object([
            (attr::NAME, Value::string(name)),
            (attr::LABELS, Value::Null),
            (attr::ID, Value::Null),
            (attr::CREATED_AT, Value::Null),
            (attr::MAESTRO_API, maestro_api),
            (attr::PLATFORM_API, platform_api),
        ]))
    }
}
