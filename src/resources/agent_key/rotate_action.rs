//! The action `maestro_rotate_agent_key`: rotate one agent now, without editing configuration
//! (`terraform apply -invoke=action.maestro_rotate_agent_key.<name>`). It stages a new key as
//! the credential secret's AWSPENDING version, as a planned rotation does; the current bundle
//! keeps serving. The next apply takes the staged key into `maestro_agent_key` (its `csr_pem`
//! changes), `maestro_consumer` issues its certificate and `maestro_agent_identity` makes the
//! pair current.

use super::key::new_key;
use super::model::SECRET_RESOURCE_POLICY;
use crate::crypto::keys::KeyAlgorithm;
use crate::crypto::{CredentialBundle, SecretString, AMAZON_ROOT_CA_1};
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::{validators, Action, AttributePath, Diagnostic, Diagnostics, Value};
use crate::policy::naming;
use crate::provider::AwsClients;
use crate::resources::aws::custody;
use crate::resources::aws::secretsmanager::{self as secrets, AWSCURRENT, AWSPENDING};
use crate::resources::common::{opt_text, secret_name_validator, text};
use async_trait::async_trait;

pub struct RotateAgentKey;

#[async_trait]
impl Action<AwsClients> for RotateAgentKey {
    fn type_name(&self) -> &'static str {
        "maestro_rotate_agent_key"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new("Stages a new key for one agent now, as the AWSPENDING version of its credential secret, while the current bundle keeps serving. The next apply completes the rotation as a planned one: `maestro_agent_key` takes the staged key, `maestro_consumer` issues its certificate and `maestro_agent_identity` makes the pair current. Configure it with the management-account provider.")
                .attribute(Attribute::string("cluster_id").required().validate(validators::rule(naming::check_consumer_name)).description("Management cluster identifier (the Maestro consumer name)."))
                .attribute(Attribute::string("secret_name").optional().validate(secret_name_validator()).description("The credential secret. Defaults to the name `maestro_agent_key` gives it under the provider's `agent_chart`: `maestro/agent-cert` for `rosa-regional-platform`, `<cluster_id>/maestro/agent-mqtt-cert` otherwise."))
                .attribute(Attribute::string("kms_key_id").optional().validate(validators::kms_key_reference()).description("The KMS key the credential secret is encrypted with, as `maestro_agent_key`'s `kms_key_id` names it. The key is staged only when the secret is under this key (the AWS-managed `aws/secretsmanager` key when unset), has no resource policy (but the one `secret_resource_policy` names) and no replicas."))
                .attribute(Attribute::string(SECRET_RESOURCE_POLICY).optional().validate(custody::policy_validator()).description("The resource policy `maestro_agent_key` declares on the credential secret (its `secret_resource_policy`). The key is staged only when the secret has no resource policy or this one (compared as a policy document); the action never puts or removes a policy."))
                .attribute(Attribute::string("algorithm").optional().validate(validators::one_of(&["ECDSA_P256", "ECDSA_P384", "RSA_2048", "RSA_3072"])).description("Algorithm of the new key. Defaults to the current key's.")),
        )
    }

    async fn invoke(&self, c: &AwsClients, config: &Value, progress: &(dyn Fn(String) + Send + Sync)) -> Diagnostics {
        let cluster_id = text(config, "cluster_id");
        let chart = crate::provider::charts::AgentChart::or_custom(c.agent_chart);
        let secret = opt_text(config, "secret_name").unwrap_or_else(|| chart.cert_secret_name(&cluster_id));
        let staged = async {
            let info = secrets::describe(c, &secret).await?.filter(|i| !i.scheduled_for_deletion).ok_or_else(|| {
                Diagnostics::from(
                    Diagnostic::error(
                        "Credential secret not found",
                        format!("Secret {secret} does not exist in account {}; create it with maestro_agent_key first.", c.account_id),
                    )
                    .at(AttributePath::root("secret_name")),
                )
            })?;
            // The current bundle's CA carries over; its key says the algorithm by default, and
            // vouches for the new one (so the next refresh takes it: see `custody`).
            let current = match secrets::get_stage(c, &info.arn, AWSCURRENT).await? {
                Some((_, v)) => CredentialBundle::parse(v.expose()).ok(),
                None => None,
            };
            let voucher = current.as_ref().map(|b| SecretString::new(b.private_key.expose().to_string()));
            let algorithm = match opt_text(config, "algorithm") {
                Some(a) => a.parse().unwrap_or(KeyAlgorithm::EcdsaP256),
                None => current
                    .as_ref()
                    .and_then(|b| crate::crypto::keys::GeneratedKey::from_pkcs8_pem(b.private_key.expose()).ok())
                    .map(|k| k.algorithm())
                    .unwrap_or(KeyAlgorithm::EcdsaP256),
            };
            let ca = current.and_then(|b| b.ca_cert).unwrap_or_else(|| AMAZON_ROOT_CA_1.to_string());
            progress(format!("generating a new {} key for {cluster_id}", algorithm.as_str()));
            let (key, _csr) = new_key(algorithm, &cluster_id).await?;
            let bundle = CredentialBundle::key_only(SecretString::new(key.private_key_pem().expose().to_string()), ca);
            let kms_key_id = opt_text(config, "kms_key_id");
            let declared = opt_text(config, SECRET_RESOURCE_POLICY);
            let policy = custody::SecretPolicy::accepting(declared.as_deref());
            let version = custody::write_key(
                c,
                &info,
                &bundle,
                &cluster_id,
                voucher.as_ref(),
                &[AWSPENDING],
                kms_key_id.as_deref(),
                policy,
                "secret_name",
            )
            .await?;
            progress(format!(
                "staged key {} as version {version} (AWSPENDING) of {secret}; the next apply completes the rotation",
                key.fingerprint()
            ));
            Ok::<_, Diagnostics>(())
        };
        staged.await.err().unwrap_or_default()
    }
}
