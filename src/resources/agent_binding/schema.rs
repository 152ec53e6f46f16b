//! The schema of `maestro_agent_binding`.

use super::model::attr;
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::validators;
use crate::functions::binding_type;
use crate::policy::naming;
use crate::resources::common::cloudevents_client_id_attribute;

pub(super) fn schema() -> Schema {
    Schema::new(
        Block::new("Names, topics, the MQTT client ID and the IoT policies of one Maestro agent, exactly as `maestro_consumer` and `maestro_agent_identity` derive them, with no AWS call. For modules that wire other resources (alarms, IoT rules, dashboards) to the same source of truth.")
            .attribute(Attribute::string(attr::CONSUMER_ID).required().validate(validators::rule(naming::check_consumer_name)).description("The Maestro consumer name (the management cluster's ID)."))
            .attribute(Attribute::string(attr::TOPIC_PREFIX).optional().computed().validate(validators::rule(naming::check_topic_prefix)).description("MQTT topic prefix. Defaults to the provider's `topic_prefix`."))
            .attribute(Attribute::string(attr::REGIONAL_ACCOUNT_ID).optional().computed().validate(validators::digits(12)).description("The regional account whose IoT Core is the broker. Defaults to the provider's account."))
            .attribute(Attribute::string(attr::BROKER_REGION).optional().computed().validate(validators::rule(naming::check_region)).description("The broker's region. Defaults to the provider's region."))
            .attribute(cloudevents_client_id_attribute(attr::CONSUMER_ID))
            .attribute(Attribute::new(attr::BINDING, binding_type()).computed().description("`consumer_name`, `cloudevents_client_id`, `client_id`, `source_events_topic`, `agent_events_topic`, `thing_name`, `iot_policy_name`, `iot_policy` (JSON), `role_name`, `iam_iot_policy` (JSON), `cert_secret_name`, `config_secret_name`.")),
    )
}
