//! `provider::maestro::server_binding(name, topic_prefix, account_id, region)`.

use super::agent_binding::partition_of;
use super::args::{check, string_arg};
use super::model::{param, server_binding_type, server_binding_value};
use crate::framework::resource::{FunctionError, FunctionSignature, Parameter};
use crate::framework::{Function, Type, Value};
use crate::policy::naming;
use crate::policy::server_binding::{self as server, ServerBinding, Subscription};

pub struct ServerBindingFunction;

fn parameter(name: &str, description: &str) -> Parameter {
    Parameter { name: name.into(), ty: Type::String, description: description.into(), allow_null: false }
}

impl Function for ServerBindingFunction {
    fn name(&self) -> &'static str {
        "server_binding"
    }

    fn signature(&self) -> FunctionSignature {
        FunctionSignature {
            parameters: vec![
                parameter(param::NAME, "The server deployment's name (`maestro_server_identity.name`)."),
                parameter(param::TOPIC_PREFIX, "The MQTT topic prefix; its second level is the server's `--source-id`."),
                parameter(param::REGIONAL_ACCOUNT_ID, "The regional account (the server's and the broker's)."),
                parameter(param::BROKER_REGION, "The broker's region (where the regional account's IoT Core is)."),
            ],
            variadic: None,
            return_type: server_binding_type(),
            summary: "Topics, flags and IoT policy of a Maestro server".into(),
            description: "What `maestro_server_identity` derives with its defaults (client IDs `maestro` and `maestro-*`, shared subscription group `statussubscribers`): `source_id`, `source_events_topic`, `agent_events_topic`, `policy_name`, `role_name`, `iot_policy` (JSON) and `server_flags`. No AWS call.".into(),
        }
    }

    fn call(&self, args: &[Value]) -> Result<Value, FunctionError> {
        let name = string_arg(args, 0, param::NAME)?;
        let topic_prefix = string_arg(args, 1, param::TOPIC_PREFIX)?;
        let account_id = string_arg(args, 2, param::REGIONAL_ACCOUNT_ID)?;
        let region = string_arg(args, 3, param::BROKER_REGION)?;
        check(0, param::NAME, server::check_server_name(&name))?;
        check(1, param::TOPIC_PREFIX, naming::check_topic_prefix(&topic_prefix))?;
        check(2, param::REGIONAL_ACCOUNT_ID, naming::check_account_id(&account_id))?;
        check(3, param::BROKER_REGION, naming::check_region(&region))?;
        let b = ServerBinding {
            name,
            topic_prefix,
            partition: partition_of(&region).to_string(),
            region,
            account_id,
            client_id_prefix: server::DEFAULT_CLIENT_ID_PREFIX.into(),
            subscription: Subscription::Shared { group: server::DEFAULT_SHARED_GROUP.into() },
        };
        Ok(server_binding_value(&b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_function_follows_the_binding_and_blames_bad_input() {
        let ok = ServerBindingFunction
            .call(&["regional-01", "sources/maestro/consumers", "123456789012", "us-east-1"].map(Value::string))
            .unwrap();
        assert_eq!(ok.get("source_id"), &Value::string("maestro"));
        assert_eq!(ok.get("agent_events_topic"), &Value::string("$share/statussubscribers/sources/maestro/consumers/+/agentevents"));
        let bad = ServerBindingFunction.call(&["bad name", "sources/maestro/consumers", "1", "us-east-1"].map(Value::string));
        assert_eq!(bad.unwrap_err().argument, Some(0));
    }
}
