//! Every resource type the provider offers, one file each. To add one, write its file and
//! list it below.

mod agent_identity;
mod agent_key;
mod common;
mod consumer;
mod secrets;

use crate::framework::Resource;
use crate::provider::AwsClients;
use std::sync::Arc;

pub fn all() -> Vec<Arc<dyn Resource<AwsClients>>> {
    vec![Arc::new(agent_identity::AgentIdentity), Arc::new(agent_key::AgentKey), Arc::new(consumer::Consumer::default())]
}
