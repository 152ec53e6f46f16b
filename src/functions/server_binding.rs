//! `provider::maestro::server_binding(name, topic_prefix, account_id, region)`.

use super::agent_binding::partition_of;
use super::args::{check, string_arg};
use crate::framework::resource::{FunctionError, FunctionSignature, Parameter};
use crate::framework::{Function, Type, Value};
use crate::policy::naming;
use crate::policy::server_binding::{self as server, ServerBinding, Subscription};

pub struct ServerBindingFunction;

fn param(name: &str, description: &str) -> Parameter {
    Parameter { name: name.into(), ty: Type::String, description: description.into(), allow_null: false }
}

impl Function for ServerBindingFunction {
    fn name(&self) -> &'static str {
        "server_binding"
    }

    fn signature(&self) -> FunctionSignature {
        let strings =
            ["source_id", "source_events_topic", "agent_events_topic", "policy_name", "role_name", "iot_policy"].map(|k| (k, Type::String));
        let mut attributes: Vec<(&str, Type)> = strings.to_vec();
        attributes.push(("server_flags", Type::list(Type::String)));
        FunctionSignature {
            parameters: vec![
                param("name", "The server deployment's name (`maestro_server_identity.name`)."),
                param("topic_prefix", "The MQTT topic prefix; its second level is the server's `--source-id`."),
                param("regional_account_id", "The regional account (the server's and the broker's)."),
                param("broker_region", "The broker's region (where the regional account's IoT Core is)."),
            ],
            variadic: None,
            return_type: Type::object(attributes),
            summary: "Topics, flags and IoT policy of a Maestro server".into(),
            description: "What `maestro_server_identity` derives with its defaults (client IDs `maestro` and `maestro-*`, shared subscription group `statussubscribers`): `source_id`, `source_events_topic`, `agent_events_topic`, `policy_name`, `role_name`, `iot_policy` (JSON) and `server_flags`. No AWS call.".into(),
        }
    }

    fn call(&self, args: &[Value]) -> Result<Value, FunctionError> {
        let name = string_arg(args, 0, "name")?;
        let topic_prefix = string_arg(args, 1, "topic_prefix")?;
        let account_id = string_arg(args, 2, "regional_account_id")?;
        let region = string_arg(args, 3, "broker_region")?;
        check(0, "name", server::check_server_name(&name))?;
        check(1, "topic_prefix", naming::check_topic_prefix(&topic_prefix))?;
        check(2, "regional_account_id", naming::check_account_id(&account_id))?;
        check(3, "broker_region", naming::check_region(&region))?;
        let b = ServerBinding {
            name,
            topic_prefix,
            partition: partition_of(&region).to_string(),
            region,
            account_id,
            client_id_prefix: server::DEFAULT_CLIENT_ID_PREFIX.into(),
            subscription: Subscription::Shared { group: server::DEFAULT_SHARED_GROUP.into() },
        };
        Ok(Value::object([
            ("source_id", Value::string(b.source_id())),
            ("source_events_topic", Value::string(b.source_events_topic())),
            ("agent_events_topic", Value::string(b.agent_events_topic())),
            ("policy_name", Value::string(b.policy_name())),
            ("role_name", Value::string(b.role_name())),
            ("iot_policy", Value::string(b.iot_policy_document().to_string())),
            ("server_flags", Value::List(b.server_flags().into_iter().map(Value::String).collect())),
        ]))
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
