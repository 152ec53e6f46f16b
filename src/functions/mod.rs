//! Provider-defined functions (`provider::maestro::<name>(...)`) for module authors: the names,
//! topics, client IDs and policy documents of an agent or a server, from the same
//! `crate::policy` code the resources use, with no AWS call. A module can wire its own
//! resources (alarms, rules, dashboards) to exactly what the provider writes.
//!
//! The data source `maestro_agent_binding` gives the same values with the provider's account
//! and topic prefix as defaults (see `resources::agent_binding`).

mod agent_binding;
mod mqtt_client_id;
mod server_binding;

pub use agent_binding::{binding_type, binding_value, partition_of};

use crate::framework::Function;
use std::sync::Arc;

pub fn all() -> Vec<Arc<dyn Function>> {
    vec![
        Arc::new(agent_binding::AgentBindingFunction),
        Arc::new(server_binding::ServerBindingFunction),
        Arc::new(mqtt_client_id::MqttClientId),
    ]
}

/// A string argument, or the error blaming it.
fn string_arg(args: &[crate::framework::Value], index: usize, name: &str) -> Result<String, crate::framework::resource::FunctionError> {
    args.get(index).and_then(|v| v.as_str()).map(str::to_string).ok_or_else(|| crate::framework::resource::FunctionError {
        text: format!("{name} must be a known string"),
        argument: Some(index as i64),
    })
}

/// A rule's refusal, blaming argument `index`.
fn check(index: usize, name: &str, rule: Result<(), String>) -> Result<(), crate::framework::resource::FunctionError> {
    rule.map_err(|e| crate::framework::resource::FunctionError { text: format!("{name} {e}"), argument: Some(index as i64) })
}
