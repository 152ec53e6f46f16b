//! `maestro_server_identity` (regional account): the Maestro server's side of the broker, in
//! place of the old modules' `aws_iot_certificate.maestro_server` (whose private key sits in
//! the regional state). The server, its IoT Core and its secrets are all in this account, so
//! one resource owns the whole lifecycle: the key is made in provider memory and goes only
//! into the certificate secret, together with the certificate IoT Core signs from its CSR.
//!
//! One file per layer: `schema`, `model` (names, typed arguments, derived values), `plan`
//! (pure planning and rotation), one file per AWS object (`certificate` with the key,
//! `policy`, `secrets`, `role`, `association`) and `import`. Names, topics and documents come
//! from `policy::server_binding`.

mod association;
mod certificate;
mod import;
mod model;
mod plan;
mod policy;
mod role;
mod schema;
mod secrets;

use crate::framework::{Applied, Diagnostics, Plan, Resource, Schema, Value};
use crate::provider::AwsClients;
use crate::resources::aws::iot;
use crate::resources::common::{opt_text, set_all};
use crate::resources::kms_key::{self, KmsAttributes};
use crate::resources::rotation::Previous;
use async_trait::async_trait;
use model::{attr, write_association, Account, Spec};
use std::time::SystemTime;

pub struct ServerIdentity;

/// The key is named by `kms_key_id` (any form) or `kms_key_arn` (a key ARN); the role's grant
/// names the resolved key ARN.
const KMS: KmsAttributes = KmsAttributes { reference: attr::KMS_KEY_ID, key_arn: Some(attr::KMS_KEY_ARN) };

#[async_trait]
impl Resource<AwsClients> for ServerIdentity {
    fn type_name(&self) -> &'static str {
        "maestro_server_identity"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    fn identity_attribute(&self) -> Option<(&'static str, &'static str)> {
        Some((attr::NAME, "Name of the server deployment."))
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        kms_key::refuse_both(config, KMS, diags);
    }

    async fn modify_plan(&self, client: Option<&AwsClients>, plan: &mut Plan<'_>, diags: &mut Diagnostics) {
        let Some(c) = client else { return };
        kms_key::plan(c, plan.config, &mut plan.planned, KMS, diags).await;
        // Known at plan time; asked for once per provider process (`iot::data_ats_endpoint`).
        let endpoint = match plan.prior.get(attr::ENDPOINT).as_str() {
            Some(host) => Some(host.to_string()),
            None => match iot::data_ats_endpoint(c).await {
                Ok(host) => Some(host),
                Err(d) => {
                    diags.extend(d);
                    None
                }
            },
        };
        let cx = plan::Context { account: Account::from(c), topic_prefix: &c.topic_prefix, endpoint };
        plan::plan(Some(cx), plan.config, plan.prior, &mut plan.planned, SystemTime::now(), diags);
    }

    async fn create(&self, c: &AwsClients, planned: &Value) -> Applied {
        let spec = Spec::from_value(planned);
        let mut state = planned.clone();
        for name in model::KEY_ATTRIBUTES.iter().chain(&[attr::CERTIFICATE_SECRET_ARN, attr::CONFIG_SECRET_ARN, attr::CERTIFICATE_STATUS]) {
            state.set(name, Value::Null);
        }
        state.set(attr::POLICY_ATTACHED, Value::Bool(false));
        write_association(&mut state, None);
        Previous::write_list(&mut state, &[]);
        tracing::info!(server = %spec.name, "creating the Maestro server's policy, key, certificate, secrets, role and association");
        // A create cut short (the provider killed) left its key staged in the certificate
        // secret; the policy it may have attached to that key's certificate is taken back.
        let unfinished = match secrets::unfinished_key(c, &spec, &spec.certificate_secret_name, None).await {
            Ok(found) => found,
            Err(d) => return Applied::failed(Value::Null, d),
        };
        if let Err(d) = policy::create(c, &spec, unfinished.as_ref().map(|u| u.key.spki_der())).await {
            return Applied::failed(Value::Null, d);
        }
        // From here on something exists: failures return the partial state, which Terraform
        // records as tainted, so the next apply deletes what was made and starts again.
        let built = async {
            certificate::rotate(c, &spec, &Value::Null, unfinished, &mut state).await?;
            let config = spec.server_config(Account::from(c)).unwrap_or_default();
            let arn = secrets::write_config(c, &spec, None, &config).await?;
            state.set(attr::CONFIG_SECRET_ARN, Value::String(arn));
            role::create(c, &spec).await?;
            let association = association::create(c, &spec).await?;
            write_association(&mut state, Some(association));
            Ok::<_, Diagnostics>(())
        };
        match built.await {
            Ok(()) => Applied::ok(state),
            Err(d) => Applied::failed(state, d),
        }
    }

    async fn read(&self, c: &AwsClients, state: &Value) -> Result<Option<Value>, Diagnostics> {
        let spec = Spec::from_value(state);
        let mut new = state.clone();
        set_all(&mut new, spec.derived(Account::from(c)));
        if new.get(attr::ENDPOINT).is_null() {
            new.set(attr::ENDPOINT, Value::String(iot::data_ats_endpoint(c).await?));
        }
        policy::read(c, &spec, &mut new).await?;
        certificate::read(c, &spec, state, &mut new).await?;
        secrets::read(c, state, &mut new).await?;
        let role_arn = role::read(c, &spec, state.get(attr::TAGS).is_null(), &mut new).await?;
        if !association::still_ours(c, &spec, state, role_arn.as_deref()).await? {
            write_association(&mut new, None);
        }
        // Gone only when nothing is left: while a certificate or a secret exists, the resource
        // stays in state so that it is retired rather than forgotten.
        let nothing_left = new.get(attr::POLICY_DOCUMENT).is_null()
            && new.get(attr::CERTIFICATE_ID).is_null()
            && Previous::list(&new).is_empty()
            && new.get(attr::CERTIFICATE_SECRET_ARN).is_null()
            && new.get(attr::CONFIG_SECRET_ARN).is_null()
            && role_arn.is_none();
        Ok((!nothing_left).then_some(new))
    }

    async fn update(&self, c: &AwsClients, prior: &Value, planned: &Value) -> Applied {
        let spec = Spec::from_value(planned);
        // `state` follows what exists after each step, so a failure part-way records it.
        let mut state = prior.clone();
        let converged = async {
            policy::converge(c, prior, &spec).await?;
            for name in [
                attr::POLICY_DOCUMENT,
                attr::TOPIC_PREFIX,
                attr::CLIENT_ID_PREFIX,
                attr::SUBSCRIPTION_TYPE,
                attr::SHARED_SUBSCRIPTION_GROUP,
            ] {
                state.set(name, planned.get(name).clone());
            }
            state.set(attr::CERTIFICATE_GRACE_PERIOD_HOURS, planned.get(attr::CERTIFICATE_GRACE_PERIOD_HOURS).clone());
            let renamed = |name: &str| prior.get(name) != planned.get(name);
            // A changed resource policy goes on the certificate secret before anything else is
            // written there, and is recorded at once (a later failure must not leave state
            // naming the policy it replaced, which the next refresh would refuse). A new or
            // restored secret gets it from the rotation, before its key.
            if secrets::update_certificate_policy(c, &spec, prior, planned).await? {
                state.set(attr::CERTIFICATE_SECRET_RESOURCE_POLICY, planned.get(attr::CERTIFICATE_SECRET_RESOURCE_POLICY).clone());
            }
            if planned.get(attr::CERTIFICATE_ID).is_unknown() {
                let old_secret = opt_text(prior, attr::CERTIFICATE_SECRET_ARN).filter(|_| renamed(attr::CERTIFICATE_SECRET_NAME));
                if old_secret.is_some() {
                    state.set(attr::CERTIFICATE_SECRET_ARN, Value::Null);
                }
                let secret = opt_text(&state, attr::CERTIFICATE_SECRET_ARN).unwrap_or_else(|| spec.certificate_secret_name.clone());
                let recorded_key = opt_text(prior, attr::PUBLIC_KEY_FINGERPRINT);
                let unfinished = secrets::unfinished_key(c, &spec, &secret, recorded_key.as_deref()).await?;
                certificate::rotate(c, &spec, prior, unfinished, &mut state).await?;
                if let Some(arn) = old_secret {
                    secrets::delete_one(c, &arn, prior).await?;
                }
            } else {
                certificate::repair(c, &spec, prior, &mut state).await?;
            }
            secrets::update_settings(c, prior, planned, &state).await?;
            let config = spec.server_config(Account::from(c)).unwrap_or_default();
            let config_arn = opt_text(prior, attr::CONFIG_SECRET_ARN);
            let old_config = config_arn.clone().filter(|_| renamed(attr::CONFIG_SECRET_NAME));
            let reusable = config_arn.filter(|_| old_config.is_none());
            if reusable.is_none() || prior.get(attr::SERVER_CONFIG).as_str() != Some(config.as_str()) {
                let arn = secrets::write_config(c, &spec, reusable.as_deref(), &config).await?;
                state.set(attr::CONFIG_SECRET_ARN, Value::String(arn));
            }
            if let Some(arn) = old_config {
                secrets::delete_one(c, &arn, prior).await?;
            }
            role::converge(c, &spec, prior, planned).await?;
            let moved = renamed(attr::NAMESPACE) || renamed(attr::SERVICE_ACCOUNT);
            if moved {
                association::delete(c, &Spec::from_value(prior), prior).await?;
                write_association(&mut state, None);
            }
            match model::association_of(prior).filter(|_| !moved) {
                None => write_association(&mut state, Some(association::create(c, &spec).await?)),
                Some((_, arn)) => {
                    let (upsert, remove) = crate::resources::common::tag_changes(
                        &prior.get(attr::TAGS_ALL).string_map_entries(),
                        &planned.get(attr::TAGS_ALL).string_map_entries(),
                    );
                    crate::resources::aws::eks::update_association_tags(c, &arn, &upsert, &remove).await?;
                }
            }
            certificate::retire_due(c, prior, planned, &mut state).await
        };
        if let Err(d) = converged.await {
            return Applied::failed(state, d);
        }
        // Everything matches the plan; fill in what only the apply could know.
        let mut out = planned.clone();
        for name in model::KEY_ATTRIBUTES.iter().chain(&[
            attr::CERTIFICATE_SECRET_ARN,
            attr::CONFIG_SECRET_ARN,
            attr::ASSOCIATION_ID,
            attr::ASSOCIATION_ARN,
        ]) {
            out.set(name, state.get(name).clone());
        }
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
            secrets::delete(c, state).await?;
            association::delete(c, &spec, state).await?;
            let d = role::delete(c, &spec).await;
            if d.has_errors() {
                return Err(d);
            }
            Ok(())
        };
        deleted.await.err().unwrap_or_default()
    }

    async fn import(&self, c: &AwsClients, id: &str) -> Result<Value, Diagnostics> {
        import::import(c, id).await
    }
}
