//! The maestro provider: its configuration and the AWS clients it builds, with the error
//! predicates and retries every AWS call shares. It is handed its resources (see
//! [`crate::maestro_provider`]), so this layer never depends on the resources built on it.

pub mod aws_error;
pub mod charts;
pub mod clients;
pub mod config;
pub mod https;
pub mod retry;
mod web_identity;

use crate::framework::{Action, DataSource, Diagnostics, EphemeralResource, Function, ListResource, Resource, Schema, Value};
use async_trait::async_trait;
use std::sync::Arc;

pub use clients::AwsClients;

/// Everything the provider offers, registered by the layers built on this one.
#[derive(Default)]
pub struct Registry {
    pub resources: Vec<Arc<dyn Resource<AwsClients>>>,
    pub data_sources: Vec<Arc<dyn DataSource<AwsClients>>>,
    pub ephemeral_resources: Vec<Arc<dyn EphemeralResource<AwsClients>>>,
    pub functions: Vec<Arc<dyn Function>>,
    pub list_resources: Vec<Arc<dyn ListResource<AwsClients>>>,
    pub actions: Vec<Arc<dyn Action<AwsClients>>>,
}

pub struct MaestroProvider {
    registry: Registry,
}

impl MaestroProvider {
    pub fn new(registry: Registry) -> Self {
        MaestroProvider { registry }
    }
}

#[async_trait]
impl crate::framework::provider::Provider for MaestroProvider {
    type Client = AwsClients;

    fn type_name(&self) -> &'static str {
        "maestro"
    }

    fn schema(&self) -> Schema {
        config::schema()
    }

    fn validate_config(&self, config: &Value, diags: &mut Diagnostics) {
        config::check_conflicting_arguments(config, diags);
    }

    async fn configure(&self, config: &Value, _terraform_version: &str) -> Result<AwsClients, Diagnostics> {
        let parsed = config::ProviderConfig::parse(config)?;
        clients::connect(&parsed).await
    }

    fn resources(&self) -> Vec<Arc<dyn Resource<AwsClients>>> {
        self.registry.resources.clone()
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource<AwsClients>>> {
        self.registry.data_sources.clone()
    }

    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource<AwsClients>>> {
        self.registry.ephemeral_resources.clone()
    }

    fn functions(&self) -> Vec<Arc<dyn Function>> {
        self.registry.functions.clone()
    }

    fn list_resources(&self) -> Vec<Arc<dyn ListResource<AwsClients>>> {
        self.registry.list_resources.clone()
    }

    fn actions(&self) -> Vec<Arc<dyn Action<AwsClients>>> {
        self.registry.actions.clone()
    }
}
