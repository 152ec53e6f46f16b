//! The secrets side: completing the credential secret that `maestro_agent_key` started with
//! the agent's certificate, and the config secret this resource owns. Secret values only pass
//! through `resources::aws::secretsmanager`, never through logs.

use super::model::{attr, Secrets, Spec};
use crate::crypto::keys::{self, GeneratedKey};
use crate::crypto::{AgentConfigSecret, CredentialBundle, SecretString};
use crate::framework::{AttributePath, Diagnostic, Diagnostics, Value};
use crate::provider::aws_error::has_code;
use crate::provider::AwsClients;
use crate::resources::aws::custody;
use crate::resources::aws::secretsmanager::{self as secrets, AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use crate::resources::common::{aws_failure, certificate_fingerprint};

/// The secrets side of create and update: config secret, then the certificate. `s` holds the
/// planned values on entry and what was done on return, also on failure (partial state).
pub async fn apply(c: &AwsClients, spec: &Spec, prior: &Value, s: &mut Secrets) -> Result<(), Diagnostics> {
    let before = Secrets::of(prior);
    let prior_arn = before.config_secret_arn();
    let renamed = prior_arn.is_some() && prior.get(attr::CONFIG_SECRET_NAME).as_str() != Some(spec.config_secret_name.as_str());
    let reusable = prior_arn.clone().filter(|_| !renamed);
    let obsolete = match spec.agent_config(c.into()) {
        Some(config) => {
            let changed = before.agent_config.as_str() != Some(config.config.as_str());
            if reusable.is_none() || changed {
                // Until the write succeeds, state keeps the config AWS still has, so a
                // failed apply is retried by the next plan.
                let wanted = std::mem::replace(&mut s.agent_config, before.agent_config.clone());
                let arn = write_config(c, spec, &config, reusable.as_deref()).await?;
                s.config_secret_arn = Value::String(arn);
                s.agent_config = wanted;
            }
            prior_arn.filter(|_| renamed)
        }
        None => {
            s.config_secret_arn = Value::Null;
            prior_arn
        }
    };
    if let Some(arn) = obsolete {
        delete_config(c, &arn, prior).await?;
    }
    match &spec.certificate_pem {
        Some(pem) if s.credential_version_id.is_unknown() || before.credential_version_id.is_null() => {
            s.credential_version_id = Value::String(install_certificate(c, spec, pem).await?);
        }
        Some(_) => {}
        None => s.credential_version_id = Value::Null,
    }
    Ok(())
}

/// Deletes the config secret `state` records, if any, as its `recovery_window_in_days` says.
/// The credential secret belongs to `maestro_agent_key`; only the config secret is ours.
pub async fn delete_config_secret(c: &AwsClients, state: &Value) -> Result<(), Diagnostics> {
    match Secrets::of(state).config_secret_arn() {
        Some(arn) => delete_config(c, &arn, state).await,
        None => Ok(()),
    }
}

async fn delete_config(c: &AwsClients, arn: &str, state: &Value) -> Result<(), Diagnostics> {
    let d = secrets::delete(c, arn, secrets::Deletion::from_state(state)).await;
    if d.has_errors() {
        return Err(d);
    }
    Ok(())
}

/// An update of the config secret itself (same name): its tags and, when `kms_key_arn`
/// changed, its key.
pub async fn update_config_secret(c: &AwsClients, spec: &Spec, prior: &Value, planned: &Value) -> Result<(), Diagnostics> {
    let Some(arn) =
        Secrets::of(prior).config_secret_arn().filter(|_| prior.get(attr::CONFIG_SECRET_NAME) == planned.get(attr::CONFIG_SECRET_NAME))
    else {
        return Ok(());
    };
    let (old, new) = (prior.get(attr::TAGS_ALL).string_map_entries(), planned.get(attr::TAGS_ALL).string_map_entries());
    secrets::update_tags(c, &arn, &old, &new).await?;
    if prior.get(attr::KMS_KEY_ARN) != planned.get(attr::KMS_KEY_ARN) {
        secrets::update_kms_key(c, &arn, spec.kms_key_arn.as_deref()).await?;
    }
    Ok(())
}

/// Drift in the secrets: a config secret deleted or edited out of band, a credential secret
/// whose current version is no longer the bundle this resource wrote.
pub async fn read(c: &AwsClients, spec: &Spec, s: &mut Secrets) -> Result<(), Diagnostics> {
    s.certificate_fingerprint = spec.certificate_pem.as_deref().and_then(certificate_fingerprint).into();
    if let Some(arn) = s.config_secret_arn() {
        match secrets::get_live_stage(c, &arn, AWSCURRENT).await? {
            Some((_, value)) => {
                let found = AgentConfigSecret::parse(value.expose()).ok();
                if found.as_ref() != spec.agent_config(c.into()).as_ref() {
                    // Shown as the config found; null when it is not even our shape.
                    s.agent_config = found.filter(|f| f.consumer_name == spec.cluster_id).map(|f| f.config).into();
                }
            }
            // Deleted, or scheduled for deletion: the next apply writes it again.
            None => s.config_secret_arn = Value::Null,
        }
    }
    if let Some(version) = s.credential_version_id() {
        let current = secrets::describe(c, &spec.secret_name)
            .await?
            .is_some_and(|info| !info.scheduled_for_deletion && info.has_stage(&version, AWSCURRENT));
        if !current {
            s.credential_version_id = Value::Null;
        }
    }
    Ok(())
}

/// Completes the credential secret with `cert_pem`: finds the version whose key the
/// certificate certifies (the staged AWSPENDING key first, then the current and previous
/// bundles), writes key + certificate + CA as a new AWSCURRENT version and takes AWSPENDING
/// off the key it promoted. Returns the current version. Never writes a bundle whose key
/// and certificate disagree.
async fn install_certificate(c: &AwsClients, spec: &Spec, cert_pem: &str) -> Result<String, Diagnostics> {
    let name = &spec.secret_name;
    let at_secret = AttributePath::root(attr::MQTT_CERT_SECRET_NAME);
    let info = match secrets::describe(c, name).await? {
        Some(info) if !info.scheduled_for_deletion => info,
        Some(_) => return Err(secrets::scheduled_for_deletion(name, "Apply maestro_agent_key, which restores it with a new key.").at(at_secret).into()),
        None => {
            return Err(Diagnostic::error(
                "Credential secret not found",
                format!("Secret {name} does not exist in account {}. Create it with maestro_agent_key (its secret_name must equal mqtt_cert_secret_name) before setting certificate_pem.", c.account_id),
            )
            .at(at_secret)
            .into())
        }
    };
    let cert_fingerprint = certificate_fingerprint(cert_pem).unwrap_or_default();
    let mut seen = Vec::new();
    for stage in [AWSPENDING, AWSCURRENT, AWSPREVIOUS] {
        let Some(version) = info.version_with(stage).map(str::to_string) else { continue };
        let Some(value) = secrets::get_version(c, &info.arn, &version).await? else { continue };
        let Ok(bundle) = CredentialBundle::parse(value.expose()) else { continue };
        let Ok(key) = GeneratedKey::from_pkcs8_pem(bundle.private_key.expose()) else { continue };
        if !keys::cert_matches_key(cert_pem, &key) {
            seen.push(format!("{stage} {}", key.fingerprint()));
            continue;
        }
        if stage == AWSCURRENT && bundle.certificate.as_deref() == Some(cert_pem) && bundle.ca_cert.as_deref() == Some(spec.broker_ca()) {
            return Ok(version); // already complete
        }
        let complete = CredentialBundle {
            certificate: Some(cert_pem.to_string()),
            private_key: key.private_key_pem().duplicate(),
            ca_cert: Some(spec.broker_ca().to_string()),
        };
        debug_assert!(complete.is_coherent().unwrap_or(false));
        tracing::info!(secret = %name, from_version = %version, from_stage = stage, fingerprint = %cert_fingerprint, "promoting the agent's bundle with its certificate");
        // Custody first: the bundle re-writes the key. Its version ID is the bundle's proof.
        let policy = custody::SecretPolicy::accepting(spec.secret_resource_policy.as_deref());
        let kms = spec.kms_key_arn.as_deref();
        let current =
            custody::write_key(c, &info, &complete, &spec.cluster_id, None, &[], kms, policy, attr::MQTT_CERT_SECRET_NAME).await?;
        if stage == AWSPENDING {
            // AWS keeps AWSPENDING on the promoted key's version; the key is current now.
            let after = secrets::describe(c, &info.arn).await?.unwrap_or_default();
            if after.has_stage(&version, AWSPENDING) && version != current {
                secrets::remove_stage(c, &info.arn, AWSPENDING, &version).await?;
            }
        }
        return Ok(current);
    }
    Err(Diagnostic::error(
        "Certificate does not match the agent's key",
        format!(
            "certificate_pem certifies the public key {cert_fingerprint}, but secret {name} holds no key with that fingerprint (found: {}). The certificate must be issued from the csr_pem of the maestro_agent_key that writes this secret.",
            if seen.is_empty() { "none".to_string() } else { seen.join(", ") }
        ),
    )
    .at(AttributePath::root(attr::CERTIFICATE_PEM))
    .into())
}

/// Writes the config secret, creating it when `arn` is `None`. Returns its ARN.
async fn write_config(c: &AwsClients, spec: &Spec, config: &AgentConfigSecret, arn: Option<&str>) -> Result<String, Diagnostics> {
    let value = SecretString::new(config.to_json());
    if let Some(arn) = arn {
        secrets::put(c, arn, &value, &[], None).await?;
        return Ok(arn.to_string());
    }
    let name = &spec.config_secret_name;
    let created = c
        .secretsmanager
        .create_secret()
        .name(name)
        .description(format!("Maestro agent MQTT config for cluster {} (managed by terraform-provider-maestro)", spec.cluster_id))
        .secret_string(value.expose())
        .set_kms_key_id(spec.kms_key_arn.clone())
        .set_tags(secrets::tags(&spec.tags_all(c.into())))
        .send()
        .await;
    match created {
        Ok(out) => Ok(out.arn().unwrap_or_default().to_string()),
        Err(e) if has_code(&e, "ResourceExistsException") || has_code(&e, "InvalidRequestException") => {
            let info = secrets::describe(c, name).await?.unwrap_or_default();
            let ours = info
                .description
                .as_deref()
                .is_some_and(|d| d.contains(&format!("cluster {} (managed by terraform-provider-maestro)", spec.cluster_id)));
            if info.scheduled_for_deletion {
                secrets::restore(c, &info.arn).await?;
            } else if !ours {
                return Err(Diagnostic::error(
                    "Config secret already exists",
                    format!("Secret {name} already exists in account {} and was not written by this provider for cluster {}. Delete it, or choose another config_secret_name.", c.account_id, spec.cluster_id),
                )
                .at(AttributePath::root(attr::CONFIG_SECRET_NAME))
                .into());
            }
            secrets::update_tags(c, &info.arn, &info.tags, &spec.tags_all(c.into())).await?;
            secrets::put(c, &info.arn, &value, &[], None).await?;
            Ok(info.arn)
        }
        Err(e) => Err(aws_failure("secretsmanager:CreateSecret", name, &e)),
    }
}
