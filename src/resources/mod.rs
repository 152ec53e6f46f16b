//! Every resource type the provider offers, one file each. To add one, write its file and
//! list it below.

mod agent_identity;
mod common;

use crate::framework::Resource;
use crate::provider::AwsClients;
use std::sync::Arc;

pub fn all() -> Vec<Arc<dyn Resource<AwsClients>>> {
    vec![Arc::new(agent_identity::AgentIdentity)]
}
