//! The schema of `maestro_consumer` and the validators its arguments go through. Attribute
//! names come from `model::attr`, the one place state is read and written through.

use super::model::{attr, csr_refusal};
use crate::crypto::Csr;
use crate::framework::schema::{Attribute, Block, Schema, Validator};
use crate::framework::{validators, Type, Value};
use crate::policy::naming;
use crate::resources::common::cloudevents_client_id_attribute;
use crate::resources::rotation;
use std::sync::Arc;

pub(super) fn consumer_id_validator() -> Validator {
    validators::rule(naming::check_consumer_name)
}

/// Checks the CSR the way IoT will (signature, key type), so that CreateCertificateFromCsr —
/// which is not idempotent — is only ever called with input it accepts.
pub(super) fn csr_validator() -> Validator {
    Arc::new(|v: &Value| match v.as_str() {
        Some(pem) => Csr::parse(pem).map(|_| ()).map_err(|e| csr_refusal(&e)),
        None => Ok(()),
    })
}

fn attachments_type() -> Type {
    Type::object([(attr::POLICY, Type::Bool), (attr::THING, Type::Bool)])
}

pub(super) fn schema() -> Schema {
    let [tags, tags_all] = crate::resources::common::tag_attributes();
    Schema::new(
        Block::new(
            "A Maestro consumer in the regional account: the agent's IoT thing, a least-privilege IoT Core policy, and the agent's client certificate issued by IoT Core from the agent's certificate signing request (the private key never leaves the management account). Configure it with the regional-account provider.",
        )
        .attribute(
            Attribute::string(attr::CONSUMER_ID)
                .required()
                .force_new()
                .validate(consumer_id_validator())
                .description("Maestro consumer name, which is the agent's cluster ID. Names the thing `<consumer_id>-maestro-agent` and the policy `<consumer_id>-maestro-agent-policy`."),
        )
        .attribute(
            Attribute::string(attr::CSR_PEM)
                .required()
                .validate(csr_validator())
                .description("The agent's PEM certificate signing request, usually `maestro_agent_key.csr_pem` (ECDSA P-256/P-384 or RSA 2048/3072). A CSR for a different public key issues a new certificate; a new CSR for the same key changes nothing in AWS."),
        )
        .attribute(
            Attribute::string(attr::MANAGEMENT_ACCOUNT_ID)
                .required()
                .validate(validators::digits(12))
                .description("AWS account ID of the management account the agent runs in; recorded as the thing attribute `management_account_id`."),
        )
        .attribute(
            Attribute::string(attr::TOPIC_PREFIX)
                .optional()
                .computed()
                .validate(validators::rule(naming::check_topic_prefix))
                .description("MQTT topic prefix. Defaults to the provider's `topic_prefix`."),
        )
        .attribute(cloudevents_client_id_attribute("consumer_id"))
        .attribute(rotation::grace_period_attribute("a new CSR key", "the agent"))
        .attribute(tags)
        .attribute(Attribute::string(attr::ID).computed().description("Same as `consumer_id`."))
        .attribute(Attribute::string(attr::THING_NAME).computed().description("Name of the agent's IoT thing: `<consumer_id>-maestro-agent`."))
        .attribute(Attribute::string(attr::THING_ARN).computed().keep_state_for_unknown().description("ARN of the agent's IoT thing."))
        .attribute(Attribute::string(attr::POLICY_NAME).computed().description("Name of the agent's IoT policy: `<consumer_id>-maestro-agent-policy`."))
        .attribute(Attribute::string(attr::POLICY_ARN).computed().keep_state_for_unknown().description("ARN of the agent's IoT policy."))
        .attribute(
            Attribute::string(attr::POLICY_DOCUMENT)
                .computed()
                .description("The IoT policy's default version, as AWS holds it (JSON): connect as `client_id`, subscribe to and receive `source_events_topic`, publish `agent_events_topic`."),
        )
        .attribute(Attribute::string(attr::CLIENT_ID).computed().description("MQTT client ID IoT Core sees from the agent, and the only one the policy lets connect: `<cloudevents_client_id>-client` (`<consumer_id>-work-agent-client` by default)."))
        .attribute(Attribute::string(attr::SOURCE_EVENTS_TOPIC).computed().description("Topic the Maestro server publishes work to and the agent subscribes to."))
        .attribute(Attribute::string(attr::AGENT_EVENTS_TOPIC).computed().description("Topic the agent publishes status to."))
        .attribute(
            Attribute::string(attr::ENDPOINT)
                .computed()
                .keep_state_for_unknown()
                .description("Host name of the regional account's IoT Core ATS data endpoint (`iot:Data-ATS`); the agent connects to it on port 8883."),
        )
        .attribute(Attribute::string(attr::CERTIFICATE_ID).computed().keep_state_for_unknown().description("ID of the agent's current certificate."))
        .attribute(Attribute::string(attr::CERTIFICATE_ARN).computed().keep_state_for_unknown().description("ARN of the agent's current certificate."))
        .attribute(
            Attribute::string(attr::CERTIFICATE_PEM)
                .computed()
                .keep_state_for_unknown()
                .description("The agent's current certificate (PEM, public). Goes to `maestro_agent_identity` to complete the agent's credential secret."),
        )
        .attribute(
            Attribute::string(attr::CERTIFICATE_FINGERPRINT)
                .computed()
                .keep_state_for_unknown()
                .description("Lowercase hex SHA-256 of the current certificate's public key (SubjectPublicKeyInfo DER), the same form as `maestro_agent_key.public_key_fingerprint`."),
        )
        .attribute(
            Attribute::string(attr::CERTIFICATE_STATUS)
                .computed()
                .keep_state_for_unknown()
                .description("Status of the current certificate in IoT Core; `ACTIVE` after every apply, so a certificate deactivated out of band shows up as a change."),
        )
        .attribute(
            Attribute::new(attr::CERTIFICATE_ATTACHMENTS, attachments_type())
                .computed()
                .keep_state_for_unknown()
                .description("Whether the policy (`policy`) and the thing (`thing`) are attached to the current certificate; both true after every apply, so a detachment made out of band shows up as a change."),
        )
        .attribute(rotation::previous_certificates_attribute("a new CSR key"))
        .attribute(tags_all)
    )
    // 1: `account_id` became `management_account_id` (see `Consumer::upgrade_state`).
    .version(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{AttributePath, Diagnostics};

    #[test]
    fn bad_csrs_are_rejected_at_validate_time_naming_the_attribute() {
        let s = schema();
        let config = Value::object([
            ("consumer_id", Value::string("mc-1")),
            ("csr_pem", Value::string("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")),
            ("management_account_id", Value::string("987654321098")),
            ("certificate_grace_period_hours", Value::from(-1i64)),
        ]);
        let mut diags = Diagnostics::new();
        crate::framework::schema::validate_block(&s.block, &config, &AttributePath::default(), &mut diags);
        let at: Vec<String> = diags.0.iter().map(|d| d.attribute.as_ref().unwrap().to_string()).collect();
        assert_eq!(at, vec!["csr_pem", "certificate_grace_period_hours"]);
        let key = crate::crypto::keys::generate(crate::crypto::KeyAlgorithm::EcdsaP256).unwrap();
        let good = Csr::for_key(&key, "mc-1-work-agent").unwrap().into_pem();
        assert!(csr_validator()(&Value::string(good)).is_ok());
    }
}
