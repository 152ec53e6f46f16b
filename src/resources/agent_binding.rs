//! The data source `maestro_agent_binding`: what the resources derive for one agent — names,
//! topics, the MQTT client ID and both IoT policy documents — with no AWS call, defaulting to
//! the provider's account, region and topic prefix (configure it with the regional provider,
//! or give `regional_account_id` and `region`). The same values as
//! `provider::maestro::agent_binding`, with the client ID flag settable.

use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::{validators, AttributePath, DataSource, Diagnostic, Diagnostics, Value};
use crate::functions::{binding_type, binding_value, partition_of};
use crate::policy::agent_binding::{default_cloudevents_client_id, AgentBinding};
use crate::policy::naming;
use crate::provider::AwsClients;
use crate::resources::common::{cloudevents_client_id_attribute, opt_text, text};
use async_trait::async_trait;

pub struct AgentBindingData;

#[async_trait]
impl DataSource<AwsClients> for AgentBindingData {
    fn type_name(&self) -> &'static str {
        "maestro_agent_binding"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new("Names, topics, the MQTT client ID and the IoT policies of one Maestro agent, exactly as `maestro_consumer` and `maestro_agent_identity` derive them, with no AWS call. For modules that wire other resources (alarms, IoT rules, dashboards) to the same source of truth.")
                .attribute(Attribute::string("consumer_id").required().validate(validators::rule(naming::check_consumer_name)).description("The Maestro consumer name (the management cluster's ID)."))
                .attribute(Attribute::string("topic_prefix").optional().computed().validate(validators::rule(naming::check_topic_prefix)).description("MQTT topic prefix. Defaults to the provider's `topic_prefix`."))
                .attribute(Attribute::string("regional_account_id").optional().computed().validate(validators::digits(12)).description("The regional account whose IoT Core is the broker. Defaults to the provider's account."))
                .attribute(Attribute::string("broker_region").optional().computed().validate(validators::rule(naming::check_region)).description("The broker's region. Defaults to the provider's region."))
                .attribute(cloudevents_client_id_attribute("consumer_id"))
                .attribute(Attribute::new("binding", binding_type()).computed().description("`consumer_name`, `cloudevents_client_id`, `client_id`, `source_events_topic`, `agent_events_topic`, `thing_name`, `iot_policy_name`, `iot_policy` (JSON), `role_name`, `iam_iot_policy` (JSON), `cert_secret_name`, `config_secret_name`.")),
        )
    }

    async fn read(&self, c: &AwsClients, config: &Value) -> Result<Value, Diagnostics> {
        let mut state = config.clone();
        let consumer_id = text(config, "consumer_id");
        let region = opt_text(config, "broker_region").unwrap_or_else(|| c.region.clone());
        let b = AgentBinding {
            cloudevents_client_id: opt_text(config, "cloudevents_client_id").unwrap_or_else(|| default_cloudevents_client_id(&consumer_id)),
            topic_prefix: opt_text(config, "topic_prefix").unwrap_or_else(|| c.topic_prefix.clone()),
            broker_account_id: opt_text(config, "regional_account_id").unwrap_or_else(|| c.account_id.clone()),
            partition: partition_of(&region).to_string(),
            broker_region: region,
            cluster_id: consumer_id,
        };
        let value = binding_value(&b)
            .map_err(|e| Diagnostics::from(Diagnostic::error("Invalid agent binding", e).at(AttributePath::root("topic_prefix"))))?;
        for (name, v) in [
            ("topic_prefix", &b.topic_prefix),
            ("regional_account_id", &b.broker_account_id),
            ("broker_region", &b.broker_region),
            ("cloudevents_client_id", &b.cloudevents_client_id),
        ] {
            state.set(name, Value::string(v));
        }
        state.set("binding", value);
        Ok(state)
    }
}
