//! The server's two secrets: the certificate secret, whose current version is always a key
//! with its own certificate (written only by `certificate`), and the config secret. Values
//! pass only through `resources::aws::secretsmanager`, never through logs or state.

use super::model::{attr, Account, Spec};
use crate::crypto::keys::GeneratedKey;
use crate::crypto::{CredentialBundle, SecretString};
use crate::framework::{AttributePath, Diagnostic, Diagnostics, Value};
use crate::provider::AwsClients;
use crate::resources::aws::custody;
use crate::resources::aws::secretsmanager::{self as secrets, KeyBearing, NewSecret, AWSCURRENT, AWSPENDING};
use crate::resources::common::opt_text;

fn description(kind: &str, spec: &Spec) -> String {
    format!("Maestro server MQTT {kind} for {} (managed by terraform-provider-maestro)", spec.name)
}

/// Stages a key-only bundle in the certificate secret before its certificate is asked for,
/// so that an apply cut short (the provider killed, the key gone with it) leaves the key where
/// the next apply finds it. With a recorded secret the key is the AWSPENDING version, vouched
/// for by `voucher` (the key state records, see [`recorded_voucher`]) so that the next apply
/// may take it up with the certificate IoT issued for it; without one the secret is created
/// with it as its first version (nothing serves a secret that did not exist), or taken back on
/// proof with it as AWSPENDING. Returns the ARN and the AWSPENDING version, if it was staged as
/// one. The declared `certificate_secret_resource_policy` is on the secret before the key (on
/// a new secret right after CreateSecret: see `create_or_adopt`); `recorded_policy`, what
/// state records, is accepted until then.
pub async fn stage_key(
    c: &AwsClients,
    spec: &Spec,
    recorded_arn: Option<&str>,
    recorded_policy: Option<&str>,
    voucher: Option<&SecretString>,
    key_only: &CredentialBundle,
) -> Result<(String, Option<String>), Diagnostics> {
    let value = key_only.to_secret_string();
    let policy = spec.certificate_secret_policy(recorded_policy);
    if let Some(arn) = recorded_arn {
        let info = recorded_secret(c, arn).await?;
        let kms = spec.kms_key_arn.as_deref();
        let version =
            custody::write_key(c, &info, key_only, &spec.name, voucher, &[AWSPENDING], kms, policy, attr::CERTIFICATE_SECRET_NAME).await?;
        return Ok((info.arn, Some(version)));
    }
    let tags = spec.tags_all(Account::from(c));
    let new = NewSecret {
        name: &spec.certificate_secret_name,
        description: description("credentials", spec),
        value: &value,
        kms_key_id: spec.kms_key_arn.as_deref(),
        tags: &tags,
        attribute: attr::CERTIFICATE_SECRET_NAME,
        adopted_stages: &[AWSPENDING],
        key: Some(KeyBearing { bundle: key_only, owner: &spec.name }),
        policy,
    };
    let written = secrets::create_or_adopt(c, &new).await?;
    Ok((written.arn, written.adopted.then_some(written.version)))
}

/// The server's key as state records it (by `fingerprint`), read from the recorded secret
/// `arn`: what vouches for the keys a rotation stages. `None` without a recorded secret or key,
/// or when the secret no longer holds that key.
pub async fn recorded_voucher(c: &AwsClients, arn: Option<&str>, fingerprint: Option<&str>) -> Result<Option<SecretString>, Diagnostics> {
    let (Some(arn), Some(fingerprint)) = (arn, fingerprint) else { return Ok(None) };
    match secrets::describe(c, arn).await? {
        Some(info) if !info.scheduled_for_deletion => custody::voucher(c, &info, fingerprint).await,
        _ => Ok(None),
    }
}

/// The certificate secret state records, described. One scheduled for deletion out of band is
/// restored first: its ARN, which AWS makes unique, is the proof it is ours.
async fn recorded_secret(c: &AwsClients, arn: &str) -> Result<secrets::SecretInfo, Diagnostics> {
    let Some(mut info) = secrets::describe(c, arn).await? else {
        return Err(Diagnostic::error(
            "Certificate secret not found",
            format!("Secret {arn} no longer exists; refresh to plan its creation."),
        )
        .at(AttributePath::root(attr::CERTIFICATE_SECRET_NAME))
        .into());
    };
    if info.scheduled_for_deletion {
        tracing::info!(secret = %info.name, "restoring the certificate secret this resource recorded, which was scheduled for deletion");
        secrets::restore(c, arn).await?;
        info.scheduled_for_deletion = false;
    }
    Ok(info)
}

/// Writes key and certificate together as the certificate secret's current version, once the
/// secret passes the custody check and the declared policy is on it (`recorded_policy` is
/// accepted until then). Returns the version.
pub async fn write_bundle(
    c: &AwsClients,
    spec: &Spec,
    arn: &str,
    recorded_policy: Option<&str>,
    voucher: Option<&SecretString>,
    bundle: &CredentialBundle,
) -> Result<String, Diagnostics> {
    let info = recorded_secret(c, arn).await?;
    let policy = spec.certificate_secret_policy(recorded_policy);
    let kms = spec.kms_key_arn.as_deref();
    custody::write_key(c, &info, bundle, &spec.name, voucher, &[], kms, policy, attr::CERTIFICATE_SECRET_NAME).await
}

/// A changed `certificate_secret_resource_policy` on the certificate secret state records:
/// put (or deleted) after the secret is judged as a refresh judges it. `false` when there was
/// nothing to do here: the policy did not change, or the secret is renamed, gone or pending
/// deletion (the rotation the plan makes then puts the policy on before its key).
pub async fn update_certificate_policy(c: &AwsClients, spec: &Spec, prior: &Value, planned: &Value) -> Result<bool, Diagnostics> {
    let recorded = opt_text(prior, attr::CERTIFICATE_SECRET_RESOURCE_POLICY);
    if recorded == spec.certificate_secret_resource_policy
        || prior.get(attr::CERTIFICATE_SECRET_NAME) != planned.get(attr::CERTIFICATE_SECRET_NAME)
    {
        return Ok(false);
    }
    let Some(arn) = opt_text(prior, attr::CERTIFICATE_SECRET_ARN) else { return Ok(false) };
    let Some(info) = secrets::describe(c, &arn).await?.filter(|i| !i.scheduled_for_deletion) else { return Ok(false) };
    custody::align_policy(c, &info, spec.certificate_secret_policy(recorded.as_deref()), attr::CERTIFICATE_SECRET_NAME).await?;
    Ok(true)
}

/// The current version, when it already pairs the key with `certificate_pem`: an apply killed
/// after writing the bundle is not written again, which would push the bundle before it out of
/// AWSPREVIOUS.
pub async fn current_version_holding(c: &AwsClients, arn: &str, certificate_pem: &str) -> Result<Option<String>, Diagnostics> {
    let Some((version, value)) = secrets::get_stage(c, arn, AWSCURRENT).await? else { return Ok(None) };
    let holds = CredentialBundle::parse(value.expose())
        .is_ok_and(|b| b.certificate.as_deref() == Some(certificate_pem) && b.is_coherent().unwrap_or(false));
    Ok(holds.then_some(version))
}

/// Takes AWSPENDING off the staged key's version once its bundle is current, so the label
/// means what it does elsewhere: a rotation under way. Best effort: left on, it marks the
/// current key, which [`unfinished_key`] passes over (and a retry after a lost answer finds
/// the label gone, which Secrets Manager reports as an error).
pub async fn unstage(c: &AwsClients, arn: &str, pending_version: &str) {
    if let Err(d) = secrets::remove_stage(c, arn, AWSPENDING, pending_version).await {
        tracing::warn!(secret = arn, version = pending_version, error = %d, "could not take AWSPENDING off the staged key's version");
    }
}

/// A key an earlier apply wrote to the certificate secret but did not finish with: the
/// AWSPENDING version's key, or else the current version's, when it is not the key state
/// records. Only a version this provider wrote for this server counts (its proof, or vouched
/// for by the recorded key: see `custody`), in a secret that is not scheduled for deletion.
pub struct Unfinished {
    pub key: GeneratedKey,
    pub secret_arn: String,
    /// When the key was written: a certificate for it cannot be older.
    pub written: i64,
    pub pending_version: Option<String>,
    /// Vouched for by the key state records, so it may become the server's key. A key with
    /// only its own proof (a create cut short, with no state yet) could have been planted by
    /// whoever chose it: its certificates are retired instead of taken up.
    pub vouched: bool,
}

/// Looks for an [`Unfinished`] key in the secret `secret_id` (its ARN, or its name before the
/// resource has recorded one). DescribeSecret, then one GetSecretValue when there is a version
/// to look at (and, with a recorded key, the reads that find it).
pub async fn unfinished_key(
    c: &AwsClients,
    spec: &Spec,
    secret_id: &str,
    recorded_fingerprint: Option<&str>,
) -> Result<Option<Unfinished>, Diagnostics> {
    let Some(info) = secrets::describe(c, secret_id).await? else { return Ok(None) };
    if info.scheduled_for_deletion {
        return Ok(None);
    }
    let pending_version = info.version_with(AWSPENDING).map(str::to_string);
    let Some(version) = pending_version.as_deref().or(info.version_with(AWSCURRENT)) else { return Ok(None) };
    let Some(found) = secrets::get_dated_version(c, &info.arn, version).await? else { return Ok(None) };
    let Ok(bundle) = CredentialBundle::parse(found.value.expose()) else { return Ok(None) };
    let Ok(key) = GeneratedKey::from_pkcs8_pem(bundle.private_key.expose()) else { return Ok(None) };
    if recorded_fingerprint == Some(key.fingerprint().as_str()) {
        return Ok(None);
    }
    let vouched = match recorded_fingerprint {
        Some(fingerprint) => custody::voucher(c, &info, fingerprint)
            .await?
            .is_some_and(|v| custody::vouches(&v, version, found.value.expose(), &info.name, &spec.name)),
        None => false,
    };
    // A value this provider did not write for this server holds no key of ours at all.
    if !vouched && !custody::proves(version, found.value.expose(), &info.name, &spec.name) {
        return Ok(None);
    }
    Ok(Some(Unfinished { key, secret_arn: info.arn, written: found.created, pending_version, vouched }))
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
                adopted_stages: &[],
                key: None,
                policy: custody::SecretPolicy::NONE,
            };
            Ok(secrets::create_or_adopt(c, &new).await?.arn)
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
                // A policy or replica put on it out of band exposes the server's key: the plan
                // stops here, for the user to decide. The declared policy is no finding; found
                // missing, it is cleared so that the plan puts it back. (A changed KMS key is
                // put back by the plan, so it is not judged here.)
                let recorded = state.get(attr::CERTIFICATE_SECRET_RESOURCE_POLICY);
                let policy = custody::SecretPolicy::accepting(recorded.as_str());
                let found =
                    custody::check(c, &info, info.kms_key_id.as_deref(), policy, attr::CERTIFICATE_SECRET_NAME, custody::AFTER_WRITE)
                        .await?;
                new.set(attr::CERTIFICATE_SECRET_RESOURCE_POLICY, custody::refreshed_policy(recorded, found.as_deref()));
                if !recorded_version.as_deref().is_some_and(|v| info.has_stage(v, AWSCURRENT)) {
                    new.set(attr::CREDENTIAL_VERSION_ID, Value::Null);
                }
            }
            // Deleted out of band: the plan makes a new key, whose staging restores it (the
            // recorded ARN is the proof it is ours).
            Some(_) => new.set(attr::CREDENTIAL_VERSION_ID, Value::Null),
            None => {
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
        // Only a secret state records (by its unique ARN) is this resource's to delete: the
        // name alone may belong to a secret someone else made, which a refused create left.
        let Some(id) = opt_text(state, arn) else {
            tracing::info!(secret = %name, "no ARN recorded for this secret: it is not deleted");
            continue;
        };
        let mut how = secrets::Deletion::from_state(state);
        // A certificate secret whose bundle never became current (a create that failed part
        // way, now replaced) holds only a staged key whose certificate is being retired:
        // nothing to recover, and a pending deletion would keep its name from the create that
        // follows (which restores only a secret state records, having no proof to read).
        if arn == attr::CERTIFICATE_SECRET_ARN && state.get(attr::CREDENTIAL_VERSION_ID).is_null() {
            how.force = true;
        }
        let d = secrets::delete(c, &id, how).await;
        if d.has_errors() {
            return Err(d);
        }
    }
    Ok(())
}
