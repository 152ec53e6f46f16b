//! The server's two secrets: the certificate secret, whose current version is always a key
//! with its own certificate (written only by `certificate`), and the config secret. Values
//! pass only through `resources::aws::secretsmanager`, never through logs or state.

use super::model::{attr, Account, Spec};
use crate::crypto::{CredentialBundle, SecretString};
use crate::framework::{Diagnostics, Value};
use crate::provider::AwsClients;
use crate::resources::aws::secretsmanager::{self as secrets, NewSecret, AWSCURRENT};
use crate::resources::common::opt_text;

fn description(kind: &str, spec: &Spec) -> String {
    format!("Maestro server MQTT {kind} for {} (managed by terraform-provider-maestro)", spec.name)
}

/// Writes `bundle` as the certificate secret's current version, creating (or restoring, or
/// adopting) the secret when state records none. Returns (ARN, version).
pub async fn write_bundle(
    c: &AwsClients,
    spec: &Spec,
    recorded_arn: Option<&str>,
    bundle: &CredentialBundle,
) -> Result<(String, String), Diagnostics> {
    let value = bundle.to_secret_string();
    match recorded_arn {
        Some(arn) => Ok((arn.to_string(), secrets::put(c, arn, &value, &[], None).await?)),
        None => {
            let tags = spec.tags_all(Account::from(c));
            let new = NewSecret {
                name: &spec.certificate_secret_name,
                description: description("credentials", spec),
                value: &value,
                kms_key_id: spec.kms_key_arn.as_deref(),
                tags: &tags,
                attribute: attr::CERTIFICATE_SECRET_NAME,
            };
            secrets::create_or_adopt(c, &new).await
        }
    }
}

fn config_value(config: &str) -> SecretString {
    SecretString::new(serde_json::json!({ "config": config }).to_string())
}

/// Writes the config secret: created when state records none, else a new current version.
pub async fn write_config(c: &AwsClients, spec: &Spec, recorded_arn: Option<&str>, config: &str) -> Result<String, Diagnostics> {
    let value = config_value(config);
    match recorded_arn {
        Some(arn) => {
            secrets::put(c, arn, &value, &[], Some(secrets::derived_token(&[arn, config]))).await?;
            Ok(arn.to_string())
        }
        None => {
            let tags = spec.tags_all(Account::from(c));
            let new = NewSecret {
                name: &spec.config_secret_name,
                description: description("config", spec),
                value: &value,
                kms_key_id: spec.kms_key_arn.as_deref(),
                tags: &tags,
                attribute: attr::CONFIG_SECRET_NAME,
            };
            Ok(secrets::create_or_adopt(c, &new).await?.0)
        }
    }
}

/// Tags and KMS key of both secrets, where the plan changed them.
pub async fn update_settings(c: &AwsClients, prior: &Value, planned: &Value, state: &Value) -> Result<(), Diagnostics> {
    let (old, new) = (prior.get(attr::TAGS_ALL).string_map_entries(), planned.get(attr::TAGS_ALL).string_map_entries());
    for name in [attr::CERTIFICATE_SECRET_ARN, attr::CONFIG_SECRET_ARN] {
        let Some(arn) = opt_text(state, name).filter(|_| !prior.get(name).is_null()) else { continue };
        secrets::update_tags(c, &arn, &old, &new).await?;
        if prior.get(attr::KMS_KEY_ARN) != planned.get(attr::KMS_KEY_ARN) {
            secrets::update_kms_key(c, &arn, opt_text(planned, attr::KMS_KEY_ARN).as_deref()).await?;
        }
    }
    Ok(())
}

/// Refresh. The certificate secret: gone (or scheduled for deletion) clears its ARN, and a
/// current version other than the one this resource wrote clears `credential_version_id`;
/// either way the plan makes a new key, since only a new key can be written. The config
/// secret: gone clears its ARN; edited shows the config found.
pub async fn read(c: &AwsClients, state: &Value, new: &mut Value) -> Result<(), Diagnostics> {
    let recorded_version = opt_text(state, attr::CREDENTIAL_VERSION_ID);
    if let Some(arn) = opt_text(state, attr::CERTIFICATE_SECRET_ARN) {
        match secrets::describe(c, &arn).await? {
            Some(info) if !info.scheduled_for_deletion => {
                if !recorded_version.as_deref().is_some_and(|v| info.has_stage(v, AWSCURRENT)) {
                    new.set(attr::CREDENTIAL_VERSION_ID, Value::Null);
                }
            }
            _ => {
                new.set(attr::CERTIFICATE_SECRET_ARN, Value::Null);
                new.set(attr::CREDENTIAL_VERSION_ID, Value::Null);
            }
        }
    }
    if let Some(arn) = opt_text(state, attr::CONFIG_SECRET_ARN) {
        match secrets::describe(c, &arn).await? {
            Some(info) if !info.scheduled_for_deletion => {
                let found = secrets::get_stage(c, &arn, AWSCURRENT).await?.and_then(|(_, v)| {
                    serde_json::from_str::<serde_json::Value>(v.expose()).ok().and_then(|j| j["config"].as_str().map(str::to_string))
                });
                new.set(attr::SERVER_CONFIG, found.into());
            }
            _ => new.set(attr::CONFIG_SECRET_ARN, Value::Null),
        }
    }
    Ok(())
}

/// Deletes one secret (renamed away from) as the prior state's recovery settings say.
pub async fn delete_one(c: &AwsClients, arn: &str, prior: &Value) -> Result<(), Diagnostics> {
    let d = secrets::delete(c, arn, secrets::Deletion::from_state(prior)).await;
    if d.has_errors() {
        return Err(d);
    }
    Ok(())
}

/// Delete both secrets as `recovery_window_in_days` / `force_delete_without_recovery` say.
pub async fn delete(c: &AwsClients, state: &Value) -> Result<(), Diagnostics> {
    let spec = Spec::from_value(state);
    for (arn, name) in [(attr::CERTIFICATE_SECRET_ARN, &spec.certificate_secret_name), (attr::CONFIG_SECRET_ARN, &spec.config_secret_name)]
    {
        let id = opt_text(state, arn).unwrap_or_else(|| name.clone());
        let d = secrets::delete(c, &id, secrets::Deletion::from_state(state)).await;
        if d.has_errors() {
            return Err(d);
        }
    }
    Ok(())
}
