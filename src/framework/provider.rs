//! The provider trait: configuration schema, configure, and the registry of everything the
//! provider offers.

use super::diagnostics::Diagnostics;
use super::resource::{Action, DataSource, EphemeralResource, Function, ListResource, Resource};
use super::schema::Schema;
use super::value::Value;
use async_trait::async_trait;
use std::sync::Arc;

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// What `configure` builds and every resource call receives (e.g. AWS clients).
    type Client: Send + Sync + 'static;

    /// The provider's type name, the prefix of every resource type (`maestro`).
    fn type_name(&self) -> &'static str;

    fn schema(&self) -> Schema;

    /// Checks beyond per-attribute validators; values may still be unknown here.
    fn validate_config(&self, _config: &Value, _diags: &mut Diagnostics) {}

    async fn configure(&self, config: &Value, terraform_version: &str) -> Result<Self::Client, Diagnostics>;

    fn resources(&self) -> Vec<Arc<dyn Resource<Self::Client>>>;

    fn data_sources(&self) -> Vec<Arc<dyn DataSource<Self::Client>>> {
        Vec::new()
    }

    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource<Self::Client>>> {
        Vec::new()
    }

    fn functions(&self) -> Vec<Arc<dyn Function>> {
        Vec::new()
    }

    fn list_resources(&self) -> Vec<Arc<dyn ListResource<Self::Client>>> {
        Vec::new()
    }

    fn actions(&self) -> Vec<Arc<dyn Action<Self::Client>>> {
        Vec::new()
    }
}
