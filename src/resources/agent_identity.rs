//! `maestro_agent_identity` (management account): the Maestro agent's IAM role, its two inline
//! policies and its EKS Pod Identity association, in place of the hand-written module of seed
//! 001. All names, topics and documents come from `crate::policy`, so they cannot disagree.
//!
//! It also finishes what `maestro_agent_key` starts: given the certificate the regional account
//! issued (`certificate_pem`), it completes the credential secret with it — promoting the staged
//! key whose public key the certificate certifies, so the current bundle is always coherent —
//! and writes the agent's config secret (MQTT config YAML and consumer name).

use super::aws::secretsmanager::{self as secrets, AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use super::common::{
    aws_failure, certificate_fingerprint, configured_tags, json_text, merge_tags, opt_text, secret_name_validator, set_all, tag_attributes,
    tag_changes, tags_value, text,
};
use crate::crypto::keys::{self, GeneratedKey};
use crate::crypto::{AgentConfigSecret, CredentialBundle, SecretString, AMAZON_ROOT_CA_1};
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::{validators, Applied, AttributePath, Diagnostic, Diagnostics, Plan, Resource, Type, Value};
use crate::policy::agent_binding::{self, AgentBinding, DEFAULT_NAMESPACE, DEFAULT_SERVICE_ACCOUNT};
use crate::policy::{agent_config, document, iam, naming};
use crate::provider::{aws_error, retry, AwsClients};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};

pub struct AgentIdentity;

const SECRETS_POLICY_NAME: &str = "maestro-agent-secrets";
const IOT_POLICY_NAME: &str = "maestro-agent-iot";
/// The configurable attributes; once all are known, every computed value can be planned.
const ARGUMENTS: &[&str] = &[
    "cluster_id",
    "regional_account_id",
    "eks_cluster_name",
    "region",
    "namespace",
    "service_account",
    "mqtt_cert_secret_name",
    "config_secret_name",
    "topic_prefix",
    "broker_endpoint",
    "cloudevents_client_id",
    "kms_key_arn",
    "tags",
];

/// Where the upstream agent chart (openshift-online/maestro `charts/maestro-agent`) mounts the
/// Kubernetes secret `maestro-agent-certs` when `messageBroker.mqtt.rootCert` is set; the
/// file names are the keys of that secret, which we name as the CSI driver mounts them.
const UPSTREAM_CERTS_DIR: &str = "/secrets/mqtt-certs";

/// The arguments, once known (apply and read).
#[derive(Clone, Debug)]
struct Spec {
    cluster_id: String,
    regional_account_id: String,
    eks_cluster_name: String,
    region: String,
    namespace: String,
    service_account: String,
    secret_name: String,
    config_secret_name: String,
    topic_prefix: String,
    broker_endpoint: Option<String>,
    certificate_pem: Option<String>,
    cloudevents_client_id: String,
    kms_key_arn: Option<String>,
    broker_ca_pem: Option<String>,
    tags: BTreeMap<String, String>,
}

impl Spec {
    fn from_value(v: &Value) -> Spec {
        Spec {
            cluster_id: text(v, "cluster_id"),
            regional_account_id: text(v, "regional_account_id"),
            eks_cluster_name: text(v, "eks_cluster_name"),
            region: text(v, "region"),
            namespace: text(v, "namespace"),
            service_account: text(v, "service_account"),
            secret_name: text(v, "mqtt_cert_secret_name"),
            config_secret_name: text(v, "config_secret_name"),
            topic_prefix: text(v, "topic_prefix"),
            broker_endpoint: opt_text(v, "broker_endpoint"),
            certificate_pem: opt_text(v, "certificate_pem"),
            cloudevents_client_id: text(v, "cloudevents_client_id"),
            kms_key_arn: opt_text(v, "kms_key_arn"),
            broker_ca_pem: opt_text(v, "broker_ca_pem"),
            tags: v.get("tags").string_map_entries(),
        }
    }

    fn binding(&self, c: &AwsClients) -> AgentBinding {
        AgentBinding {
            cluster_id: self.cluster_id.clone(),
            topic_prefix: self.topic_prefix.clone(),
            partition: c.partition.clone(),
            broker_region: self.region.clone(),
            broker_account_id: self.regional_account_id.clone(),
            cloudevents_client_id: self.cloudevents_client_id.clone(),
        }
    }

    /// The CA the agent trusts for the broker's server certificate (`caCert`, mounted as
    /// `ca.crt`): Amazon Root CA 1 for IoT Core's ATS endpoints unless configured.
    fn broker_ca(&self) -> &str {
        self.broker_ca_pem.as_deref().unwrap_or(AMAZON_ROOT_CA_1)
    }

    fn role_name(&self) -> String {
        agent_binding::agent_role_name(&self.cluster_id)
    }

    fn role_arn(&self, c: &AwsClients) -> String {
        format!("arn:{}:iam::{}:role/{}", c.partition, c.account_id, self.role_name())
    }

    fn secret_arn_pattern(&self, c: &AwsClients) -> String {
        iam::secret_arn_pattern(&c.partition, &c.region, &c.account_id, &self.secret_name)
    }

    fn config_secret_arn_pattern(&self, c: &AwsClients) -> String {
        iam::secret_arn_pattern(&c.partition, &c.region, &c.account_id, &self.config_secret_name)
    }

    /// The credential secret first, then the config secret (import reads them back in order).
    fn secrets_policy(&self, c: &AwsClients) -> serde_json::Value {
        let decrypt = self.kms_key_arn.as_deref().map(|arn| iam::KmsDecrypt::through_secrets_manager(arn, &c.partition, &c.region));
        iam::secret_read_policy(&[self.secret_arn_pattern(c), self.config_secret_arn_pattern(c)], decrypt.as_ref())
    }

    /// The config secret's content; `None` without a broker endpoint to put in it.
    fn agent_config(&self, c: &AwsClients) -> Option<AgentConfigSecret> {
        let endpoint = self.broker_endpoint.as_deref()?;
        Some(AgentConfigSecret {
            config: agent_config::agent_mqtt_config_yaml(&self.binding(c), endpoint),
            consumer_name: self.cluster_id.clone(),
        })
    }

    fn iot_policy(&self, c: &AwsClients) -> serde_json::Value {
        iam::agent_iot_policy(&self.binding(c))
    }

    fn tags_all(&self, c: &AwsClients) -> BTreeMap<String, String> {
        merge_tags(&c.default_tags, &self.tags)
    }

    /// Values for the deployed agent chart (rosa-regional-platform
    /// `argocd/config/management-cluster/maestro-agent`), in its own layout. That chart reads
    /// the broker, the certificates and the topics from the config secret through its
    /// SecretProviderClass, in the region `global.aws_region` — where the secrets are, this
    /// provider's region, not the broker's.
    fn helm_values(&self, c: &AwsClients) -> Value {
        Value::object([
            ("global", Value::object([("aws_region", Value::string(&c.region))])),
            (
                "maestroAgent",
                Value::object([
                    (
                        "maestro",
                        Value::object([
                            ("serviceAccount", Value::string(&self.service_account)),
                            ("consumerName", Value::string(&self.cluster_id)),
                        ]),
                    ),
                    (
                        "broker",
                        Value::object([
                            ("type", Value::string("mqtt")),
                            ("endpoint", self.broker_endpoint.clone().into()),
                            ("topicPrefix", Value::string(self.topic_prefix.trim_end_matches('/'))),
                        ]),
                    ),
                    ("ascp", Value::object([("enabled", Value::Bool(true)), ("mqttCertSecretName", Value::string(&self.secret_name))])),
                ]),
            ),
        ])
    }

    /// Values for upstream's agent chart (openshift-online/maestro `charts/maestro-agent`),
    /// which renders its own config.yaml from these and reads the certificates from the
    /// Kubernetes secret `maestro-agent-certs` (keys `ca.crt`, `certificate`, `privateKey`).
    fn upstream_helm_values(&self) -> Value {
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
    fn derived(&self, c: &AwsClients) -> Vec<(&'static str, Value)> {
        vec![
            ("id", Value::string(&self.cluster_id)),
            ("consumer_name", Value::string(&self.cluster_id)),
            ("client_id", Value::string(self.binding(c).client_id())),
            ("role_name", Value::string(self.role_name())),
            ("role_arn", Value::string(self.role_arn(c))),
            ("secret_arn_pattern", Value::string(self.secret_arn_pattern(c))),
            ("trust_policy", json_text(&iam::pod_identity_trust_policy())),
            ("secrets_policy", json_text(&self.secrets_policy(c))),
            ("iot_policy", json_text(&self.iot_policy(c))),
            ("tags_all", Value::string_map(&self.tags_all(c))),
            ("helm_values", self.helm_values(c)),
            ("upstream_helm_values", self.upstream_helm_values()),
            ("agent_config", self.agent_config(c).map(|a| a.config).into()),
        ]
    }
}

fn helm_values_type() -> Type {
    Type::object([
        ("global", Type::object([("aws_region", Type::String)])),
        (
            "maestroAgent",
            Type::object([
                ("maestro", Type::object([("serviceAccount", Type::String), ("consumerName", Type::String)])),
                ("broker", Type::object([("type", Type::String), ("endpoint", Type::String), ("topicPrefix", Type::String)])),
                ("ascp", Type::object([("enabled", Type::Bool), ("mqttCertSecretName", Type::String)])),
            ]),
        ),
    ])
}

fn upstream_helm_values_type() -> Type {
    let mqtt = ["host", "port", "user", "password", "rootCert", "clientCert", "clientKey"].map(|k| (k, Type::String));
    Type::object([
        ("consumerName", Type::String),
        ("cloudeventsClientId", Type::String),
        ("serviceAccount", Type::object([("name", Type::String)])),
        ("messageBroker", Type::object([("type", Type::String), ("mqtt", Type::object(mqtt))])),
    ])
}

fn schema() -> Schema {
    let [tags, tags_all] = tag_attributes();
    Schema::new(
        Block::new(
            "The Maestro agent's identity in a management account: an IAM role that EKS Pod Identity hands to the agent's pods, with least-privilege inline policies to read its secrets and to reach the regional IoT broker, and the Pod Identity association. Given the certificate from `maestro_consumer`, it completes the credential secret that `maestro_agent_key` started, and it writes the agent's config secret. Replaces the hand-written agent module; configure it with the management-account provider.",
        )
        .attribute(
            Attribute::string("cluster_id")
                .required()
                .force_new()
                .validate(validators::rule(naming::check_consumer_name))
                .description("Management cluster identifier; also the Maestro consumer name and the topic level of this agent. Names the role `<cluster_id>-maestro-agent`."),
        )
        .attribute(
            Attribute::string("regional_account_id")
                .required()
                .validate(validators::digits(12))
                .description("AWS account ID of the regional account whose IoT Core is the MQTT broker."),
        )
        .attribute(
            Attribute::string("eks_cluster_name")
                .required()
                .force_new()
                .validate(validators::pattern("[0-9A-Za-z][A-Za-z0-9_-]{0,99}", "an EKS cluster name (1 to 100 letters, digits, '-' or '_')"))
                .description("Name of the management EKS cluster the agent runs on."),
        )
        .attribute(
            Attribute::string("region")
                .optional()
                .computed()
                .validate(validators::pattern("[a-z]{2}(-[a-z]+)+-\\d+", "an AWS region such as us-east-1"))
                .description("Region of the regional IoT broker. Defaults to the provider's region."),
        )
        .attribute(
            Attribute::string("namespace")
                .default(DEFAULT_NAMESPACE)
                .force_new()
                .validate(validators::pattern("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", "a Kubernetes namespace name"))
                .description("Kubernetes namespace of the agent's service account."),
        )
        .attribute(
            Attribute::string("service_account")
                .default(DEFAULT_SERVICE_ACCOUNT)
                .force_new()
                .validate(validators::pattern("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", "a Kubernetes service account name"))
                .description("Kubernetes service account the agent's pods run as."),
        )
        .attribute(
            Attribute::string("mqtt_cert_secret_name")
                .optional()
                .computed()
                .validate(secret_name_validator())
                .description("Name of the Secrets Manager secret holding the agent's MQTT certificate bundle. Defaults to `<cluster_id>/maestro/agent-mqtt-cert`."),
        )
        .attribute(
            Attribute::string("config_secret_name")
                .optional()
                .computed()
                .validate(secret_name_validator())
                .description("Name of the Secrets Manager secret this resource writes the agent's MQTT config to (`config` YAML and `consumerName`). Defaults to `<cluster_id>/maestro/agent-config`."),
        )
        .attribute(
            Attribute::string("certificate_pem")
                .optional()
                .validate(certificate_validator())
                .description("The agent's certificate, from `maestro_consumer.certificate_pem` (public). The provider adds it to the credential secret next to the key it certifies (staged by `maestro_agent_key`) and makes that bundle current. Until it is set, plans warn that the agent has no certificate."),
        )
        .attribute(
            Attribute::number("recovery_window_in_days")
                .default(7i64)
                .validate(validators::int_range(7, 30))
                .description("Days Secrets Manager keeps the config secret recoverable after destroy (7 to 30, default 7)."),
        )
        .attribute(
            Attribute::string("topic_prefix")
                .optional()
                .computed()
                .validate(validators::rule(naming::check_topic_prefix))
                .description("MQTT topic prefix. Defaults to the provider's `topic_prefix`."),
        )
        .attribute(
            Attribute::string("broker_endpoint")
                .optional()
                .validate(validators::pattern("[A-Za-z0-9.-]+", "a host name without scheme or port"))
                .description("Host name of the regional IoT Core ATS data endpoint (`maestro_consumer.endpoint`), used in the config secret and `helm_values`. Without it no config secret is written."),
        )
        .attribute(super::consumer::cloudevents_client_id_attribute("cluster_id"))
        .attribute(
            Attribute::string("kms_key_arn")
                .optional()
                .validate(validators::arn(Some("kms")))
                .description("ARN of the customer-managed KMS key that encrypts the agent's secrets (the `kms_key_id` of `maestro_agent_key`, as an ARN). The role is granted `kms:Decrypt` on exactly this key, only through Secrets Manager, and the config secret is encrypted with it; without it the agent's CSI mount of a secret under a customer-managed key fails. Leave unset for the AWS-managed `aws/secretsmanager` key."),
        )
        .attribute(
            Attribute::string("broker_ca_pem")
                .optional()
                .validate(ca_validator())
                .description("PEM of the CA the agent trusts for the broker's server certificate, written as the bundle's `caCert` (mounted as `ca.crt`). Defaults to Amazon Root CA 1, which IoT Core's ATS endpoints chain to; set it for an IoT Core custom domain whose server certificate chains elsewhere."),
        )
        .attribute(tags)
        .attribute(Attribute::string("id").computed().description("Same as `cluster_id`."))
        .attribute(Attribute::string("consumer_name").computed().description("Maestro consumer name of this agent (the cluster ID)."))
        .attribute(Attribute::string("client_id").computed().description("MQTT client ID IoT Core sees from the agent: `<cloudevents_client_id>-client` (`<cluster_id>-work-agent-client` by default); the IoT policy on its role allows only this one."))
        .attribute(Attribute::string("role_name").computed().description("Name of the agent's IAM role."))
        .attribute(Attribute::string("role_arn").computed().description("ARN of the agent's IAM role."))
        .attribute(Attribute::string("association_id").computed().keep_state_for_unknown().description("ID of the EKS Pod Identity association."))
        .attribute(Attribute::string("association_arn").computed().keep_state_for_unknown().description("ARN of the EKS Pod Identity association."))
        .attribute(
            Attribute::string("secret_arn_pattern")
                .computed()
                .description("ARN pattern of the MQTT credential secret that the role may read (`...:secret:<name>-??????`)."),
        )
        .attribute(Attribute::string("trust_policy").computed().description("The role's trust policy as AWS holds it (JSON)."))
        .attribute(Attribute::string("secrets_policy").computed().description("The inline policy that reads the credential and config secrets, as AWS holds it (JSON)."))
        .attribute(Attribute::string("iot_policy").computed().description("The inline IoT Core policy, as AWS holds it (JSON)."))
        .attribute(Attribute::string("agent_config").computed().description("The agent's MQTT config YAML as written to the config secret; null without `broker_endpoint`."))
        .attribute(Attribute::string("config_secret_arn").computed().keep_state_for_unknown().description("ARN of the config secret; null without `broker_endpoint`."))
        .attribute(
            Attribute::string("certificate_fingerprint")
                .computed()
                .description("Lowercase hex SHA-256 of the public key in `certificate_pem`; equals `maestro_agent_key.public_key_fingerprint` of the key it certifies."),
        )
        .attribute(
            Attribute::string("credential_version_id")
                .computed()
                .keep_state_for_unknown()
                .description("Version of the credential secret that holds the complete bundle (key, `certificate_pem`, CA) and is current."),
        )
        .attribute(tags_all)
        .attribute(
            Attribute::new("helm_values", helm_values_type())
                .computed()
                .description("Values for the deployed Maestro agent chart (rosa-regional-platform `management-cluster/maestro-agent`), in its layout: `global.aws_region` (where the secrets are), `maestroAgent.maestro.{serviceAccount, consumerName}`, `maestroAgent.broker.{type, endpoint, topicPrefix}`, `maestroAgent.ascp.{enabled, mqttCertSecretName}`. That chart's SecretProviderClass mounts the secrets `maestro/agent-cert` and `maestro/agent-config` by those fixed names and passes `--cloudevents-client-id=$(CONSUMER_NAME)-work-agent`."),
        )
        .attribute(
            Attribute::new("upstream_helm_values", upstream_helm_values_type())
                .computed()
                .description("Values for upstream's agent chart (openshift-online/maestro `charts/maestro-agent`): `consumerName`, `cloudeventsClientId`, `serviceAccount.name`, `messageBroker.type` and `messageBroker.mqtt.{host, port, user, password, rootCert, clientCert, clientKey}` (files of the Kubernetes secret `maestro-agent-certs` under `/secrets/mqtt-certs`: `ca.crt`, `certificate`, `privateKey`). That chart writes the topics with the default prefix `sources/maestro/consumers` only."),
        ),
    )
}

/// `certificate_pem` must be a PEM certificate with a key type IoT Core issues for.
fn certificate_validator() -> crate::framework::schema::Validator {
    std::sync::Arc::new(|v: &Value| match v {
        Value::String(pem) => keys::cert_public_key_spki(pem)
            .map(|_| ())
            .map_err(|e| format!("must be a PEM certificate (maestro_consumer.certificate_pem): {e}")),
        _ => Ok(()),
    })
}

/// `broker_ca_pem` must be a PEM certificate.
fn ca_validator() -> crate::framework::schema::Validator {
    std::sync::Arc::new(|v: &Value| match v {
        Value::String(pem) => keys::cert_public_key_spki(pem).map(|_| ()).map_err(|e| format!("must be a PEM CA certificate: {e}")),
        _ => Ok(()),
    })
}

/// Real EKS says this while a just-created role has not reached it yet.
fn is_role_propagation<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> bool {
    aws_error::code(e) == Some("InvalidParameterException") && aws_error::message(e).is_some_and(|m| m.contains("does not exist"))
}

/// Deterministic, so a retried create is the same request to EKS (max 64 characters).
fn client_request_token(spec: &Spec) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&spec.cluster_id, &spec.eks_cluster_name, &spec.namespace, &spec.service_account).hash(&mut h);
    format!("maestro-agent-{:016x}", h.finish())
}

fn iam_tags(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_iam::types::Tag> {
    tags.iter().filter_map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().ok()).collect()
}

impl AgentIdentity {
    async fn put_inline_policy(&self, c: &AwsClients, spec: &Spec, name: &str, doc: &serde_json::Value) -> Result<(), Diagnostics> {
        c.iam
            .put_role_policy()
            .role_name(spec.role_name())
            .policy_name(name)
            .policy_document(doc.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_failure("iam:PutRolePolicy", &format!("{} on role {}", name, spec.role_name()), &e))
    }

    /// Creates the association, waiting out IAM propagation; adopts an existing association
    /// for the same service account when it already points at our role (a re-create after the
    /// role was deleted out of band).
    async fn create_association(&self, c: &AwsClients, spec: &Spec) -> Result<(String, String), Diagnostics> {
        let role_arn = spec.role_arn(c);
        let tags: HashMap<String, String> = spec.tags_all(c).into_iter().collect();
        let created = retry::until_consistent("eks:CreatePodIdentityAssociation", retry::IAM_PROPAGATION, is_role_propagation, || {
            c.eks
                .create_pod_identity_association()
                .cluster_name(&spec.eks_cluster_name)
                .namespace(&spec.namespace)
                .service_account(&spec.service_account)
                .role_arn(&role_arn)
                .client_request_token(client_request_token(spec))
                .set_tags((!tags.is_empty()).then(|| tags.clone()))
                .send()
        })
        .await;
        let object = format!("{}/{} on EKS cluster {}", spec.namespace, spec.service_account, spec.eks_cluster_name);
        match created {
            Ok(out) => {
                let a = out.association();
                Ok((
                    a.and_then(|a| a.association_id()).unwrap_or_default().to_string(),
                    a.and_then(|a| a.association_arn()).unwrap_or_default().to_string(),
                ))
            }
            Err(e) if aws_error::code(&e) == Some("ResourceInUseException") => self.adopt_association(c, spec, &role_arn, &object).await,
            Err(e) => Err(aws_failure("eks:CreatePodIdentityAssociation", &object, &e)),
        }
    }

    async fn adopt_association(&self, c: &AwsClients, spec: &Spec, role_arn: &str, object: &str) -> Result<(String, String), Diagnostics> {
        let listed = c
            .eks
            .list_pod_identity_associations()
            .cluster_name(&spec.eks_cluster_name)
            .namespace(&spec.namespace)
            .service_account(&spec.service_account)
            .send()
            .await
            .map_err(|e| aws_failure("eks:ListPodIdentityAssociations", object, &e))?;
        for summary in listed.associations() {
            let id = summary.association_id().unwrap_or_default();
            let described = c
                .eks
                .describe_pod_identity_association()
                .cluster_name(&spec.eks_cluster_name)
                .association_id(id)
                .send()
                .await
                .map_err(|e| aws_failure("eks:DescribePodIdentityAssociation", object, &e))?;
            if let Some(a) = described.association() {
                if a.role_arn() == Some(role_arn) {
                    tracing::info!(association_id = id, "adopting the existing association for our role");
                    return Ok((id.to_string(), a.association_arn().unwrap_or_default().to_string()));
                }
                return Err(Diagnostic::error(
                    "Service account already associated",
                    format!(
                        "EKS cluster {} already has Pod Identity association {id} for {}/{}, bound to role {}. A service account can have only one association: remove it, or choose another namespace/service_account.",
                        spec.eks_cluster_name,
                        spec.namespace,
                        spec.service_account,
                        a.role_arn().unwrap_or("?")
                    ),
                )
                .at(AttributePath::root("service_account"))
                .into());
            }
        }
        Err(Diagnostic::error(
            "Pod Identity association conflict",
            format!("EKS reported an existing association for {object}, but none could be found."),
        )
        .into())
    }

    /// Finds the association that binds our role, on any cluster of the account (import).
    async fn find_association(
        &self,
        c: &AwsClients,
        role_arn: &str,
    ) -> Result<Option<aws_sdk_eks::types::PodIdentityAssociation>, Diagnostics> {
        let clusters = c.eks.list_clusters().send().await.map_err(|e| aws_failure("eks:ListClusters", "the account", &e))?;
        for cluster in clusters.clusters() {
            let listed = c
                .eks
                .list_pod_identity_associations()
                .cluster_name(cluster)
                .send()
                .await
                .map_err(|e| aws_failure("eks:ListPodIdentityAssociations", cluster, &e))?;
            for summary in listed.associations() {
                let described = c
                    .eks
                    .describe_pod_identity_association()
                    .cluster_name(cluster)
                    .association_id(summary.association_id().unwrap_or_default())
                    .send()
                    .await
                    .map_err(|e| aws_failure("eks:DescribePodIdentityAssociation", cluster, &e))?;
                if let Some(a) = described.association().filter(|a| a.role_arn() == Some(role_arn)) {
                    return Ok(Some(a.clone()));
                }
            }
        }
        Ok(None)
    }

    /// An inline policy's document, or `None` when it is gone.
    async fn inline_policy(&self, c: &AwsClients, role: &str, name: &str) -> Result<Option<String>, Diagnostics> {
        match c.iam.get_role_policy().role_name(role).policy_name(name).send().await {
            Ok(out) => Ok(Some(document::decode_iam_document(out.policy_document()))),
            Err(e) if aws_error::is_not_found(&e) => Ok(None),
            Err(e) => Err(aws_failure("iam:GetRolePolicy", &format!("{name} on role {role}"), &e)),
        }
    }

    /// Completes the credential secret with `cert_pem`: finds the version whose key the
    /// certificate certifies (the staged AWSPENDING key first, then the current and previous
    /// bundles), writes key + certificate + CA as a new AWSCURRENT version and takes AWSPENDING
    /// off the key it promoted. Returns the current version. Never writes a bundle whose key
    /// and certificate disagree.
    async fn install_certificate(&self, c: &AwsClients, spec: &Spec, cert_pem: &str) -> Result<String, Diagnostics> {
        let name = &spec.secret_name;
        let at_secret = AttributePath::root("mqtt_cert_secret_name");
        let info = match secrets::describe(c, name).await? {
            Some(info) if !info.scheduled_for_deletion => info,
            Some(_) => return Err(secrets::scheduled_for_deletion(name, "Apply maestro_agent_key, which restores it with a new key.").at(at_secret).into()),
            None => {
                return Err(Diagnostic::error(
                    "Credential secret not found",
                    format!("Secret {name} does not exist in account {}. Create it with maestro_agent_key (its secret_name must equal mqtt_cert_secret_name) before setting certificate_pem.", c.account_id),
                )
                .at(at_secret)
                .into())
            }
        };
        let cert_fingerprint = certificate_fingerprint(cert_pem).unwrap_or_default();
        let mut seen = Vec::new();
        for stage in [AWSPENDING, AWSCURRENT, AWSPREVIOUS] {
            let Some(version) = info.version_with(stage).map(str::to_string) else { continue };
            let Some(value) = secrets::get_version(c, &info.arn, &version).await? else { continue };
            let Ok(bundle) = CredentialBundle::parse(value.expose()) else { continue };
            let Ok(key) = GeneratedKey::from_pkcs8_pem(bundle.private_key.expose()) else { continue };
            if !keys::cert_matches_key(cert_pem, &key) {
                seen.push(format!("{stage} {}", key.fingerprint()));
                continue;
            }
            if stage == AWSCURRENT && bundle.certificate.as_deref() == Some(cert_pem) && bundle.ca_cert.as_deref() == Some(spec.broker_ca())
            {
                return Ok(version); // already complete
            }
            let complete = CredentialBundle {
                certificate: Some(cert_pem.to_string()),
                private_key: SecretString::new(key.private_key_pem().expose().to_string()),
                ca_cert: Some(spec.broker_ca().to_string()),
            };
            debug_assert!(complete.is_coherent().unwrap_or(false));
            tracing::info!(secret = %name, from_version = %version, from_stage = stage, fingerprint = %cert_fingerprint, "promoting the agent's bundle with its certificate");
            let token = secrets::derived_token(&[&version, cert_pem, spec.broker_ca()]);
            let current = secrets::put(c, &info.arn, &complete.to_secret_string(), &[], Some(token)).await?;
            if stage == AWSPENDING {
                // AWS keeps AWSPENDING on the promoted key's version; the key is current now.
                let after = secrets::describe(c, &info.arn).await?.unwrap_or_default();
                if after.has_stage(&version, AWSPENDING) && version != current {
                    secrets::remove_stage(c, &info.arn, AWSPENDING, &version).await?;
                }
            }
            return Ok(current);
        }
        Err(Diagnostic::error(
            "Certificate does not match the agent's key",
            format!(
                "certificate_pem certifies the public key {cert_fingerprint}, but secret {name} holds no key with that fingerprint (found: {}). The certificate must be issued from the csr_pem of the maestro_agent_key that writes this secret.",
                if seen.is_empty() { "none".to_string() } else { seen.join(", ") }
            ),
        )
        .at(AttributePath::root("certificate_pem"))
        .into())
    }

    /// Writes the config secret, creating it when `arn` is `None`. Returns its ARN.
    async fn write_config(
        &self,
        c: &AwsClients,
        spec: &Spec,
        config: &AgentConfigSecret,
        arn: Option<&str>,
    ) -> Result<String, Diagnostics> {
        let value = SecretString::new(config.to_json());
        if let Some(arn) = arn {
            secrets::put(c, arn, &value, &[], None).await?;
            return Ok(arn.to_string());
        }
        let name = &spec.config_secret_name;
        let created = c
            .secretsmanager
            .create_secret()
            .name(name)
            .description(format!("Maestro agent MQTT config for cluster {} (managed by terraform-provider-maestro)", spec.cluster_id))
            .secret_string(value.expose())
            .set_kms_key_id(spec.kms_key_arn.clone())
            .set_tags(secrets::tags(&spec.tags_all(c)))
            .send()
            .await;
        match created {
            Ok(out) => Ok(out.arn().unwrap_or_default().to_string()),
            Err(e) if matches!(aws_error::code(&e), Some("ResourceExistsException") | Some("InvalidRequestException")) => {
                let info = secrets::describe(c, name).await?.unwrap_or_default();
                let ours = info
                    .description
                    .as_deref()
                    .is_some_and(|d| d.contains(&format!("cluster {} (managed by terraform-provider-maestro)", spec.cluster_id)));
                if info.scheduled_for_deletion {
                    secrets::restore(c, &info.arn).await?;
                } else if !ours {
                    return Err(Diagnostic::error(
                        "Config secret already exists",
                        format!("Secret {name} already exists in account {} and was not written by this provider for cluster {}. Delete it, or choose another config_secret_name.", c.account_id, spec.cluster_id),
                    )
                    .at(AttributePath::root("config_secret_name"))
                    .into());
                }
                secrets::update_tags(c, &info.arn, &info.tags, &spec.tags_all(c)).await?;
                secrets::put(c, &info.arn, &value, &[], None).await?;
                Ok(info.arn)
            }
            Err(e) => Err(aws_failure("secretsmanager:CreateSecret", name, &e)),
        }
    }

    /// Drift in the secrets: a config secret deleted or edited out of band, a credential secret
    /// whose current version is no longer the bundle this resource wrote.
    async fn read_secrets(&self, c: &AwsClients, spec: &Spec, state: &Value, new: &mut Value) -> Result<(), Diagnostics> {
        new.set("certificate_fingerprint", spec.certificate_pem.as_deref().and_then(certificate_fingerprint).into());
        if let Some(arn) = opt_text(state, "config_secret_arn") {
            match secrets::describe(c, &arn).await? {
                Some(info) if !info.scheduled_for_deletion => {
                    let found = secrets::get_stage(c, &arn, AWSCURRENT).await?.and_then(|(_, v)| AgentConfigSecret::parse(v.expose()).ok());
                    if found.as_ref() != spec.agent_config(c).as_ref() {
                        // Shown as the config found; null when it is not even our shape.
                        let shown = found.filter(|f| f.consumer_name == spec.cluster_id).map(|f| f.config);
                        new.set("agent_config", shown.into());
                    }
                }
                _ => new.set("config_secret_arn", Value::Null),
            }
        }
        if let Some(version) = opt_text(state, "credential_version_id") {
            let current = secrets::describe(c, &spec.secret_name)
                .await?
                .is_some_and(|info| !info.scheduled_for_deletion && info.has_stage(&version, AWSCURRENT));
            if !current {
                new.set("credential_version_id", Value::Null);
            }
        }
        Ok(())
    }

    /// Import: the broker endpoint from the config secret, and the certificate from the current
    /// credential bundle when it is complete and coherent.
    async fn import_secrets(&self, c: &AwsClients, recovered: &Recovered, state: &mut Value) -> Result<(), Diagnostics> {
        if let Some(info) = secrets::describe(c, &recovered.config_secret_name).await?.filter(|i| !i.scheduled_for_deletion) {
            if let Some((_, value)) = secrets::get_stage(c, &info.arn, AWSCURRENT).await? {
                let endpoint =
                    AgentConfigSecret::parse(value.expose()).ok().and_then(|cfg| agent_config::parse_broker_endpoint(&cfg.config));
                if let Some(endpoint) = endpoint {
                    state.set("broker_endpoint", Value::String(endpoint));
                    state.set("config_secret_arn", Value::String(info.arn));
                }
            }
        }
        if let Some((version, value)) = secrets::get_stage(c, &recovered.secret_name, AWSCURRENT).await? {
            if let Ok(bundle) = CredentialBundle::parse(value.expose()) {
                if bundle.is_coherent().unwrap_or(false) {
                    state.set("certificate_pem", bundle.certificate.clone().into());
                    state.set("credential_version_id", Value::String(version));
                }
            }
        }
        Ok(())
    }

    /// The secrets side of create and update: config secret, then the certificate.
    async fn apply_secrets(&self, c: &AwsClients, spec: &Spec, prior: &Value, state: &mut Value) -> Result<(), Diagnostics> {
        let prior_arn = opt_text(prior, "config_secret_arn");
        let renamed = prior_arn.is_some() && prior.get("config_secret_name") != state.get("config_secret_name");
        let reusable = prior_arn.clone().filter(|_| !renamed);
        let obsolete = match spec.agent_config(c) {
            Some(config) => {
                let changed = prior.get("agent_config").as_str() != Some(config.config.as_str());
                if reusable.is_none() || changed {
                    // Until the write succeeds, state keeps the config AWS still has, so a
                    // failed apply is retried by the next plan.
                    let wanted = state.get("agent_config").clone();
                    state.set("agent_config", prior.get("agent_config").clone());
                    let arn = self.write_config(c, spec, &config, reusable.as_deref()).await?;
                    state.set("config_secret_arn", Value::String(arn));
                    state.set("agent_config", wanted);
                }
                prior_arn.filter(|_| renamed)
            }
            None => {
                state.set("config_secret_arn", Value::Null);
                prior_arn
            }
        };
        if let Some(arn) = obsolete {
            let d = secrets::delete(c, &arn, secrets::Deletion::from_state(prior)).await;
            if d.has_errors() {
                return Err(d);
            }
        }
        match &spec.certificate_pem {
            Some(pem) if state.get("credential_version_id").is_unknown() || prior.get("credential_version_id").is_null() => {
                let version = self.install_certificate(c, spec, pem).await?;
                state.set("credential_version_id", Value::String(version));
            }
            Some(_) => {}
            None => state.set("credential_version_id", Value::Null),
        }
        Ok(())
    }

    async fn update_tags(
        &self,
        c: &AwsClients,
        spec: &Spec,
        prior: &Value,
        planned: &Value,
        association_arn: Option<&str>,
    ) -> Result<(), Diagnostics> {
        let old = prior.get("tags_all").string_map_entries();
        let new = planned.get("tags_all").string_map_entries();
        let (upsert, remove) = tag_changes(&old, &new);
        let role = spec.role_name();
        if !remove.is_empty() {
            c.iam
                .untag_role()
                .role_name(&role)
                .set_tag_keys(Some(remove.clone()))
                .send()
                .await
                .map_err(|e| aws_failure("iam:UntagRole", &role, &e))?;
        }
        if !upsert.is_empty() {
            c.iam
                .tag_role()
                .role_name(&role)
                .set_tags(Some(iam_tags(&upsert)))
                .send()
                .await
                .map_err(|e| aws_failure("iam:TagRole", &role, &e))?;
        }
        if let Some(arn) = association_arn {
            if !remove.is_empty() {
                c.eks
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(|e| aws_failure("eks:UntagResource", arn, &e))?;
            }
            if !upsert.is_empty() {
                c.eks
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(upsert.into_iter().collect()))
                    .send()
                    .await
                    .map_err(|e| aws_failure("eks:TagResource", arn, &e))?;
            }
        }
        Ok(())
    }
}

/// The secrets' planned attributes: what changes when the certificate or the config changes,
/// or when read found them gone or overwritten.
fn plan_secrets(prior: &Value, p: &mut Value) {
    let cert = p.get("certificate_pem").clone();
    p.set(
        "certificate_fingerprint",
        match &cert {
            Value::String(pem) => certificate_fingerprint(pem).into(),
            Value::Null => Value::Null,
            _ => Value::Unknown,
        },
    );
    let credential = match &cert {
        Value::Null => Value::Null,
        // A new CA is a new bundle too, written next to the same key and certificate.
        Value::String(_)
            if prior.get("certificate_pem") == &cert
                && prior.get("broker_ca_pem") == p.get("broker_ca_pem")
                && !prior.get("credential_version_id").is_null() =>
        {
            prior.get("credential_version_id").clone()
        }
        _ => Value::Unknown,
    };
    p.set("credential_version_id", credential);
    let config = p.get("agent_config").clone();
    let config_arn = match &config {
        Value::Null => Value::Null,
        _ if prior.get("config_secret_arn").is_null() || prior.get("config_secret_name") != p.get("config_secret_name") => Value::Unknown,
        _ => prior.get("config_secret_arn").clone(),
    };
    p.set("config_secret_arn", config_arn);
}

#[async_trait]
impl Resource<AwsClients> for AgentIdentity {
    fn type_name(&self) -> &'static str {
        "maestro_agent_identity"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn identity_attribute(&self) -> Option<(&'static str, &'static str)> {
        Some(("cluster_id", "Management cluster identifier."))
    }

    async fn modify_plan(&self, client: Option<&AwsClients>, plan: &mut Plan<'_>, diags: &mut Diagnostics) {
        if plan.config.get("certificate_pem").is_null() {
            diags.push(
                Diagnostic::warning(
                    "The agent has no certificate yet",
                    "certificate_pem is not set, so the agent's credential secret holds only the key staged by maestro_agent_key and the agent cannot connect. Set certificate_pem to the maestro_consumer's certificate_pem (in a two-teams setup, the regional team sends it) and apply again.",
                )
                .at(AttributePath::root("certificate_pem")),
            );
        }
        let Some(c) = client else { return };
        let p = &mut plan.planned;
        let cluster_id = p.get("cluster_id").clone();
        // Defaults that depend on other arguments or on the provider.
        if plan.config.get("region").is_null() {
            p.set("region", Value::string(&c.region));
        }
        if plan.config.get("topic_prefix").is_null() {
            p.set("topic_prefix", Value::string(&c.topic_prefix));
        }
        if plan.config.get("cloudevents_client_id").is_null() {
            let id = cluster_id.as_str().map(|id| Value::string(agent_binding::default_cloudevents_client_id(id)));
            p.set("cloudevents_client_id", id.unwrap_or(Value::Unknown));
        } else if let (Some(id), Some(cluster)) = (plan.config.get("cloudevents_client_id").as_str(), cluster_id.as_str()) {
            if id != agent_binding::default_cloudevents_client_id(cluster) {
                diags.push(
                    Diagnostic::warning(
                        "The deployed agent chart cannot pass this client ID",
                        format!("The deployed agent chart (rosa-regional-platform) always starts the agent with --cloudevents-client-id=$(CONSUMER_NAME)-work-agent, so with cloudevents_client_id = {id:?} only a chart that takes it (upstream's, see upstream_helm_values) connects; maestro_consumer.cloudevents_client_id must be the same value."),
                    )
                    .at(AttributePath::root("cloudevents_client_id")),
                );
            }
        }
        if plan.config.get("mqtt_cert_secret_name").is_null() {
            let name = cluster_id.as_str().map(|id| Value::string(agent_binding::default_cert_secret_name(id))).unwrap_or(Value::Unknown);
            p.set("mqtt_cert_secret_name", name);
        }
        if plan.config.get("config_secret_name").is_null() {
            let name = cluster_id.as_str().map(|id| Value::string(agent_binding::default_config_secret_name(id))).unwrap_or(Value::Unknown);
            p.set("config_secret_name", name);
        }
        // Everything derived is predictable once the arguments are known, so the plan shows
        // real values (role ARN, policies, Helm values) instead of "known after apply".
        if p.attributes_known(ARGUMENTS) {
            let spec = Spec::from_value(p);
            set_all(p, spec.derived(c));
        }
        // A deleted association (found by read) is re-created by the next apply.
        if !plan.prior.is_null() && plan.prior.get("association_id").is_null() {
            p.set("association_id", Value::Unknown);
            p.set("association_arn", Value::Unknown);
        }
        plan_secrets(plan.prior, p);
    }

    async fn create(&self, c: &AwsClients, planned: &Value) -> Applied {
        let spec = Spec::from_value(planned);
        let role = spec.role_name();
        let mut state = planned.clone();
        state.set("association_id", Value::Null);
        state.set("association_arn", Value::Null);
        tracing::info!(role = %role, "creating the agent's IAM role");
        let created = c
            .iam
            .create_role()
            .role_name(&role)
            .assume_role_policy_document(iam::pod_identity_trust_policy().to_string())
            .description(format!(
                "Maestro agent {} on EKS cluster {} (managed by terraform-provider-maestro)",
                spec.cluster_id, spec.eks_cluster_name
            ))
            .set_tags(Some(iam_tags(&spec.tags_all(c))).filter(|t| !t.is_empty()))
            .send()
            .await;
        if let Err(e) = created {
            let diags = if aws_error::code(&e) == Some("EntityAlreadyExists") {
                Diagnostic::error(
                    "IAM role already exists",
                    format!(
                        "Role {role} already exists in account {}. If it is this agent's, import it: `tofu import <address> {}` (or an import block with id = \"{}\").",
                        c.account_id, spec.cluster_id, spec.cluster_id
                    ),
                )
                .at(AttributePath::root("cluster_id"))
                .into()
            } else {
                aws_failure("iam:CreateRole", &role, &e)
            };
            return Applied::failed(Value::Null, diags);
        }
        // From here on the role exists: failures return the partial state, which Terraform
        // records as tainted, so the next apply replaces it instead of leaking it.
        for (name, doc) in [(SECRETS_POLICY_NAME, spec.secrets_policy(c)), (IOT_POLICY_NAME, spec.iot_policy(c))] {
            if let Err(d) = self.put_inline_policy(c, &spec, name, &doc).await {
                return Applied::failed(state, d);
            }
        }
        match self.create_association(c, &spec).await {
            Ok((id, arn)) => {
                state.set("association_id", Value::String(id));
                state.set("association_arn", Value::String(arn));
            }
            Err(d) => return Applied::failed(state, d),
        }
        state.set("config_secret_arn", Value::Null);
        state.set("credential_version_id", Value::Null);
        match self.apply_secrets(c, &spec, &Value::Null, &mut state).await {
            Ok(()) => Applied::ok(state),
            Err(d) => Applied::failed(state, d),
        }
    }

    async fn read(&self, c: &AwsClients, state: &Value) -> Result<Option<Value>, Diagnostics> {
        let spec = Spec::from_value(state);
        let role_name = spec.role_name();
        let role = match c.iam.get_role().role_name(&role_name).send().await {
            Ok(out) => {
                out.role.ok_or_else(|| Diagnostics::from(Diagnostic::error("Malformed IAM response", "GetRole returned no role")))?
            }
            Err(e) if aws_error::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(aws_failure("iam:GetRole", &role_name, &e)),
        };
        let mut new = state.clone();
        set_all(&mut new, spec.derived(c));
        new.set("role_arn", Value::string(role.arn()));
        let trust = role.assume_role_policy_document().map(document::decode_iam_document).unwrap_or_default();
        new.set("trust_policy", Value::String(document::reconcile(&trust, &iam::pod_identity_trust_policy())));
        for (attr, name, expected) in
            [("secrets_policy", SECRETS_POLICY_NAME, spec.secrets_policy(c)), ("iot_policy", IOT_POLICY_NAME, spec.iot_policy(c))]
        {
            let found = self.inline_policy(c, &role_name, name).await?;
            new.set(attr, found.map(|doc| Value::String(document::reconcile(&doc, &expected))).unwrap_or(Value::Null));
        }
        let found_tags: BTreeMap<String, String> = role.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        new.set("tags", tags_value(&configured_tags(&found_tags, &c.default_tags), state.get("tags").is_null()));
        new.set("tags_all", Value::string_map(&found_tags));
        if let Some(id) = opt_text(state, "association_id") {
            let described = c.eks.describe_pod_identity_association().cluster_name(&spec.eks_cluster_name).association_id(&id).send().await;
            let still_ours = match described {
                Ok(out) => out.association().and_then(|a| a.role_arn()) == Some(role.arn()),
                Err(e) if aws_error::is_not_found(&e) => false,
                Err(e) => return Err(aws_failure("eks:DescribePodIdentityAssociation", &id, &e)),
            };
            // Gone, or re-pointed at another role out of band: the next apply creates ours.
            if !still_ours {
                new.set("association_id", Value::Null);
                new.set("association_arn", Value::Null);
            }
        }
        self.read_secrets(c, &spec, state, &mut new).await?;
        Ok(Some(new))
    }

    async fn update(&self, c: &AwsClients, prior: &Value, planned: &Value) -> Applied {
        let spec = Spec::from_value(planned);
        let mut state = planned.clone();
        let role = spec.role_name();
        if prior.get("trust_policy") != planned.get("trust_policy") {
            let r = c
                .iam
                .update_assume_role_policy()
                .role_name(&role)
                .policy_document(iam::pod_identity_trust_policy().to_string())
                .send()
                .await;
            if let Err(e) = r {
                return Applied::failed(prior.clone(), aws_failure("iam:UpdateAssumeRolePolicy", &role, &e));
            }
        }
        for (attr, name, doc) in
            [("secrets_policy", SECRETS_POLICY_NAME, spec.secrets_policy(c)), ("iot_policy", IOT_POLICY_NAME, spec.iot_policy(c))]
        {
            if prior.get(attr) != planned.get(attr) {
                if let Err(d) = self.put_inline_policy(c, &spec, name, &doc).await {
                    return Applied::failed(prior.clone(), d);
                }
            }
        }
        let mut association_arn = opt_text(prior, "association_arn");
        if prior.get("association_id").is_null() {
            match self.create_association(c, &spec).await {
                Ok((id, arn)) => {
                    state.set("association_id", Value::String(id));
                    state.set("association_arn", Value::String(arn));
                    association_arn = None; // created with the current tags already
                }
                Err(d) => {
                    let mut partial = state.clone();
                    partial.set("association_id", Value::Null);
                    partial.set("association_arn", Value::Null);
                    return Applied::failed(partial, d);
                }
            }
        }
        if let Err(d) = self.update_tags(c, &spec, prior, planned, association_arn.as_deref()).await {
            return Applied::failed(prior.clone(), d);
        }
        if let Some(arn) =
            opt_text(prior, "config_secret_arn").filter(|_| prior.get("config_secret_name") == planned.get("config_secret_name"))
        {
            let (old, new) = (prior.get("tags_all").string_map_entries(), planned.get("tags_all").string_map_entries());
            if let Err(d) = secrets::update_tags(c, &arn, &old, &new).await {
                return Applied::failed(prior.clone(), d);
            }
            if prior.get("kms_key_arn") != planned.get("kms_key_arn") {
                // Secrets Manager re-encrypts the current version with the new key; without
                // one configured, back to the account's AWS-managed key.
                let key = spec.kms_key_arn.clone().unwrap_or_else(|| "alias/aws/secretsmanager".to_string());
                if let Err(e) = c.secretsmanager.update_secret().secret_id(&arn).kms_key_id(&key).send().await {
                    return Applied::failed(prior.clone(), aws_failure("secretsmanager:UpdateSecret", &spec.config_secret_name, &e));
                }
            }
        }
        if let Err(d) = self.apply_secrets(c, &spec, prior, &mut state).await {
            // What was not done keeps its prior value, so the next plan tries again.
            for name in ["config_secret_arn", "credential_version_id"] {
                if state.get(name).is_unknown() {
                    state.set(name, prior.get(name).clone());
                }
            }
            if state.get("credential_version_id") == prior.get("credential_version_id") {
                state.set("certificate_pem", prior.get("certificate_pem").clone());
                state.set("certificate_fingerprint", prior.get("certificate_fingerprint").clone());
            }
            return Applied::failed(state, d);
        }
        Applied::ok(state)
    }

    async fn delete(&self, c: &AwsClients, state: &Value) -> Diagnostics {
        let spec = Spec::from_value(state);
        let role = spec.role_name();
        // The credential secret belongs to maestro_agent_key; only the config secret is ours.
        if let Some(arn) = opt_text(state, "config_secret_arn") {
            let d = secrets::delete(c, &arn, secrets::Deletion::from_state(state)).await;
            if d.has_errors() {
                return d;
            }
        }
        if let Some(id) = opt_text(state, "association_id") {
            match c.eks.delete_pod_identity_association().cluster_name(&spec.eks_cluster_name).association_id(&id).send().await {
                Ok(_) => {}
                Err(e) if aws_error::is_not_found(&e) => {}
                Err(e) => return aws_failure("eks:DeletePodIdentityAssociation", &id, &e),
            }
        }
        for name in [SECRETS_POLICY_NAME, IOT_POLICY_NAME] {
            match c.iam.delete_role_policy().role_name(&role).policy_name(name).send().await {
                Ok(_) => {}
                Err(e) if aws_error::is_not_found(&e) => {}
                Err(e) => return aws_failure("iam:DeleteRolePolicy", &format!("{name} on role {role}"), &e),
            }
        }
        match c.iam.delete_role().role_name(&role).send().await {
            Ok(_) => Diagnostics::new(),
            Err(e) if aws_error::is_not_found(&e) => Diagnostics::new(),
            Err(e) if aws_error::code(&e) == Some("DeleteConflict") => Diagnostic::error(
                "IAM role still in use",
                format!(
                    "Role {role} has policies or instance profiles that this resource did not create, so it was left in place: {}. Detach them and destroy again.",
                    aws_error::describe(&e)
                ),
            )
            .into(),
            Err(e) => aws_failure("iam:DeleteRole", &role, &e),
        }
    }

    async fn import(&self, c: &AwsClients, id: &str) -> Result<Value, Diagnostics> {
        let mut diags = Diagnostics::new();
        let cluster_id = Value::string(id);
        for v in &schema().block.find_attribute("cluster_id").map(|a| a.validators.clone()).unwrap_or_default() {
            if let Err(msg) = v(&cluster_id) {
                diags.error("Invalid import ID", format!("The import ID is the agent's cluster_id, which {msg}"));
                return Err(diags);
            }
        }
        let role_name = agent_binding::agent_role_name(id);
        let role = match c.iam.get_role().role_name(&role_name).send().await {
            Ok(out) => out.role.unwrap_or_else(|| aws_sdk_iam::types::Role::builder().build().expect("empty role")),
            Err(e) if aws_error::is_not_found(&e) => {
                diags.error(
                    "Nothing to import",
                    format!("No IAM role {role_name} exists in account {}, so there is no agent identity {id:?} to import.", c.account_id),
                );
                return Err(diags);
            }
            Err(e) => return Err(aws_failure("iam:GetRole", &role_name, &e)),
        };
        let iot = self.inline_policy(c, &role_name, IOT_POLICY_NAME).await?.unwrap_or_default();
        let secrets = self.inline_policy(c, &role_name, SECRETS_POLICY_NAME).await?.unwrap_or_default();
        let recovered = recover_arguments(id, &iot, &secrets).ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Cannot import",
                format!("Role {role_name} exists, but its inline policies {IOT_POLICY_NAME} and {SECRETS_POLICY_NAME} are missing or were not written by this provider, so the regional account, region, topic prefix and secret name cannot be recovered."),
            ))
        })?;
        let association = self.find_association(c, role.arn()).await?.ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Cannot import",
                format!("No EKS Pod Identity association in account {} binds role {role_name}.", c.account_id),
            ))
        })?;
        let mut state = Value::object([
            ("cluster_id", Value::string(id)),
            ("regional_account_id", Value::String(recovered.regional_account_id.clone())),
            ("region", Value::String(recovered.region.clone())),
            ("topic_prefix", Value::String(recovered.topic_prefix.clone())),
            ("mqtt_cert_secret_name", Value::String(recovered.secret_name.clone())),
            ("config_secret_name", Value::String(recovered.config_secret_name.clone())),
            ("cloudevents_client_id", Value::String(recovered.cloudevents_client_id.clone())),
            ("kms_key_arn", recovered.kms_key_arn.clone().into()),
            ("recovery_window_in_days", Value::from(7i64)),
            ("eks_cluster_name", association.cluster_name().map(str::to_string).into()),
            ("namespace", association.namespace().map(str::to_string).into()),
            ("service_account", association.service_account().map(str::to_string).into()),
            ("association_id", association.association_id().map(str::to_string).into()),
            ("association_arn", association.association_arn().map(str::to_string).into()),
        ]);
        // Left null when only default tags are present, as a configuration without `tags` has it.
        let found: BTreeMap<String, String> = role.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        state.set("tags", tags_value(&configured_tags(&found, &c.default_tags), true));
        self.import_secrets(c, &recovered, &mut state).await?;
        Ok(state)
    }
}

struct Recovered {
    regional_account_id: String,
    region: String,
    topic_prefix: String,
    secret_name: String,
    config_secret_name: String,
    cloudevents_client_id: String,
    kms_key_arn: Option<String>,
}

/// Reads the arguments back out of the documents this resource writes (for import).
fn recover_arguments(cluster_id: &str, iot_policy: &str, secrets_policy: &str) -> Option<Recovered> {
    let iot: serde_json::Value = serde_json::from_str(iot_policy).ok()?;
    let secrets: serde_json::Value = serde_json::from_str(secrets_policy).ok()?;
    let resources = |doc: &serde_json::Value| -> Vec<String> {
        let norm = document::normalize(doc);
        norm["Statement"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["Resource"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect()
    };
    let publish_suffix = format!("/{cluster_id}/agentevents");
    let topic = resources(&iot).into_iter().find(|r| r.ends_with(&publish_suffix) && r.contains(":topic/"))?;
    // arn:PARTITION:iot:REGION:ACCOUNT:topic/<prefix>/<cluster_id>/agentevents
    let parts: Vec<&str> = topic.splitn(6, ':').collect();
    let prefix = parts.get(5)?.strip_prefix("topic/")?.strip_suffix(&publish_suffix)?;
    // In document order (IAM keeps it; normalizing would sort): credential secret first.
    let raw_resources: Vec<String> = match &secrets["Statement"][0]["Resource"] {
        serde_json::Value::String(r) => vec![r.clone()],
        serde_json::Value::Array(rs) => rs.iter().filter_map(|r| r.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    let secret_names: Vec<String> =
        raw_resources.iter().filter_map(|arn| Some(arn.splitn(7, ':').nth(6)?.strip_suffix("-??????")?.to_string())).collect();
    let secret_name = secret_names.first()?.clone();
    // Roles written before the config secret existed name only the credential secret.
    let config_secret_name = secret_names.get(1).cloned().unwrap_or_else(|| agent_binding::default_config_secret_name(cluster_id));
    // The Connect grant pins `<cloudevents_client_id>-client`; a role written before that
    // pinned `<cluster_id>-work-agent`, which imports as the default (and the plan fixes it).
    let cloudevents_client_id = resources(&iot)
        .iter()
        .find_map(|r| r.splitn(6, ':').nth(5)?.strip_prefix("client/")?.strip_suffix(naming::AGENT_CLIENT_ID_SUFFIX).map(str::to_string))
        .filter(|id| naming::check_cloudevents_client_id(id).is_ok())
        .unwrap_or_else(|| agent_binding::default_cloudevents_client_id(cluster_id));
    Some(Recovered {
        region: parts.get(3)?.to_string(),
        regional_account_id: parts.get(4)?.to_string(),
        topic_prefix: prefix.to_string(),
        secret_name,
        config_secret_name,
        cloudevents_client_id,
        kms_key_arn: iam::decrypt_key_arn(&secrets),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::plan::plan_from_schema;

    #[test]
    fn arguments_are_recovered_from_our_own_documents() {
        let b = AgentBinding {
            cluster_id: "mc-1".into(),
            topic_prefix: "custom/prefix/consumers".into(),
            partition: "aws".into(),
            broker_region: "eu-west-1".into(),
            broker_account_id: "123456789012".into(),
            cloudevents_client_id: "mc-1-custom".into(),
        };
        let iot = iam::agent_iot_policy(&b).to_string();
        let key = "arn:aws:kms:us-east-1:987654321098:key/k";
        let kms = iam::KmsDecrypt::through_secrets_manager(key, "aws", "us-east-1");
        let secrets =
            iam::secret_read_policy(&[iam::secret_arn_pattern("aws", "us-east-1", "987654321098", "mc-1/x/cert")], Some(&kms)).to_string();
        let r = recover_arguments("mc-1", &iot, &secrets).unwrap();
        assert_eq!((r.region.as_str(), r.regional_account_id.as_str()), ("eu-west-1", "123456789012"));
        assert_eq!(r.topic_prefix, "custom/prefix/consumers");
        assert_eq!(r.secret_name, "mc-1/x/cert");
        assert_eq!(r.cloudevents_client_id, "mc-1-custom");
        assert_eq!(r.kms_key_arn.as_deref(), Some(key));
        assert!(recover_arguments("other", &iot, &secrets).is_none());
    }

    #[test]
    fn schema_validators_reject_bad_input_with_the_attribute_named() {
        let s = schema();
        let config = Value::object([
            ("cluster_id", Value::string("bad id!")),
            ("regional_account_id", Value::string("12345")),
            ("eks_cluster_name", Value::string("management-01")),
        ]);
        let mut diags = Diagnostics::new();
        crate::framework::schema::validate_block(&s.block, &config, &AttributePath::default(), &mut diags);
        let at: Vec<String> = diags.0.iter().map(|d| d.attribute.as_ref().unwrap().to_string()).collect();
        assert_eq!(at, vec!["cluster_id", "regional_account_id"]);
        assert!(diags.0[1].detail.contains("12 digits"));
    }

    #[test]
    fn create_plan_has_defaults_and_unknown_computed_values() {
        let s = schema();
        let config = Value::object([
            ("cluster_id", Value::string("management-01")),
            ("regional_account_id", Value::string("123456789012")),
            ("eks_cluster_name", Value::string("management-01")),
        ])
        .conform(&s.value_type());
        let planned = plan_from_schema(&s, &Value::Null, &config, config.clone());
        assert_eq!(planned.get("namespace"), &Value::string("maestro"));
        assert_eq!(planned.get("service_account"), &Value::string("maestro-agent"));
        assert!(planned.get("role_arn").is_unknown());
        assert!(planned.get("helm_values").is_unknown());
    }

    #[test]
    fn request_tokens_are_stable_and_short() {
        let spec = Spec::from_value(&Value::object([("cluster_id", Value::string("c".repeat(50)))]));
        assert_eq!(client_request_token(&spec), client_request_token(&spec.clone()));
        assert!(client_request_token(&spec).len() <= 64);
    }
}
