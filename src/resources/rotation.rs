//! Certificate rotation with a grace period, shared by every resource that replaces an IoT
//! certificate (`maestro_consumer` for agents, `maestro_server_identity` for the server): a
//! replaced certificate stays ACTIVE in `previous_certificates` until `retire_after`, so the
//! process using it can switch to the new one without a gap, and a later apply retires it.
//! Pure functions of the state and the clock, so plan and apply follow the same rules.

use crate::crypto::keys::{self, GeneratedKey, KeyAlgorithm};
use crate::crypto::Csr;
use crate::framework::schema::{Attribute, Validator};
use crate::framework::{Diagnostic, Diagnostics, Type, Value};
use crate::resources::common::text;
use aws_smithy_types::date_time::{DateTime, Format};
use std::time::SystemTime;

pub const DEFAULT_GRACE_HOURS: i64 = 24;

/// The state attributes of the rotation, the same in every resource that rotates.
pub use crate::resources::model::rotation as attr;

fn non_negative_integer() -> Validator {
    std::sync::Arc::new(|v: &Value| match v {
        Value::Number(n) if n.as_i64().is_some_and(|h| h >= 0) => Ok(()),
        Value::Number(n) => Err(format!("must be a whole number of hours, 0 or more, got {n}")),
        _ => Ok(()),
    })
}

/// `certificate_grace_period_hours`, for certificates replaced by `replaced_by`, used by `who`.
pub fn grace_period_attribute(replaced_by: &str, who: &str) -> Attribute {
    Attribute::number(attr::GRACE_PERIOD_HOURS).default(DEFAULT_GRACE_HOURS).validate(non_negative_integer()).description(&format!(
        "Hours a certificate replaced by {replaced_by} stays ACTIVE, so {who} can switch over without a gap. An apply after that deactivates and deletes it; 0 retires it in the same apply that issues the new one."
    ))
}

/// `previous_certificates`, for certificates replaced by `replaced_by`.
pub fn previous_certificates_attribute(replaced_by: &str) -> Attribute {
    let element =
        Type::object([(attr::CERTIFICATE_ID, Type::String), (attr::CERTIFICATE_ARN, Type::String), (attr::RETIRE_AFTER, Type::String)]);
    Attribute::new(attr::PREVIOUS_CERTIFICATES, Type::list(element)).computed().keep_state_for_unknown().description(&format!(
        "Certificates replaced by {replaced_by} that are still ACTIVE during their grace period: `certificate_id`, `certificate_arn`, and `retire_after` (RFC 3339, UTC), after which an apply deactivates and deletes them."
    ))
}

pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

pub fn now_rfc3339() -> String {
    DateTime::from(SystemTime::now()).fmt(Format::DateTime).unwrap_or_default()
}

/// True when a key generated at `created_at` is due for rotation after `days` days.
pub fn rotation_due(created_at: &str, days: i64, now: SystemTime) -> bool {
    let Ok(created) = DateTime::from_str(created_at, Format::DateTime) else { return false };
    let due = created.secs().saturating_add(days.saturating_mul(86_400));
    DateTime::from(now).secs() >= due
}

/// A new key and its CSR with `common_name`, made off the async runtime (RSA 3072 takes a
/// noticeable moment). The key lives only in the returned value.
pub async fn new_key(algorithm: KeyAlgorithm, common_name: String) -> Result<(GeneratedKey, Csr), Diagnostics> {
    let made = tokio::task::spawn_blocking(move || {
        let key = keys::generate(algorithm)?;
        let csr = Csr::for_key(&key, &common_name)?;
        Ok::<_, crate::crypto::CryptoError>((key, csr))
    })
    .await;
    match made {
        Ok(Ok(pair)) => Ok(pair),
        Ok(Err(e)) => Err(Diagnostic::error("Key generation failed", e.to_string()).into()),
        Err(e) => Err(Diagnostic::error("Key generation failed", format!("the key generation task failed: {e}")).into()),
    }
}

/// A certificate replaced by rotation and still in its grace period.
#[derive(Clone, Debug, PartialEq)]
pub struct Previous {
    pub certificate_id: String,
    pub certificate_arn: String,
    /// Seconds since the epoch; `None` while planned but not yet applied.
    pub retire_after: Option<i64>,
}

impl Previous {
    fn to_value(&self) -> Value {
        Value::object([
            (attr::CERTIFICATE_ID, Value::string(&self.certificate_id)),
            (attr::CERTIFICATE_ARN, Value::string(&self.certificate_arn)),
            (attr::RETIRE_AFTER, self.retire_after.map(|t| Value::String(rfc3339(t))).unwrap_or(Value::Unknown)),
        ])
    }

    /// `previous_certificates` of a state or plan (empty when null or unknown).
    pub fn list(v: &Value) -> Vec<Previous> {
        v.get(attr::PREVIOUS_CERTIFICATES)
            .as_list()
            .unwrap_or_default()
            .iter()
            .map(|e| Previous {
                certificate_id: text(e, attr::CERTIFICATE_ID),
                certificate_arn: text(e, attr::CERTIFICATE_ARN),
                retire_after: e.get(attr::RETIRE_AFTER).as_str().and_then(parse_rfc3339),
            })
            .collect()
    }

    /// The list a plan holds, `None` while it is unknown.
    pub fn planned(v: &Value) -> Option<Vec<Previous>> {
        matches!(v.get(attr::PREVIOUS_CERTIFICATES), Value::List(_)).then(|| Previous::list(v))
    }

    pub fn value(list: &[Previous]) -> Value {
        Value::List(list.iter().map(Previous::to_value).collect())
    }

    pub fn write_list(v: &mut Value, list: &[Previous]) {
        v.set(attr::PREVIOUS_CERTIFICATES, Previous::value(list));
    }

    pub fn mark_unknown(v: &mut Value) {
        v.set(attr::PREVIOUS_CERTIFICATES, Value::Unknown);
    }

    /// The planned list with the deadlines only the apply could set filled in from `applied`
    /// (or `now`, for one the apply retired at once). Known deadlines stay as planned.
    pub fn fill_deadlines(planned: &Value, applied: &[Previous], now: i64) -> Value {
        let Value::List(items) = planned.get(attr::PREVIOUS_CERTIFICATES) else { return Previous::value(applied) };
        let filled = items.iter().map(|e| {
            let mut v = e.clone();
            if v.get(attr::RETIRE_AFTER).is_unknown() {
                let id = text(e, attr::CERTIFICATE_ID);
                let found = applied.iter().find(|p| p.certificate_id == id).and_then(|p| p.retire_after).unwrap_or(now);
                v.set(attr::RETIRE_AFTER, Value::String(rfc3339(found)));
            }
            v
        });
        Value::List(filled.collect())
    }
}

/// `certificate_grace_period_hours` in seconds; `None` while unknown.
pub fn grace_secs(v: &Value) -> Option<i64> {
    v.get(attr::GRACE_PERIOD_HOURS).as_i64().map(|h| h.max(0) * 3600)
}

pub fn rfc3339(secs: i64) -> String {
    DateTime::from_secs(secs).fmt(Format::DateTime).unwrap_or_default()
}

pub fn parse_rfc3339(s: &str) -> Option<i64> {
    DateTime::from_str(s, Format::DateTime).ok().map(|d| d.secs())
}

/// The previous certificates that survive into a new state: each retires `grace` after it was
/// replaced, so a changed grace period moves every deadline with it; those already due are
/// left out (the apply then retires them).
pub fn surviving_previous(prior: &[Previous], old_grace: i64, new_grace: i64, now: i64) -> Vec<Previous> {
    prior
        .iter()
        .filter_map(|p| {
            let retire_after = p.retire_after? - old_grace + new_grace;
            (retire_after > now).then(|| Previous { retire_after: Some(retire_after), ..p.clone() })
        })
        .collect()
}

/// `previous_certificates` as a plan shows it: the survivors, and the certificate being
/// `replaced` (ID, ARN) with its deadline left to the apply, unless it retires at once.
pub fn planned_previous(prior: &[Previous], old_grace: i64, new_grace: i64, replaced: Option<(String, String)>, now: i64) -> Vec<Previous> {
    let mut list = surviving_previous(prior, old_grace, new_grace, now);
    if let Some((certificate_id, certificate_arn)) = replaced.filter(|_| new_grace > 0) {
        list.push(Previous { certificate_id, certificate_arn, retire_after: None });
    }
    list
}

/// What becomes of a certificate a new one replaced.
#[derive(Debug, PartialEq)]
pub enum Replaced {
    /// It stays ACTIVE until `retire_after`, so the agent can switch over without a gap.
    GracePeriod(Previous),
    /// Grace 0: retired in the same apply.
    RetireNow(Previous),
}

pub fn replace(certificate_id: String, certificate_arn: String, grace: i64, now: i64) -> Replaced {
    let previous = Previous { certificate_id, certificate_arn, retire_after: Some(now + grace) };
    if grace > 0 {
        Replaced::GracePeriod(previous)
    } else {
        Replaced::RetireNow(previous)
    }
}

/// The previous certificates this apply retires: those the prior state held that the plan
/// (or, when the plan could not tell, the grace period) no longer keeps. `recorded` is the
/// list as the apply has it so far; one added by this apply is never due.
pub fn due_for_retirement(
    prior: &[Previous],
    recorded: &[Previous],
    planned: Option<&[Previous]>,
    old_grace: i64,
    grace: i64,
    now: i64,
) -> Vec<Previous> {
    let keep: Vec<String> = match planned {
        Some(list) => list.iter().map(|p| p.certificate_id.clone()).collect(),
        None => surviving_previous(prior, old_grace, grace, now).into_iter().map(|p| p.certificate_id).collect(),
    };
    recorded
        .iter()
        .filter(|p| !keep.contains(&p.certificate_id) && prior.iter().any(|q| q.certificate_id == p.certificate_id))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;

    fn prev(id: &str, t: Option<i64>) -> Previous {
        Previous { certificate_id: id.into(), certificate_arn: format!("arn:{id}"), retire_after: t }
    }

    #[test]
    fn rfc3339_round_trips_whole_seconds() {
        let t = 1_767_225_600; // 2026-01-01T00:00:00Z
        assert_eq!(rfc3339(t), "2026-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn grace_changes_move_deadlines_and_drop_due_certificates() {
        let prior = vec![prev("a", Some(1_000 + 24 * H)), prev("b", Some(500 + 24 * H))];
        // Same grace: nothing moves.
        assert_eq!(surviving_previous(&prior, 24 * H, 24 * H, 2_000), prior);
        // Grace 0: both were replaced in the past, so both are due now.
        assert!(surviving_previous(&prior, 24 * H, 0, 2_000).is_empty());
        // Grace shortened to 1h (replaced at 1000 and 500): only the one still inside survives.
        let kept = surviving_previous(&prior, 24 * H, H, 4_200);
        assert_eq!(kept, vec![prev("a", Some(1_000 + H))]);
        // The apply retires the other, and nothing it added itself.
        let recorded = [prior.clone(), vec![prev("new", Some(9_999))]].concat();
        assert_eq!(due_for_retirement(&prior, &recorded, None, 24 * H, H, 4_200), vec![prev("b", Some(500 + 24 * H))]);
        // When the plan knew the list, it decides.
        assert_eq!(due_for_retirement(&prior, &recorded, Some(&kept), 24 * H, 24 * H, 4_200), vec![prev("b", Some(500 + 24 * H))]);
    }
}
