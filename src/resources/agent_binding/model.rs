//! Typed arguments and result of `maestro_agent_binding`.

use crate::framework::Value;
use crate::functions::partition_of;
use crate::policy::agent_binding::{default_cloudevents_client_id, AgentBinding};
use crate::provider::AwsClients;
use crate::resources::common::{opt_text, text};

/// Attribute names, shared by the schema and the read.
pub(super) mod attr {
    pub use crate::resources::model::attr::CLOUDEVENTS_CLIENT_ID;
    pub const CONSUMER_ID: &str = "consumer_id";
    pub const TOPIC_PREFIX: &str = "topic_prefix";
    pub const REGIONAL_ACCOUNT_ID: &str = "regional_account_id";
    pub const BROKER_REGION: &str = "broker_region";
    pub const BINDING: &str = "binding";
}

/// The configuration: everything but `consumer_id` defaults to the provider's.
pub(super) struct Request {
    consumer_id: String,
    topic_prefix: Option<String>,
    regional_account_id: Option<String>,
    broker_region: Option<String>,
    cloudevents_client_id: Option<String>,
}

impl Request {
    pub(super) fn from_value(config: &Value) -> Request {
        Request {
            consumer_id: text(config, attr::CONSUMER_ID),
            topic_prefix: opt_text(config, attr::TOPIC_PREFIX),
            regional_account_id: opt_text(config, attr::REGIONAL_ACCOUNT_ID),
            broker_region: opt_text(config, attr::BROKER_REGION),
            cloudevents_client_id: opt_text(config, attr::CLOUDEVENTS_CLIENT_ID),
        }
    }

    /// The binding, with the provider's account, region and topic prefix where unset.
    pub(super) fn binding(self, c: &AwsClients) -> AgentBinding {
        let region = self.broker_region.unwrap_or_else(|| c.region.clone());
        AgentBinding {
            cloudevents_client_id: self.cloudevents_client_id.unwrap_or_else(|| default_cloudevents_client_id(&self.consumer_id)),
            topic_prefix: self.topic_prefix.unwrap_or_else(|| c.topic_prefix.clone()),
            broker_account_id: self.regional_account_id.unwrap_or_else(|| c.account_id.clone()),
            partition: partition_of(&region).to_string(),
            broker_region: region,
            cluster_id: self.consumer_id,
        }
    }
}

/// The state: the configuration with its defaults resolved, and the binding object.
pub(super) fn set_resolved(state: &mut Value, b: &AgentBinding, binding: Value) {
    for (name, v) in [
        (attr::TOPIC_PREFIX, &b.topic_prefix),
        (attr::REGIONAL_ACCOUNT_ID, &b.broker_account_id),
        (attr::BROKER_REGION, &b.broker_region),
        (attr::CLOUDEVENTS_CLIENT_ID, &b.cloudevents_client_id),
    ] {
        state.set(name, Value::string(v));
    }
    state.set(attr::BINDING, binding);
}
