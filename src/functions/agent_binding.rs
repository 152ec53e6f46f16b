//! `provider::maestro::agent_binding(consumer_id, topic_prefix, regional_account_id, region)`.

use super::args::{check, string_arg};
use crate::framework::resource::{FunctionError, FunctionSignature, Parameter};
use crate::framework::{Function, Type, Value};
use crate::policy::agent_binding::{self as names, AgentBinding};
use crate::policy::{consumer_iot, iam, naming};

pub struct AgentBindingFunction;

/// The AWS partition a region belongs to.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The object both the function and the data source return.
pub fn binding_type() -> Type {
    Type::object(
        [
            "consumer_name",
            "cloudevents_client_id",
            "client_id",
            "source_events_topic",
            "agent_events_topic",
            "thing_name",
            "iot_policy_name",
            "iot_policy",
            "role_name",
            "iam_iot_policy",
            "cert_secret_name",
            "config_secret_name",
        ]
        .map(|k| (k, Type::String)),
    )
}

pub fn binding_value(b: &AgentBinding) -> Result<Value, String> {
    let doc = consumer_iot::agent_iot_policy_document(b).map_err(|e| e.to_string())?;
    Ok(Value::object([
        ("consumer_name", Value::string(b.consumer_name())),
        ("cloudevents_client_id", Value::string(&b.cloudevents_client_id)),
        ("client_id", Value::string(b.client_id())),
        ("source_events_topic", Value::string(b.source_events_topic())),
        ("agent_events_topic", Value::string(b.agent_events_topic())),
        ("thing_name", Value::string(consumer_iot::agent_thing_name(&b.cluster_id))),
        ("iot_policy_name", Value::string(consumer_iot::agent_iot_policy_name(&b.cluster_id))),
        ("iot_policy", Value::string(doc.to_string())),
        ("role_name", Value::string(names::agent_role_name(&b.cluster_id))),
        ("iam_iot_policy", Value::string(iam::agent_iot_policy(b).to_string())),
        ("cert_secret_name", Value::string(names::default_cert_secret_name(&b.cluster_id))),
        ("config_secret_name", Value::string(names::default_config_secret_name(&b.cluster_id))),
    ]))
}

fn param(name: &str, description: &str) -> Parameter {
    Parameter { name: name.into(), ty: Type::String, description: description.into(), allow_null: false }
}

impl Function for AgentBindingFunction {
    fn name(&self) -> &'static str {
        "agent_binding"
    }

    fn signature(&self) -> FunctionSignature {
        FunctionSignature {
            parameters: vec![
                param("consumer_id", "The Maestro consumer name (the management cluster's ID)."),
                param("topic_prefix", "The MQTT topic prefix, `<a-z>/<source-id>/<a-z>` (e.g. `sources/maestro/consumers`)."),
                param("regional_account_id", "The regional account whose IoT Core is the broker."),
                param("broker_region", "The broker's region (where the regional account's IoT Core is)."),
            ],
            variadic: None,
            return_type: binding_type(),
            summary: "Names, topics, client ID and policies of one Maestro agent".into(),
            description: "What `maestro_consumer` and `maestro_agent_identity` derive for an agent with the default `--cloudevents-client-id` (`<consumer_id>-work-agent`): `consumer_name`, `cloudevents_client_id`, `client_id` (the MQTT client ID on the wire), `source_events_topic`, `agent_events_topic`, `thing_name`, `iot_policy_name`, `iot_policy` (the IoT policy document, JSON), `role_name`, `iam_iot_policy` (the role's IoT policy, JSON), `cert_secret_name` and `config_secret_name`. No AWS call.".into(),
        }
    }

    fn call(&self, args: &[Value]) -> Result<Value, FunctionError> {
        let consumer_id = string_arg(args, 0, "consumer_id")?;
        let topic_prefix = string_arg(args, 1, "topic_prefix")?;
        let account = string_arg(args, 2, "regional_account_id")?;
        let region = string_arg(args, 3, "broker_region")?;
        check(0, "consumer_id", naming::check_consumer_name(&consumer_id))?;
        check(1, "topic_prefix", naming::check_topic_prefix(&topic_prefix))?;
        check(2, "regional_account_id", naming::check_account_id(&account))?;
        check(3, "broker_region", naming::check_region(&region))?;
        let b = AgentBinding {
            cloudevents_client_id: names::default_cloudevents_client_id(&consumer_id),
            cluster_id: consumer_id,
            topic_prefix,
            partition: partition_of(&region).to_string(),
            broker_region: region,
            broker_account_id: account,
        };
        binding_value(&b).map_err(|text| FunctionError { text, argument: Some(1) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(args: &[&str]) -> Result<Value, FunctionError> {
        AgentBindingFunction.call(&args.iter().map(|a| Value::string(*a)).collect::<Vec<_>>())
    }

    #[test]
    fn the_function_gives_what_the_resources_write() {
        let v = call(&["management-01", "sources/maestro/consumers", "123456789012", "us-east-1"]).unwrap();
        assert_eq!(v.get("client_id"), &Value::string("management-01-work-agent-client"));
        assert_eq!(v.get("source_events_topic"), &Value::string("sources/maestro/consumers/management-01/sourceevents"));
        assert_eq!(v.get("iot_policy_name"), &Value::string("management-01-maestro-agent-policy"));
        // Written out, not recomputed with the resources' own function: the document is what
        // IoT Core authorises the agent with, so a change to it must show up here.
        let Value::String(policy) = v.get("iot_policy") else { panic!("iot_policy is not a string: {:?}", v.get("iot_policy")) };
        let arn = "arn:aws:iot:us-east-1:123456789012";
        let topics = "sources/maestro/consumers/management-01";
        let expected = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": [format!("{arn}:client/management-01-work-agent-client")]},
                {"Effect": "Allow", "Action": ["iot:Subscribe"], "Resource": [format!("{arn}:topicfilter/{topics}/sourceevents")]},
                {"Effect": "Allow", "Action": ["iot:Receive"], "Resource": [format!("{arn}:topic/{topics}/sourceevents")]},
                {"Effect": "Allow", "Action": ["iot:Publish"], "Resource": [format!("{arn}:topic/{topics}/agentevents")]}
            ]
        });
        assert_eq!(serde_json::from_str::<serde_json::Value>(policy).unwrap(), expected);
        assert_eq!(v.clone().conform(&binding_type()), v);
    }

    #[test]
    fn bad_arguments_are_blamed_by_position() {
        assert_eq!(call(&["Mgmt_01", "sources/maestro/consumers", "123456789012", "us-east-1"]).unwrap_err().argument, Some(0));
        assert_eq!(call(&["m", "maestro/consumers", "123456789012", "us-east-1"]).unwrap_err().argument, Some(1));
        assert_eq!(call(&["m", "sources/maestro/consumers", "1234", "us-east-1"]).unwrap_err().argument, Some(2));
        assert_eq!(call(&["m", "sources/maestro/consumers", "123456789012", "Not A Region"]).unwrap_err().argument, Some(3));
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
    }
}
