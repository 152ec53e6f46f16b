//! The schema of `maestro_agent_key`.

use super::model::{attr, DEFAULT_RECOVERY_WINDOW_DAYS, SECRET_RESOURCE_POLICY};
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::validators;
use crate::policy::naming;
use crate::resources::aws::custody;
use crate::resources::common::{secret_name_validator, tag_attributes};

pub(super) const ALGORITHMS: &[&str] = &["ECDSA_P256", "ECDSA_P384", "RSA_2048", "RSA_3072"];

pub(super) fn schema() -> Schema {
    let [tags, tags_all] = tag_attributes();
    Schema::new(
        Block::new(
            "The Maestro agent's MQTT key pair, generated inside the provider and stored only in the agent's credential secret in the management account. Exposes the public `csr_pem` for `maestro_consumer`; the private key never appears in state, plan or logs. Configure it with the management-account provider.",
        )
        .attribute(
            Attribute::string(attr::CLUSTER_ID)
                .required()
                .force_new()
                .validate(validators::rule(naming::check_consumer_name))
                .description("Management cluster identifier (the Maestro consumer name). The CSR's common name is the agent's `--cloudevents-client-id`, `<cluster_id>-work-agent` (IoT Core ignores it)."),
        )
        .attribute(
            Attribute::string(attr::SECRET_NAME)
                .optional()
                .computed()
                .force_new()
                .validate(secret_name_validator())
                .description("Name of the credential secret the key is written to. Defaults to `<cluster_id>/maestro/agent-mqtt-cert`, the name `maestro_agent_identity` expects."),
        )
        .attribute(
            Attribute::string(attr::ALGORITHM)
                .default("ECDSA_P256")
                .validate(validators::one_of(ALGORITHMS))
                .description("Key algorithm: `ECDSA_P256` (default), `ECDSA_P384`, `RSA_2048` or `RSA_3072`. Changing it rotates the key."),
        )
        .attribute(
            Attribute::string(attr::KMS_KEY_ID)
                .optional()
                .validate(validators::kms_key_reference())
                .description("The customer-managed KMS key that encrypts the secret, named as Secrets Manager takes it: alias name (`alias/maestro-agent`), key ID, key ARN or alias ARN (a key of another account only by ARN). Checked at plan through `kms:DescribeKey`: a key that does not exist, is not enabled, or is of another region is refused. Give `maestro_agent_identity.kms_key_id` the same value, so the agent's role may decrypt it. Defaults to the AWS-managed `aws/secretsmanager` key."),
        )
        .attribute(
            Attribute::string(SECRET_RESOURCE_POLICY)
                .optional()
                .validate(custody::policy_validator())
                .description("Resource policy (JSON, e.g. from `jsonencode` or `aws_iam_policy_document`) to put on the credential secret. Without it the secret may have no resource policy at all; with it, exactly this one (compared as a policy document, not as text): it is put right after the secret is created and before any key is written into an existing secret, with BlockPublicPolicy (AWS refuses a policy that allows broad access), and any other policy found is refused as before. Changing it updates the policy in place; removing it deletes the policy. Give the same value to `maestro_agent_identity.mqtt_cert_secret_resource_policy`, which writes the complete bundle into this secret."),
        )
        .attribute(
            Attribute::number(attr::RECOVERY_WINDOW_IN_DAYS)
                .default(DEFAULT_RECOVERY_WINDOW_DAYS)
                .validate(validators::int_range(7, 30))
                .description("Days Secrets Manager keeps the secret recoverable after destroy (7 to 30, default 7)."),
        )
        .attribute(
            Attribute::bool(attr::FORCE_DELETE_WITHOUT_RECOVERY)
                .default(false)
                .description("Delete the secret immediately on destroy, with no recovery window. Off by default: a destroyed key cannot be brought back."),
        )
        .attribute(
            Attribute::string_map(attr::ROTATION_TRIGGERS)
                .optional()
                .description("Arbitrary values; adding, removing or changing any of them generates a new key, staged as the secret's AWSPENDING version until its certificate arrives."),
        )
        .attribute(
            Attribute::number(attr::ROTATE_AFTER_DAYS)
                .optional()
                .validate(validators::int_range(1, 3650))
                .description("Generate a new key at the first plan after the current one is this many days old."),
        )
        .attribute(tags)
        .attribute(Attribute::string(attr::ID).computed().keep_state_for_unknown().description("Same as `secret_arn`."))
        .attribute(Attribute::string(attr::SECRET_ARN).computed().keep_state_for_unknown().description("ARN of the credential secret."))
        .attribute(
            Attribute::string(attr::CSR_PEM)
                .computed()
                .keep_state_for_unknown()
                .description("PEM certificate signing request for the current key (public). Hand it to `maestro_consumer.csr_pem`."),
        )
        .attribute(
            Attribute::string(attr::PUBLIC_KEY_FINGERPRINT)
                .computed()
                .keep_state_for_unknown()
                .description("Lowercase hex SHA-256 of the public key (SubjectPublicKeyInfo DER); equals `maestro_consumer.certificate_public_key_fingerprint` once the certificate is issued."),
        )
        .attribute(
            Attribute::string(attr::KEY_VERSION_ID)
                .computed()
                .keep_state_for_unknown()
                .description("Secrets Manager version ID that holds the key as staged (before a certificate is added)."),
        )
        .attribute(Attribute::string(attr::KEY_CREATED_AT).computed().keep_state_for_unknown().description("When the current key was generated (RFC 3339)."))
        .attribute(tags_all),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{AttributePath, Diagnostics, Value};

    fn refused(policy: &str) -> Vec<String> {
        let config = Value::object([("cluster_id", Value::string("mc-1")), (SECRET_RESOURCE_POLICY, Value::string(policy))]);
        let mut diags = Diagnostics::new();
        crate::framework::schema::validate_block(&schema().block, &config, &AttributePath::default(), &mut diags);
        diags.0.iter().map(|d| d.attribute.as_ref().map(|a| a.to_string()).unwrap_or_default()).collect()
    }

    #[test]
    fn a_declared_policy_that_is_no_policy_document_is_refused_at_validate_time_on_its_attribute() {
        for bad in ["not json", "[]", r#"{"Version":"2012-10-17"}"#, r#"{"Statement":[]}"#] {
            assert_eq!(refused(bad), vec![SECRET_RESOURCE_POLICY.to_string()], "{bad}");
        }
        let good = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/agent"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
        assert!(refused(good).is_empty());
    }
}
