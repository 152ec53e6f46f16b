//! The pure planning of certificate rotation: when a new certificate is issued, which previous
//! certificates survive and until when. No AWS client here: modify_plan shows the outcome,
//! and the apply follows the same functions, so plan and apply cannot disagree.

use super::model::{attr, grace_secs, Attachments, Certificate, Previous, STATUS_ACTIVE};
use crate::crypto::Csr;
use crate::framework::Value;
use crate::resources::rotation::planned_previous;

/// A certificate is issued only for a public key other than the current certificate's: CSR
/// text alone says nothing (ECDSA CSRs differ on every signing, and an imported consumer has no
/// CSR in state). `new_key` is `None` while the CSR is unknown.
pub fn needs_new_certificate(has_certificate: bool, current_key: Option<&str>, new_key: Option<&str>) -> bool {
    !has_certificate || new_key.is_none() || current_key != new_key
}

/// The certificate attributes of a plan: unknown when a new certificate will be issued, ACTIVE
/// and attached after every apply, and the previous certificates with their deadlines.
pub fn plan_certificates(prior: &Value, p: &mut Value, now: i64) {
    let fingerprint = match p.get(attr::CSR_PEM).as_str().map(Csr::parse) {
        Some(Ok(csr)) => Some(csr.fingerprint()),
        Some(Err(_)) => return, // reported by the validator, pinned to csr_pem
        None => None,
    };
    let current = Certificate::recorded(prior);
    let reissue = needs_new_certificate(current.is_some(), Certificate::fingerprint(prior).as_deref(), fingerprint.as_deref());
    if reissue {
        Certificate::mark_unknown(p, fingerprint.clone().map(Value::String).unwrap_or(Value::Unknown));
    }
    Certificate::set_status(p, STATUS_ACTIVE);
    Attachments::BOTH.write(p);
    // Due ones drop out of the plan (the apply retires them); a replaced certificate joins
    // with its deadline set at apply time. Unknown while the grace period or (on update) the
    // key is.
    let (Some(new_grace), false) = (grace_secs(p), fingerprint.is_none() && !prior.is_null()) else {
        Previous::mark_unknown(p);
        return;
    };
    let old_grace = grace_secs(prior).unwrap_or(new_grace);
    let list = planned_previous(&Previous::list(prior), old_grace, new_grace, current.filter(|_| reissue), now);
    Previous::write_list(p, &list);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::rotation::{replace, Replaced};

    const H: i64 = 3600;
    const NOW: i64 = 1_767_225_600;

    fn prev(id: &str, t: Option<i64>) -> Previous {
        Previous { certificate_id: id.into(), certificate_arn: format!("arn:{id}"), retire_after: t }
    }

    fn csr() -> (String, String) {
        let key = crate::crypto::keys::generate(crate::crypto::KeyAlgorithm::EcdsaP256).unwrap();
        let csr = Csr::for_key(&key, "mc-1-work-agent").unwrap();
        let fp = csr.fingerprint();
        (csr.into_pem(), fp)
    }

    /// A state holding certificate `cur` for the key `fp`, and `previous`.
    fn state(fp: &str, previous: &[Previous], grace_hours: i64) -> Value {
        let mut v = Value::object([(attr::GRACE_PERIOD_HOURS, Value::from(grace_hours))]);
        Certificate { id: "cur".into(), arn: "arn:cur".into(), pem: String::new(), status: STATUS_ACTIVE.into() }.write(&mut v);
        v.set(attr::CERTIFICATE_FINGERPRINT, Value::string(fp));
        Previous::write_list(&mut v, previous);
        v
    }

    fn planned(csr_pem: &str, grace_hours: i64) -> Value {
        Value::object([(attr::CSR_PEM, Value::string(csr_pem)), (attr::GRACE_PERIOD_HOURS, Value::from(grace_hours))])
    }

    #[test]
    fn same_key_does_not_reissue() {
        let (pem, fp) = csr();
        assert!(!needs_new_certificate(true, Some(&fp), Some(&fp)));
        let prior = state(&fp, &[], 24);
        let mut p = planned(&pem, 24);
        plan_certificates(&prior, &mut p, NOW);
        assert!(p.get(attr::CERTIFICATE_ID).is_null(), "the plan leaves the current certificate alone");
        assert_eq!(Previous::planned(&p), Some(vec![]));
        assert_eq!(Attachments::read(&p), Attachments::BOTH);
    }

    #[test]
    fn new_key_reissues_and_the_old_certificate_moves_to_previous() {
        let (pem, fp) = csr();
        let prior = state("another key", &[], 24);
        let mut p = planned(&pem, 24);
        plan_certificates(&prior, &mut p, NOW);
        assert!(p.get(attr::CERTIFICATE_ID).is_unknown());
        assert_eq!(Certificate::fingerprint(&p), Some(fp));
        // The plan lists it with the deadline left to the apply ...
        assert_eq!(Previous::planned(&p), Some(vec![prev("cur", None)]));
        // ... which sets it grace hours from the moment of replacement.
        assert_eq!(replace("cur".into(), "arn:cur".into(), 24 * H, NOW), Replaced::GracePeriod(prev("cur", Some(NOW + 24 * H))));
        // An unknown CSR may be a new key: a new certificate, previous unknown.
        let mut unknown = Value::object([(attr::CSR_PEM, Value::Unknown), (attr::GRACE_PERIOD_HOURS, Value::from(24i64))]);
        plan_certificates(&prior, &mut unknown, NOW);
        assert!(unknown.get(attr::CERTIFICATE_ID).is_unknown());
        assert!(unknown.get(attr::PREVIOUS_CERTIFICATES).is_unknown());
    }

    #[test]
    fn grace_zero_retires_the_replaced_certificate_in_the_same_apply() {
        let (pem, _) = csr();
        let prior = state("another key", &[], 0);
        let mut p = planned(&pem, 0);
        plan_certificates(&prior, &mut p, NOW);
        assert_eq!(Previous::planned(&p), Some(vec![]));
        assert_eq!(replace("cur".into(), "arn:cur".into(), 0, NOW), Replaced::RetireNow(prev("cur", Some(NOW))));
    }

    #[test]
    fn shortened_grace_in_a_plan_moves_the_deadline() {
        let (pem, fp) = csr();
        let prior = state(&fp, &[prev("a", Some(NOW + 20 * H)), prev("b", Some(NOW + 2 * H))], 24);
        let mut plan = planned(&pem, 12);
        plan_certificates(&prior, &mut plan, NOW);
        assert_eq!(Previous::planned(&plan), Some(vec![prev("a", Some(NOW + 8 * H))]));
    }

    #[test]
    fn import_with_no_csr_keeps_the_certificate_for_the_same_key() {
        // Import records no csr_pem; read then reports the certificate's own key.
        let (pem, fp) = csr();
        let imported = state(&fp, &[prev("older", Some(NOW + 24 * H))], 24);
        assert!(imported.get(attr::CSR_PEM).is_null());
        let mut plan = planned(&pem, 24);
        plan_certificates(&imported, &mut plan, NOW);
        assert!(plan.get(attr::CERTIFICATE_ID).is_null(), "no new certificate");
        assert_eq!(Previous::planned(&plan), Some(vec![prev("older", Some(NOW + 24 * H))]));
        // Before read has seen the certificate's key, a CSR must reissue.
        assert!(needs_new_certificate(true, None, Some(&fp)));
    }
}
