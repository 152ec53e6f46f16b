//! The typed view of `maestro_server_identity`: the attribute names (once, in [`attr`]), the
//! arguments ([`Spec`]) and everything that follows from them alone, known at plan time.

use crate::crypto::AMAZON_ROOT_CA_1;
use crate::framework::Value;
use crate::policy::agent_config::mqtt_config_yaml;
use crate::policy::iam;
use crate::policy::server_binding::{ServerBinding, Subscription, CONFIG_FILE};
use crate::provider::charts::{self, MountedSecret, ServerChart, DEPLOYED_DB_SECRET};
use crate::provider::AwsClients;
use crate::resources::aws::custody::SecretPolicy;
use crate::resources::common::{json_text, merge_tags, opt_text, text};
use std::collections::BTreeMap;

pub const SECRETS_POLICY_NAME: &str = "maestro-server-secrets";
pub const IOT_POLICY_NAME: &str = "maestro-server-iot";
pub const STATUS_ACTIVE: &str = "ACTIVE";

pub mod attr {
    pub use crate::resources::rotation::attr::{GRACE_PERIOD_HOURS as CERTIFICATE_GRACE_PERIOD_HOURS, PREVIOUS_CERTIFICATES};
    pub const NAME: &str = "name";
    pub const EKS_CLUSTER_NAME: &str = "eks_cluster_name";
    pub const NAMESPACE: &str = "namespace";
    pub const SERVICE_ACCOUNT: &str = "service_account";
    pub const TOPIC_PREFIX: &str = "topic_prefix";
    pub const CLIENT_ID_PREFIX: &str = "client_id_prefix";
    pub const SUBSCRIPTION_TYPE: &str = "subscription_type";
    pub const SHARED_SUBSCRIPTION_GROUP: &str = "shared_subscription_group";
    pub const CERTIFICATE_SECRET_NAME: &str = "certificate_secret_name";
    pub const CERTIFICATE_SECRET_RESOURCE_POLICY: &str = "certificate_secret_resource_policy";
    pub const CONFIG_SECRET_NAME: &str = "config_secret_name";
    pub const DB_CREDENTIALS_SECRET_ARN: &str = "db_credentials_secret_arn";
    pub const KMS_KEY_ARN: &str = "kms_key_arn";
    pub const KMS_KEY_ID: &str = "kms_key_id";
    pub const KUBERNETES_MANIFESTS: &str = "kubernetes_manifests";
    pub const KUBERNETES_MANIFESTS_YAML: &str = "kubernetes_manifests_yaml";
    pub const BROKER_CA_PEM: &str = "broker_ca_pem";
    pub const ALGORITHM: &str = "algorithm";
    pub const ROTATION_TRIGGERS: &str = "rotation_triggers";
    pub const ROTATE_AFTER_DAYS: &str = "rotate_after_days";
    pub const RECOVERY_WINDOW_IN_DAYS: &str = "recovery_window_in_days";
    pub const FORCE_DELETE_WITHOUT_RECOVERY: &str = "force_delete_without_recovery";
    pub const TAGS: &str = "tags";
    pub const TAGS_ALL: &str = "tags_all";
    pub const ID: &str = "id";
    pub const SOURCE_ID: &str = "source_id";
    pub const SOURCE_EVENTS_TOPIC: &str = "source_events_topic";
    pub const AGENT_EVENTS_TOPIC: &str = "agent_events_topic";
    pub const SERVER_FLAGS: &str = "server_flags";
    pub const ENDPOINT: &str = "endpoint";
    pub const POLICY_NAME: &str = "policy_name";
    pub const POLICY_ARN: &str = "policy_arn";
    pub const POLICY_DOCUMENT: &str = "policy_document";
    pub const ROLE_NAME: &str = "role_name";
    pub const ROLE_ARN: &str = "role_arn";
    pub const TRUST_POLICY: &str = "trust_policy";
    pub const SECRETS_POLICY: &str = "secrets_policy";
    pub const IOT_POLICY: &str = "iot_policy";
    pub const ASSOCIATION_ID: &str = "association_id";
    pub const ASSOCIATION_ARN: &str = "association_arn";
    pub const CERTIFICATE_SECRET_ARN: &str = "certificate_secret_arn";
    pub const CONFIG_SECRET_ARN: &str = "config_secret_arn";
    pub const SERVER_CONFIG: &str = "server_config";
    pub const CREDENTIAL_VERSION_ID: &str = "credential_version_id";
    pub const CERTIFICATE_ID: &str = "certificate_id";
    pub const CERTIFICATE_ARN: &str = "certificate_arn";
    pub const CERTIFICATE_PEM: &str = "certificate_pem";
    pub const PUBLIC_KEY_FINGERPRINT: &str = "public_key_fingerprint";
    pub const CERTIFICATE_STATUS: &str = "certificate_status";
    pub const POLICY_ATTACHED: &str = "policy_attached";
    pub const KEY_CREATED_AT: &str = "key_created_at";
    pub const HELM_VALUES: &str = "helm_values";
}

/// The attributes that describe the current key and its certificate: all new together when
/// the key rotates.
pub const KEY_ATTRIBUTES: &[&str] = &[
    attr::CERTIFICATE_ID,
    attr::CERTIFICATE_ARN,
    attr::CERTIFICATE_PEM,
    attr::PUBLIC_KEY_FINGERPRINT,
    attr::KEY_CREATED_AT,
    attr::CREDENTIAL_VERSION_ID,
];

/// The arguments every derived value needs; once known, the plan shows real values.
pub const ARGUMENTS: &[&str] = &[
    attr::NAME,
    attr::EKS_CLUSTER_NAME,
    attr::NAMESPACE,
    attr::SERVICE_ACCOUNT,
    attr::TOPIC_PREFIX,
    attr::CLIENT_ID_PREFIX,
    attr::SUBSCRIPTION_TYPE,
    attr::SHARED_SUBSCRIPTION_GROUP,
    attr::CERTIFICATE_SECRET_NAME,
    attr::CONFIG_SECRET_NAME,
    attr::DB_CREDENTIALS_SECRET_ARN,
    attr::KMS_KEY_ID,
    attr::KMS_KEY_ARN,
    attr::TAGS,
];

/// What the derived values need to know about the provider's account (pure planning).
#[derive(Clone, Copy, Debug)]
pub struct Account<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account_id: &'a str,
    pub default_tags: &'a BTreeMap<String, String>,
    /// The provider's `server_chart`; `None` when unset.
    pub server_chart: Option<ServerChart>,
}

impl<'a> From<&'a AwsClients> for Account<'a> {
    fn from(c: &'a AwsClients) -> Account<'a> {
        Account {
            partition: &c.partition,
            region: &c.region,
            account_id: &c.account_id,
            default_tags: &c.default_tags,
            server_chart: c.server_chart,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Spec {
    pub name: String,
    pub eks_cluster_name: String,
    pub namespace: String,
    pub service_account: String,
    pub topic_prefix: String,
    pub client_id_prefix: String,
    pub subscription_type: String,
    pub shared_subscription_group: String,
    pub certificate_secret_name: String,
    pub config_secret_name: String,
    pub db_credentials_secret_arn: Option<String>,
    pub kms_key_arn: Option<String>,
    /// The resource policy declared for the certificate secret.
    pub certificate_secret_resource_policy: Option<String>,
    pub broker_ca_pem: Option<String>,
    pub algorithm: crate::crypto::keys::KeyAlgorithm,
    pub endpoint: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl Spec {
    pub fn from_value(v: &Value) -> Spec {
        Spec {
            name: text(v, attr::NAME),
            eks_cluster_name: text(v, attr::EKS_CLUSTER_NAME),
            namespace: text(v, attr::NAMESPACE),
            service_account: text(v, attr::SERVICE_ACCOUNT),
            topic_prefix: text(v, attr::TOPIC_PREFIX),
            client_id_prefix: text(v, attr::CLIENT_ID_PREFIX),
            subscription_type: text(v, attr::SUBSCRIPTION_TYPE),
            shared_subscription_group: text(v, attr::SHARED_SUBSCRIPTION_GROUP),
            certificate_secret_name: text(v, attr::CERTIFICATE_SECRET_NAME),
            config_secret_name: text(v, attr::CONFIG_SECRET_NAME),
            db_credentials_secret_arn: opt_text(v, attr::DB_CREDENTIALS_SECRET_ARN),
            kms_key_arn: opt_text(v, attr::KMS_KEY_ARN),
            certificate_secret_resource_policy: opt_text(v, attr::CERTIFICATE_SECRET_RESOURCE_POLICY),
            broker_ca_pem: opt_text(v, attr::BROKER_CA_PEM),
            algorithm: v.get(attr::ALGORITHM).as_str().and_then(|s| s.parse().ok()).unwrap_or(crate::crypto::keys::KeyAlgorithm::EcdsaP256),
            endpoint: opt_text(v, attr::ENDPOINT),
            tags: v.get(attr::TAGS).string_map_entries(),
        }
    }

    pub fn binding(&self, a: Account) -> ServerBinding {
        ServerBinding {
            name: self.name.clone(),
            topic_prefix: self.topic_prefix.clone(),
            partition: a.partition.to_string(),
            region: a.region.to_string(),
            account_id: a.account_id.to_string(),
            client_id_prefix: self.client_id_prefix.clone(),
            subscription: match self.subscription_type.as_str() {
                "broadcast" => Subscription::Broadcast,
                _ => Subscription::Shared { group: self.shared_subscription_group.clone() },
            },
        }
    }

    pub fn broker_ca(&self) -> &str {
        self.broker_ca_pem.as_deref().unwrap_or(AMAZON_ROOT_CA_1)
    }

    pub fn role_name(&self) -> String {
        crate::policy::server_binding::server_role_name(&self.name)
    }

    pub fn policy_name(&self) -> String {
        crate::policy::server_binding::server_policy_name(&self.name)
    }

    pub fn role_arn(&self, a: Account) -> String {
        format!("arn:{}:iam::{}:role/{}", a.partition, a.account_id, self.role_name())
    }

    /// The certificate secret's resource policy, which this resource owns: the declared one,
    /// with `recorded` (what state records) accepted while it is being replaced.
    pub fn certificate_secret_policy<'a>(&'a self, recorded: Option<&'a str>) -> SecretPolicy<'a> {
        SecretPolicy::owned(self.certificate_secret_resource_policy.as_deref(), recorded, attr::CERTIFICATE_SECRET_RESOURCE_POLICY)
    }

    pub fn tags_all(&self, a: Account) -> BTreeMap<String, String> {
        merge_tags(a.default_tags, &self.tags)
    }

    /// Read access to exactly the server's secrets (certificate, config, and the database
    /// credentials when given), with `kms:Decrypt` through Secrets Manager for a customer key.
    pub fn secrets_policy(&self, a: Account) -> serde_json::Value {
        let mut resources = vec![
            iam::secret_arn_pattern(a.partition, a.region, a.account_id, &self.certificate_secret_name),
            iam::secret_arn_pattern(a.partition, a.region, a.account_id, &self.config_secret_name),
        ];
        resources.extend(self.db_credentials_secret_arn.clone());
        // The deployed chart mounts its database secret by a fixed name: without read on it
        // the whole mount fails and the server never starts.
        if self.db_credentials_secret_arn.is_none() && a.server_chart == Some(ServerChart::Deployed) {
            resources.push(iam::secret_arn_pattern(a.partition, a.region, a.account_id, DEPLOYED_DB_SECRET));
        }
        let decrypt = self.kms_key_arn.as_deref().map(|arn| iam::KmsDecrypt::through_secrets_manager(arn, a.partition, a.region));
        iam::secret_read_policy("Server", &resources, decrypt.as_ref())
    }

    pub fn inline_policies(&self, a: Account) -> [(&'static str, &'static str, serde_json::Value); 2] {
        [
            (attr::SECRETS_POLICY, SECRETS_POLICY_NAME, self.secrets_policy(a)),
            (attr::IOT_POLICY, IOT_POLICY_NAME, self.binding(a).iam_iot_policy()),
        ]
    }

    /// The server's config YAML; `None` until the endpoint is known.
    pub fn server_config(&self, a: Account) -> Option<String> {
        let b = self.binding(a);
        Some(mqtt_config_yaml(self.endpoint.as_deref()?, &b.source_events_topic(), &b.agent_events_topic()))
    }

    /// Values for the deployed server chart (rosa-regional-platform
    /// `argocd/config/regional-cluster/maestro-server`), in its layout.
    fn helm_values(&self, a: Account) -> Value {
        Value::object([
            ("global", Value::object([("region", Value::string(a.region))])),
            (
                "maestroServer",
                Value::object([
                    ("maestro", Value::object([("serviceAccount", Value::string(&self.service_account))])),
                    (
                        "broker",
                        Value::object([
                            ("type", Value::string("mqtt")),
                            ("configFile", Value::string(CONFIG_FILE)),
                            ("topicPrefix", Value::string(self.topic_prefix.trim_end_matches('/'))),
                        ]),
                    ),
                    (
                        "aws",
                        Value::object([(
                            "podIdentity",
                            Value::object([("enabled", Value::Bool(true)), ("roleArn", Value::string(self.role_arn(a)))]),
                        )]),
                    ),
                    (
                        "externalSecrets",
                        Value::object([
                            ("mqttCertSecretName", Value::string(&self.certificate_secret_name)),
                            ("dbCredentialsSecretName", Value::string(self.db_secret_mounted(a).unwrap_or_default())),
                        ]),
                    ),
                ]),
            ),
        ])
    }

    /// The database secret the server's pods mount: the one configured, or with the deployed
    /// chart the one it mounts by name.
    pub fn db_secret_mounted(&self, a: Account) -> Option<String> {
        self.db_credentials_secret_name()
            .or_else(|| (a.server_chart == Some(ServerChart::Deployed)).then(|| DEPLOYED_DB_SECRET.to_string()))
    }

    /// The SecretProviderClass mounting the server's secrets as the deployed chart maps them
    /// (with the deployed chart: the one it renders).
    pub fn kubernetes_manifests(&self, a: Account) -> Vec<serde_json::Value> {
        let db = self.db_secret_mounted(a);
        let mut mounted = Vec::new();
        if let Some(db) = db.as_deref() {
            mounted.push(MountedSecret { name: db, keys: charts::DB_KEYS });
        }
        mounted.push(MountedSecret { name: &self.certificate_secret_name, keys: charts::CERT_KEYS });
        mounted.push(MountedSecret { name: &self.config_secret_name, keys: charts::SERVER_CONFIG_KEYS });
        vec![charts::secret_provider_class("maestro-server-secrets", &self.namespace, a.region, &mounted, None)]
    }

    /// The name in `db_credentials_secret_arn` (`...:secret:<name>-XXXXXX`).
    pub fn db_credentials_secret_name(&self) -> Option<String> {
        let arn = self.db_credentials_secret_arn.as_deref()?;
        let name = arn.splitn(7, ':').nth(6)?;
        Some(match name.rsplit_once('-') {
            Some((base, suffix)) if suffix.len() == 6 => base.to_string(),
            _ => name.to_string(),
        })
    }

    /// Every computed attribute that follows from the arguments alone (the endpoint included,
    /// when known).
    pub fn derived(&self, a: Account) -> Vec<(&'static str, Value)> {
        let b = self.binding(a);
        let mut out = vec![
            (attr::ID, Value::string(&self.name)),
            (attr::SOURCE_ID, Value::string(b.source_id())),
            (attr::SOURCE_EVENTS_TOPIC, Value::string(b.source_events_topic())),
            (attr::AGENT_EVENTS_TOPIC, Value::string(b.agent_events_topic())),
            (attr::SERVER_FLAGS, Value::List(b.server_flags().into_iter().map(Value::String).collect())),
            (attr::POLICY_NAME, Value::string(b.policy_name())),
            (attr::POLICY_ARN, Value::string(b.iot_arn("policy", &b.policy_name()))),
            (attr::POLICY_DOCUMENT, json_text(&b.iot_policy_document())),
            (attr::ROLE_NAME, Value::string(self.role_name())),
            (attr::ROLE_ARN, Value::string(self.role_arn(a))),
            (attr::TRUST_POLICY, json_text(&iam::pod_identity_trust_policy())),
            (attr::SECRETS_POLICY, json_text(&self.secrets_policy(a))),
            (attr::IOT_POLICY, json_text(&b.iam_iot_policy())),
            (attr::HELM_VALUES, self.helm_values(a)),
            (attr::TAGS_ALL, Value::string_map(&self.tags_all(a))),
        ];
        if let Some(config) = self.server_config(a) {
            out.push((attr::SERVER_CONFIG, Value::String(config)));
        }
        let (manifests, manifests_yaml) = charts::manifest_outputs(&self.kubernetes_manifests(a));
        out.extend([(attr::KUBERNETES_MANIFESTS, manifests), (attr::KUBERNETES_MANIFESTS_YAML, manifests_yaml)]);
        out
    }
}

/// The EKS Pod Identity association as state records it.
pub fn association_of(state: &Value) -> Option<(String, String)> {
    Some((opt_text(state, attr::ASSOCIATION_ID)?, text(state, attr::ASSOCIATION_ARN)))
}

pub fn write_association(state: &mut Value, association: Option<(String, String)>) {
    let (id, arn) = association.map(|(id, arn)| (Value::String(id), Value::String(arn))).unwrap_or((Value::Null, Value::Null));
    state.set(attr::ASSOCIATION_ID, id);
    state.set(attr::ASSOCIATION_ARN, arn);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_values_name_the_db_secret_without_its_arn_suffix() {
        let spec = Spec {
            db_credentials_secret_arn: Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:maestro/db-credentials-AbC123".into()),
            ..Default::default()
        };
        assert_eq!(spec.db_credentials_secret_name().as_deref(), Some("maestro/db-credentials"));
    }
}
