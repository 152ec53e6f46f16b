//! `maestro_agent_identity` (management account): the Maestro agent's IAM role, its two inline
//! policies and its EKS Pod Identity association, in place of the hand-written module of seed
//! 001. All names, topics and documents come from `crate::policy`, so they cannot disagree.
//!
//! It also finishes what `maestro_agent_key` starts: given the certificate the regional account
//! issued (`certificate_pem`), it completes the credential secret with it — promoting the staged
//! key whose public key the certificate certifies, so the current bundle is always coherent —
//! and writes the agent's config secret (MQTT config YAML and consumer name).
//!
//! One file per layer: `schema`, the typed `model`, the pure `plan`, one file per AWS object
//! (`role`, `association`, `credentials`) and `import`. This file only wires them to the
//! framework's `Resource`.

mod association;
mod credentials;
mod import;
mod model;
mod plan;
mod role;
mod schema;

use crate::framework::schema::Schema;
use crate::framework::state::rename_state_attributes;
use crate::framework::{Applied, Diagnostics, Plan, Resource, Value};
use crate::provider::AwsClients;
use crate::resources::account_guard::{self, Placement, Side};
use crate::resources::common::{set_all, tag_changes};
use crate::resources::kms_key::{self, KmsAttributes};
use async_trait::async_trait;
use model::{attr, Association, Secrets, Spec};

pub struct AgentIdentity;

/// The agent's identity belongs in the management account: planned in the regional account its
/// `regional_account_id` names (swapped providers), it is refused before the agent's role, its
/// credential bundle and config could be written there.
const PLACEMENT: Placement = Placement {
    resource: "maestro_agent_identity",
    home: Side::Management,
    attribute: attr::REGIONAL_ACCOUNT_ID,
    harm: "made the agent's role in the regional account and written the agent's credential bundle and config to its Secrets Manager",
};

/// The key is named by `kms_key_id` (any form) or `kms_key_arn` (a key ARN); the role's grant
/// names the resolved key ARN.
const KMS: KmsAttributes = KmsAttributes { reference: attr::KMS_KEY_ID, key_arn: Some(attr::KMS_KEY_ARN) };

#[async_trait]
impl Resource<AwsClients> for AgentIdentity {
    fn type_name(&self) -> &'static str {
        "maestro_agent_identity"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    /// Version 1 renamed `region` to `broker_region`: the role is made in the provider's
    /// (management) region, and the attribute names the regional broker's.
    fn upgrade_state(&self, from_version: i64, state: serde_json::Value) -> Result<serde_json::Value, Diagnostics> {
        Ok(if from_version < 1 { rename_state_attributes(state, &[(model::attr::REGION_V0, model::BROKER_REGION)]) } else { state })
    }

    fn identity_attribute(&self) -> Option<(&'static str, &'static str)> {
        Some((attr::CLUSTER_ID, "Management cluster identifier."))
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        kms_key::refuse_both(config, KMS, diags);
    }

    async fn modify_plan(&self, client: Option<&AwsClients>, plan: &mut Plan<'_>, diags: &mut Diagnostics) {
        // Before anything else, so an identity given the regional provider plans nothing there.
        if let Some(c) = client {
            if account_guard::refuse(&PLACEMENT, &plan.planned, c, diags) {
                return;
            }
            kms_key::plan(c, plan.config, &mut plan.planned, KMS, diags).await;
        }
        plan::plan(client.map(Into::into), plan.config, plan.prior, &mut plan.planned, diags);
        if let Some(c) = client {
            crate::resources::deployed_agent::refuse_second_deployed_agent(c, &plan.planned, attr::MQTT_CERT_SECRET_NAME, diags).await;
        }
    }

    async fn create(&self, c: &AwsClients, planned: &Value) -> Applied {
        let spec = Spec::from_value(planned);
        let mut state = planned.clone();
        Association::clear(&mut state);
        if let Err(d) = role::create(c, &spec).await {
            return Applied::failed(Value::Null, d);
        }
        // From here on the role exists: failures return the partial state, which Terraform
        // records as tainted, so the next apply replaces it instead of leaking it.
        if let Err(d) = role::put_policies(c, &spec, |_| true).await {
            return Applied::failed(state, d);
        }
        match association::create(c, &spec).await {
            Ok(a) => a.write(&mut state),
            Err(d) => return Applied::failed(state, d),
        }
        let mut s = Secrets { config_secret_arn: Value::Null, credential_version_id: Value::Null, ..Secrets::of(&state) };
        let done = credentials::apply(c, &spec, &Value::Null, &mut s).await;
        s.write(&mut state);
        match done {
            Ok(()) => Applied::ok(state),
            Err(d) => Applied::failed(state, d),
        }
    }

    async fn read(&self, c: &AwsClients, state: &Value) -> Result<Option<Value>, Diagnostics> {
        let spec = Spec::from_value(state);
        let mut new = state.clone();
        set_all(&mut new, spec.derived(c.into()));
        let Some(found) = role::read(c, &spec, state.get(attr::TAGS).is_null(), &mut new).await? else { return Ok(None) };
        if let Some(recorded) = Association::of(state) {
            if !association::still_ours(c, &spec, &recorded, found.arn()).await? {
                Association::clear(&mut new);
            }
        }
        let mut s = Secrets::of(&new);
        credentials::read(c, &spec, &mut s).await?;
        s.write(&mut new);
        Ok(Some(new))
    }

    async fn update(&self, c: &AwsClients, prior: &Value, planned: &Value) -> Applied {
        let spec = Spec::from_value(planned);
        let mut state = planned.clone();
        if let Err(d) = role::update(c, &spec, prior, planned).await {
            return Applied::failed(prior.clone(), d);
        }
        let mut tagged_association = Association::of(prior);
        if Association::is_missing(prior) {
            match association::create(c, &spec).await {
                Ok(a) => a.write(&mut state),
                Err(d) => {
                    let mut partial = state.clone();
                    Association::clear(&mut partial);
                    return Applied::failed(partial, d);
                }
            }
            tagged_association = None; // created with the current tags already
        }
        let (upsert, remove) =
            tag_changes(&prior.get(attr::TAGS_ALL).string_map_entries(), &planned.get(attr::TAGS_ALL).string_map_entries());
        if let Err(d) = role::update_tags(c, &spec, &upsert, &remove).await {
            return Applied::failed(prior.clone(), d);
        }
        if let Some(a) = tagged_association {
            if let Err(d) = association::update_tags(c, &a.arn, &upsert, &remove).await {
                return Applied::failed(prior.clone(), d);
            }
        }
        if let Err(d) = credentials::update_config_secret(c, &spec, prior, planned).await {
            return Applied::failed(prior.clone(), d);
        }
        let mut s = Secrets::of(&state);
        if let Err(d) = credentials::apply(c, &spec, prior, &mut s).await {
            if s.keep_unfinished(&Secrets::of(prior)) {
                state.set(attr::CERTIFICATE_PEM, prior.get(attr::CERTIFICATE_PEM).clone());
            }
            s.write(&mut state);
            return Applied::failed(state, d);
        }
        s.write(&mut state);
        Applied::ok(state)
    }

    async fn delete(&self, c: &AwsClients, state: &Value) -> Diagnostics {
        let spec = Spec::from_value(state);
        // The credential secret belongs to maestro_agent_key; only the config secret is ours.
        if let Err(d) = credentials::delete_config_secret(c, state).await {
            return d;
        }
        if let Some(a) = Association::of(state) {
            if let Err(d) = association::delete(c, &spec, &a).await {
                return d;
            }
        }
        role::delete(c, &spec).await
    }

    async fn import(&self, c: &AwsClients, id: &str) -> Result<Value, Diagnostics> {
        import::import(c, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::PLACEMENT;
    use crate::framework::Value;
    use crate::resources::account_guard::check;

    #[test]
    fn planned_in_its_own_regional_account_the_identity_is_refused_at_regional_account_id() {
        // The guard's attribute is the schema's, so a rename cannot silently turn it off.
        assert!(super::schema::schema().block.find_attribute(PLACEMENT.attribute).is_some());
        let planned = Value::object([(PLACEMENT.attribute, Value::string("123456789012"))]);
        let error = check(&PLACEMENT, &planned, "123456789012", "").expect("refused");
        assert!(error.summary.contains("swapped providers?"));
        assert_eq!(error.attribute.unwrap().to_string(), "regional_account_id");
        assert!(error.detail.contains("maestro_agent_identity belongs in the management account"), "{}", error.detail);
        assert_eq!(check(&PLACEMENT, &planned, "987654321098", ""), None);
    }
}
