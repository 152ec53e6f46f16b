//! Provider-defined functions (`provider::maestro::<name>(...)`) for module authors: the names,
//! topics, client IDs and policy documents of an agent or a server, from the same
//! `crate::policy` code the resources use, with no AWS call. A module can wire its own
//! resources (alarms, rules, dashboards) to exactly what the provider writes.
//!
//! The data source `maestro_agent_binding` gives the same values with the provider's account
//! and topic prefix as defaults (see `resources::agent_binding`).

mod agent_binding;
mod args;
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
