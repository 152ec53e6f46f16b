//! The provider as a whole: what it offers (for GetMetadata and GetProviderSchema), its
//! configuration, and stopping.

use super::{decode, DynamicValue, Server};
use crate::framework::diagnostics::Diagnostics;
use crate::framework::provider::Provider;
use crate::framework::resource::{FunctionSignature, IdentitySchema};
use crate::framework::schema::Schema;
use std::sync::Arc;

/// The schemas of everything the provider offers, each list sorted by type name.
pub struct Schemas<'a> {
    pub provider: &'a Schema,
    pub resources: Vec<(&'a str, &'a Schema)>,
    pub data_sources: Vec<(&'a str, &'a Schema)>,
    pub ephemeral_resources: Vec<(&'a str, &'a Schema)>,
    pub list_resources: Vec<(&'a str, &'a Schema)>,
    pub actions: Vec<(&'a str, &'a Schema)>,
}

impl<P: Provider> Server<P> {
    pub fn schemas(&self) -> Schemas<'_> {
        fn named<T: ?Sized>(entries: &std::collections::BTreeMap<String, super::Entry<T>>) -> Vec<(&str, &Schema)> {
            entries.iter().map(|(name, entry)| (name.as_str(), &entry.schema)).collect()
        }
        Schemas {
            provider: &self.provider_schema,
            resources: named(&self.resources),
            data_sources: named(&self.data_sources),
            ephemeral_resources: named(&self.ephemeral),
            list_resources: named(&self.lists),
            actions: named(&self.actions),
        }
    }

    pub fn identity_schemas(&self) -> impl Iterator<Item = (&str, &IdentitySchema)> {
        self.identities.iter().map(|(name, schema)| (name.as_str(), schema))
    }

    pub fn function_signatures(&self) -> impl Iterator<Item = (&str, FunctionSignature)> {
        self.functions.iter().map(|(name, f)| (name.as_str(), f.signature()))
    }

    /// Builds the client every later call uses; until then calls that need it fail.
    pub async fn configure(&self, config: Option<&DynamicValue>, terraform_version: &str) -> Result<(), Diagnostics> {
        let config = decode(config, &self.provider_type)?;
        tracing::debug!(terraform_version = %terraform_version, "configuring provider");
        let client = self.provider.configure(&config, terraform_version).await?;
        *self.client.write().await = Some(Arc::new(client));
        Ok(())
    }

    /// StopProvider: in-flight retries give up (the call itself may come concurrently).
    pub fn stop(&self) {
        tracing::info!("StopProvider received; cancelling in-flight retries");
        crate::framework::cancel::stop();
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{configured, TestProvider};
    use super::*;

    #[tokio::test]
    async fn calls_before_configure_are_refused_with_a_diagnostic() {
        let server = Server::new(TestProvider);
        let err = server.import_resource_state("test_widget", "w1", None).await.unwrap_err();
        assert!(err.to_string().contains("Provider not configured"), "{err}");
        server.configure(None, "1.12.0").await.unwrap();
        assert!(server.import_resource_state("test_widget", "w1", None).await.is_ok());
    }

    #[tokio::test]
    async fn schemas_list_every_registered_type() {
        let server = configured().await;
        let schemas = server.schemas();
        assert_eq!(schemas.resources.iter().map(|(name, _)| *name).collect::<Vec<_>>(), ["test_widget"]);
        assert!(schemas.data_sources.is_empty());
        assert_eq!(server.identity_schemas().map(|(name, _)| name).collect::<Vec<_>>(), ["test_widget"]);
    }
}
