//! The credential secret the key lives in: created with the key as its first version (and
//! the declared resource policy right after), taken back on proof when it already exists, and
//! read back (in memory only) for import.

use super::model::{attr, Spec};
use super::AgentKey;
use crate::crypto::keys::GeneratedKey;
use crate::crypto::CredentialBundle;
use crate::crypto::Csr;
use crate::framework::{AttributePath, Diagnostic, Diagnostics};
use crate::policy::agent_binding;
use crate::provider::AwsClients;
use crate::resources::aws::custody;
use crate::resources::aws::secretsmanager::{self as secrets, KeyBearing, NewSecret, SecretInfo, AWSCURRENT, AWSPENDING};
use crate::resources::common::merge_tags;

impl AgentKey {
    /// Creates the secret holding a key-only bundle as its first version. One this provider
    /// made for the same cluster (a create retried after its answer was lost) is taken back on
    /// proof, when it passes the custody check, and the new key is staged in it as AWSPENDING;
    /// whatever it serves stays current until the new key's certificate is promoted by
    /// maestro_agent_identity. Any other secret of that name, one scheduled for deletion
    /// included, is refused (see `create_or_adopt`). A declared `secret_resource_policy` is
    /// put on a new secret right after CreateSecret (why after: `create_or_adopt`), and on a
    /// secret taken back before the new key is written.
    pub(super) async fn create_secret(
        &self,
        c: &AwsClients,
        spec: &Spec,
        bundle: &CredentialBundle,
    ) -> Result<(String, String), Diagnostics> {
        let tags_all = merge_tags(&c.default_tags, &spec.tags);
        let value = bundle.to_secret_string();
        let new = NewSecret {
            name: &spec.secret_name,
            description: spec.description(),
            value: &value,
            kms_key_id: spec.kms_key_id.as_deref(),
            tags: &tags_all,
            attribute: attr::SECRET_NAME,
            adopted_stages: &[AWSPENDING],
            key: Some(KeyBearing { bundle, owner: &spec.cluster_id }),
            policy: spec.policy(None),
        };
        let written = secrets::create_or_adopt(c, &new).await?;
        Ok((written.arn, written.version))
    }

    /// A secret this resource recorded that was scheduled for deletion out of band is restored
    /// before a rotation writes to it: its ARN, which AWS makes unique, is the proof it is ours.
    pub(super) async fn restore_recorded(&self, c: &AwsClients, arn: &str) -> Result<(), Diagnostics> {
        match secrets::describe(c, arn).await? {
            Some(info) if info.scheduled_for_deletion => {
                tracing::info!(secret = %info.name, "restoring the credential secret this resource recorded, which was scheduled for deletion");
                secrets::restore(c, arn).await
            }
            _ => Ok(()),
        }
    }

    /// Stages `bundle` as the AWSPENDING version of the recorded secret `arn` (a rotation).
    /// Refused, with nothing written, when the secret is not in custody; the declared policy
    /// is on it before the key (`recorded_policy`, what state records, is accepted until then).
    pub(super) async fn stage_rotated_key(
        &self,
        c: &AwsClients,
        arn: &str,
        spec: &Spec,
        recorded_policy: Option<&str>,
        bundle: &CredentialBundle,
    ) -> Result<String, Diagnostics> {
        let info = secrets::describe(c, arn).await?.filter(|i| !i.scheduled_for_deletion).ok_or_else(|| {
            Diagnostics::from(
                Diagnostic::error("Credential secret not found", format!("Secret {arn} no longer exists; refresh to plan its creation."))
                    .at(AttributePath::root(attr::SECRET_NAME)),
            )
        })?;
        let policy = spec.policy(recorded_policy);
        custody::write_key(c, &info, bundle, &spec.cluster_id, None, &[AWSPENDING], spec.kms_key_id.as_deref(), policy, attr::SECRET_NAME)
            .await
    }

    /// Brings the recorded secret's resource policy from what state records to what the
    /// configuration declares (PutResourcePolicy, or DeleteResourcePolicy when it is no longer
    /// declared). A policy that is neither stops the apply, as it stops a plan.
    pub(super) async fn align_policy(
        &self,
        c: &AwsClients,
        arn: &str,
        spec: &Spec,
        recorded_policy: Option<&str>,
    ) -> Result<(), Diagnostics> {
        let Some(info) = secrets::describe(c, arn).await?.filter(|i| !i.scheduled_for_deletion) else {
            return Err(Diagnostic::error(
                "Credential secret not found",
                format!("Secret {arn} no longer exists; refresh to plan its creation."),
            )
            .at(AttributePath::root(attr::SECRET_NAME))
            .into());
        };
        custody::align_policy(c, &info, spec.policy(recorded_policy), attr::SECRET_NAME).await
    }

    /// Brings the KMS key and tags of an existing secret to the configuration. A customer key
    /// put on the secret out of band, where the configuration names none, goes back to the
    /// AWS-managed key: whoever owns that key could otherwise decrypt the agent's key.
    pub(super) async fn align_settings(&self, c: &AwsClients, info: &SecretInfo, spec: &Spec) -> Result<(), Diagnostics> {
        if info.kms_key_id != spec.kms_key_id {
            secrets::update_kms_key(c, &info.arn, spec.kms_key_id.as_deref()).await?;
        }
        secrets::update_tags(c, &info.arn, &info.tags, &merge_tags(&c.default_tags, &spec.tags)).await
    }

    /// The key (and a CSR for it) in version `version_id`, when that version holds one that was
    /// staged for `cluster_id` while the key state records (`recorded_fingerprint`) was in the
    /// secret: the version is vouched for by that key (see `custody`), as the rotate action
    /// stages. A key staged by anyone else is never taken: it would get a certificate for this
    /// agent's identity.
    pub(super) async fn staged_key(
        &self,
        c: &AwsClients,
        info: &SecretInfo,
        version_id: &str,
        cluster_id: &str,
        recorded_fingerprint: &str,
    ) -> Result<Option<(GeneratedKey, Csr)>, Diagnostics> {
        let Some(value) = secrets::get_version(c, &info.arn, version_id).await? else { return Ok(None) };
        let vouched = match custody::voucher(c, info, recorded_fingerprint).await? {
            Some(voucher) => custody::vouches(&voucher, version_id, value.expose(), &info.name, cluster_id),
            None => false,
        };
        if !vouched {
            tracing::warn!(secret = %info.name, version = version_id, "passing over an AWSPENDING key that the agent's recorded key does not vouch for");
            return Ok(None);
        }
        let Some(key) =
            CredentialBundle::parse(value.expose()).ok().and_then(|b| GeneratedKey::from_pkcs8_pem(b.private_key.expose()).ok())
        else {
            return Ok(None);
        };
        let csr = Csr::for_key(&key, &agent_binding::default_cloudevents_client_id(cluster_id))
            .map_err(|e| Diagnostics::from(Diagnostic::error("Cannot read the staged key", e.to_string())))?;
        Ok(Some((key, csr)))
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
