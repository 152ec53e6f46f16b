//! The schema of `maestro_agent_credentials`.

use super::model::attr;
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::validators;
use crate::policy::naming;
use crate::resources::common::secret_name_validator;

pub(super) fn schema() -> Schema {
    Schema::new(
        Block::new("An agent's current credential bundle (certificate, private key, CA), read from its credential secret for the length of one run and never stored: for write-only arguments of other resources. Configure it with the management-account provider.")
            .attribute(Attribute::string(attr::CLUSTER_ID).required().validate(validators::rule(naming::check_consumer_name)).description("Management cluster identifier (the Maestro consumer name)."))
            .attribute(Attribute::string(attr::SECRET_NAME).optional().computed().validate(secret_name_validator()).description("The credential secret. Defaults to the name `maestro_agent_key` gives it under the provider's `agent_chart`: `maestro/agent-cert` for `rosa-regional-platform`, `<cluster_id>/maestro/agent-mqtt-cert` otherwise."))
            .attribute(Attribute::string(attr::CERTIFICATE_PEM).computed().description("The agent's current certificate (PEM)."))
            .attribute(Attribute::string(attr::PRIVATE_KEY_PEM).computed().sensitive().description("The agent's private key (PKCS#8 PEM), which this certificate certifies."))
            .attribute(Attribute::string(attr::CA_PEM).computed().description("The CA the agent trusts for the broker (`caCert`)."))
            .attribute(Attribute::string(attr::PUBLIC_KEY_FINGERPRINT).computed().description("Lowercase hex SHA-256 of the key's public key, as `maestro_agent_key.public_key_fingerprint`."))
            .attribute(Attribute::string(attr::VERSION_ID).computed().description("The secret version read (its AWSCURRENT).")),
    )
}
