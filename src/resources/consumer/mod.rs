//! `maestro_consumer` (regional account): one Maestro consumer's side of the IoT broker — the
//! IoT thing, the least-privilege IoT policy and the agent's certificate, issued from the
//! agent's CSR so that no private key ever reaches this account. All names, topics and the
//! policy document come from `crate::policy`, the same source `maestro_agent_identity` uses.
//!
//! Tags: `tags` (with the provider's `default_tags`) go on the IoT policy, the one taggable
//! object here; AWS IoT things are not taggable (they carry attributes instead).
//!
//! One file per layer: `schema`, `model` (typed arguments and state), `plan` (pure rotation
//! planning), one file per AWS object (`thing`, `policy`, `certificate`) and `import`; the
//! finders and deleters they share with other resources are in `resources::aws::iot`.

mod certificate;
mod import;
mod model;
mod plan;
mod policy;
mod schema;
mod thing;

use crate::framework::state::rename_state_attributes;
use crate::framework::{Applied, AttributePath, Diagnostic, Diagnostics, Plan, Resource, Schema, Value};
use crate::policy::{agent_binding, consumer_iot, server_binding};
use crate::provider::AwsClients;
use crate::resources::account_guard::{self, Placement, Side};
use crate::resources::aws::iot;
use async_trait::async_trait;
use model::{attr, Attachments, Certificate, Previous, Spec};
use std::collections::HashMap;

/// A consumer belongs in the regional account: planned in the management account its
/// `management_account_id` names (swapped providers), it is refused before IoT Core there could
/// issue the agent's certificate.
const PLACEMENT: Placement = Placement {
    resource: "maestro_consumer",
    home: Side::Regional,
    attribute: attr::MANAGEMENT_ACCOUNT_ID,
    harm: "had IoT Core in the management account create the agent's thing and policy and issue its certificate",
};

/// (server IoT policy name, topic prefix it grants) of each Maestro server in an account.
type ServerPrefixes = Vec<(String, String)>;

#[derive(Default)]
pub struct Consumer {
    /// The Maestro servers of each (account, region) and the topic prefix each one's IoT
    /// policy grants, looked up once per provider process for the mismatch check.
    /// Held across the lookup, so consumers planned in parallel make it once.
    servers: tokio::sync::Mutex<HashMap<(String, String), ServerPrefixes>>,
}

impl Consumer {
    /// (server policy, topic prefix) of every `*-maestro-server-policy` in the account.
    async fn servers(&self, c: &AwsClients) -> Result<ServerPrefixes, Diagnostics> {
        let key = (c.account_id.clone(), c.region.clone());
        let mut cache = self.servers.lock().await;
        if let Some(found) = cache.get(&key) {
            return Ok(found.clone());
        }
        let mut found = Vec::new();
        for name in iot::list_policy_names(c).await?.into_iter().filter(|n| n.ends_with("-maestro-server-policy")) {
            let document = iot::find_policy(c, &name).await?.and_then(|p| p.document);
            if let Some(prefix) = document.as_deref().and_then(server_binding::granted_topic_prefix) {
                found.push((name, prefix));
            }
        }
        cache.insert(key, found.clone());
        Ok(found)
    }
}

/// A consumer whose topics no Maestro server of the account serves: its agent would connect
/// and wait for work that never comes. `None` when there is no server yet (it may be created
/// in the same apply) or one serves the prefix.
fn prefix_mismatch(consumer_prefix: &str, servers: &[(String, String)]) -> Option<String> {
    let prefix = consumer_prefix.trim_end_matches('/');
    if servers.is_empty() || servers.iter().any(|(_, p)| p.trim_end_matches('/') == prefix) {
        return None;
    }
    let list: Vec<String> = servers.iter().map(|(policy, p)| format!("{policy} ({p})")).collect();
    Some(format!(
        "No Maestro server in this account serves topic_prefix {prefix:?}: the server policies found grant {}. Give the consumer the server's prefix (topic_prefix = maestro_server_identity.<name>.topic_prefix), or leave both unset so both take the provider's.",
        list.join(", ")
    ))
}

#[async_trait]
impl Resource<AwsClients> for Consumer {
    fn type_name(&self) -> &'static str {
        "maestro_consumer"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    /// Version 1 renamed `account_id` to `management_account_id`: the resource is configured
    /// with the regional provider, and the bare name invited the regional account's ID.
    fn upgrade_state(&self, from_version: i64, state: serde_json::Value) -> Result<serde_json::Value, Diagnostics> {
        Ok(if from_version < 1 { rename_state_attributes(state, &[(attr::ACCOUNT_ID_V0, attr::MANAGEMENT_ACCOUNT_ID)]) } else { state })
    }

    fn identity_attribute(&self) -> Option<(&'static str, &'static str)> {
        Some((attr::CONSUMER_ID, "Maestro consumer name."))
    }

    async fn modify_plan(&self, client: Option<&AwsClients>, plan: &mut Plan<'_>, diags: &mut Diagnostics) {
        let Some(c) = client else { return };
        // Before anything else, so a consumer given the management provider plans nothing there.
        if account_guard::refuse(&PLACEMENT, &plan.planned, c, diags) {
            return;
        }
        let p = &mut plan.planned;
        if plan.config.get(attr::TOPIC_PREFIX).is_null() {
            p.set(attr::TOPIC_PREFIX, Value::string(&c.topic_prefix));
        }
        if plan.config.get(attr::CLOUDEVENTS_CLIENT_ID).is_null() {
            let id = p.get(attr::CONSUMER_ID).as_str().map(|id| Value::string(agent_binding::default_cloudevents_client_id(id)));
            p.set(attr::CLOUDEVENTS_CLIENT_ID, id.unwrap_or(Value::Unknown));
        }
        // Known at plan time, so configurations can use it before the first apply.
        match iot::data_ats_endpoint(c).await {
            Ok(host) => p.set(attr::ENDPOINT, Value::String(host)),
            Err(d) => diags.extend(d),
        }
        if let Some(id) = p.get(attr::CONSUMER_ID).as_str() {
            if let Err(e) = consumer_iot::check_names(id) {
                diags.push(Diagnostic::error("Invalid consumer_id", e.to_string()).at(AttributePath::root(attr::CONSUMER_ID)));
            }
        }
        // Names, ARNs, topics and the policy document are known before anything exists.
        if p.attributes_known(&[attr::CONSUMER_ID, attr::TOPIC_PREFIX, attr::CLOUDEVENTS_CLIENT_ID]) {
            let spec = Spec::from_value(p);
            if let Err(e) = spec.policy(c) {
                diags.push(Diagnostic::error("IoT policy too large", e.to_string()).at(AttributePath::root(attr::TOPIC_PREFIX)));
            }
            spec.derived(c).write(p);
            p.set(attr::THING_ARN, Value::String(spec.thing_arn(c)));
            p.set(attr::POLICY_ARN, Value::String(spec.policy_arn(c)));
        }
        if p.get(attr::TAGS).is_wholly_known() {
            let tags = crate::resources::common::merge_tags(&c.default_tags, &p.get(attr::TAGS).string_map_entries());
            p.set(attr::TAGS_ALL, Value::string_map(&tags));
        }
        if let Some(prefix) = p.get(attr::TOPIC_PREFIX).as_str() {
            match self.servers(c).await {
                Ok(servers) => {
                    if let Some(why) = prefix_mismatch(prefix, &servers) {
                        diags.push(
                            Diagnostic::warning("Topic prefix served by no Maestro server", why)
                                .at(AttributePath::root(attr::TOPIC_PREFIX)),
                        );
                    }
                }
                // The check is advice: a role without iot:ListPolicies still plans.
                Err(d) => tracing::debug!(?d, "could not list the account's Maestro server policies"),
            }
        }
        plan::plan_certificates(plan.prior, p, crate::resources::rotation::now_secs());
    }

    async fn create(&self, c: &AwsClients, planned: &Value) -> Applied {
        let spec = Spec::from_value(planned);
        let doc = match spec.policy(c) {
            Ok(doc) => doc,
            Err(e) => return Applied::failed(Value::Null, policy::invalid(e)),
        };
        let mut state = planned.clone();
        state.set(attr::THING_ARN, Value::Null);
        state.set(attr::POLICY_ARN, Value::Null);
        Certificate::clear(&mut state);
        Attachments::NONE.write(&mut state);
        Previous::write_list(&mut state, &[]);
        tracing::info!(consumer_id = %spec.consumer_id, "creating the consumer's thing, policy and certificate");
        let csr = match model::configured_csr(planned) {
            Ok(csr) => csr,
            Err(d) => return Applied::failed(Value::Null, d),
        };
        // A thing of ours already there means an earlier create was cut short (a killed
        // provider, a lost answer): what else it made is looked for and taken back too.
        let resumed = match thing::create(c, &spec, csr.spki_der()).await {
            Ok((arn, adopted)) => {
                state.set(attr::THING_ARN, Value::String(arn));
                adopted
            }
            Err(d) => return Applied::failed(Value::Null, d),
        };
        // From here on something exists: failures return the partial state, which Terraform
        // records as tainted, so the next apply deletes it (certificate included) and starts
        // again instead of leaking it.
        match policy::create(c, &spec, &doc, csr.spki_der()).await {
            Ok(arn) => state.set(attr::POLICY_ARN, Value::String(arn)),
            Err(d) => return Applied::failed(state, d),
        }
        if let Err(d) = certificate::issue_and_attach(c, &spec, &csr, resumed, &mut state).await {
            return Applied::failed(state, d);
        }
        Applied::ok(state)
    }

    async fn read(&self, c: &AwsClients, state: &Value) -> Result<Option<Value>, Diagnostics> {
        let spec = Spec::from_value(state);
        let mut new = state.clone();
        spec.derived(c).write(&mut new);
        if new.get(attr::ENDPOINT).is_null() {
            new.set(attr::ENDPOINT, Value::String(iot::data_ats_endpoint(c).await?));
        }
        thing::read(c, &spec, &mut new).await?;
        policy::read(c, &spec, state.get(attr::TAGS).is_null(), &mut new).await?;
        let have_certificates = certificate::read(c, &spec, state, &mut new).await?;
        // Gone only when nothing at all is left: while a certificate exists, the resource must
        // stay in state so that it is retired rather than forgotten.
        if new.get(attr::THING_ARN).is_null() && new.get(attr::POLICY_ARN).is_null() && !have_certificates {
            return Ok(None);
        }
        Ok(Some(new))
    }

    async fn update(&self, c: &AwsClients, prior: &Value, planned: &Value) -> Applied {
        let mut state = prior.clone();
        // Arguments that touch nothing in AWS by themselves.
        state.set(attr::GRACE_PERIOD_HOURS, planned.get(attr::GRACE_PERIOD_HOURS).clone());
        state.set(attr::ENDPOINT, planned.get(attr::ENDPOINT).clone());
        // Brings AWS to `planned`, keeping `state` true to what exists after each step so that
        // a failure part-way records it.
        let spec = Spec::from_value(planned);
        let converged = async {
            let doc = spec.policy(c).map_err(policy::invalid)?;
            thing::converge(c, prior, &spec, &mut state).await?;
            policy::converge(c, prior, &spec, &doc, &mut state).await?;
            certificate::converge(c, prior, planned, &spec, &mut state).await
        };
        if let Err(d) = converged.await {
            return Applied::failed(state, d);
        }
        // Everything now matches the plan; fill in what the plan could not know.
        let mut out = planned.clone();
        Certificate::copy_issued(&state, &mut out);
        out.set(
            attr::PREVIOUS_CERTIFICATES,
            Previous::fill_deadlines(planned, &Previous::list(&state), crate::resources::rotation::now_secs()),
        );
        Applied::ok(out)
    }

    async fn delete(&self, c: &AwsClients, state: &Value) -> Diagnostics {
        let spec = Spec::from_value(state);
        let deleted = async {
            certificate::retire_all(c, state).await?;
            iot::delete_policy(c, &spec.policy_name()).await?;
            iot::delete_thing(c, &spec.thing_name()).await
        };
        deleted.await.err().unwrap_or_default()
    }

    async fn import(&self, c: &AwsClients, id: &str) -> Result<Value, Diagnostics> {
        import::import(c, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::{prefix_mismatch, PLACEMENT};
    use crate::framework::Value;
    use crate::resources::account_guard::check;

    #[test]
    fn planned_in_its_own_management_account_the_consumer_is_refused_at_management_account_id() {
        // The guard's attribute is the schema's, so a rename cannot silently turn it off.
        assert!(super::schema::schema().block.find_attribute(PLACEMENT.attribute).is_some());
        let planned = Value::object([(PLACEMENT.attribute, Value::string("987654321098"))]);
        let error = check(&PLACEMENT, &planned, "987654321098", "").expect("refused");
        assert!(error.summary.contains("swapped providers?"));
        assert_eq!(error.attribute.unwrap().to_string(), "management_account_id");
        assert!(error.detail.contains("maestro_consumer belongs in the regional account"), "{}", error.detail);
        assert_eq!(check(&PLACEMENT, &planned, "123456789012", ""), None);
    }

    #[test]
    fn a_prefix_no_server_serves_is_named_with_the_servers_found() {
        let servers = vec![("r-maestro-server-policy".to_string(), "sources/maestro/consumers".to_string())];
        assert_eq!(prefix_mismatch("sources/maestro/consumers/", &servers), None);
        assert_eq!(prefix_mismatch("sources/blue/consumers", &[]), None, "no server yet: nothing to compare with");
        let why = prefix_mismatch("sources/blue/consumers", &servers).unwrap();
        assert!(why.contains("r-maestro-server-policy (sources/maestro/consumers)") && why.contains("sources/blue/consumers"), "{why}");
    }
}
