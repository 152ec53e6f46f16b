//! Typed configuration and result of `maestro_agent_credentials`.

use crate::crypto::CredentialBundle;
use crate::framework::Value;
use crate::provider::charts::AgentChart;
use crate::resources::common::{certificate_fingerprint, opt_text, text};

/// Attribute names, shared by the schema and the open.
pub(super) mod attr {
    pub use crate::resources::model::attr::CLUSTER_ID;
    pub const SECRET_NAME: &str = "secret_name";
    pub const CERTIFICATE_PEM: &str = "certificate_pem";
    pub const PRIVATE_KEY_PEM: &str = "private_key_pem";
    pub const CA_PEM: &str = "ca_pem";
    pub const PUBLIC_KEY_FINGERPRINT: &str = "public_key_fingerprint";
    pub const VERSION_ID: &str = "version_id";
}

/// The credential secret the configuration names, or the one `maestro_agent_key` names by
/// default under the provider's chart.
pub(super) fn secret_name(config: &Value, chart: Option<AgentChart>) -> String {
    opt_text(config, attr::SECRET_NAME).unwrap_or_else(|| AgentChart::or_custom(chart).cert_secret_name(&text(config, attr::CLUSTER_ID)))
}

/// The opened bundle, as the ephemeral result carries it.
pub(super) fn set_opened(result: &mut Value, secret: &str, version: String, certificate: &str, bundle: &CredentialBundle) {
    result.set(attr::SECRET_NAME, Value::string(secret));
    result.set(attr::CERTIFICATE_PEM, Value::string(certificate));
    result.set(attr::PRIVATE_KEY_PEM, Value::string(bundle.private_key.expose()));
    result.set(attr::CA_PEM, bundle.ca_cert.clone().into());
    result.set(attr::PUBLIC_KEY_FINGERPRINT, certificate_fingerprint(certificate).into());
    result.set(attr::VERSION_ID, Value::string(version));
}
