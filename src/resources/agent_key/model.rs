//! Typed arguments of `maestro_agent_key` and the key attributes its state carries.

use crate::crypto::keys::{GeneratedKey, KeyAlgorithm};
use crate::crypto::Csr;
use crate::framework::Value;
use crate::resources::aws::custody::SecretPolicy;
use crate::resources::aws::secretsmanager::SecretInfo;
pub(super) use crate::resources::aws::secretsmanager::DEFAULT_RECOVERY_WINDOW_DAYS;
use crate::resources::common::{configured_tags, opt_text, tags_value, text};
use std::collections::BTreeMap;

/// Attribute names, shared by the schema, the action and every reader and writer of state.
pub(super) mod attr {
    pub use crate::resources::model::attr::{CLUSTER_ID, FORCE_DELETE_WITHOUT_RECOVERY, ID, RECOVERY_WINDOW_IN_DAYS, TAGS, TAGS_ALL};
    pub const SECRET_NAME: &str = "secret_name";
    pub const SECRET_ARN: &str = "secret_arn";
    pub const ALGORITHM: &str = "algorithm";
    pub const KMS_KEY_ID: &str = "kms_key_id";
    pub const ROTATE_AFTER_DAYS: &str = "rotate_after_days";
    pub const ROTATION_TRIGGERS: &str = "rotation_triggers";
    pub const CSR_PEM: &str = "csr_pem";
    pub const PUBLIC_KEY_FINGERPRINT: &str = "public_key_fingerprint";
    pub const KEY_VERSION_ID: &str = "key_version_id";
    pub const KEY_CREATED_AT: &str = "key_created_at";
    /// The resource policy the configuration declares for the credential secret.
    pub const SECRET_RESOURCE_POLICY: &str = "secret_resource_policy";
}
pub(super) use attr::SECRET_RESOURCE_POLICY;

/// Attributes that describe the key itself; they change only when a new key is generated.
pub(super) const KEY_ATTRIBUTES: &[&str] = &[attr::CSR_PEM, attr::PUBLIC_KEY_FINGERPRINT, attr::KEY_VERSION_ID, attr::KEY_CREATED_AT];
pub(super) const DESCRIPTION_PREFIX: &str = "Maestro agent MQTT credentials for cluster ";

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
            cluster_id: text(v, attr::CLUSTER_ID),
            secret_name: text(v, attr::SECRET_NAME),
            algorithm: v.get(attr::ALGORITHM).as_str().and_then(|s| s.parse().ok()).unwrap_or(KeyAlgorithm::EcdsaP256),
            kms_key_id: opt_text(v, attr::KMS_KEY_ID),
            resource_policy: opt_text(v, SECRET_RESOURCE_POLICY),
            tags: v.get(attr::TAGS).string_map_entries(),
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

/// The arguments of the `maestro_rotate_agent_key` action.
pub(super) struct RotateRequest {
    pub(super) cluster_id: String,
    secret_name: Option<String>,
    /// `None`: the current key's algorithm.
    pub(super) algorithm: Option<KeyAlgorithm>,
    pub(super) kms_key_id: Option<String>,
    pub(super) resource_policy: Option<String>,
}

impl RotateRequest {
    pub(super) fn from_value(v: &Value) -> RotateRequest {
        RotateRequest {
            cluster_id: text(v, attr::CLUSTER_ID),
            secret_name: opt_text(v, attr::SECRET_NAME),
            algorithm: opt_text(v, attr::ALGORITHM).map(|a| a.parse().unwrap_or(KeyAlgorithm::EcdsaP256)),
            kms_key_id: opt_text(v, attr::KMS_KEY_ID),
            resource_policy: opt_text(v, SECRET_RESOURCE_POLICY),
        }
    }

    /// The credential secret: the one named, or `maestro_agent_key`'s default under `chart`.
    pub(super) fn secret_name(&self, chart: crate::provider::charts::AgentChart) -> String {
        self.secret_name.clone().unwrap_or_else(|| chart.cert_secret_name(&self.cluster_id))
    }
}

/// The key's public facts, as state carries them.
pub(super) fn set_key_attributes(state: &mut Value, key: &GeneratedKey, csr: Csr, version_id: String, created_at: String) {
    state.set(attr::CSR_PEM, Value::String(csr.into_pem()));
    state.set(attr::PUBLIC_KEY_FINGERPRINT, Value::String(key.fingerprint()));
    state.set(attr::KEY_VERSION_ID, Value::String(version_id));
    state.set(attr::KEY_CREATED_AT, Value::String(created_at));
}

/// What read finds of the secret itself: its name, ARN, KMS key (recorded once either side
/// names one) and tags, the configured part of them apart from the provider's defaults.
pub(super) fn set_found_secret(new: &mut Value, state: &Value, info: &SecretInfo, default_tags: &BTreeMap<String, String>) {
    new.set(attr::SECRET_NAME, Value::string(&info.name));
    new.set(attr::SECRET_ARN, Value::string(&info.arn));
    new.set(attr::ID, Value::string(&info.arn));
    if !state.get(attr::KMS_KEY_ID).is_null() || info.kms_key_id.is_some() {
        new.set(attr::KMS_KEY_ID, info.kms_key_id.clone().into());
    }
    let tags_were_null = state.get(attr::TAGS).is_null();
    new.set(
        attr::TAGS,
        tags_value(&configured_tags(&info.tags, default_tags, &state.get(attr::TAGS).string_map_entries()), tags_were_null),
    );
    new.set(attr::TAGS_ALL, Value::string_map(&info.tags));
}

/// The state of an imported secret and the key it holds, arguments at their defaults.
pub(super) fn imported_state(
    cluster_id: &str,
    info: &SecretInfo,
    default_tags: &BTreeMap<String, String>,
    key: &GeneratedKey,
    csr: Csr,
    version: String,
    created_at: String,
) -> Value {
    let mut state = Value::object([
        (attr::CLUSTER_ID, Value::string(cluster_id)),
        (attr::SECRET_NAME, Value::string(&info.name)),
        (attr::SECRET_ARN, Value::string(&info.arn)),
        (attr::ID, Value::string(&info.arn)),
        (attr::ALGORITHM, Value::string(key.algorithm().as_str())),
        (attr::KMS_KEY_ID, info.kms_key_id.clone().into()),
        (attr::RECOVERY_WINDOW_IN_DAYS, Value::from(DEFAULT_RECOVERY_WINDOW_DAYS)),
        (attr::FORCE_DELETE_WITHOUT_RECOVERY, Value::Bool(false)),
        (attr::TAGS, tags_value(&configured_tags(&info.tags, default_tags, &Default::default()), true)),
        (attr::TAGS_ALL, Value::string_map(&info.tags)),
    ]);
    set_key_attributes(&mut state, key, csr, version, created_at);
    state
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
