//! `maestro_agent_key` (management account): the agent's MQTT key pair, generated inside the
//! provider and written straight into the agent's credential secret. Only the public half
//! leaves: `csr_pem` goes to the regional account's `maestro_consumer`, which has IoT Core sign
//! it. This replaces CreateKeysAndCertificate in the regional account and the `cert.json`
//! carried between teams (seeds 000 and 001).
//!
//! The key is staged, never swapped in: on create it is the secret's first version (a bundle
//! with no certificate, so nothing can use it yet); on rotation it is a new AWSPENDING version
//! while the current bundle keeps serving. `maestro_agent_identity` promotes it to AWSCURRENT
//! once a certificate for it arrives, so a current bundle always pairs a key with its own
//! certificate.

mod key;
pub(crate) mod model;
/// The cluster a credential secret was written for (the deployed chart's one-agent check).
mod rotate_action;
mod schema;
mod secret;

pub use rotate_action::RotateAgentKey;

use crate::crypto::Csr;
use crate::crypto::{CredentialBundle, AMAZON_ROOT_CA_1};
use crate::framework::schema::Schema;
use crate::framework::{Applied, Diagnostic, Diagnostics, Plan, Resource, Value};
use crate::policy::agent_binding;
use crate::provider::charts::AgentChart;
use crate::provider::AwsClients;
use crate::resources::aws::custody;
use crate::resources::aws::secretsmanager::{self as secrets, SecretInfo, AWSPENDING};
use crate::resources::common::{merge_tags, opt_text, text};
use async_trait::async_trait;
use key::{new_key, now_rfc3339};
use model::{attr, cluster_id_of, imported_state, set_found_secret, set_key_attributes, Spec, DESCRIPTION_PREFIX, SECRET_RESOURCE_POLICY};
use schema::schema;
use std::time::SystemTime;

pub struct AgentKey;

#[async_trait]
impl Resource<AwsClients> for AgentKey {
    fn type_name(&self) -> &'static str {
        "maestro_agent_key"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    async fn modify_plan(&self, client: Option<&AwsClients>, plan: &mut Plan<'_>, diags: &mut Diagnostics) {
        let p = &mut plan.planned;
        if plan.config.get(attr::SECRET_NAME).is_null() {
            // The name the provider's agent_chart mounts (seed 001's when unset or custom).
            let chart = AgentChart::or_custom(client.and_then(|c| c.agent_chart));
            let name = p.get(attr::CLUSTER_ID).as_str().map(|id| Value::string(chart.cert_secret_name(id))).unwrap_or(Value::Unknown);
            p.set(attr::SECRET_NAME, name);
        }
        if let Some(c) = client {
            let kms = crate::resources::kms_key::KmsAttributes { reference: attr::KMS_KEY_ID, key_arn: None };
            crate::resources::kms_key::plan(c, plan.config, p, kms, diags).await;
            if p.get(attr::TAGS).is_wholly_known() {
                p.set(attr::TAGS_ALL, Value::string_map(&merge_tags(&c.default_tags, &p.get(attr::TAGS).string_map_entries())));
            }
            if crate::resources::deployed_agent::refuse_second_deployed_agent(c, p, attr::SECRET_NAME, diags).await {
                return;
            }
        }
        if plan.prior.is_null() {
            return;
        }
        if let Some(d) = key::shared_secret_across_clusters(plan.prior, p) {
            diags.push(d);
            return;
        }
        if key::rotation_planned(plan.prior, p, SystemTime::now()) {
            key::mark_key_unknown(p);
        }
    }

    async fn create(&self, c: &AwsClients, planned: &Value) -> Applied {
        let spec = Spec::from_value(planned);
        let mut state = planned.clone();
        let (key, csr) = match new_key(spec.algorithm, &spec.cluster_id).await {
            Ok(pair) => pair,
            Err(d) => return Applied::failed(Value::Null, d),
        };
        let bundle = CredentialBundle::of_new_key(&key, AMAZON_ROOT_CA_1);
        tracing::info!(secret = %spec.secret_name, algorithm = %spec.algorithm, fingerprint = %key.fingerprint(), "writing a new agent key");
        match self.create_secret(c, &spec, &bundle).await {
            Ok((arn, version)) => {
                state.set(attr::ID, Value::string(&arn));
                state.set(attr::SECRET_ARN, Value::String(arn));
                state.set(attr::TAGS_ALL, Value::string_map(&merge_tags(&c.default_tags, &spec.tags)));
                set_key_attributes(&mut state, &key, csr, version, now_rfc3339());
                Applied::ok(state)
            }
            Err(d) => Applied::failed(Value::Null, d),
        }
    }

    async fn read(&self, c: &AwsClients, state: &Value) -> Result<Option<Value>, Diagnostics> {
        let id = opt_text(state, attr::SECRET_ARN).unwrap_or_else(|| text(state, attr::SECRET_NAME));
        let Some(info) = secrets::describe(c, &id).await? else { return Ok(None) };
        if info.scheduled_for_deletion {
            // Deleted out of band. The secret this resource recorded (its ARN is unique, so
            // the proof it is ours) is restored by the rotation the missing key plans; any
            // other secret of that name is not ours to restore, so plan a create, which
            // refuses it.
            if opt_text(state, attr::SECRET_ARN).as_deref() != Some(info.arn.as_str()) {
                return Ok(None);
            }
            let mut new = state.clone();
            for name in model::KEY_ATTRIBUTES {
                new.set(name, Value::Null);
            }
            return Ok(Some(new));
        }
        // A policy or replica put on the secret out of band exposes the key it holds: the
        // plan stops here, for the user to decide. The declared policy is no finding; found
        // missing, it is cleared so that the plan puts it back. (A changed KMS key is drift
        // the plan puts back, so it is not judged here.)
        let declared = opt_text(state, SECRET_RESOURCE_POLICY);
        let policy = custody::SecretPolicy::accepting(declared.as_deref());
        let found = custody::check(c, &info, info.kms_key_id.as_deref(), policy, attr::SECRET_NAME, custody::AFTER_WRITE).await?;
        let mut new = state.clone();
        new.set(SECRET_RESOURCE_POLICY, custody::refreshed_policy(state.get(SECRET_RESOURCE_POLICY), found.as_deref()));
        set_found_secret(&mut new, state, &info, &c.default_tags);
        // A key staged by the `maestro_rotate_agent_key` action: the resource takes it as its
        // current key, so the CSR changes and the consumer and identity finish the rotation
        // in the next apply, as after a planned rotation.
        if let Some(staged) = info.version_with(AWSPENDING).filter(|v| state.get(attr::KEY_VERSION_ID).as_str() != Some(*v)) {
            let recorded = text(state, attr::PUBLIC_KEY_FINGERPRINT);
            if let Some((key, csr)) = self.staged_key(c, &info, staged, &text(state, attr::CLUSTER_ID), &recorded).await? {
                let created = secrets::version_created(c, &info.arn, staged).await?.unwrap_or_else(now_rfc3339);
                tracing::info!(secret = %info.name, version = staged, fingerprint = %key.fingerprint(), "taking the key staged out of band as the current key");
                set_key_attributes(&mut new, &key, csr, staged.to_string(), created);
                new.set(attr::ALGORITHM, Value::string(key.algorithm().as_str()));
            }
        }
        Ok(Some(new))
    }

    async fn update(&self, c: &AwsClients, prior: &Value, planned: &Value) -> Applied {
        let spec = Spec::from_value(planned);
        let arn = text(prior, attr::SECRET_ARN);
        let mut state = planned.clone();
        if planned.get(attr::CSR_PEM).is_unknown() {
            if let Err(d) = self.restore_recorded(c, &arn).await {
                return Applied::failed(prior.clone(), d);
            }
        }
        // What exists so far, for a failure part-way. The declared resource policy goes first,
        // before a rotation writes a key, and is recorded as soon as it is on the secret: a
        // later failure must not leave state naming the policy it replaced, which the next
        // refresh would refuse.
        let mut done = prior.clone();
        let recorded_policy = opt_text(prior, SECRET_RESOURCE_POLICY);
        if recorded_policy != spec.resource_policy {
            if let Err(d) = self.align_policy(c, &arn, &spec, recorded_policy.as_deref()).await {
                return Applied::failed(done, d);
            }
            done.set(SECRET_RESOURCE_POLICY, planned.get(SECRET_RESOURCE_POLICY).clone());
        }
        let current = SecretInfo {
            arn: arn.clone(),
            name: spec.secret_name.clone(),
            kms_key_id: opt_text(prior, attr::KMS_KEY_ID),
            tags: prior.get(attr::TAGS_ALL).string_map_entries(),
            ..Default::default()
        };
        if let Err(d) = self.align_settings(c, &current, &spec).await {
            return Applied::failed(done, d);
        }
        if planned.get(attr::CSR_PEM).is_unknown() {
            let (key, csr) = match new_key(spec.algorithm, &spec.cluster_id).await {
                Ok(pair) => pair,
                Err(d) => return Applied::failed(done, d),
            };
            let bundle = CredentialBundle::of_new_key(&key, AMAZON_ROOT_CA_1);
            tracing::info!(secret = %spec.secret_name, algorithm = %spec.algorithm, fingerprint = %key.fingerprint(), "staging a rotated agent key as AWSPENDING");
            match self.stage_rotated_key(c, &arn, &spec, opt_text(&done, SECRET_RESOURCE_POLICY).as_deref(), &bundle).await {
                Ok(version) => set_key_attributes(&mut state, &key, csr, version, now_rfc3339()),
                Err(d) => {
                    // Settings may have changed; the key did not. The next plan retries the rotation.
                    for name in [attr::KMS_KEY_ID, attr::TAGS, attr::TAGS_ALL] {
                        done.set(name, planned.get(name).clone());
                    }
                    return Applied::failed(done, d);
                }
            }
        }
        Applied::ok(state)
    }

    async fn delete(&self, c: &AwsClients, state: &Value) -> Diagnostics {
        let id = opt_text(state, attr::SECRET_ARN).unwrap_or_else(|| text(state, attr::SECRET_NAME));
        secrets::delete(c, &id, secrets::Deletion::from_state(state)).await
    }

    /// The import ID is the secret's name or ARN. The key is read back (in memory only) to
    /// recompute its CSR and fingerprint; the cluster ID comes from the default name or the
    /// description this provider writes.
    async fn import(&self, c: &AwsClients, id: &str) -> Result<Value, Diagnostics> {
        let Some(info) = secrets::describe(c, id).await? else {
            return Err(Diagnostic::error("Nothing to import", format!("No secret {id:?} exists in account {}.", c.account_id)).into());
        };
        if info.scheduled_for_deletion {
            return Err(
                secrets::scheduled_for_deletion(&info.name, "Restore it (aws secretsmanager restore-secret) before importing.").into()
            );
        }
        let cluster_id = cluster_id_of(&info).ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Cannot import",
                format!(
                    "Cannot tell which cluster secret {} belongs to: its name is not `<cluster_id>/maestro/agent-mqtt-cert` and its description was not written by this provider. Set its description to \"{DESCRIPTION_PREFIX}<cluster_id>\" and import again.",
                    info.name
                ),
            ))
        })?;
        let (key, version) = self.find_key(c, &info.arn).await?.ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Cannot import",
                format!("Secret {} has no AWSPENDING or AWSCURRENT value holding a private key.", info.name),
            ))
        })?;
        let csr = Csr::for_key(&key, &agent_binding::default_cloudevents_client_id(&cluster_id))
            .map_err(|e| Diagnostics::from(Diagnostic::error("Cannot import", e.to_string())))?;
        let created_at = secrets::version_created(c, &info.arn, &version).await?.unwrap_or_else(now_rfc3339);
        Ok(imported_state(&cluster_id, &info, &c.default_tags, &key, csr, version, created_at))
    }
}

#[cfg(test)]
mod tests {
    use super::key::now_rfc3339;
    use super::model::KEY_ATTRIBUTES;
    use super::schema::schema;
    use super::*;
    use crate::framework::plan::plan_from_schema;

    #[tokio::test]
    async fn a_changed_trigger_or_algorithm_plans_a_new_key_and_a_tag_change_does_not() {
        let s = schema();
        let config =
            Value::object([("cluster_id", Value::string("mc-1")), ("rotation_triggers", Value::object([("n", Value::string("1"))]))])
                .conform(&s.value_type());
        let mut prior = plan_from_schema(&s, &Value::Null, &config, config.clone());
        for (k, v) in [
            ("secret_name", "mc-1/maestro/agent-mqtt-cert"),
            ("csr_pem", "CSR"),
            ("public_key_fingerprint", "ab"),
            ("key_version_id", "v1"),
        ] {
            prior.set(k, Value::string(v));
        }
        prior.set("key_created_at", Value::string(now_rfc3339()));
        let plan_for = |config: Value| {
            let prior = prior.clone();
            async move {
                let proposed = {
                    let mut p = prior.clone();
                    for (k, v) in config.as_map().unwrap() {
                        if !v.is_null() {
                            p.set(k, v.clone());
                        }
                    }
                    p
                };
                let planned = plan_from_schema(&s_clone(), &prior, &config, proposed);
                let mut plan = Plan { prior: &prior, config: &config, planned, requires_replace: vec![] };
                AgentKey.modify_plan(None, &mut plan, &mut Diagnostics::new()).await;
                plan.planned
            }
        };
        let mut tagged = config.clone();
        tagged.set("tags", Value::object([("team", Value::string("a"))]));
        assert_eq!(plan_for(tagged).await.get("csr_pem"), &Value::string("CSR"));
        let mut triggered = config.clone();
        triggered.set("rotation_triggers", Value::object([("n", Value::string("2"))]));
        let planned = plan_for(triggered).await;
        assert!(KEY_ATTRIBUTES.iter().all(|a| planned.get(a).is_unknown()));
        let mut algorithm = config.clone();
        algorithm.set("algorithm", Value::string("RSA_2048"));
        assert!(plan_for(algorithm).await.get("csr_pem").is_unknown());
    }

    fn s_clone() -> Schema {
        schema()
    }
}
