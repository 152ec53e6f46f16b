//! The key pair itself: generation off the async runtime, and the pure decision of when a plan
//! makes a new one.

use super::model::{attr, KEY_ATTRIBUTES};
use crate::crypto::keys::{GeneratedKey, KeyAlgorithm};
use crate::crypto::Csr;
use crate::framework::{AttributePath, Diagnostic, Diagnostics, Value};
use crate::policy::agent_binding;
pub(super) use crate::resources::rotation::now_rfc3339;
use crate::resources::rotation::{self, rotation_due};
use std::time::SystemTime;

/// A new key and its CSR; the CSR's common name is the agent's `--cloudevents-client-id`.
pub(super) async fn new_key(algorithm: KeyAlgorithm, cluster_id: &str) -> Result<(GeneratedKey, Csr), Diagnostics> {
    rotation::new_key(algorithm, agent_binding::default_cloudevents_client_id(cluster_id)).await
}

/// Whether the plan from `prior` to `planned` generates a new key: a new algorithm, changed
/// rotation triggers, no key recorded (the secret was found deleted), or the key reaching
/// `rotate_after_days`.
pub(super) fn rotation_planned(prior: &Value, planned: &Value, now: SystemTime) -> bool {
    prior.get(attr::ALGORITHM) != planned.get(attr::ALGORITHM)
        || prior.get(attr::ROTATION_TRIGGERS) != planned.get(attr::ROTATION_TRIGGERS)
        || prior.get(attr::CSR_PEM).is_null()
        || match (planned.get(attr::ROTATE_AFTER_DAYS).as_i64(), prior.get(attr::KEY_CREATED_AT).as_str()) {
            (Some(days), Some(created)) => rotation_due(created, days, now),
            _ => false,
        }
}

/// A plan that would hand the secret of one cluster's agent to another: `cluster_id` changes
/// (which replaces the resource) while `secret_name` stays. The replacement would delete the
/// secret the first agent mounts, and the secret cannot be re-created under that name while
/// its deletion is pending; typically the state came from importing another agent's secret.
pub(super) fn shared_secret_across_clusters(prior: &Value, planned: &Value) -> Option<Diagnostic> {
    let (Some(before), Some(after)) = (prior.get(attr::CLUSTER_ID).as_str(), planned.get(attr::CLUSTER_ID).as_str()) else { return None };
    let secret = planned.get(attr::SECRET_NAME).as_str().filter(|name| prior.get(attr::SECRET_NAME).as_str() == Some(*name))?;
    (before != after).then(|| {
        Diagnostic::error(
            "Secret belongs to another cluster's agent",
            format!(
                "Secret {secret} holds the key of cluster {before}'s agent. Changing cluster_id to {after} would replace this resource and delete that secret, which agent {before} mounts. If the state came from importing another agent's secret, remove it from state (state rm) and import this agent's own secret; to move the key to a new cluster, give it a new secret_name as well."
            ),
        )
        .at(AttributePath::root(attr::CLUSTER_ID))
    })
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
    fn a_cluster_change_that_keeps_the_secret_is_refused() {
        let prior = Value::object([("cluster_id", Value::string("mc-1")), ("secret_name", Value::string("maestro/agent-cert"))]);
        let mut planned = prior.clone();
        assert!(shared_secret_across_clusters(&prior, &planned).is_none());
        planned.set("cluster_id", Value::string("mc-2"));
        let d = shared_secret_across_clusters(&prior, &planned).expect("refused");
        assert!(d.detail.contains("mc-1") && d.detail.contains("mc-2"));
        // With the secret renamed too (the default name follows the cluster) it is a plain replacement.
        planned.set("secret_name", Value::string("mc-2/maestro/agent-mqtt-cert"));
        assert!(shared_secret_across_clusters(&prior, &planned).is_none());
        planned.set("secret_name", Value::Unknown);
        assert!(shared_secret_across_clusters(&prior, &planned).is_none());
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
