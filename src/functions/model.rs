//! The functions' typed arguments and results: every parameter name and every attribute of a
//! returned object is spelled here, once, beside the type Terraform sees and the value built
//! from the policy layer's bindings.

use crate::framework::{Type, Value};
use crate::policy::agent_binding::{self as names, AgentBinding};
use crate::policy::server_binding::ServerBinding;
use crate::policy::{consumer_iot, iam};

/// Parameter names: the error that blames an argument names it, as the signature does.
pub mod param {
    pub const CONSUMER_ID: &str = "consumer_id";
    pub const NAME: &str = "name";
    pub const TOPIC_PREFIX: &str = "topic_prefix";
    pub const REGIONAL_ACCOUNT_ID: &str = "regional_account_id";
    pub const BROKER_REGION: &str = "broker_region";
    pub const CLOUDEVENTS_CLIENT_ID: &str = "cloudevents_client_id";
}

/// The attributes of the agent binding object (`agent_binding` and `maestro_agent_binding`).
pub mod agent {
    pub const CONSUMER_NAME: &str = "consumer_name";
    pub const CLOUDEVENTS_CLIENT_ID: &str = "cloudevents_client_id";
    pub const CLIENT_ID: &str = "client_id";
    pub const SOURCE_EVENTS_TOPIC: &str = "source_events_topic";
    pub const AGENT_EVENTS_TOPIC: &str = "agent_events_topic";
    pub const THING_NAME: &str = "thing_name";
    pub const IOT_POLICY_NAME: &str = "iot_policy_name";
    pub const IOT_POLICY: &str = "iot_policy";
    pub const ROLE_NAME: &str = "role_name";
    pub const IAM_IOT_POLICY: &str = "iam_iot_policy";
    pub const CERT_SECRET_NAME: &str = "cert_secret_name";
    pub const CONFIG_SECRET_NAME: &str = "config_secret_name";
    /// Every attribute; all are strings.
    pub const ALL: [&str; 12] = [
        CONSUMER_NAME,
        CLOUDEVENTS_CLIENT_ID,
        CLIENT_ID,
        SOURCE_EVENTS_TOPIC,
        AGENT_EVENTS_TOPIC,
        THING_NAME,
        IOT_POLICY_NAME,
        IOT_POLICY,
        ROLE_NAME,
        IAM_IOT_POLICY,
        CERT_SECRET_NAME,
        CONFIG_SECRET_NAME,
    ];
}

/// The attributes of the server binding object (`server_binding`).
pub mod server {
    pub const SOURCE_ID: &str = "source_id";
    pub const SOURCE_EVENTS_TOPIC: &str = "source_events_topic";
    pub const AGENT_EVENTS_TOPIC: &str = "agent_events_topic";
    pub const POLICY_NAME: &str = "policy_name";
    pub const ROLE_NAME: &str = "role_name";
    pub const IOT_POLICY: &str = "iot_policy";
    /// A list of strings; the others are strings.
    pub const SERVER_FLAGS: &str = "server_flags";
    pub const STRINGS: [&str; 6] = [SOURCE_ID, SOURCE_EVENTS_TOPIC, AGENT_EVENTS_TOPIC, POLICY_NAME, ROLE_NAME, IOT_POLICY];
}

/// The object both the agent binding function and the data source return.
pub fn binding_type() -> Type {
    Type::object(agent::ALL.map(|k| (k, Type::String)))
}

pub fn binding_value(b: &AgentBinding) -> Result<Value, String> {
    let doc = consumer_iot::agent_iot_policy_document(b).map_err(|e| e.to_string())?;
    Ok(Value::object([
        (agent::CONSUMER_NAME, Value::string(b.consumer_name())),
        (agent::CLOUDEVENTS_CLIENT_ID, Value::string(&b.cloudevents_client_id)),
        (agent::CLIENT_ID, Value::string(b.client_id())),
        (agent::SOURCE_EVENTS_TOPIC, Value::string(b.source_events_topic())),
        (agent::AGENT_EVENTS_TOPIC, Value::string(b.agent_events_topic())),
        (agent::THING_NAME, Value::string(consumer_iot::agent_thing_name(&b.cluster_id))),
        (agent::IOT_POLICY_NAME, Value::string(consumer_iot::agent_iot_policy_name(&b.cluster_id))),
        (agent::IOT_POLICY, Value::string(doc.to_string())),
        (agent::ROLE_NAME, Value::string(names::agent_role_name(&b.cluster_id))),
        (agent::IAM_IOT_POLICY, Value::string(iam::agent_iot_policy(b).to_string())),
        (agent::CERT_SECRET_NAME, Value::string(names::default_cert_secret_name(&b.cluster_id))),
        (agent::CONFIG_SECRET_NAME, Value::string(names::default_config_secret_name(&b.cluster_id))),
    ]))
}

/// The object the server binding function returns.
pub fn server_binding_type() -> Type {
    Type::object(server::STRINGS.map(|k| (k, Type::String)).into_iter().chain([(server::SERVER_FLAGS, Type::list(Type::String))]))
}

pub fn server_binding_value(b: &ServerBinding) -> Value {
    Value::object([
        (server::SOURCE_ID, Value::string(b.source_id())),
        (server::SOURCE_EVENTS_TOPIC, Value::string(b.source_events_topic())),
        (server::AGENT_EVENTS_TOPIC, Value::string(b.agent_events_topic())),
        (server::POLICY_NAME, Value::string(b.policy_name())),
        (server::ROLE_NAME, Value::string(b.role_name())),
        (server::IOT_POLICY, Value::string(b.iot_policy_document().to_string())),
        (server::SERVER_FLAGS, Value::List(b.server_flags().into_iter().map(Value::String).collect())),
    ])
}
