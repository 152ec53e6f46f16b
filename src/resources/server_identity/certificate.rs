//! The server's key and IoT certificate. A new key is made in memory and staged in the
//! certificate secret, IoT Core signs its CSR, and key and certificate are written together as
//! the secret's current version: the secret never serves a key with another key's certificate,
//! and an apply killed midway leaves the key where the next one takes it and its certificate
//! back. The replaced certificate stays ACTIVE through its grace period (`resources::rotation`),
//! then is retired.

use super::model::{attr, Spec, STATUS_ACTIVE};
use super::secrets::{self, Unfinished};
use crate::crypto::keys::GeneratedKey;
use crate::crypto::CredentialBundle;
use crate::framework::{Diagnostics, Value};
use crate::provider::AwsClients;
use crate::resources::aws::iot;
use crate::resources::common::{opt_text, text};
use crate::resources::rotation::{self, grace_secs, Previous, Replaced, DEFAULT_GRACE_HOURS};

/// The CSR's common name (IoT Core ignores it; it names the key for whoever reads the CSR).
fn common_name(spec: &Spec) -> String {
    format!("{}-maestro-server", spec.name)
}

/// Makes a new key and certificate current: stage the key in the certificate secret, issue,
/// attach our policy, write key and certificate as the current bundle. The certificate it
/// replaces (if any) moves to `previous_certificates`. On failure `state` says what exists: a
/// certificate issued but never written to the secret is recorded as previous and due at once,
/// so the next apply retires it. An `unfinished` key (an apply cut short after staging it) is
/// taken up again with the certificate IoT issued for it, so none is left ACTIVE unrecorded.
pub async fn rotate(
    c: &AwsClients,
    spec: &Spec,
    prior: &Value,
    unfinished: Option<Unfinished>,
    state: &mut Value,
) -> Result<(), Diagnostics> {
    // The key state records vouches for the keys this rotation stages and writes, so that a
    // rotation cut short may be taken up again by the next one (see `custody`).
    let recorded_arn = opt_text(state, attr::CERTIFICATE_SECRET_ARN);
    let voucher = secrets::recorded_voucher(c, recorded_arn.as_deref(), opt_text(prior, attr::PUBLIC_KEY_FINGERPRINT).as_deref()).await?;
    let taken_back = match unfinished {
        Some(u) => take_back(c, spec, u, prior).await?,
        None => None,
    };
    let resumed = taken_back.is_some();
    let Resumed { key, issued, policy_attached, secret_arn, pending_version } = match taken_back {
        Some(resumed) => {
            state.set(attr::CERTIFICATE_SECRET_ARN, Value::String(resumed.secret_arn.clone()));
            resumed
        }
        None => {
            let (key, csr) = rotation::new_key(spec.algorithm, common_name(spec)).await?;
            let recorded_policy = opt_text(state, attr::CERTIFICATE_SECRET_RESOURCE_POLICY);
            let (secret_arn, pending_version) =
                secrets::stage_key(c, spec, recorded_arn.as_deref(), recorded_policy.as_deref(), voucher.as_ref(), &key_only(spec, &key))
                    .await?;
            // Recorded before the certificate is asked for: a failure from here leaves a
            // secret that state knows of, with the policy that is on it.
            state.set(attr::CERTIFICATE_SECRET_ARN, Value::String(secret_arn.clone()));
            record_policy(spec, state);
            let issued = iot::issue_certificate(c, &csr, &format!("Maestro server {}", spec.name)).await?;
            tracing::info!(certificate_id = %issued.id, fingerprint = %key.fingerprint(), "issued the server's new certificate");
            Resumed { key, issued, policy_attached: false, secret_arn, pending_version }
        }
    };
    let recorded_policy = opt_text(state, attr::CERTIFICATE_SECRET_RESOURCE_POLICY);
    let written = async {
        if !policy_attached {
            attach_policy(c, spec, &issued.arn).await?;
        }
        if resumed {
            if let Some(version) = secrets::current_version_holding(c, &secret_arn, &issued.pem).await? {
                return Ok(version);
            }
        }
        let bundle = CredentialBundle { certificate: Some(issued.pem.clone()), ..key_only(spec, &key) };
        secrets::write_bundle(c, spec, &secret_arn, recorded_policy.as_deref(), voucher.as_ref(), &bundle).await
    };
    let now = rotation::now_secs();
    let version = match written.await {
        Ok(version) => {
            record_policy(spec, state);
            version
        }
        Err(d) => {
            push_previous(state, Previous { certificate_id: issued.id, certificate_arn: issued.arn, retire_after: Some(now) });
            return Err(d);
        }
    };
    let grace = grace_secs(state).unwrap_or(DEFAULT_GRACE_HOURS * 3600);
    let replaced = opt_text(prior, attr::CERTIFICATE_ID).zip(opt_text(prior, attr::CERTIFICATE_ARN));
    for (name, value) in [
        (attr::CERTIFICATE_ID, issued.id),
        (attr::CERTIFICATE_ARN, issued.arn),
        (attr::CERTIFICATE_PEM, issued.pem),
        (attr::PUBLIC_KEY_FINGERPRINT, key.fingerprint()),
        (attr::CERTIFICATE_STATUS, STATUS_ACTIVE.to_string()),
        (attr::KEY_CREATED_AT, rotation::now_rfc3339()),
        (attr::CREDENTIAL_VERSION_ID, version),
    ] {
        state.set(name, Value::String(value));
    }
    state.set(attr::POLICY_ATTACHED, Value::Bool(true));
    if let Some((id, arn)) = replaced {
        match rotation::replace(id, arn, grace, now) {
            Replaced::GracePeriod(p) => push_previous(state, p),
            Replaced::RetireNow(p) => iot::retire_certificate(c, &p.certificate_id, &p.certificate_arn).await?,
        }
    }
    if let Some(v) = pending_version {
        secrets::unstage(c, &secret_arn, &v).await;
    }
    Ok(())
}

/// The declared certificate secret policy, once a key write has put it on the secret.
fn record_policy(spec: &Spec, state: &mut Value) {
    state.set(attr::CERTIFICATE_SECRET_RESOURCE_POLICY, spec.certificate_secret_resource_policy.clone().into());
}

/// The staged key, without its certificate yet.
fn key_only(spec: &Spec, key: &GeneratedKey) -> CredentialBundle {
    CredentialBundle::of_new_key(key, spec.broker_ca())
}

/// A key and certificate to make current.
struct Resumed {
    key: GeneratedKey,
    issued: iot::Issued,
    policy_attached: bool,
    secret_arn: String,
    /// The AWSPENDING version the key was staged as, to take the label off once it is current.
    pending_version: Option<String>,
}

/// The certificate an unfinished apply had issued for its staged key: ACTIVE, issued after the
/// key was written, attached to nothing but our policy, and recorded nowhere in state. With the
/// configured algorithm it is taken up; otherwise it is retired, and a new key made.
async fn take_back(c: &AwsClients, spec: &Spec, u: Unfinished, prior: &Value) -> Result<Option<Resumed>, Diagnostics> {
    let policy = spec.policy_name();
    let attachable = iot::Attachable { thing: None, policy: Some(&policy) };
    let Some((found, attached)) = iot::find_certificate_of_key(c, u.written - CLOCK_SKEW_SECS, u.key.spki_der(), &attachable).await? else {
        return Ok(None);
    };
    let recorded = Previous::list(prior).into_iter().map(|p| p.certificate_id).chain(opt_text(prior, attr::CERTIFICATE_ID));
    if recorded.into_iter().any(|id| id == found.id) {
        return Ok(None);
    }
    if !u.vouched {
        // Only its own proof says the key is ours, and whoever chose a key can make that: it
        // does not become the server's key. Its certificate, attached to nothing but our
        // policy, is retired so that none is left ACTIVE unrecorded, and a new key is made.
        tracing::info!(certificate_id = %found.id, "retiring the certificate of a staged key that no recorded key vouches for");
        iot::retire_certificate(c, &found.id, &found.arn).await?;
        return Ok(None);
    }
    if u.key.algorithm() != spec.algorithm {
        iot::retire_certificate(c, &found.id, &found.arn).await?;
        return Ok(None);
    }
    tracing::info!(certificate_id = %found.id, "taking up the key and certificate of an apply that did not finish");
    Ok(Some(Resumed {
        key: u.key,
        issued: found,
        policy_attached: attached.policy,
        secret_arn: u.secret_arn,
        pending_version: u.pending_version,
    }))
}

/// How far the clocks of Secrets Manager and IoT Core may disagree: the window starts at the
/// staged key's creation date by Secrets Manager's clock and is compared with IoT's creation
/// dates, two AWS clocks (no local clock is involved).
const CLOCK_SKEW_SECS: i64 = 300;

fn push_previous(state: &mut Value, p: Previous) {
    let mut list = Previous::list(state);
    list.push(p);
    Previous::write_list(state, &list);
}

async fn attach_policy(c: &AwsClients, spec: &Spec, cert_arn: &str) -> Result<(), Diagnostics> {
    iot::attach_policy(c, &spec.policy_name(), cert_arn).await
}

/// The current certificate as the configuration wants it: ACTIVE (deactivated out of band,
/// it is put back) with our policy attached.
pub async fn repair(c: &AwsClients, spec: &Spec, prior: &Value, state: &mut Value) -> Result<(), Diagnostics> {
    let id = text(prior, attr::CERTIFICATE_ID);
    if prior.get(attr::CERTIFICATE_STATUS).as_str() != Some(STATUS_ACTIVE) {
        iot::activate_certificate(c, &id).await?;
        state.set(attr::CERTIFICATE_STATUS, Value::string(STATUS_ACTIVE));
    }
    if prior.get(attr::POLICY_ATTACHED).as_bool() != Some(true) {
        attach_policy(c, spec, &text(prior, attr::CERTIFICATE_ARN)).await?;
        state.set(attr::POLICY_ATTACHED, Value::Bool(true));
    }
    Ok(())
}

/// Retires the previous certificates the plan no longer keeps (past their grace period).
pub async fn retire_due(c: &AwsClients, prior: &Value, planned: &Value, state: &mut Value) -> Result<(), Diagnostics> {
    let grace = grace_secs(planned).unwrap_or(DEFAULT_GRACE_HOURS * 3600);
    let old_grace = grace_secs(prior).unwrap_or(grace);
    let due = rotation::due_for_retirement(
        &Previous::list(prior),
        &Previous::list(state),
        Previous::planned(planned).as_deref(),
        old_grace,
        grace,
        rotation::now_secs(),
    );
    for p in due {
        iot::retire_certificate(c, &p.certificate_id, &p.certificate_arn).await?;
        let list: Vec<Previous> = Previous::list(state).into_iter().filter(|q| q.certificate_id != p.certificate_id).collect();
        Previous::write_list(state, &list);
    }
    Ok(())
}

/// Refresh: the current certificate's status, PEM and attachment (cleared when it is gone, so
/// the plan makes a new pair), and the previous certificates that still exist.
pub async fn read(c: &AwsClients, spec: &Spec, state: &Value, new: &mut Value) -> Result<(), Diagnostics> {
    if let (Some(id), Some(arn)) = (opt_text(state, attr::CERTIFICATE_ID), opt_text(state, attr::CERTIFICATE_ARN)) {
        match iot::find_certificate(c, &id).await? {
            Some(found) => {
                new.set(attr::CERTIFICATE_STATUS, Value::String(found.status));
                new.set(attr::CERTIFICATE_PEM, Value::String(found.pem));
                let attached = iot::attached_policies(c, &arn).await?.unwrap_or_default().contains(&spec.policy_name());
                new.set(attr::POLICY_ATTACHED, Value::Bool(attached));
            }
            None => {
                for name in [attr::CERTIFICATE_ID, attr::CERTIFICATE_ARN, attr::CERTIFICATE_PEM, attr::CERTIFICATE_STATUS] {
                    new.set(name, Value::Null);
                }
                new.set(attr::POLICY_ATTACHED, Value::Bool(false));
            }
        }
    }
    let mut previous = Vec::new();
    for p in Previous::list(state) {
        if iot::find_certificate(c, &p.certificate_id).await?.is_some() {
            previous.push(p);
        }
    }
    Previous::write_list(new, &previous);
    Ok(())
}

/// Delete: every certificate state records, previous ones first; then the certificate of a
/// key an unfinished apply staged in the certificate secret (a create made tainted after
/// CreateCertificateFromCsr was answered ambiguously and the lookup for what it issued failed),
/// attached to nothing but our policy, so that a destroy leaves nothing ACTIVE behind.
pub async fn retire_all(c: &AwsClients, state: &Value) -> Result<(), Diagnostics> {
    let mut certs: Vec<(String, String)> = Previous::list(state).into_iter().map(|p| (p.certificate_id, p.certificate_arn)).collect();
    certs.extend(opt_text(state, attr::CERTIFICATE_ID).zip(opt_text(state, attr::CERTIFICATE_ARN)));
    for (id, arn) in &certs {
        iot::retire_certificate(c, id, arn).await?;
    }
    let spec = Spec::from_value(state);
    let secret = opt_text(state, attr::CERTIFICATE_SECRET_ARN).unwrap_or_else(|| spec.certificate_secret_name.clone());
    let recorded_key = opt_text(state, attr::PUBLIC_KEY_FINGERPRINT);
    let Some(u) = secrets::unfinished_key(c, &spec, &secret, recorded_key.as_deref()).await? else { return Ok(()) };
    let policy = spec.policy_name();
    let attachable = iot::Attachable { thing: None, policy: Some(&policy) };
    for (found, _) in iot::certificates_of_key(c, u.written - CLOCK_SKEW_SECS, u.key.spki_der(), &attachable, usize::MAX).await? {
        if certs.iter().all(|(id, _)| *id != found.id) {
            tracing::info!(certificate_id = %found.id, "retiring the certificate of a key an unfinished apply staged");
            iot::retire_certificate(c, &found.id, &found.arn).await?;
        }
    }
    Ok(())
}
