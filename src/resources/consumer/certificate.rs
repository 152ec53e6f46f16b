//! The agent's certificates: issued from the CSR (or adopted after a lost answer), attached to
//! our policy and thing, rotated with a grace period as `plan` decides, and retired.

use super::model::{
    attr, configured_csr, grace_secs, recorded_csr_key, Attachments, Certificate, Previous, Spec, DEFAULT_GRACE_HOURS, STATUS_ACTIVE,
};
use super::plan;
use crate::crypto::Csr;
use crate::framework::{Diagnostic, Diagnostics, Value};
use crate::resources::rotation::{self, Replaced};

use crate::provider::AwsClients;
use crate::resources::aws::iot;
use crate::resources::common::{aws_failure, certificate_fingerprint, text};

/// IoT issues the certificate (see `iot::issue_certificate`); it is ACTIVE from the start.
async fn issue(c: &AwsClients, csr: &Csr, consumer_id: &str) -> Result<Certificate, Diagnostics> {
    let issued = iot::issue_certificate(c, csr, &format!("consumer {consumer_id}")).await?;
    Ok(Certificate { id: issued.id, arn: issued.arn, pem: issued.pem, status: STATUS_ACTIVE.to_string() })
}

/// Which of our policy and thing are attached to a certificate.
async fn attachments_of(c: &AwsClients, spec: &Spec, cert_arn: &str) -> Result<Attachments, Diagnostics> {
    let policies = iot::attached_policies(c, cert_arn).await?.unwrap_or_default();
    let things = iot::principal_things(c, cert_arn).await?.unwrap_or_default();
    Ok(Attachments { policy: policies.contains(&spec.policy_name()), thing: things.contains(&spec.thing_name()) })
}

/// Issues a certificate and records it in `state` at once, then attaches policy and thing,
/// recording each attachment as it succeeds.
pub async fn issue_and_attach(c: &AwsClients, spec: &Spec, csr: &Csr, resumed: bool, state: &mut Value) -> Result<(), Diagnostics> {
    let (thing, policy) = (spec.thing_name(), spec.policy_name());
    let attachable = iot::Attachable { thing: Some(&thing), policy: Some(&policy) };
    // Resuming a create that was cut short: the certificate it may have had issued, attached
    // to nothing but this consumer's thing and policy, is taken back rather than left ACTIVE.
    let leftover = match resumed {
        true => iot::find_certificate_of_key(c, 0, csr.spki_der(), &attachable).await?,
        false => None,
    };
    let issued = match leftover {
        Some((found, attached)) => {
            let issued = Certificate { id: found.id, arn: found.arn, pem: found.pem, status: STATUS_ACTIVE.to_string() };
            issued.write(state);
            Attachments { policy: attached.policy, thing: attached.thing }.write(state);
            issued
        }
        None => {
            let issued = issue(c, csr, &spec.consumer_id).await?;
            issued.write(state);
            Attachments::NONE.write(state);
            issued
        }
    };
    if certificate_fingerprint(&issued.pem) != Some(csr.fingerprint()) {
        return Err(Diagnostic::error(
            "Certificate does not match the CSR",
            format!(
                "IoT Core issued certificate {} for a public key other than the CSR's; it is recorded and will be retired on replacement.",
                issued.id
            ),
        )
        .into());
    }
    repair_attachments(c, spec, state).await
}

async fn repair_attachments(c: &AwsClients, spec: &Spec, state: &mut Value) -> Result<(), Diagnostics> {
    let arn = text(state, attr::CERTIFICATE_ARN);
    let mut attached = Attachments::read(state);
    if !attached.policy {
        iot::attach_policy(c, &spec.policy_name(), &arn).await?;
        attached.policy = true;
        attached.write(state);
    }
    if !attached.thing {
        let thing = spec.thing_name();
        c.iot
            .attach_thing_principal()
            .thing_name(&thing)
            .principal(&arn)
            .send()
            .await
            .map_err(|e| aws_failure("iot:AttachThingPrincipal", &format!("{arn} to {thing}"), &e))?;
        attached.thing = true;
        attached.write(state);
    }
    Ok(())
}

/// Update: a new certificate when the CSR's key changed (the old one then goes into its grace
/// period, or is retired at once), else the current one made ACTIVE and attached again; then
/// the previous certificates that are due are retired. `state` stays true to AWS after every
/// step, so a failure part-way records what exists.
pub async fn converge(c: &AwsClients, prior: &Value, planned: &Value, spec: &Spec, state: &mut Value) -> Result<(), Diagnostics> {
    let csr = configured_csr(planned)?;
    let new_fp = Some(csr.fingerprint());
    let current = Certificate::recorded(prior);
    let reissue = plan::needs_new_certificate(current.is_some(), Certificate::fingerprint(prior).as_deref(), new_fp.as_deref());
    let grace = grace_secs(planned).unwrap_or(DEFAULT_GRACE_HOURS * 3600);
    let mut retire_now = Vec::new();
    if reissue {
        // Recorded before the new certificate exists: if issuing fails, the old one is
        // still the current one in state; once a new one is recorded, the old one is
        // previous (due at once with grace 0, so the next apply retires it).
        // A new key has no certificate yet, unless a rotation of it was cut short: look.
        let issued = issue_and_attach(c, spec, &csr, true, state).await;
        if let Some((id, arn)) = current {
            match (rotation::replace(id, arn, grace, rotation::now_secs()), &issued) {
                (Replaced::GracePeriod(p), Ok(())) => push_previous(state, p),
                (Replaced::RetireNow(p), Ok(())) => retire_now.push(p),
                (Replaced::GracePeriod(p) | Replaced::RetireNow(p), Err(_)) => {
                    if Certificate::recorded(state).map(|(now_current, _)| now_current).as_ref() != Some(&p.certificate_id) {
                        push_previous(state, p);
                    }
                }
            }
        }
        issued?;
    } else {
        if Certificate::status(prior) != STATUS_ACTIVE {
            // Deactivated out of band while the configuration still names its key: put it
            // back, as aws_iot_certificate's `active = true` would. (A REVOKED certificate
            // cannot be reactivated; IoT's error says so.)
            let id = text(prior, attr::CERTIFICATE_ID);
            iot::activate_certificate(c, &id).await?;
            Certificate::set_status(state, STATUS_ACTIVE);
        }
        repair_attachments(c, spec, state).await?;
    }
    state.set(attr::CSR_PEM, Value::String(csr.into_pem()));
    // Previous certificates past their grace period (or all of them with grace 0).
    let prior_previous = Previous::list(prior);
    let old_grace = grace_secs(prior).unwrap_or(grace);
    let planned_previous = Previous::planned(planned);
    let mut due = rotation::due_for_retirement(
        &prior_previous,
        &Previous::list(state),
        planned_previous.as_deref(),
        old_grace,
        grace,
        rotation::now_secs(),
    );
    due.extend(retire_now);
    for p in due {
        iot::retire_certificate(c, &p.certificate_id, &p.certificate_arn).await?;
        let list: Vec<Previous> = Previous::list(state).into_iter().filter(|q| q.certificate_id != p.certificate_id).collect();
        Previous::write_list(state, &list);
    }
    Ok(())
}

fn push_previous(state: &mut Value, p: Previous) {
    let mut list = Previous::list(state);
    list.push(p);
    Previous::write_list(state, &list);
}

/// Refresh: the current certificate as IoT holds it (cleared when deleted out of band, so the
/// plan issues a new one from csr_pem) and the previous ones that still exist. Answers
/// whether any certificate is left.
pub async fn read(c: &AwsClients, spec: &Spec, state: &Value, new: &mut Value) -> Result<bool, Diagnostics> {
    let mut have_cert = false;
    if let Some((id, arn)) = Certificate::recorded(state) {
        match iot::find_certificate(c, &id).await? {
            Some(found) => {
                have_cert = true;
                Certificate::refresh(new, found.status, found.pem);
                attachments_of(c, spec, &arn).await?.write(new);
            }
            None => {
                Certificate::clear(new);
                Attachments::NONE.write(new);
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
    Ok(have_cert || !previous.is_empty())
}

/// Delete: every certificate state records, previous ones first. A state that records no
/// current certificate is a create that failed before it recorded one, made tainted: its
/// CreateCertificateFromCsr may have been answered ambiguously and the lookup for what it
/// issued failed too (`iot::issue_certificate` then does not send it again). A certificate of
/// the CSR's key attached to nothing but this consumer's thing and policy is that one: it is
/// retired too, so replacing the tainted resource leaves nothing ACTIVE behind.
pub async fn retire_all(c: &AwsClients, state: &Value) -> Result<(), Diagnostics> {
    let mut certs: Vec<(String, String)> = Previous::list(state).into_iter().map(|p| (p.certificate_id, p.certificate_arn)).collect();
    let current = Certificate::recorded(state);
    let unrecorded = current.is_none();
    certs.extend(current);
    for (id, arn) in certs {
        iot::retire_certificate(c, &id, &arn).await?;
    }
    if unrecorded {
        retire_unrecorded(c, state).await?;
    }
    Ok(())
}

async fn retire_unrecorded(c: &AwsClients, state: &Value) -> Result<(), Diagnostics> {
    let Some(spki) = recorded_csr_key(state) else { return Ok(()) };
    let spec = Spec::from_value(state);
    let (thing, policy) = (spec.thing_name(), spec.policy_name());
    let attachable = iot::Attachable { thing: Some(&thing), policy: Some(&policy) };
    // Since 0: nothing in state dates the create that failed.
    for (found, _) in iot::certificates_of_key(c, 0, &spki, &attachable, usize::MAX).await? {
        tracing::info!(certificate_id = %found.id, "retiring the certificate a failed create of this consumer left unrecorded");
        iot::retire_certificate(c, &found.id, &found.arn).await?;
    }
    Ok(())
}
