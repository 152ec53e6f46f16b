//! The resource's values as Rust types: the arguments (`Spec`), what follows from them alone,
//! and the groups of computed state that change together (`Association`, `Secrets`). The state
//! attribute names of those groups are spelled once, here, and the schema uses the same
//! constants, so renaming an attribute breaks the build rather than a test.

use crate::crypto::{AgentConfigSecret, AMAZON_ROOT_CA_1};
use crate::framework::Value;
use crate::policy::agent_binding::{self, AgentBinding};
use crate::policy::iam;
use crate::provider::charts::{self, AgentChart, MountedSecret, UPSTREAM_CERTS_DIR};
use crate::provider::AwsClients;
use crate::resources::common::{json_text, merge_tags, opt_text, text};
use std::collections::BTreeMap;

pub const SECRETS_POLICY_NAME: &str = "maestro-agent-secrets";
pub const IOT_POLICY_NAME: &str = "maestro-agent-iot";

/// Attribute names, shared by the schema and every reader and writer of state.
pub mod attr {
    pub use crate::resources::model::attr::{CLOUDEVENTS_CLIENT_ID, CLUSTER_ID, ID, RECOVERY_WINDOW_IN_DAYS, TAGS, TAGS_ALL};
    pub const BROKER_CA_PEM: &str = "broker_ca_pem";
    pub const BROKER_ENDPOINT: &str = "broker_endpoint";
    pub const CERTIFICATE_PEM: &str = "certificate_pem";
    pub const CLIENT_ID: &str = "client_id";
    pub const CONFIG_SECRET_NAME: &str = "config_secret_name";
    pub const CONSUMER_NAME: &str = "consumer_name";
    pub const EKS_CLUSTER_NAME: &str = "eks_cluster_name";
    pub const HELM_VALUES: &str = "helm_values";
    pub const IOT_POLICY: &str = "iot_policy";
    pub const KMS_KEY_ARN: &str = "kms_key_arn";
    pub const KMS_KEY_ID: &str = "kms_key_id";
    pub const KUBERNETES_MANIFESTS: &str = "kubernetes_manifests";
    pub const KUBERNETES_MANIFESTS_YAML: &str = "kubernetes_manifests_yaml";
    pub const MQTT_CERT_SECRET_NAME: &str = "mqtt_cert_secret_name";
    pub const MQTT_CERT_SECRET_RESOURCE_POLICY: &str = "mqtt_cert_secret_resource_policy";
    pub const NAMESPACE: &str = "namespace";
    pub const REGIONAL_ACCOUNT_ID: &str = "regional_account_id";
    pub const ROLE_ARN: &str = "role_arn";
    pub const ROLE_NAME: &str = "role_name";
    pub const SECRET_ARN_PATTERN: &str = "secret_arn_pattern";
    pub const SECRETS_POLICY: &str = "secrets_policy";
    pub const SERVICE_ACCOUNT: &str = "service_account";
    pub const TOPIC_PREFIX: &str = "topic_prefix";
    pub const TRUST_POLICY: &str = "trust_policy";
    pub const UPSTREAM_HELM_VALUES: &str = "upstream_helm_values";
    pub const ASSOCIATION_ID: &str = "association_id";
    pub const ASSOCIATION_ARN: &str = "association_arn";
    pub const CONFIG_SECRET_ARN: &str = "config_secret_arn";
    pub const CREDENTIAL_VERSION_ID: &str = "credential_version_id";
    pub const CERTIFICATE_FINGERPRINT: &str = "certificate_fingerprint";
    pub const AGENT_CONFIG: &str = "agent_config";
    /// The broker's region (version 0 of the schema called it `region`, which read as the region
    /// the role is made in).
    pub const BROKER_REGION: &str = "broker_region";
    /// Version 0's name of `broker_region`.
    pub const REGION_V0: &str = "region";
}
pub use attr::{
    AGENT_CONFIG, ASSOCIATION_ARN, ASSOCIATION_ID, BROKER_REGION, CERTIFICATE_FINGERPRINT, CONFIG_SECRET_ARN, CREDENTIAL_VERSION_ID,
};

/// The configurable attributes; once all are known, every computed value can be planned.
pub const ARGUMENTS: &[&str] = &[
    attr::CLUSTER_ID,
    attr::REGIONAL_ACCOUNT_ID,
    attr::EKS_CLUSTER_NAME,
    BROKER_REGION,
    attr::NAMESPACE,
    attr::SERVICE_ACCOUNT,
    attr::MQTT_CERT_SECRET_NAME,
    attr::CONFIG_SECRET_NAME,
    attr::TOPIC_PREFIX,
    attr::BROKER_ENDPOINT,
    "cloudevents_client_id",
    attr::KMS_KEY_ID,
    attr::KMS_KEY_ARN,
    "tags",
];

/// What the derived values need to know about the provider's account — the identity of the
/// AWS clients without the clients, so that planning stays pure and unit-testable.
#[derive(Clone, Copy, Debug)]
pub struct Account<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account_id: &'a str,
    pub topic_prefix: &'a str,
    pub default_tags: &'a BTreeMap<String, String>,
    /// The provider's `agent_chart`; `None` when unset.
    pub agent_chart: Option<AgentChart>,
}

impl Account<'_> {
    /// The chart every default follows: unset is `custom`, seed 001's names.
    pub fn chart(&self) -> AgentChart {
        AgentChart::or_custom(self.agent_chart)
    }
}

impl<'a> From<&'a AwsClients> for Account<'a> {
    fn from(c: &'a AwsClients) -> Account<'a> {
        Account {
            partition: &c.partition,
            region: &c.region,
            account_id: &c.account_id,
            topic_prefix: &c.topic_prefix,
            default_tags: &c.default_tags,
            agent_chart: c.agent_chart,
        }
    }
}

/// The arguments, once known (apply and read).
#[derive(Clone, Debug)]
pub struct Spec {
    pub cluster_id: String,
    pub regional_account_id: String,
    pub eks_cluster_name: String,
    pub broker_region: String,
    pub namespace: String,
    pub service_account: String,
    pub secret_name: String,
    pub config_secret_name: String,
    pub topic_prefix: String,
    pub broker_endpoint: Option<String>,
    pub certificate_pem: Option<String>,
    pub cloudevents_client_id: String,
    pub kms_key_arn: Option<String>,
    /// The resource policy `maestro_agent_key` declares on the credential secret, accepted there.
    pub secret_resource_policy: Option<String>,
    pub broker_ca_pem: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl Spec {
    pub fn from_value(v: &Value) -> Spec {
        Spec {
            cluster_id: text(v, attr::CLUSTER_ID),
            regional_account_id: text(v, attr::REGIONAL_ACCOUNT_ID),
            eks_cluster_name: text(v, attr::EKS_CLUSTER_NAME),
            broker_region: text(v, BROKER_REGION),
            namespace: text(v, attr::NAMESPACE),
            service_account: text(v, attr::SERVICE_ACCOUNT),
            secret_name: text(v, attr::MQTT_CERT_SECRET_NAME),
            config_secret_name: text(v, attr::CONFIG_SECRET_NAME),
            topic_prefix: text(v, attr::TOPIC_PREFIX),
            broker_endpoint: opt_text(v, attr::BROKER_ENDPOINT),
            certificate_pem: opt_text(v, attr::CERTIFICATE_PEM),
            cloudevents_client_id: text(v, "cloudevents_client_id"),
            kms_key_arn: opt_text(v, attr::KMS_KEY_ARN),
            secret_resource_policy: opt_text(v, attr::MQTT_CERT_SECRET_RESOURCE_POLICY),
            broker_ca_pem: opt_text(v, attr::BROKER_CA_PEM),
            tags: v.get("tags").string_map_entries(),
        }
    }

    fn binding(&self, a: Account) -> AgentBinding {
        AgentBinding {
            cluster_id: self.cluster_id.clone(),
            topic_prefix: self.topic_prefix.clone(),
            partition: a.partition.to_string(),
            broker_region: self.broker_region.clone(),
            broker_account_id: self.regional_account_id.clone(),
            cloudevents_client_id: self.cloudevents_client_id.clone(),
        }
    }

    /// The CA the agent trusts for the broker's server certificate (`caCert`, mounted as
    /// `ca.crt`): Amazon Root CA 1 for IoT Core's ATS endpoints unless configured.
    pub fn broker_ca(&self) -> &str {
        self.broker_ca_pem.as_deref().unwrap_or(AMAZON_ROOT_CA_1)
    }

    pub fn role_name(&self) -> String {
        agent_binding::agent_role_name(&self.cluster_id)
    }

    /// Known at plan time (IAM role ARNs follow from the name), so dependents plan with it.
    pub fn role_arn(&self, a: Account) -> String {
        format!("arn:{}:iam::{}:role/{}", a.partition, a.account_id, self.role_name())
    }

    fn secret_arn_pattern(&self, a: Account) -> String {
        iam::secret_arn_pattern(a.partition, a.region, a.account_id, &self.secret_name)
    }

    fn config_secret_arn_pattern(&self, a: Account) -> String {
        iam::secret_arn_pattern(a.partition, a.region, a.account_id, &self.config_secret_name)
    }

    /// The credential secret first, then the config secret (import reads them back in order).
    pub fn secrets_policy(&self, a: Account) -> serde_json::Value {
        let decrypt = self.kms_key_arn.as_deref().map(|arn| iam::KmsDecrypt::through_secrets_manager(arn, a.partition, a.region));
        iam::secret_read_policy("Agent", &[self.secret_arn_pattern(a), self.config_secret_arn_pattern(a)], decrypt.as_ref())
    }

    pub fn iot_policy(&self, a: Account) -> serde_json::Value {
        iam::agent_iot_policy(&self.binding(a))
    }

    /// Both inline policies, by the name they have on the role and the attribute showing them.
    pub fn inline_policies(&self, a: Account) -> [(&'static str, &'static str, serde_json::Value); 2] {
        [(attr::SECRETS_POLICY, SECRETS_POLICY_NAME, self.secrets_policy(a)), (attr::IOT_POLICY, IOT_POLICY_NAME, self.iot_policy(a))]
    }

    /// The config secret's content; `None` without a broker endpoint to put in it.
    pub fn agent_config(&self, a: Account) -> Option<AgentConfigSecret> {
        let endpoint = self.broker_endpoint.as_deref()?;
        Some(AgentConfigSecret {
            config: crate::policy::agent_config::agent_mqtt_config_yaml_in(&self.binding(a), endpoint, a.chart().certs_dir()),
            consumer_name: self.cluster_id.clone(),
        })
    }

    pub fn tags_all(&self, a: Account) -> BTreeMap<String, String> {
        merge_tags(a.default_tags, &self.tags)
    }

    /// Values for the deployed agent chart (rosa-regional-platform
    /// `argocd/config/management-cluster/maestro-agent`), only the ones it reads: it mounts the
    /// broker, the certificates and the topics from the secrets by fixed names, in the region
    /// `global.region` (its template `required`s it) — where the secrets are, this provider's
    /// region, not the broker's. Null when another chart is chosen.
    fn helm_values(&self, a: Account) -> Value {
        if a.agent_chart.is_some_and(|c| c != AgentChart::Deployed) {
            return Value::Null;
        }
        Value::object([
            ("global", Value::object([("region", Value::string(a.region))])),
            (
                "maestroAgent",
                Value::object([
                    ("maestro", Value::object([("serviceAccount", Value::string(&self.service_account))])),
                    ("ascp", Value::object([("enabled", Value::Bool(true))])),
                ]),
            ),
        ])
    }

    /// Values for upstream's agent chart (openshift-online/maestro `charts/maestro-agent`),
    /// which renders its own config.yaml from these and reads the certificates from the
    /// Kubernetes secret `maestro-agent-certs` (keys `ca.crt`, `certificate`, `privateKey`).
    fn upstream_helm_values(&self, a: Account) -> Value {
        if a.agent_chart.is_some_and(|c| c != AgentChart::Upstream) {
            return Value::Null;
        }
        let file = |name: &str| Value::string(format!("{UPSTREAM_CERTS_DIR}/{name}"));
        Value::object([
            ("consumerName", Value::string(&self.cluster_id)),
            ("cloudeventsClientId", Value::string(&self.cloudevents_client_id)),
            ("serviceAccount", Value::object([("name", Value::string(&self.service_account))])),
            (
                "messageBroker",
                Value::object([
                    ("type", Value::string("mqtt")),
                    (
                        "mqtt",
                        Value::object([
                            ("host", self.broker_endpoint.clone().into()),
                            ("port", Value::string(agent_binding::MQTT_PORT.to_string())),
                            // The chart's default user `maestro` would be sent as the MQTT
                            // username; certificate clients of IoT Core send none.
                            ("user", Value::string("")),
                            ("password", Value::string("")),
                            ("rootCert", file("ca.crt")),
                            ("clientCert", file("certificate")),
                            ("clientKey", file("privateKey")),
                        ]),
                    ),
                ]),
            ),
        ])
    }

    /// Every computed attribute that follows from the arguments alone.
    pub fn derived(&self, a: Account) -> Vec<(&'static str, Value)> {
        vec![
            (attr::ID, Value::string(&self.cluster_id)),
            (attr::CONSUMER_NAME, Value::string(&self.cluster_id)),
            (attr::CLIENT_ID, Value::string(self.binding(a).client_id())),
            (attr::ROLE_NAME, Value::string(self.role_name())),
            (attr::ROLE_ARN, Value::string(self.role_arn(a))),
            (attr::SECRET_ARN_PATTERN, Value::string(self.secret_arn_pattern(a))),
            (attr::TRUST_POLICY, json_text(&iam::pod_identity_trust_policy())),
            (attr::SECRETS_POLICY, json_text(&self.secrets_policy(a))),
            (attr::IOT_POLICY, json_text(&self.iot_policy(a))),
            ("tags_all", Value::string_map(&self.tags_all(a))),
            (attr::HELM_VALUES, self.helm_values(a)),
            (attr::UPSTREAM_HELM_VALUES, self.upstream_helm_values(a)),
            (AGENT_CONFIG, self.agent_config(a).map(|a| a.config).into()),
        ]
        .into_iter()
        .chain(manifest_attributes(charts::manifest_outputs(&self.kubernetes_manifests(a))))
        .collect()
    }

    /// What the chosen chart needs but does not render (see the schema's description).
    pub fn kubernetes_manifests(&self, a: Account) -> Vec<serde_json::Value> {
        let mounted = [
            MountedSecret { name: &self.secret_name, keys: charts::CERT_KEYS },
            MountedSecret { name: &self.config_secret_name, keys: charts::AGENT_CONFIG_KEYS },
        ];
        // The deployed chart also syncs the consumer name into the Secret its env reads.
        let sync: Option<(&str, &[(&str, &str)])> =
            (a.chart() == AgentChart::Deployed).then_some(("maestro-agent-env", &[("consumerName", "CONSUMER_NAME")]));
        let mut objects = vec![charts::secret_provider_class("maestro-agent-secrets", &self.namespace, a.region, &mounted, sync)];
        if a.chart() == AgentChart::Upstream {
            objects.extend(charts::external_secret_objects(&self.namespace, a.region, &self.secret_name, charts::UPSTREAM_CERTS_SECRET));
        }
        objects
    }
}

/// The EKS Pod Identity association as state records it: both attributes or neither.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Association {
    pub id: String,
    pub arn: String,
}

impl Association {
    /// The association recorded in `state`; `None` when there is none (never created, or
    /// found gone by read).
    pub fn of(state: &Value) -> Option<Association> {
        Some(Association { id: opt_text(state, ASSOCIATION_ID)?, arn: text(state, ASSOCIATION_ARN) })
    }

    /// Whether `state` records no association (null, as read leaves it when it is gone).
    pub fn is_missing(state: &Value) -> bool {
        state.get(ASSOCIATION_ID).is_null()
    }

    pub fn write(&self, state: &mut Value) {
        state.set(ASSOCIATION_ID, Value::string(&self.id));
        state.set(ASSOCIATION_ARN, Value::string(&self.arn));
    }

    pub fn clear(state: &mut Value) {
        state.set(ASSOCIATION_ID, Value::Null);
        state.set(ASSOCIATION_ARN, Value::Null);
    }

    pub fn mark_unknown(state: &mut Value) {
        state.set(ASSOCIATION_ID, Value::Unknown);
        state.set(ASSOCIATION_ARN, Value::Unknown);
    }
}

/// The secrets' computed attributes, which change together when the certificate or the config
/// changes. Values, not strings: in a plan any of them can be unknown.
#[derive(Clone, Debug, PartialEq)]
pub struct Secrets {
    pub config_secret_arn: Value,
    pub credential_version_id: Value,
    pub certificate_fingerprint: Value,
    pub agent_config: Value,
}

impl Secrets {
    pub fn of(state: &Value) -> Secrets {
        Secrets {
            config_secret_arn: state.get(CONFIG_SECRET_ARN).clone(),
            credential_version_id: state.get(CREDENTIAL_VERSION_ID).clone(),
            certificate_fingerprint: state.get(CERTIFICATE_FINGERPRINT).clone(),
            agent_config: state.get(AGENT_CONFIG).clone(),
        }
    }

    pub fn write(self, state: &mut Value) {
        state.set(CONFIG_SECRET_ARN, self.config_secret_arn);
        state.set(CREDENTIAL_VERSION_ID, self.credential_version_id);
        state.set(CERTIFICATE_FINGERPRINT, self.certificate_fingerprint);
        state.set(AGENT_CONFIG, self.agent_config);
    }

    pub fn config_secret_arn(&self) -> Option<String> {
        self.config_secret_arn.as_str().map(str::to_string)
    }

    pub fn credential_version_id(&self) -> Option<String> {
        self.credential_version_id.as_str().map(str::to_string)
    }

    /// After a failed apply: what was not done keeps its prior value, so the next plan tries
    /// again. Returns whether the credential secret was left as it was.
    pub fn keep_unfinished(&mut self, prior: &Secrets) -> bool {
        if self.config_secret_arn.is_unknown() {
            self.config_secret_arn = prior.config_secret_arn.clone();
        }
        if self.credential_version_id.is_unknown() {
            self.credential_version_id = prior.credential_version_id.clone();
        }
        let untouched = self.credential_version_id == prior.credential_version_id;
        if untouched {
            self.certificate_fingerprint = prior.certificate_fingerprint.clone();
        }
        untouched
    }
}

/// The two attributes that carry the chart's Kubernetes objects.
fn manifest_attributes((map, yaml): (Value, Value)) -> [(&'static str, Value); 2] {
    [(attr::KUBERNETES_MANIFESTS, map), (attr::KUBERNETES_MANIFESTS_YAML, yaml)]
}
