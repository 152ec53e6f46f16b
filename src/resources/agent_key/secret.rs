//! The credential secret the key lives in: created with the key as its first version, adopted
//! or restored when it already exists, and read back (in memory only) for import.

use super::model::Spec;
use super::AgentKey;
use crate::crypto::keys::{self, GeneratedKey};
use crate::crypto::CredentialBundle;
use crate::framework::{AttributePath, Diagnostic, Diagnostics};
use crate::policy::agent_binding;
use crate::provider::{aws_error, AwsClients};
use crate::resources::aws::secretsmanager::{self as secrets, SecretInfo, AWSCURRENT, AWSPENDING};
use crate::resources::common::{aws_failure, merge_tags};

impl AgentKey {
    /// Creates the secret holding a key-only bundle as its first version. A secret of that name
    /// scheduled for deletion (deleted out of band) is restored, and one this provider made for
    /// the same cluster is adopted (a create retried after its answer was lost); the new key is
    /// staged in either.
    pub(super) async fn create_secret(
        &self,
        c: &AwsClients,
        spec: &Spec,
        bundle: &crate::crypto::SecretString,
    ) -> Result<(String, String), Diagnostics> {
        let tags_all = merge_tags(&c.default_tags, &spec.tags);
        let created = c
            .secretsmanager
            .create_secret()
            .name(&spec.secret_name)
            .description(spec.description())
            .secret_string(bundle.expose())
            .set_kms_key_id(spec.kms_key_id.clone())
            .set_tags(secrets::tags(&tags_all))
            .send()
            .await;
        match created {
            Ok(out) => Ok((out.arn().unwrap_or_default().to_string(), out.version_id().unwrap_or_default().to_string())),
            Err(e) if matches!(aws_error::code(&e), Some("ResourceExistsException") | Some("InvalidRequestException")) => {
                let info = secrets::describe(c, &spec.secret_name).await?.unwrap_or_default();
                // Ours for this cluster (a create whose answer was lost, retried): adopt it.
                let ours = info.description.as_deref() == Some(spec.description().as_str());
                if !info.scheduled_for_deletion && !ours {
                    return Err(Diagnostic::error(
                        "Secret already exists",
                        format!(
                            "Secret {} already exists in account {}. If it holds this agent's key, import it: `tofu import <address> {}`; otherwise choose another secret_name.",
                            spec.secret_name, c.account_id, spec.secret_name
                        ),
                    )
                    .at(AttributePath::root("secret_name"))
                    .into());
                }
                if info.scheduled_for_deletion {
                    tracing::info!(secret = %spec.secret_name, "restoring the credential secret, which was scheduled for deletion");
                    secrets::restore(c, &info.arn).await?;
                } else {
                    tracing::info!(secret = %spec.secret_name, "adopting the credential secret this provider created for the cluster");
                }
                self.align_settings(c, &info, spec).await?;
                // Whatever the restored secret serves stays current until the new key's
                // certificate is promoted by maestro_agent_identity.
                let version = secrets::put(c, &info.arn, bundle, &[AWSPENDING], None).await?;
                Ok((info.arn, version))
            }
            Err(e) => Err(aws_failure("secretsmanager:CreateSecret", &spec.secret_name, &e)),
        }
    }

    /// Brings the KMS key and tags of an existing secret to the configuration.
    pub(super) async fn align_settings(&self, c: &AwsClients, info: &SecretInfo, spec: &Spec) -> Result<(), Diagnostics> {
        if spec.kms_key_id.is_some() && info.kms_key_id != spec.kms_key_id {
            c.secretsmanager
                .update_secret()
                .secret_id(&info.arn)
                .set_kms_key_id(spec.kms_key_id.clone())
                .send()
                .await
                .map_err(|e| aws_failure("secretsmanager:UpdateSecret", &info.name, &e))?;
        }
        secrets::update_tags(c, &info.arn, &info.tags, &merge_tags(&c.default_tags, &spec.tags)).await
    }

    /// The key (and a CSR for it) in version `version_id`, when that version holds one.
    pub(super) async fn staged_key(
        &self,
        c: &AwsClients,
        secret_id: &str,
        version_id: &str,
        cluster_id: &str,
    ) -> Result<Option<(GeneratedKey, String)>, Diagnostics> {
        let Some(value) = secrets::get_version(c, secret_id, version_id).await? else { return Ok(None) };
        let Some(key) =
            CredentialBundle::parse(value.expose()).ok().and_then(|b| GeneratedKey::from_pkcs8_pem(b.private_key.expose()).ok())
        else {
            return Ok(None);
        };
        let csr = keys::csr_pem(&key, &agent_binding::default_cloudevents_client_id(cluster_id))
            .map_err(|e| Diagnostics::from(Diagnostic::error("Cannot read the staged key", e.to_string())))?;
        Ok(Some((key, csr)))
    }

    /// When version `version_id` was written (RFC 3339).
    pub(super) async fn version_created(&self, c: &AwsClients, secret_id: &str, version_id: &str) -> Option<String> {
        let out = c.secretsmanager.list_secret_version_ids().secret_id(secret_id).send().await.ok()?;
        let created = *out.versions().iter().find(|v| v.version_id() == Some(version_id))?.created_date()?;
        created.fmt(aws_smithy_types::date_time::Format::DateTime).ok()
    }

    /// Reads the key the secret holds (pending first, then current), for import.
    pub(super) async fn find_key(&self, c: &AwsClients, secret_id: &str) -> Result<Option<(GeneratedKey, String)>, Diagnostics> {
        for stage in [AWSPENDING, AWSCURRENT] {
            let Some((version, value)) = secrets::get_stage(c, secret_id, stage).await? else { continue };
            let bundle = CredentialBundle::parse(value.expose())
                .map_err(|e| Diagnostics::from(Diagnostic::error("Cannot import", e.to_string())))?;
            let key = GeneratedKey::from_pkcs8_pem(bundle.private_key.expose())
                .map_err(|e| Diagnostics::from(Diagnostic::error("Cannot import", format!("the {stage} version of {secret_id}: {e}"))))?;
            return Ok(Some((key, version)));
        }
        Ok(None)
    }
}
