//! `provider::maestro::agent_binding(consumer_id, topic_prefix, regional_account_id, region)`.

use super::args::{check, string_arg};
use super::model::{binding_value, param};
use crate::framework::resource::{FunctionError, FunctionSignature, Parameter};
use crate::framework::{Function, Type, Value};
use crate::policy::agent_binding::{self as names, AgentBinding};
use crate::policy::naming;

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

fn parameter(name: &str, description: &str) -> Parameter {
    Parameter { name: name.into(), ty: Type::String, description: description.into(), allow_null: false }
}

impl Function for AgentBindingFunction {
    fn name(&self) -> &'static str {
        "agent_binding"
    }

    fn signature(&self) -> FunctionSignature {
        FunctionSignature {
            parameters: vec![
                parameter(param::CONSUMER_ID, "The Maestro consumer name (the management cluster's ID)."),
                parameter(param::TOPIC_PREFIX, "The MQTT topic prefix, `<a-z>/<source-id>/<a-z>` (e.g. `sources/maestro/consumers`)."),
                parameter(param::REGIONAL_ACCOUNT_ID, "The regional account whose IoT Core is the broker."),
                parameter(param::BROKER_REGION, "The broker's region (where the regional account's IoT Core is)."),
            ],
            variadic: None,
            return_type: super::model::binding_type(),
            summary: "Names, topics, client ID and policies of one Maestro agent".into(),
            description: "What `maestro_consumer` and `maestro_agent_identity` derive for an agent with the default `--cloudevents-client-id` (`<consumer_id>-work-agent`): `consumer_name`, `cloudevents_client_id`, `client_id` (the MQTT client ID on the wire), `source_events_topic`, `agent_events_topic`, `thing_name`, `iot_policy_name`, `iot_policy` (the IoT policy document, JSON), `role_name`, `iam_iot_policy` (the role's IoT policy, JSON), `cert_secret_name` and `config_secret_name`. No AWS call.".into(),
        }
    }

    fn call(&self, args: &[Value]) -> Result<Value, FunctionError> {
        let consumer_id = string_arg(args, 0, param::CONSUMER_ID)?;
        let topic_prefix = string_arg(args, 1, param::TOPIC_PREFIX)?;
        let account = string_arg(args, 2, param::REGIONAL_ACCOUNT_ID)?;
        let region = string_arg(args, 3, param::BROKER_REGION)?;
        check(0, param::CONSUMER_ID, naming::check_consumer_name(&consumer_id))?;
        check(1, param::TOPIC_PREFIX, naming::check_topic_prefix(&topic_prefix))?;
        check(2, param::REGIONAL_ACCOUNT_ID, naming::check_account_id(&account))?;
        check(3, param::BROKER_REGION, naming::check_region(&region))?;
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
    use crate::functions::model::binding_type;

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
