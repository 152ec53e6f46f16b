//! The maestro provider: its configuration and the AWS clients it builds, with the error
//! predicates and retries every AWS call shares. It is handed its resources (see
//! [`crate::maestro_provider`]), so this layer never depends on the resources built on it.

pub mod aws_error;
pub mod clients;
pub mod config;
pub mod retry;

use crate::framework::{Diagnostics, Resource, Schema, Value};
use async_trait::async_trait;
use std::sync::Arc;

pub use clients::AwsClients;

pub struct MaestroProvider {
    resources: Vec<Arc<dyn Resource<AwsClients>>>,
}

impl MaestroProvider {
    pub fn new(resources: Vec<Arc<dyn Resource<AwsClients>>>) -> Self {
        MaestroProvider { resources }
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

    async fn configure(&self, config: &Value, _terraform_version: &str) -> Result<AwsClients, Diagnostics> {
        let parsed = config::ProviderConfig::parse(config)?;
        clients::connect(&parsed).await
    }

    fn resources(&self) -> Vec<Arc<dyn Resource<AwsClients>>> {
        self.resources.clone()
    }
}
