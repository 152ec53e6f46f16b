//! The provider server without the wire: every rule Terraform's protocol asks of a provider
//! (write-only attributes never leave, no unknown survives an apply, state upgrades, identity,
//! destroy plans passed through, replacement paths) applied to framework types. The gRPC rooms in
//! `protocol` only translate protobuf messages to these calls and back; this module knows no
//! protobuf, so its rules are tested here without a server (as terraform-plugin-framework's
//! `fwserver` sits under its `fromproto`/`toproto` translation).
//!
//! One module per RPC family: [`provider`] (metadata, configuration), [`validate`],
//! [`upgrade`], [`plan`], [`apply`], [`read`] (read, import, config generation), and
//! [`data_source`], [`ephemeral`], [`function`], [`list`], [`action`].

pub mod action;
pub mod apply;
pub mod data_source;
mod dynamic;
pub mod ephemeral;
pub mod function;
pub mod list;
pub mod plan;
pub mod provider;
pub mod read;
pub mod upgrade;
pub mod validate;

#[cfg(test)]
pub(crate) mod testing;

pub use dynamic::{decode, encode, DynamicValue, IdentityData};

use super::diagnostics::{Diagnostic, Diagnostics};
use super::provider::Provider;
use super::resource::{Action, DataSource, EphemeralResource, Function, IdentitySchema, ListResource, Resource};
use super::schema::Schema;
use super::value::{Type, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::RwLock;

/// A registered implementation with its schema computed once at start-up.
pub struct Entry<T: ?Sized> {
    pub imp: Arc<T>,
    pub schema: Schema,
    pub ty: Type,
}

impl<T: ?Sized> Entry<T> {
    fn new(imp: Arc<T>, schema: Schema) -> Self {
        let ty = schema.value_type();
        Entry { imp, schema, ty }
    }
}

/// Everything a provider offers, looked up by type name, and the client `configure` built.
pub struct Server<P: Provider> {
    provider: Arc<P>,
    provider_schema: Schema,
    provider_type: Type,
    resources: BTreeMap<String, Entry<dyn Resource<P::Client>>>,
    identities: BTreeMap<String, IdentitySchema>,
    data_sources: BTreeMap<String, Entry<dyn DataSource<P::Client>>>,
    ephemeral: BTreeMap<String, Entry<dyn EphemeralResource<P::Client>>>,
    functions: BTreeMap<String, Arc<dyn Function>>,
    lists: BTreeMap<String, Entry<dyn ListResource<P::Client>>>,
    actions: BTreeMap<String, Entry<dyn Action<P::Client>>>,
    client: RwLock<Option<Arc<P::Client>>>,
}

impl<P: Provider> Server<P> {
    pub fn new(provider: P) -> Self {
        let provider = Arc::new(provider);
        let provider_schema = provider.schema();
        let mut identities = BTreeMap::new();
        let resources = provider
            .resources()
            .into_iter()
            .map(|r| {
                if let Some(id) = r.identity_schema() {
                    identities.insert(r.type_name().to_string(), id);
                }
                (r.type_name().to_string(), Entry::new(r.clone(), r.schema()))
            })
            .collect();
        let data_sources =
            provider.data_sources().into_iter().map(|d| (d.type_name().to_string(), Entry::new(d.clone(), d.schema()))).collect();
        let ephemeral =
            provider.ephemeral_resources().into_iter().map(|e| (e.type_name().to_string(), Entry::new(e.clone(), e.schema()))).collect();
        let functions = provider.functions().into_iter().map(|f| (f.name().to_string(), f)).collect();
        let lists = provider.list_resources().into_iter().map(|l| (l.type_name().to_string(), Entry::new(l.clone(), l.schema()))).collect();
        let actions = provider.actions().into_iter().map(|a| (a.type_name().to_string(), Entry::new(a.clone(), a.schema()))).collect();
        Server {
            lists,
            actions,
            provider_type: provider_schema.value_type(),
            provider_schema,
            provider,
            resources,
            identities,
            data_sources,
            ephemeral,
            functions,
            client: RwLock::new(None),
        }
    }

    async fn client(&self) -> Option<Arc<P::Client>> {
        self.client.read().await.clone()
    }

    async fn configured_client(&self) -> Result<Arc<P::Client>, Diagnostics> {
        self.client().await.ok_or_else(|| {
            Diagnostic::error(
                "Provider not configured",
                "The maestro provider was used before it was configured. This usually means its configuration depends on values not known yet.",
            )
            .into()
        })
    }

    fn resource(&self, type_name: &str) -> Result<&Entry<dyn Resource<P::Client>>, Diagnostics> {
        self.resources.get(type_name).ok_or_else(|| unknown_type("resource", type_name))
    }

    fn data_source(&self, type_name: &str) -> Result<&Entry<dyn DataSource<P::Client>>, Diagnostics> {
        self.data_sources.get(type_name).ok_or_else(|| unknown_type("data source", type_name))
    }

    fn ephemeral_resource(&self, type_name: &str) -> Result<&Entry<dyn EphemeralResource<P::Client>>, Diagnostics> {
        self.ephemeral.get(type_name).ok_or_else(|| unknown_type("ephemeral resource", type_name))
    }

    fn list_entry(&self, type_name: &str) -> Result<&Entry<dyn ListResource<P::Client>>, Diagnostics> {
        self.lists.get(type_name).ok_or_else(|| unknown_type("list resource", type_name))
    }

    fn action(&self, type_name: &str) -> Result<&Entry<dyn Action<P::Client>>, Diagnostics> {
        self.actions.get(type_name).ok_or_else(|| unknown_type("action", type_name))
    }

    /// The identity Terraform records beside a resource's state, when its type has one.
    fn identity_of(&self, type_name: &str, entry: &Entry<dyn Resource<P::Client>>, state: &Value) -> Option<IdentityData> {
        let schema = self.identities.get(type_name)?;
        let value = entry.imp.identity(state)?;
        let identity_data = encode(&value.conform(&schema.value_type()), &schema.value_type()).ok()?;
        Some(IdentityData { data: Some(identity_data) })
    }
}

fn unknown_type(kind: &str, name: &str) -> Diagnostics {
    Diagnostic::error(format!("Unknown {kind} type"), format!("The maestro provider has no {kind} type {name:?}.")).into()
}
