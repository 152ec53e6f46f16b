//! Every resource type the provider offers: a folder (or, when small, a file) each, listed
//! once below. AWS lookups and deletes shared between resources live in `aws`, one module per
//! service.

mod account_guard;
mod agent_binding;
mod agent_credentials;
mod agent_identity;
mod agent_key;
pub(crate) mod aws;
pub(crate) mod common;
mod consumer;
mod consumer_registration;
mod deployed_agent;
mod kms_key;
mod listing;
pub(crate) mod model;
pub(crate) mod rotation;
mod server_identity;

use crate::framework::{Action, DataSource, EphemeralResource, ListResource, Resource};
use crate::provider::AwsClients;
use listing::{ImportHint, Listing, Source};
use std::sync::Arc;

pub fn all() -> Vec<Arc<dyn Resource<AwsClients>>> {
    vec![
        Arc::new(agent_identity::AgentIdentity),
        Arc::new(agent_key::AgentKey),
        Arc::new(consumer::Consumer::default()),
        Arc::new(consumer_registration::ConsumerRegistration),
        Arc::new(server_identity::ServerIdentity),
    ]
}

pub fn data_sources() -> Vec<Arc<dyn DataSource<AwsClients>>> {
    vec![Arc::new(agent_binding::AgentBindingData)]
}

pub fn ephemeral_resources() -> Vec<Arc<dyn EphemeralResource<AwsClients>>> {
    vec![Arc::new(agent_credentials::AgentCredentials)]
}

/// What `list` blocks find: the objects of each resource type, by the names they are given.
pub fn list_resources() -> Vec<Arc<dyn ListResource<AwsClients>>> {
    vec![
        Arc::new(Listing::new(Arc::new(consumer::Consumer::default()), Source::IotPolicies("-maestro-agent-policy")).with_hint(ImportHint {
            attribute: crate::framework::Attribute::string_map(model::attr::MANAGEMENT_ACCOUNT_IDS)
                .optional()
                .description("Management account of each consumer, by consumer ID, for consumers the old modules made: their IoT objects do not record it."),
            import_id: |config, id| match config.get(model::attr::MANAGEMENT_ACCOUNT_IDS).get(id).as_str() {
                Some(account) => format!("{id},{account}"),
                None => id.to_string(),
            },
        })),
        Arc::new(Listing::new(Arc::new(agent_identity::AgentIdentity), Source::IamRoles("-maestro-agent"))),
        Arc::new(Listing::new(Arc::new(server_identity::ServerIdentity), Source::IotPolicies("-maestro-server-policy"))),
    ]
}

pub fn actions() -> Vec<Arc<dyn Action<AwsClients>>> {
    vec![Arc::new(agent_key::RotateAgentKey)]
}
