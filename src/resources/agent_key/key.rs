//! The key pair itself: generation off the async runtime, and the pure decision of when a plan
//! makes a new one.

use super::model::KEY_ATTRIBUTES;
use crate::crypto::keys::{GeneratedKey, KeyAlgorithm};
use crate::framework::{Diagnostics, Value};
use crate::policy::agent_binding;
pub(super) use crate::resources::rotation::now_rfc3339;
use crate::resources::rotation::{self, rotation_due};
use std::time::SystemTime;

/// A new key and its CSR; the CSR's common name is the agent's `--cloudevents-client-id`.
pub(super) async fn new_key(algorithm: KeyAlgorithm, cluster_id: &str) -> Result<(GeneratedKey, String), Diagnostics> {
    rotation::new_key(algorithm, agent_binding::default_cloudevents_client_id(cluster_id)).await
}

/// Whether the plan from `prior` to `planned` generates a new key: a new algorithm, changed
/// rotation triggers, no key recorded (the secret was found deleted), or the key reaching
/// `rotate_after_days`.
pub(super) fn rotation_planned(prior: &Value, planned: &Value, now: SystemTime) -> bool {
    prior.get("algorithm") != planned.get("algorithm")
        || prior.get("rotation_triggers") != planned.get("rotation_triggers")
        || prior.get("csr_pem").is_null()
        || match (planned.get("rotate_after_days").as_i64(), prior.get("key_created_at").as_str()) {
            (Some(days), Some(created)) => rotation_due(created, days, now),
            _ => false,
        }
}

/// A planned rotation: every attribute of the key is known only after apply.
pub(super) fn mark_key_unknown(planned: &mut Value) {
    for name in KEY_ATTRIBUTES {
        planned.set(name, Value::Unknown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::date_time::{DateTime, Format};

    fn at(secs: i64) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64)
    }

    #[test]
    fn rotation_is_due_only_after_the_configured_days() {
        let created = DateTime::from_secs(1_000_000).fmt(Format::DateTime).unwrap();
        assert!(!rotation_due(&created, 30, at(1_000_000 + 30 * 86_400 - 1)));
        assert!(rotation_due(&created, 30, at(1_000_000 + 30 * 86_400)));
        assert!(!rotation_due("not a time", 1, at(i64::MAX / 2)));
    }

    #[test]
    fn rotation_is_planned_by_algorithm_triggers_a_lost_key_or_age() {
        let created = DateTime::from_secs(1_000_000).fmt(Format::DateTime).unwrap();
        let prior = Value::object([
            ("algorithm", Value::string("ECDSA_P256")),
            ("rotation_triggers", Value::object([("n", Value::string("1"))])),
            ("csr_pem", Value::string("CSR")),
            ("key_created_at", Value::string(&created)),
            ("rotate_after_days", Value::Null),
        ]);
        let now = at(1_000_000 + 10 * 86_400);
        assert!(!rotation_planned(&prior, &prior, now));
        let with = |name: &str, value: Value| {
            let mut p = prior.clone();
            p.set(name, value);
            p
        };
        assert!(rotation_planned(&prior, &with("algorithm", Value::string("RSA_2048")), now));
        assert!(rotation_planned(&prior, &with("rotation_triggers", Value::object([("n", Value::string("2"))])), now));
        assert!(rotation_planned(&with("csr_pem", Value::Null), &prior, now));
        assert!(rotation_planned(&prior, &with("rotate_after_days", Value::from(10i64)), now));
        assert!(!rotation_planned(&prior, &with("rotate_after_days", Value::from(11i64)), now));
    }
}
