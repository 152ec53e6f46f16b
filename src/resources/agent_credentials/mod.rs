//! The ephemeral resource `maestro_agent_credentials` (management account): opens an agent's
//! current credential bundle for one run, for write-only arguments of other providers (a
//! Kubernetes secret where no CSI driver runs). Terraform never stores an ephemeral result, and
//! `close` has nothing to undo: the bundle was only read.

mod model;
mod schema;

use crate::crypto::{keys, CredentialBundle};
use crate::framework::resource::Opened;
use crate::framework::schema::Schema;
use crate::framework::{AttributePath, Diagnostic, Diagnostics, EphemeralResource, Value};
use crate::provider::AwsClients;
use crate::resources::aws::secretsmanager::{self as secrets, AWSCURRENT};
use async_trait::async_trait;
use model::{attr, secret_name, set_opened};

pub struct AgentCredentials;

fn unusable(secret: &str, why: &str) -> Diagnostics {
    Diagnostic::error("No usable credential bundle", format!("The current version of secret {secret} {why}."))
        .at(AttributePath::root(attr::SECRET_NAME))
        .into()
}

#[async_trait]
impl EphemeralResource<AwsClients> for AgentCredentials {
    fn type_name(&self) -> &'static str {
        "maestro_agent_credentials"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    async fn open(&self, c: &AwsClients, config: &Value) -> Result<Opened, Diagnostics> {
        let secret = secret_name(config, c.agent_chart);
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
        set_opened(&mut result, &secret, version, &certificate, &bundle);
        Ok(Opened { result, renew_at: None, private: Vec::new() })
    }
}
