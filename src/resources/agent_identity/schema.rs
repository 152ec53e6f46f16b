//! The schema of `maestro_agent_identity`: attributes and their descriptions (the docs are
//! checked against them), the types of the Helm values it computes, and the validators that
//! reject bad input at validate time, pinned to the attribute.

use super::model::{
    attr, AGENT_CONFIG, ASSOCIATION_ARN, ASSOCIATION_ID, BROKER_REGION, CERTIFICATE_FINGERPRINT, CONFIG_SECRET_ARN, CREDENTIAL_VERSION_ID,
};
use crate::crypto::keys;
use crate::framework::schema::{Attribute, Block, Schema, Validator};
use crate::framework::{validators, Type, Value};
use crate::policy::naming;
use crate::resources::common::{cloudevents_client_id_attribute, secret_name_validator, tag_attributes};

fn helm_values_type() -> Type {
    Type::object([
        ("global", Type::object([("region", Type::String)])),
        (
            "maestroAgent",
            Type::object([
                ("maestro", Type::object([("serviceAccount", Type::String)])),
                ("ascp", Type::object([("enabled", Type::Bool)])),
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

pub fn schema() -> Schema {
    let [tags, tags_all] = tag_attributes();
    Schema::new(
        Block::new(
            "The Maestro agent's identity in a management account: an IAM role that EKS Pod Identity hands to the agent's pods, with least-privilege inline policies to read its secrets and to reach the regional IoT broker, and the Pod Identity association. Given the certificate from `maestro_consumer`, it completes the credential secret that `maestro_agent_key` started, and it writes the agent's config secret. Replaces the hand-written agent module; configure it with the management-account provider.",
        )
        .attribute(
            Attribute::string(attr::CLUSTER_ID)
                .required()
                .force_new()
                .validate(validators::rule(naming::check_consumer_name))
                .description("Management cluster identifier; also the Maestro consumer name and the topic level of this agent. Names the role `<cluster_id>-maestro-agent`."),
        )
        .attribute(
            Attribute::string(attr::REGIONAL_ACCOUNT_ID)
                .required()
                .validate(validators::digits(12))
                .description("AWS account ID of the regional account whose IoT Core is the MQTT broker."),
        )
        .attribute(
            Attribute::string(attr::EKS_CLUSTER_NAME)
                .required()
                .force_new()
                .validate(validators::pattern("[0-9A-Za-z][A-Za-z0-9_-]{0,99}", "an EKS cluster name (1 to 100 letters, digits, '-' or '_')"))
                .description("Name of the management EKS cluster the agent runs on."),
        )
        .attribute(
            Attribute::string(BROKER_REGION)
                .optional()
                .computed()
                .validate(validators::rule(naming::check_region))
                .description("Region of the regional IoT broker. Defaults to the provider's region."),
        )
        .attribute(
            Attribute::string(attr::NAMESPACE)
                .optional()
                .computed()
                .force_new()
                .validate(validators::pattern("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", "a Kubernetes namespace name"))
                .description("Kubernetes namespace of the agent's service account, which the Pod Identity association binds. Defaults to the provider's `agent_chart`: `maestro-agent` for `rosa-regional-platform` (where its ApplicationSet installs the chart) and for `maestro` (install upstream's chart there too), `maestro` for `custom` or unset (seed 001's module)."),
        )
        .attribute(
            Attribute::string(attr::SERVICE_ACCOUNT)
                .optional()
                .computed()
                .force_new()
                .validate(validators::pattern("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", "a Kubernetes service account name"))
                .description("Kubernetes service account the agent's pods run as. Defaults to the provider's `agent_chart`: `maestro-agent-sa` for `maestro` (upstream's chart default), `maestro-agent` otherwise."),
        )
        .attribute(
            Attribute::string(attr::MQTT_CERT_SECRET_NAME)
                .optional()
                .computed()
                .validate(secret_name_validator())
                .description("Name of the Secrets Manager secret holding the agent's MQTT certificate bundle (`maestro_agent_key.secret_name`). Defaults to the provider's `agent_chart`: `maestro/agent-cert` for `rosa-regional-platform` (the fixed name its SecretProviderClass mounts; one such agent per management account and region), `<cluster_id>/maestro/agent-mqtt-cert` otherwise."),
        )
        .attribute(
            Attribute::string(attr::MQTT_CERT_SECRET_RESOURCE_POLICY)
                .optional()
                .validate(crate::resources::aws::custody::policy_validator())
                .description("The resource policy `maestro_agent_key` declares on the MQTT credential secret (its `secret_resource_policy`: pass that attribute). The complete bundle is written only when the secret has no resource policy or this one (compared as a policy document); this resource never puts or removes a policy."),
        )
        .attribute(
            Attribute::string(attr::CONFIG_SECRET_NAME)
                .optional()
                .computed()
                .validate(secret_name_validator())
                .description("Name of the Secrets Manager secret this resource writes the agent's MQTT config to (`config` YAML and `consumerName`). Defaults to the provider's `agent_chart`: `maestro/agent-config` for `rosa-regional-platform`, `<cluster_id>/maestro/agent-config` otherwise."),
        )
        .attribute(
            Attribute::string(attr::CERTIFICATE_PEM)
                .optional()
                .validate(certificate_validator())
                .description("The agent's certificate, from `maestro_consumer.certificate_pem` (public). The provider adds it to the credential secret next to the key it certifies (staged by `maestro_agent_key`) and makes that bundle current. Until it is set, plans warn that the agent has no certificate."),
        )
        .attribute(
            Attribute::number(attr::RECOVERY_WINDOW_IN_DAYS)
                .default(7i64)
                .validate(validators::int_range(7, 30))
                .description("Days Secrets Manager keeps the config secret recoverable after destroy (7 to 30, default 7)."),
        )
        .attribute(
            Attribute::string(attr::TOPIC_PREFIX)
                .optional()
                .computed()
                .validate(validators::rule(naming::check_topic_prefix))
                .description("MQTT topic prefix. Defaults to the provider's `topic_prefix`."),
        )
        .attribute(
            Attribute::string(attr::BROKER_ENDPOINT)
                .optional()
                .validate(validators::pattern("[A-Za-z0-9.-]+", "a host name without scheme or port"))
                .description("Host name of the regional IoT Core ATS data endpoint (`maestro_consumer.endpoint`), used in the config secret and `helm_values`. Without it no config secret is written."),
        )
        .attribute(cloudevents_client_id_attribute(attr::CLUSTER_ID))
        .attribute(
            Attribute::string(attr::KMS_KEY_ID)
                .optional()
                .validate(validators::kms_key_reference())
                .description("The customer-managed KMS key that encrypts the agent's secrets, named as Secrets Manager takes it: alias name (`alias/maestro-agent`), key ID, key ARN or alias ARN (a key of another account only by ARN) — the same value as `maestro_agent_key.kms_key_id`. Resolved at plan through `kms:DescribeKey` to the key's ARN (`kms_key_arn`), on which the role is granted `kms:Decrypt`, only through Secrets Manager; the config secret is encrypted with it. A key that does not exist, is not enabled, or is of another region is refused at plan. Set this or `kms_key_arn`, not both; leave both unset for the AWS-managed `aws/secretsmanager` key."),
        )
        .attribute(
            Attribute::string(attr::KMS_KEY_ARN)
                .optional()
                .computed()
                .validate(validators::kms_key_arn())
                .description("ARN of the KMS key that encrypts the agent's secrets: the key `kms_key_id` resolves to at plan, or given directly as a key ARN (not an alias: IAM grants on the key's own ARN). The role is granted `kms:Decrypt` on exactly this key, only through Secrets Manager, and the config secret is encrypted with it; without it the agent's CSI mount of a secret under a customer-managed key fails."),
        )
        .attribute(
            Attribute::string(attr::BROKER_CA_PEM)
                .optional()
                .validate(ca_validator())
                .description("PEM of the CA the agent trusts for the broker's server certificate, written as the bundle's `caCert` (mounted as `ca.crt`). Defaults to Amazon Root CA 1, which IoT Core's ATS endpoints chain to; set it for an IoT Core custom domain whose server certificate chains elsewhere."),
        )
        .attribute(tags)
        .attribute(Attribute::string(attr::ID).computed().description("Same as `cluster_id`."))
        .attribute(Attribute::string(attr::CONSUMER_NAME).computed().description("Maestro consumer name of this agent (the cluster ID)."))
        .attribute(Attribute::string(attr::CLIENT_ID).computed().description("MQTT client ID IoT Core sees from the agent: `<cloudevents_client_id>-client` (`<cluster_id>-work-agent-client` by default); the IoT policy on its role allows only this one."))
        .attribute(Attribute::string(attr::ROLE_NAME).computed().description("Name of the agent's IAM role."))
        .attribute(Attribute::string(attr::ROLE_ARN).computed().description("ARN of the agent's IAM role."))
        .attribute(Attribute::string(ASSOCIATION_ID).computed().keep_state_for_unknown().description("ID of the EKS Pod Identity association."))
        .attribute(Attribute::string(ASSOCIATION_ARN).computed().keep_state_for_unknown().description("ARN of the EKS Pod Identity association."))
        .attribute(
            Attribute::string(attr::SECRET_ARN_PATTERN)
                .computed()
                .description("ARN pattern of the MQTT credential secret that the role may read (`...:secret:<name>-??????`)."),
        )
        .attribute(Attribute::string(attr::TRUST_POLICY).computed().description("The role's trust policy as AWS holds it (JSON)."))
        .attribute(Attribute::string(attr::SECRETS_POLICY).computed().description("The inline policy that reads the credential and config secrets, as AWS holds it (JSON)."))
        .attribute(Attribute::string(attr::IOT_POLICY).computed().description("The inline IoT Core policy, as AWS holds it (JSON)."))
        .attribute(Attribute::string(AGENT_CONFIG).computed().description("The agent's MQTT config YAML as written to the config secret; null without `broker_endpoint`. Its certificate files are where the provider's `agent_chart` mounts them: `/secrets/mqtt-certs/...` for `maestro`, `/mnt/secrets-store/...` otherwise."))
        .attribute(Attribute::string(CONFIG_SECRET_ARN).computed().keep_state_for_unknown().description("ARN of the config secret; null without `broker_endpoint`."))
        .attribute(
            Attribute::string(CERTIFICATE_FINGERPRINT)
                .computed()
                .description("Lowercase hex SHA-256 of the public key in `certificate_pem`; equals `maestro_agent_key.public_key_fingerprint` of the key it certifies."),
        )
        .attribute(
            Attribute::string(CREDENTIAL_VERSION_ID)
                .computed()
                .keep_state_for_unknown()
                .description("Version of the credential secret that holds the complete bundle (key, `certificate_pem`, CA) and is current."),
        )
        .attribute(tags_all)
        .attribute(
            Attribute::new(attr::HELM_VALUES, helm_values_type())
                .computed()
                .description("Values for the deployed agent chart (rosa-regional-platform `management-cluster/maestro-agent`), only what it reads: `global.region` (where the secrets are; the chart refuses to render without it), `maestroAgent.maestro.serviceAccount` and `maestroAgent.ascp.enabled`. That chart mounts the secrets `maestro/agent-cert` and `maestro/agent-config` by those fixed names and passes `--cloudevents-client-id=$(CONSUMER_NAME)-work-agent`. Null when the provider's `agent_chart` is `maestro` or `custom`."),
        )
        .attribute(
            Attribute::new(attr::UPSTREAM_HELM_VALUES, upstream_helm_values_type())
                .computed()
                .description("Values for upstream's agent chart (openshift-online/maestro `charts/maestro-agent`): `consumerName`, `cloudeventsClientId`, `serviceAccount.name`, `messageBroker.type` and `messageBroker.mqtt.{host, port, user, password, rootCert, clientCert, clientKey}` (files of the Kubernetes secret `maestro-agent-certs` under `/secrets/mqtt-certs`: `ca.crt`, `certificate`, `privateKey`, which the objects in `kubernetes_manifests` keep in step with the credential secret). That chart writes the topics with the default prefix `sources/maestro/consumers` only. Null when the provider's `agent_chart` is `rosa-regional-platform` or `custom`."),
        )
        .attribute(
            Attribute::string_map(attr::KUBERNETES_MANIFESTS)
                .computed()
                .description("Kubernetes objects the agent's chart needs but does not render, known at plan time, keyed `<Kind>/<name>`, each a JSON manifest for `kubernetes_manifest { manifest = jsondecode(each.value) }`. Always the SecretProviderClass `maestro-agent-secrets` (AWS provider, EKS Pod Identity) mounting the credential secret (`certificate`, `privateKey`, `caCert` as `ca.crt`) and the config secret (`config` as `config.yaml`, `consumerName`) — with `rosa-regional-platform` it is the one that chart renders, for comparison, not to apply. With `maestro`, also an External Secrets Operator `SecretStore` and `ExternalSecret` that keep the Kubernetes Secret `maestro-agent-certs` (`certificate`, `privateKey`, `ca.crt`) in step with the credential secret without any pod mounting it (the CSI driver's `secretObjects` sync only while a pod mounts the volume, which upstream's chart does not); the SecretStore authenticates as the ESO controller, whose service account needs a Pod Identity association to a role that may read the credential secret (this role will do). Names and mappings only, no secret material."),
        )
        .attribute(
            Attribute::string(attr::KUBERNETES_MANIFESTS_YAML)
                .computed()
                .description("The objects of `kubernetes_manifests` as one multi-document YAML, for `kubectl apply -f`."),
        ),
    )
    // 1: `region` became `broker_region` (see `AgentIdentity::upgrade_state`).
    .version(1)
}

/// `certificate_pem` must be a PEM certificate with a key type IoT Core issues for.
fn certificate_validator() -> Validator {
    std::sync::Arc::new(|v: &Value| match v {
        Value::String(pem) => keys::cert_public_key_spki(pem)
            .map(|_| ())
            .map_err(|e| format!("must be a PEM certificate (maestro_consumer.certificate_pem): {e}")),
        _ => Ok(()),
    })
}

/// `broker_ca_pem` must be a PEM certificate.
fn ca_validator() -> Validator {
    std::sync::Arc::new(|v: &Value| match v {
        Value::String(pem) => keys::cert_public_key_spki(pem).map(|_| ()).map_err(|e| format!("must be a PEM CA certificate: {e}")),
        _ => Ok(()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::plan::plan_from_schema;
    use crate::framework::{AttributePath, Diagnostics};

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
        // The chart's defaults come at plan (see plan.rs); the schema leaves them computed.
        assert!(planned.get("namespace").is_unknown());
        assert!(planned.get("role_arn").is_unknown());
        assert!(planned.get("helm_values").is_unknown());
    }
}
