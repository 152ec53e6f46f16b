//! Typed arguments of `maestro_agent_key` and the key attributes its state carries.

use crate::crypto::keys::{GeneratedKey, KeyAlgorithm};
use crate::framework::Value;
use crate::resources::aws::custody::SecretPolicy;
use crate::resources::aws::secretsmanager::SecretInfo;
pub(super) use crate::resources::aws::secretsmanager::DEFAULT_RECOVERY_WINDOW_DAYS;
use crate::resources::common::{opt_text, text};
use std::collections::BTreeMap;

/// Attributes that describe the key itself; they change only when a new key is generated.
pub(super) const KEY_ATTRIBUTES: &[&str] = &["csr_pem", "public_key_fingerprint", "key_version_id", "key_created_at"];
pub(super) const DESCRIPTION_PREFIX: &str = "Maestro agent MQTT credentials for cluster ";
/// The resource policy the configuration declares for the credential secret.
pub(super) const SECRET_RESOURCE_POLICY: &str = "secret_resource_policy";

/// The arguments, once known.
pub(super) struct Spec {
    pub(super) cluster_id: String,
    pub(super) secret_name: String,
    pub(super) algorithm: KeyAlgorithm,
    pub(super) kms_key_id: Option<String>,
    pub(super) resource_policy: Option<String>,
    pub(super) tags: BTreeMap<String, String>,
}

impl Spec {
    pub(super) fn from_value(v: &Value) -> Spec {
        Spec {
            cluster_id: text(v, "cluster_id"),
            secret_name: text(v, "secret_name"),
            algorithm: v.get("algorithm").as_str().and_then(|s| s.parse().ok()).unwrap_or(KeyAlgorithm::EcdsaP256),
            kms_key_id: opt_text(v, "kms_key_id"),
            resource_policy: opt_text(v, SECRET_RESOURCE_POLICY),
            tags: v.get("tags").string_map_entries(),
        }
    }

    /// The credential secret's resource policy, which this resource owns: the declared one,
    /// with `recorded` (what state records) accepted while it is being replaced.
    pub(super) fn policy<'a>(&'a self, recorded: Option<&'a str>) -> SecretPolicy<'a> {
        SecretPolicy::owned(self.resource_policy.as_deref(), recorded, SECRET_RESOURCE_POLICY)
    }

    pub(super) fn description(&self) -> String {
        format!("{DESCRIPTION_PREFIX}{} (managed by terraform-provider-maestro)", self.cluster_id)
    }
}

/// The key's public facts, as state carries them.
pub(super) fn set_key_attributes(state: &mut Value, key: &GeneratedKey, csr: String, version_id: String, created_at: String) {
    state.set("csr_pem", Value::String(csr));
    state.set("public_key_fingerprint", Value::String(key.fingerprint()));
    state.set("key_version_id", Value::String(version_id));
    state.set("key_created_at", Value::String(created_at));
}

/// The cluster a credential secret belongs to, from its default name or the description this
/// provider writes (import).
pub(crate) fn cluster_id_of(info: &SecretInfo) -> Option<String> {
    let from_name = info.name.strip_suffix("/maestro/agent-mqtt-cert").filter(|id| !id.is_empty() && !id.contains('/'));
    let from_description = info
        .description
        .as_deref()
        .and_then(|d| d.strip_prefix(DESCRIPTION_PREFIX))
        .and_then(|rest| rest.split_whitespace().next())
        .filter(|id| !id.is_empty());
    from_name.or(from_description).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_id_comes_from_the_default_name_or_our_description() {
        let named = SecretInfo { name: "mc-1/maestro/agent-mqtt-cert".into(), ..Default::default() };
        assert_eq!(cluster_id_of(&named).as_deref(), Some("mc-1"));
        let spec = Spec {
            cluster_id: "mc-2".into(),
            secret_name: String::new(),
            algorithm: KeyAlgorithm::EcdsaP256,
            kms_key_id: None,
            resource_policy: None,
            tags: BTreeMap::new(),
        };
        let described = SecretInfo { name: "custom".into(), description: Some(spec.description()), ..Default::default() };
        assert_eq!(cluster_id_of(&described).as_deref(), Some("mc-2"));
        assert_eq!(cluster_id_of(&SecretInfo { name: "a/b/maestro/agent-mqtt-cert".into(), ..Default::default() }), None);
        assert_eq!(cluster_id_of(&SecretInfo { name: "other".into(), ..Default::default() }), None);
    }
}
