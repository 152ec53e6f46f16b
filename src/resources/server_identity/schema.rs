//! The schema of `maestro_server_identity`. Attribute names come from `model::attr`.

use super::model::attr;
use crate::framework::schema::{Attribute, Block, Schema, Validator};
use crate::framework::{validators, Type, Value};
use crate::policy::naming;
use crate::policy::server_binding::{self as server, DEFAULT_CERT_SECRET_NAME, DEFAULT_CONFIG_SECRET_NAME};
use crate::resources::aws::custody;
use crate::resources::aws::secretsmanager::DEFAULT_RECOVERY_WINDOW_DAYS;
use crate::resources::common::{secret_name_validator, tag_attributes};
use crate::resources::rotation;

const ALGORITHMS: &[&str] = &["ECDSA_P256", "ECDSA_P384", "RSA_2048", "RSA_3072"];
const SUBSCRIPTION_TYPES: &[&str] = &["shared", "broadcast"];

fn helm_values_type() -> Type {
    Type::object([
        ("global", Type::object([("region", Type::String)])),
        (
            "maestroServer",
            Type::object([
                ("maestro", Type::object([("serviceAccount", Type::String)])),
                ("broker", Type::object([("type", Type::String), ("configFile", Type::String), ("topicPrefix", Type::String)])),
                ("aws", Type::object([("podIdentity", Type::object([("enabled", Type::Bool), ("roleArn", Type::String)]))])),
                ("externalSecrets", Type::object([("mqttCertSecretName", Type::String), ("dbCredentialsSecretName", Type::String)])),
            ]),
        ),
    ])
}

fn pem_certificate(what: &'static str) -> Validator {
    std::sync::Arc::new(move |v: &Value| match v {
        Value::String(pem) => crate::crypto::keys::cert_public_key_spki(pem).map(|_| ()).map_err(|e| format!("must be a PEM {what}: {e}")),
        _ => Ok(()),
    })
}

pub fn schema() -> Schema {
    let [tags, tags_all] = tag_attributes();
    let computed = |name: &str, description: &str| Attribute::string(name).computed().description(description);
    let applied = |name: &str, description: &str| Attribute::string(name).computed().keep_state_for_unknown().description(description);
    Schema::new(
        Block::new(
            "The Maestro server's identity in the regional account: its MQTT key pair (generated inside the provider and written only to the server's certificate secret), its certificate issued by this account's IoT Core from a CSR, a least-privilege IoT policy, the server's config secret, an IAM role for EKS Pod Identity whose inline policies read exactly the server's secrets (and the database secret, if given) and grant the IoT policy's permissions, and the Pod Identity association. No private key or certificate bundle is ever in state, plan or logs. Replaces `aws_iot_certificate.maestro_server` and the hand-written server module; configure it with the regional-account provider.",
        )
        .attribute(
            Attribute::string(attr::NAME)
                .required()
                .force_new()
                .validate(validators::rule(server::check_server_name))
                .description("Name of this server deployment (the old modules' `resource_name_base`). Names the IoT policy `<name>-maestro-server-policy` and the IAM role `<name>-maestro-server`."),
        )
        .attribute(
            Attribute::string(attr::EKS_CLUSTER_NAME)
                .required()
                .force_new()
                .validate(validators::pattern("[0-9A-Za-z][A-Za-z0-9_-]{0,99}", "an EKS cluster name (1 to 100 letters, digits, '-' or '_')"))
                .description("Name of the regional EKS cluster the Maestro server runs on."),
        )
        .attribute(
            Attribute::string(attr::NAMESPACE)
                .default(server::DEFAULT_NAMESPACE)
                                .validate(validators::pattern("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", "a Kubernetes namespace name"))
                .description("Kubernetes namespace of the server's service account. Changing it (or `service_account`) replaces only the Pod Identity association."),
        )
        .attribute(
            Attribute::string(attr::SERVICE_ACCOUNT)
                .default(server::DEFAULT_SERVICE_ACCOUNT)
                                .validate(validators::pattern("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", "a Kubernetes service account name"))
                .description("Kubernetes service account the server's pods run as."),
        )
        .attribute(
            Attribute::string(attr::TOPIC_PREFIX)
                .optional()
                .computed()
                .validate(validators::rule(naming::check_topic_prefix))
                .description("MQTT topic prefix, `<a-z>/<source-id>/<a-z>`. Defaults to the provider's `topic_prefix`, as `maestro_consumer` does: leave both unset, or pass this resource's `topic_prefix` to every consumer of this server. Its second level is the server's `--source-id`."),
        )
        .attribute(
            Attribute::string(attr::CLIENT_ID_PREFIX)
                .default(server::DEFAULT_CLIENT_ID_PREFIX)
                .validate(validators::rule(server::check_client_id_prefix))
                .description("The policy lets the server connect with the MQTT client ID `<client_id_prefix>` (Maestro's default `--client-id`, which the deployed chart leaves) or `<client_id_prefix>-*` (one per replica, as upstream's chart passes `maestro-$(POD_NAME)`). Replicas need distinct client IDs: IoT Core drops a connection when another connects with the same ID, so with the deployed chart (every replica `maestro`) run one replica or add the `--client-id` of `server_flags`."),
        )
        .attribute(
            Attribute::string(attr::SUBSCRIPTION_TYPE)
                .default("shared")
                .validate(validators::one_of(SUBSCRIPTION_TYPES))
                .description("The server's `--subscription-type`: `shared` (Maestro's default; each replica subscribes through `$share/<shared_subscription_group>/`, so one replica receives each status event) or `broadcast`."),
        )
        .attribute(
            Attribute::string(attr::SHARED_SUBSCRIPTION_GROUP)
                .default(server::DEFAULT_SHARED_GROUP)
                .validate(validators::rule(server::check_shared_group))
                .description("Group of the shared subscription (`$share/<group>/...`) when `subscription_type` is `shared`."),
        )
        .attribute(
            Attribute::string(attr::CERTIFICATE_SECRET_NAME)
                .default(DEFAULT_CERT_SECRET_NAME)
                                .validate(secret_name_validator())
                .description("Name of the secret holding the server's bundle `{certificate, privateKey, caCert}`. Defaults to `maestro/server-cert`, the name the deployed server chart's SecretProviderClass mounts. Renaming it writes a new key and certificate to the new secret (the old certificate keeps its grace period) and deletes the old secret."),
        )
        .attribute(
            Attribute::string(attr::CERTIFICATE_SECRET_RESOURCE_POLICY)
                .optional()
                .validate(custody::policy_validator())
                .description("Resource policy (JSON, e.g. from `jsonencode` or `aws_iam_policy_document`) to put on the certificate secret. Without it the secret may have no resource policy at all; with it, exactly this one (compared as a policy document, not as text): it is put right after the secret is created and before any key is written into an existing secret, with BlockPublicPolicy (AWS refuses a policy that allows broad access), and any other policy found is refused as before. Changing it updates the policy in place; removing it deletes the policy. The config secret holds no key and gets no policy."),
        )
        .attribute(
            Attribute::string(attr::CONFIG_SECRET_NAME)
                .default(DEFAULT_CONFIG_SECRET_NAME)
                                .validate(secret_name_validator())
                .description("Name of the secret holding the server's MQTT config `{config: <YAML>}`. Defaults to `maestro/server-config`, the name the deployed server chart's SecretProviderClass mounts. Renaming it writes the new secret and deletes the old one."),
        )
        .attribute(
            Attribute::string(attr::DB_CREDENTIALS_SECRET_ARN)
                .optional()
                .validate(validators::arn_of("secretsmanager", "secret:", "arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME"))
                .description("ARN of the database credentials secret (`{username, password, host, port, database}`) the server also reads; the role may read it. Not managed here. With the provider's `server_chart = \"rosa-regional-platform\"`, leave it unset: that chart mounts `maestro/db-credentials` by that fixed name and the role is granted read on it (another name is refused at plan, since the chart's mount would fail)."),
        )
        .attribute(
            Attribute::string(attr::KMS_KEY_ID)
                .optional()
                .validate(validators::kms_key_reference())
                .description("The customer-managed KMS key that encrypts the server's two secrets, named as Secrets Manager takes it: alias name (`alias/maestro-server`), key ID, key ARN or alias ARN (a key of another account only by ARN). Resolved at plan through `kms:DescribeKey` to the key's ARN (`kms_key_arn`), on which the role is granted `kms:Decrypt`, only through Secrets Manager. A key that does not exist, is not enabled, or is of another region is refused at plan. Set this or `kms_key_arn`, not both; leave both unset for the AWS-managed `aws/secretsmanager` key."),
        )
        .attribute(
            Attribute::string(attr::KMS_KEY_ARN)
                .optional()
                .computed()
                .validate(validators::kms_key_arn())
                .description("ARN of the KMS key that encrypts the server's secrets: the key `kms_key_id` resolves to at plan, or given directly as a key ARN (not an alias: IAM grants on the key's own ARN). This resource's two secrets are encrypted with it and the role is granted `kms:Decrypt` on exactly this key, only through Secrets Manager."),
        )
        .attribute(
            Attribute::string(attr::BROKER_CA_PEM)
                .optional()
                .validate(pem_certificate("CA certificate"))
                .description("PEM of the CA the server trusts for the broker's certificate, written as the bundle's `caCert` (mounted as `ca.crt`). Defaults to Amazon Root CA 1; set it for an IoT Core custom domain."),
        )
        .attribute(
            Attribute::string(attr::ALGORITHM)
                .default("ECDSA_P256")
                .validate(validators::one_of(ALGORITHMS))
                .description("Key algorithm: `ECDSA_P256` (default), `ECDSA_P384`, `RSA_2048` or `RSA_3072`. Changing it rotates the key and certificate."),
        )
        .attribute(
            Attribute::string_map(attr::ROTATION_TRIGGERS)
                .optional()
                .description("Arbitrary values; adding, removing or changing any of them makes a new key and certificate, which become current together while the old certificate stays ACTIVE for `certificate_grace_period_hours`."),
        )
        .attribute(
            Attribute::number(attr::ROTATE_AFTER_DAYS)
                .optional()
                .validate(validators::int_range(1, 3650))
                .description("Rotate the key and certificate at the first plan after the current key is this many days old."),
        )
        .attribute(rotation::grace_period_attribute("a new key", "the server's replicas"))
        .attribute(
            Attribute::number(attr::RECOVERY_WINDOW_IN_DAYS)
                .default(DEFAULT_RECOVERY_WINDOW_DAYS)
                .validate(validators::int_range(7, 30))
                .description("Days Secrets Manager keeps the server's secrets recoverable after destroy (7 to 30, default 7)."),
        )
        .attribute(
            Attribute::bool(attr::FORCE_DELETE_WITHOUT_RECOVERY)
                .default(false)
                .description("Delete the secrets immediately on destroy, with no recovery window."),
        )
        .attribute(tags)
        .attribute(computed(attr::ID, "Same as `name`."))
        .attribute(computed(attr::SOURCE_ID, "The server's `--source-id`: the second level of `topic_prefix`. Maestro subscribes only when it equals the source level of its agentEvents topic."))
        .attribute(computed(attr::SOURCE_EVENTS_TOPIC, "The config's `sourceEvents`, `<topic_prefix>/+/sourceevents`: the server publishes each consumer's work to it with `+` replaced by the consumer name."))
        .attribute(computed(attr::AGENT_EVENTS_TOPIC, "The config's `agentEvents`, the filter the server subscribes with: `$share/<shared_subscription_group>/<topic_prefix>/+/agentevents` when shared, else `<topic_prefix>/+/agentevents`."))
        .attribute(Attribute::string_list(attr::SERVER_FLAGS).computed().description("Flags of Maestro's `server` command that must agree with this identity: `--message-broker-type`, `--message-broker-config-file`, `--source-id`, `--client-id` (distinct per replica) and `--subscription-type`."))
        .attribute(applied(attr::ENDPOINT, "Host name of this account's IoT Core ATS data endpoint (`iot:Data-ATS`), the broker in the config."))
        .attribute(computed(attr::POLICY_NAME, "Name of the server's IoT policy: `<name>-maestro-server-policy`."))
        .attribute(computed(attr::POLICY_ARN, "ARN of the server's IoT policy."))
        .attribute(computed(attr::POLICY_DOCUMENT, "The IoT policy's default version, as AWS holds it (JSON): connect as `<client_id_prefix>` or `<client_id_prefix>-*`, publish `<topic_prefix>/*/sourceevents`, subscribe with `agent_events_topic`, receive `<topic_prefix>/*/agentevents`."))
        .attribute(computed(attr::ROLE_NAME, "Name of the server's IAM role: `<name>-maestro-server`."))
        .attribute(computed(attr::ROLE_ARN, "ARN of the server's IAM role."))
        .attribute(computed(attr::TRUST_POLICY, "The role's trust policy as AWS holds it (JSON): EKS Pod Identity only."))
        .attribute(computed(attr::SECRETS_POLICY, "The inline policy reading the certificate, config and (if set) database secrets, as AWS holds it (JSON)."))
        .attribute(computed(attr::IOT_POLICY, "The inline IoT policy of the role (for IAM-signed connections), granting what `policy_document` grants, as AWS holds it (JSON)."))
        .attribute(applied(attr::ASSOCIATION_ID, "ID of the EKS Pod Identity association."))
        .attribute(applied(attr::ASSOCIATION_ARN, "ARN of the EKS Pod Identity association."))
        .attribute(applied(attr::CERTIFICATE_SECRET_ARN, "ARN of the certificate secret."))
        .attribute(applied(attr::CONFIG_SECRET_ARN, "ARN of the config secret."))
        .attribute(computed(attr::SERVER_CONFIG, "The server's MQTT config YAML as written to the config secret (no secrets in it)."))
        .attribute(applied(attr::CREDENTIAL_VERSION_ID, "Version of the certificate secret that holds the current bundle."))
        .attribute(applied(attr::CERTIFICATE_ID, "ID of the server's current certificate."))
        .attribute(applied(attr::CERTIFICATE_ARN, "ARN of the server's current certificate."))
        .attribute(applied(attr::CERTIFICATE_PEM, "The server's current certificate (PEM, public)."))
        .attribute(applied(attr::PUBLIC_KEY_FINGERPRINT, "Lowercase hex SHA-256 of the current key's public key (SubjectPublicKeyInfo DER), which the current certificate certifies."))
        .attribute(applied(attr::CERTIFICATE_STATUS, "Status of the current certificate in IoT Core; `ACTIVE` after every apply, so one deactivated out of band shows up as a change."))
        .attribute(Attribute::bool(attr::POLICY_ATTACHED).computed().keep_state_for_unknown().description("Whether the IoT policy is attached to the current certificate; true after every apply, so a detachment made out of band shows up as a change."))
        .attribute(applied(attr::KEY_CREATED_AT, "When the current key was generated (RFC 3339)."))
        .attribute(rotation::previous_certificates_attribute("a new key"))
        .attribute(
            Attribute::new(attr::HELM_VALUES, helm_values_type())
                .computed()
                .description("Values for the deployed Maestro server chart (rosa-regional-platform `regional-cluster/maestro-server`), in its layout: `global.region`, `maestroServer.maestro.serviceAccount`, `maestroServer.broker.{type, configFile, topicPrefix}`, `maestroServer.aws.podIdentity.{enabled, roleArn}`, `maestroServer.externalSecrets.{mqttCertSecretName, dbCredentialsSecretName}`. That chart mounts the secrets `maestro/server-cert`, `maestro/server-config` and `maestro/db-credentials` by those fixed names and passes none of `server_flags` but the broker type and config file."),
        )
        .attribute(
            Attribute::string_map(attr::KUBERNETES_MANIFESTS)
                .computed()
                .description("Kubernetes objects a server chart mounting the provider's secrets needs, known at plan time, keyed `<Kind>/<name>`, each a JSON manifest for `kubernetes_manifest { manifest = jsondecode(each.value) }`: the SecretProviderClass `maestro-server-secrets` (AWS provider, EKS Pod Identity) in `namespace`, mounting the database secret (`username`, `password`, `host`, `port`, `database` as `db.user`, `db.password`, `db.host`, `db.port`, `db.name`; `maestro/db-credentials` with the provider's `server_chart = \"rosa-regional-platform\"`, else the one `db_credentials_secret_arn` names, if any), the certificate secret (`certificate`, `privateKey`, `caCert` as `ca.crt`) and the config secret (`config` as `config.yaml`) under `/mnt/secrets-store`, as the deployed chart maps them. With `rosa-regional-platform` it is the one that chart renders, for comparison, not to apply. Names and mappings only, no secret material."),
        )
        .attribute(
            Attribute::string(attr::KUBERNETES_MANIFESTS_YAML)
                .computed()
                .description("The objects of `kubernetes_manifests` as one multi-document YAML, for `kubectl apply -f`."),
        )
        .attribute(tags_all),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{AttributePath, Diagnostics};

    #[test]
    fn bad_input_is_refused_at_validate_time_naming_the_attribute() {
        let s = schema();
        let config = Value::object([
            (attr::NAME, Value::string("bad name")),
            (attr::EKS_CLUSTER_NAME, Value::string("regional")),
            (attr::TOPIC_PREFIX, Value::string("maestro/consumers")),
            (attr::CLIENT_ID_PREFIX, Value::string("maestro*")),
            (attr::SUBSCRIPTION_TYPE, Value::string("fanout")),
            (attr::SHARED_SUBSCRIPTION_GROUP, Value::string("Status")),
            (attr::CERTIFICATE_GRACE_PERIOD_HOURS, Value::from(-1i64)),
            (attr::CERTIFICATE_SECRET_RESOURCE_POLICY, Value::string(r#"{"Version":"2012-10-17"}"#)),
        ]);
        let mut diags = Diagnostics::new();
        crate::framework::schema::validate_block(&s.block, &config, &AttributePath::default(), &mut diags);
        let mut at: Vec<String> = diags.0.iter().map(|d| d.attribute.as_ref().unwrap().to_string()).collect();
        at.sort();
        let mut expected = vec![
            attr::NAME,
            attr::TOPIC_PREFIX,
            attr::CLIENT_ID_PREFIX,
            attr::SUBSCRIPTION_TYPE,
            attr::SHARED_SUBSCRIPTION_GROUP,
            attr::CERTIFICATE_GRACE_PERIOD_HOURS,
            attr::CERTIFICATE_SECRET_RESOURCE_POLICY,
        ];
        expected.sort();
        assert_eq!(at, expected);
    }
}
