//! The maestro provider: its configuration, the AWS clients it builds, and the registry of
//! resources (see `crate::resources`).

pub mod aws_error;
pub mod clients;
pub mod config;
pub mod retry;

use crate::framework::{Diagnostics, Resource, Schema, Value};
use async_trait::async_trait;
use std::sync::Arc;

pub use clients::AwsClients;

pub struct MaestroProvider;

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
        crate::resources::all()
    }
}
