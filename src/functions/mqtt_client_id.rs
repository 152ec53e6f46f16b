//! `provider::maestro::mqtt_client_id(cloudevents_client_id)`: the client ID an agent started
//! with `--cloudevents-client-id=<id>` connects to IoT Core with.

use super::args::{check, string_arg};
use crate::framework::resource::{FunctionError, FunctionSignature, Parameter};
use crate::framework::{Function, Type, Value};
use crate::policy::{agent_binding, naming};

pub struct MqttClientId;

impl Function for MqttClientId {
    fn name(&self) -> &'static str {
        "mqtt_client_id"
    }

    fn signature(&self) -> FunctionSignature {
        FunctionSignature {
            parameters: vec![Parameter {
                name: "cloudevents_client_id".into(),
                ty: Type::String,
                description: "The agent's `--cloudevents-client-id` flag.".into(),
                allow_null: false,
            }],
            variadic: None,
            return_type: Type::String,
            summary: "The MQTT client ID a Maestro agent connects with".into(),
            description: "`<cloudevents_client_id>-client`: the agent's MQTT transport appends `-client` to the `--cloudevents-client-id` it is given, and IoT policies must allow that ID.".into(),
        }
    }

    fn call(&self, args: &[Value]) -> Result<Value, FunctionError> {
        let id = string_arg(args, 0, "cloudevents_client_id")?;
        check(0, "cloudevents_client_id", naming::check_cloudevents_client_id(&id))?;
        Ok(Value::string(agent_binding::mqtt_client_id(&id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suffix_is_appended_and_wildcards_refused() {
        assert_eq!(MqttClientId.call(&[Value::string("mc-1-work-agent")]).unwrap(), Value::string("mc-1-work-agent-client"));
        assert_eq!(MqttClientId.call(&[Value::string("mc*")]).unwrap_err().argument, Some(0));
    }
}
