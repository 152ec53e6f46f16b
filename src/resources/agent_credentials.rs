//! The ephemeral resource `maestro_agent_credentials` (management account): opens an agent's
//! current credential bundle for one run, for write-only arguments of other providers (a
//! Kubernetes secret where no CSI driver runs). Terraform never stores an ephemeral result, and
//! `close` has nothing to undo: the bundle was only read.

use crate::crypto::{keys, CredentialBundle};
use crate::framework::resource::Opened;
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::{validators, AttributePath, Diagnostic, Diagnostics, EphemeralResource, Value};
use crate::policy::naming;
use crate::provider::charts::AgentChart;
use crate::provider::AwsClients;
use crate::resources::aws::secretsmanager::{self as secrets, AWSCURRENT};
use crate::resources::common::{certificate_fingerprint, opt_text, secret_name_validator, text};
use async_trait::async_trait;

pub struct AgentCredentials;

fn unusable(secret: &str, why: &str) -> Diagnostics {
    Diagnostic::error("No usable credential bundle", format!("The current version of secret {secret} {why}."))
        .at(AttributePath::root("secret_name"))
        .into()
}

#[async_trait]
impl EphemeralResource<AwsClients> for AgentCredentials {
    fn type_name(&self) -> &'static str {
        "maestro_agent_credentials"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new("An agent's current credential bundle (certificate, private key, CA), read from its credential secret for the length of one run and never stored: for write-only arguments of other resources. Configure it with the management-account provider.")
                .attribute(Attribute::string("cluster_id").required().validate(validators::rule(naming::check_consumer_name)).description("Management cluster identifier (the Maestro consumer name)."))
                .attribute(Attribute::string("secret_name").optional().computed().validate(secret_name_validator()).description("The credential secret. Defaults to the name `maestro_agent_key` gives it under the provider's `agent_chart`: `maestro/agent-cert` for `rosa-regional-platform`, `<cluster_id>/maestro/agent-mqtt-cert` otherwise."))
                .attribute(Attribute::string("certificate_pem").computed().description("The agent's current certificate (PEM)."))
                .attribute(Attribute::string("private_key_pem").computed().sensitive().description("The agent's private key (PKCS#8 PEM), which this certificate certifies."))
                .attribute(Attribute::string("ca_pem").computed().description("The CA the agent trusts for the broker (`caCert`)."))
                .attribute(Attribute::string("public_key_fingerprint").computed().description("Lowercase hex SHA-256 of the key's public key, as `maestro_agent_key.public_key_fingerprint`."))
                .attribute(Attribute::string("version_id").computed().description("The secret version read (its AWSCURRENT).")),
        )
    }

    async fn open(&self, c: &AwsClients, config: &Value) -> Result<Opened, Diagnostics> {
        let secret = opt_text(config, "secret_name")
            .unwrap_or_else(|| AgentChart::or_custom(c.agent_chart).cert_secret_name(&text(config, "cluster_id")));
        let Some((version, value)) = secrets::get_stage(c, &secret, AWSCURRENT).await? else {
            return Err(unusable(&secret, "does not exist"));
        };
        let bundle = CredentialBundle::parse(value.expose()).map_err(|e| unusable(&secret, &format!("is not a credential bundle: {e}")))?;
        let Some(certificate) = bundle.certificate.clone() else {
            return Err(unusable(
                &secret,
                "holds a key without its certificate yet (apply maestro_agent_identity with the certificate first)",
            ));
        };
        let key = keys::GeneratedKey::from_pkcs8_pem(bundle.private_key.expose()).map_err(|e| unusable(&secret, &e.to_string()))?;
        if !keys::cert_matches_key(&certificate, &key) {
            return Err(unusable(&secret, "pairs a key with another key's certificate"));
        }
        let mut result = config.clone();
        result.set("secret_name", Value::string(&secret));
        result.set("certificate_pem", Value::string(&certificate));
        result.set("private_key_pem", Value::string(bundle.private_key.expose()));
        result.set("ca_pem", bundle.ca_cert.clone().into());
        result.set("public_key_fingerprint", certificate_fingerprint(&certificate).into());
        result.set("version_id", Value::string(version));
        Ok(Opened { result, renew_at: None, private: Vec::new() })
    }
}
