//! The `tfplugin6.Provider` gRPC service: decodes requests, runs the framework, encodes
//! responses. Failures are diagnostics in the response (for the streaming rpcs, in their
//! events), never gRPC errors.

use super::convert::{self, decode_value, encode_value};
use super::generated::tfplugin6 as pb;
use crate::framework::diagnostics::{Diagnostic, Diagnostics};
use crate::framework::plan::{null_write_only, plan_from_schema, replacement_paths};
use crate::framework::provider::Provider;
use crate::framework::resource::{Action, DataSource, EphemeralResource, Function, IdentitySchema, ListResource, Plan, Resource};
use crate::framework::schema::{validate_block, Schema};
use crate::framework::value::{Type, Value};
use crate::framework::AttributePath;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::RwLock;
use tonic::{Request, Response, Status};

/// A registered implementation with its schema computed once at start-up.
struct Entry<T: ?Sized> {
    imp: Arc<T>,
    schema: Schema,
    ty: Type,
}

impl<T: ?Sized> Entry<T> {
    fn new(imp: Arc<T>, schema: Schema) -> Self {
        let ty = schema.value_type();
        Entry { imp, schema, ty }
    }
}

pub struct ProviderService<P: Provider> {
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

impl<P: Provider> ProviderService<P> {
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
        ProviderService {
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

    fn identity_value(&self, type_name: &str, entry: &Entry<dyn Resource<P::Client>>, state: &Value) -> Option<pb::ResourceIdentityData> {
        let schema = self.identities.get(type_name)?;
        let value = entry.imp.identity(state)?;
        let identity_data = encode_value(&value.conform(&schema.value_type()), &schema.value_type()).ok()?;
        Some(pb::ResourceIdentityData { identity_data: Some(identity_data) })
    }
}

/// Schema validators first, then the implementation's own cross-attribute checks.
fn validate_config<T: ?Sized>(
    entry: Result<&Entry<T>, Diagnostics>,
    config: Option<&pb::DynamicValue>,
    extra: impl FnOnce(&Entry<T>, &Value, &mut Diagnostics),
) -> Vec<pb::Diagnostic> {
    let checked = entry.and_then(|entry| {
        let config = decode_value(config, &entry.ty)?;
        let mut diags = Diagnostics::new();
        validate_block(&entry.schema.block, &config, &AttributePath::default(), &mut diags);
        extra(entry, &config, &mut diags);
        Ok(diags)
    });
    convert::diagnostics(checked.unwrap_or_else(|d| d))
}

fn unknown_type(kind: &str, name: &str) -> Diagnostics {
    Diagnostic::error(format!("Unknown {kind} type"), format!("The maestro provider has no {kind} type {name:?}.")).into()
}

/// Terraform rejects unknown values in applied state, even alongside an error.
fn unknowns_to_null(v: Value) -> Value {
    match v {
        Value::Unknown => Value::Null,
        Value::List(items) => Value::List(items.into_iter().map(unknowns_to_null).collect()),
        Value::Map(entries) => Value::Map(entries.into_iter().map(|(k, v)| (k, unknowns_to_null(v))).collect()),
        other => other,
    }
}

/// Resources see write-only values during apply (they live only in the config).
fn with_write_only_from_config(schema: &Schema, mut planned: Value, config: &Value) -> Value {
    if planned.is_null() {
        return planned;
    }
    for attr in schema.block.attributes.iter().filter(|a| a.write_only) {
        planned.set(&attr.name, config.get(&attr.name).clone());
    }
    planned
}

fn server_capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: false,
        move_resource_state: false,
        generate_resource_config: true,
    }
}

macro_rules! try_diags {
    ($expr:expr, $resp:expr) => {
        match $expr {
            Ok(v) => v,
            Err(d) => {
                let mut resp = $resp;
                resp.diagnostics = convert::diagnostics(d);
                return Ok(Response::new(resp));
            }
        }
    };
}

type Stream<T> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl<P: Provider> pb::provider_server::Provider for ProviderService<P> {
    async fn get_metadata(&self, _: Request<pb::get_metadata::Request>) -> Result<Response<pb::get_metadata::Response>, Status> {
        use pb::get_metadata as m;
        Ok(Response::new(m::Response {
            server_capabilities: Some(server_capabilities()),
            resources: self.resources.keys().map(|t| m::ResourceMetadata { type_name: t.clone() }).collect(),
            data_sources: self.data_sources.keys().map(|t| m::DataSourceMetadata { type_name: t.clone() }).collect(),
            ephemeral_resources: self.ephemeral.keys().map(|t| m::EphemeralMetadata { type_name: t.clone() }).collect(),
            functions: self.functions.keys().map(|n| m::FunctionMetadata { name: n.clone() }).collect(),
            list_resources: self.lists.keys().map(|t| m::ListResourceMetadata { type_name: t.clone() }).collect(),
            actions: self.actions.keys().map(|t| m::ActionMetadata { type_name: t.clone() }).collect(),
            ..Default::default()
        }))
    }

    async fn get_provider_schema(
        &self,
        _: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(convert::schema(&self.provider_schema)),
            resource_schemas: self.resources.iter().map(|(k, e)| (k.clone(), convert::schema(&e.schema))).collect(),
            data_source_schemas: self.data_sources.iter().map(|(k, e)| (k.clone(), convert::schema(&e.schema))).collect(),
            ephemeral_resource_schemas: self.ephemeral.iter().map(|(k, e)| (k.clone(), convert::schema(&e.schema))).collect(),
            functions: self.functions.iter().map(|(k, f)| (k.clone(), convert::function(&f.signature()))).collect(),
            list_resource_schemas: self.lists.iter().map(|(k, e)| (k.clone(), convert::schema(&e.schema))).collect(),
            action_schemas: self
                .actions
                .iter()
                .map(|(k, e)| (k.clone(), pb::ActionSchema { schema: Some(convert::schema(&e.schema)) }))
                .collect(),
            server_capabilities: Some(server_capabilities()),
            ..Default::default()
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        Ok(Response::new(pb::get_resource_identity_schemas::Response {
            identity_schemas: self.identities.iter().map(|(k, s)| (k.clone(), convert::identity_schema(s))).collect(),
            diagnostics: vec![],
        }))
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let req = req.into_inner();
        let empty = pb::validate_provider_config::Response::default();
        let config = try_diags!(decode_value(req.config.as_ref(), &self.provider_type), empty);
        let mut diags = Diagnostics::new();
        validate_block(&self.provider_schema.block, &config, &AttributePath::default(), &mut diags);
        self.provider.validate_config(&config, &mut diags);
        Ok(Response::new(pb::validate_provider_config::Response { diagnostics: convert::diagnostics(diags) }))
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let req = req.into_inner();
        let diagnostics = validate_config(self.resource(&req.type_name), req.config.as_ref(), |e, c, d| e.imp.validate(c, d));
        Ok(Response::new(pb::validate_resource_config::Response { diagnostics }))
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let req = req.into_inner();
        let entry = self.data_sources.get(&req.type_name).ok_or_else(|| unknown_type("data source", &req.type_name));
        let diagnostics = validate_config(entry, req.config.as_ref(), |e, c, d| e.imp.validate(c, d));
        Ok(Response::new(pb::validate_data_resource_config::Response { diagnostics }))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        req: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<pb::validate_ephemeral_resource_config::Response>, Status> {
        let req = req.into_inner();
        let entry = self.ephemeral.get(&req.type_name).ok_or_else(|| unknown_type("ephemeral resource", &req.type_name));
        let diagnostics = validate_config(entry, req.config.as_ref(), |e, c, d| e.imp.validate(c, d));
        Ok(Response::new(pb::validate_ephemeral_resource_config::Response { diagnostics }))
    }

    async fn validate_list_resource_config(
        &self,
        req: Request<pb::validate_list_resource_config::Request>,
    ) -> Result<Response<pb::validate_list_resource_config::Response>, Status> {
        let req = req.into_inner();
        let entry = self.lists.get(&req.type_name).ok_or_else(|| unknown_type("list resource", &req.type_name));
        let diagnostics = validate_config(entry, req.config.as_ref(), |e, c, d| e.imp.validate(c, d));
        Ok(Response::new(pb::validate_list_resource_config::Response { diagnostics }))
    }

    async fn validate_action_config(
        &self,
        req: Request<pb::validate_action_config::Request>,
    ) -> Result<Response<pb::validate_action_config::Response>, Status> {
        let req = req.into_inner();
        let entry = self.actions.get(&req.type_name).ok_or_else(|| unknown_type("action", &req.type_name));
        let diagnostics = validate_config(entry, req.config.as_ref(), |e, c, d| e.imp.validate(c, d));
        Ok(Response::new(pb::validate_action_config::Response { diagnostics }))
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let req = req.into_inner();
        let empty = pb::upgrade_resource_state::Response::default();
        let entry = try_diags!(self.resource(&req.type_name), empty);
        let raw = req.raw_state.unwrap_or_default();
        if raw.json.is_empty() && !raw.flatmap.is_empty() {
            let d = Diagnostic::error(
                "Unsupported state format",
                "This state was written in the legacy flatmap format, which this provider never produced.",
            );
            try_diags!(Err(Diagnostics::from(d)), empty);
        }
        let json: serde_json::Value = if raw.json.is_empty() {
            serde_json::Value::Null
        } else {
            try_diags!(
                serde_json::from_slice(&raw.json)
                    .map_err(|e| Diagnostics::from(Diagnostic::error("Corrupt state", format!("The stored state is not JSON: {e}")))),
                empty
            )
        };
        if req.version > entry.schema.version {
            let d = Diagnostic::error(
                "State from a newer provider",
                format!(
                    "This {} state has schema version {}, but this provider knows only up to {}. Upgrade the provider.",
                    req.type_name, req.version, entry.schema.version
                ),
            );
            try_diags!(Err(Diagnostics::from(d)), empty);
        }
        let json = if req.version < entry.schema.version { try_diags!(entry.imp.upgrade_state(req.version, json), empty) } else { json };
        let value = try_diags!(
            Value::from_json(&json, &entry.ty).map_err(|e| Diagnostics::from(Diagnostic::error(
                "Corrupt state",
                format!("The stored state does not match the schema: {e}")
            ))),
            empty
        );
        let upgraded = try_diags!(encode_value(&value, &entry.ty), empty);
        Ok(Response::new(pb::upgrade_resource_state::Response { upgraded_state: Some(upgraded), diagnostics: vec![] }))
    }

    async fn upgrade_resource_identity(
        &self,
        req: Request<pb::upgrade_resource_identity::Request>,
    ) -> Result<Response<pb::upgrade_resource_identity::Response>, Status> {
        let req = req.into_inner();
        let empty = pb::upgrade_resource_identity::Response::default();
        let schema =
            try_diags!(self.identities.get(&req.type_name).ok_or_else(|| unknown_type("resource identity", &req.type_name)), empty);
        let raw = req.raw_identity.unwrap_or_default();
        let json: serde_json::Value = serde_json::from_slice(&raw.json).unwrap_or(serde_json::Value::Null);
        let value = try_diags!(
            Value::from_json(&json, &schema.value_type()).map_err(|e| Diagnostics::from(Diagnostic::error("Corrupt identity", e))),
            empty
        );
        let data = try_diags!(encode_value(&value, &schema.value_type()), empty);
        Ok(Response::new(pb::upgrade_resource_identity::Response {
            upgraded_identity: Some(pb::ResourceIdentityData { identity_data: Some(data) }),
            diagnostics: vec![],
        }))
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let req = req.into_inner();
        let empty = pb::configure_provider::Response::default();
        let config = try_diags!(decode_value(req.config.as_ref(), &self.provider_type), empty);
        tracing::debug!(terraform_version = %req.terraform_version, "configuring provider");
        let client = try_diags!(self.provider.configure(&config, &req.terraform_version).await, empty);
        *self.client.write().await = Some(Arc::new(client));
        Ok(Response::new(empty))
    }

    async fn read_resource(&self, req: Request<pb::read_resource::Request>) -> Result<Response<pb::read_resource::Response>, Status> {
        let req = req.into_inner();
        let empty =
            pb::read_resource::Response { new_state: req.current_state.clone(), private: req.private.clone(), ..Default::default() };
        let entry = try_diags!(self.resource(&req.type_name), empty);
        let state = try_diags!(decode_value(req.current_state.as_ref(), &entry.ty), empty);
        if state.is_null() {
            return Ok(Response::new(empty));
        }
        let client = try_diags!(self.configured_client().await, empty);
        let new_state = match try_diags!(entry.imp.read(&client, &state).await, empty) {
            Some(mut s) => {
                null_write_only(&entry.schema, &mut s);
                s.conform(&entry.ty)
            }
            None => {
                tracing::info!(type_name = %req.type_name, "remote object is gone; removing it from state");
                Value::Null
            }
        };
        let encoded = try_diags!(encode_value(&new_state, &entry.ty), empty);
        Ok(Response::new(pb::read_resource::Response {
            new_identity: self.identity_value(&req.type_name, entry, &new_state),
            new_state: Some(encoded),
            private: req.private,
            ..Default::default()
        }))
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let req = req.into_inner();
        let empty = pb::plan_resource_change::Response::default();
        let entry = try_diags!(self.resource(&req.type_name), empty);
        let prior = try_diags!(decode_value(req.prior_state.as_ref(), &entry.ty), empty);
        let proposed = try_diags!(decode_value(req.proposed_new_state.as_ref(), &entry.ty), empty);
        let config = try_diags!(decode_value(req.config.as_ref(), &entry.ty), empty);
        if proposed.is_null() {
            // Destroy: nothing to refine; the prior identity stays as it is.
            return Ok(Response::new(pb::plan_resource_change::Response {
                planned_state: req.proposed_new_state,
                planned_private: req.prior_private,
                planned_identity: req.prior_identity,
                ..Default::default()
            }));
        }
        let mut diags = Diagnostics::new();
        let planned = plan_from_schema(&entry.schema, &prior, &config, proposed);
        let mut plan = Plan { prior: &prior, config: &config, planned, requires_replace: Vec::new() };
        let client = self.client().await;
        entry.imp.modify_plan(client.as_deref(), &mut plan, &mut diags).await;
        let planned = plan.planned.conform(&entry.ty);
        let mut requires_replace = replacement_paths(&entry.schema, &prior, &planned);
        requires_replace.extend(plan.requires_replace);
        let encoded = try_diags!(encode_value(&planned, &entry.ty), empty);
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_identity: self.identity_value(&req.type_name, entry, &planned),
            planned_state: Some(encoded),
            requires_replace: requires_replace.iter().map(convert::attribute_path).collect(),
            planned_private: req.prior_private,
            diagnostics: convert::diagnostics(diags),
            ..Default::default()
        }))
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let req = req.into_inner();
        // On an early failure, keep what Terraform had so nothing is forgotten.
        let empty = pb::apply_resource_change::Response { new_state: req.prior_state.clone(), ..Default::default() };
        let entry = try_diags!(self.resource(&req.type_name), empty);
        let prior = try_diags!(decode_value(req.prior_state.as_ref(), &entry.ty), empty);
        let planned = try_diags!(decode_value(req.planned_state.as_ref(), &entry.ty), empty);
        let config = try_diags!(decode_value(req.config.as_ref(), &entry.ty), empty);
        let client = try_diags!(self.configured_client().await, empty);
        let planned = with_write_only_from_config(&entry.schema, planned, &config);
        let (mut new_state, mut diags) = if planned.is_null() {
            let diags = entry.imp.delete(&client, &prior).await;
            // A failed delete leaves the object in state, so the user can retry.
            (if diags.has_errors() { prior.clone() } else { Value::Null }, diags)
        } else if prior.is_null() {
            let applied = entry.imp.create(&client, &planned).await;
            (applied.state, applied.diags)
        } else {
            let applied = entry.imp.update(&client, &prior, &planned).await;
            (applied.state, applied.diags)
        };
        null_write_only(&entry.schema, &mut new_state);
        if !new_state.is_wholly_known() {
            if !diags.has_errors() {
                diags.error(
                    "Provider produced an unknown value",
                    format!("{} left a value unknown after apply. This is a bug in the provider.", req.type_name),
                );
            }
            new_state = unknowns_to_null(new_state);
        }
        let new_state = new_state.conform(&entry.ty);
        let encoded = try_diags!(encode_value(&new_state, &entry.ty), empty);
        Ok(Response::new(pb::apply_resource_change::Response {
            new_identity: self.identity_value(&req.type_name, entry, &new_state),
            new_state: Some(encoded),
            private: req.planned_private,
            diagnostics: convert::diagnostics(diags),
            ..Default::default()
        }))
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let req = req.into_inner();
        let empty = pb::import_resource_state::Response::default();
        let entry = try_diags!(self.resource(&req.type_name), empty);
        let id = if req.id.is_empty() {
            // Import by identity (protocol 6.9+): the identity's import attribute names the object.
            try_diags!(self.id_from_identity(&req.type_name, req.identity.as_ref()), empty)
        } else {
            req.id.clone()
        };
        let client = try_diags!(self.configured_client().await, empty);
        let state = try_diags!(entry.imp.import(&client, &id).await, empty).conform(&entry.ty);
        let encoded = try_diags!(encode_value(&state, &entry.ty), empty);
        Ok(Response::new(pb::import_resource_state::Response {
            imported_resources: vec![pb::import_resource_state::ImportedResource {
                type_name: req.type_name.clone(),
                identity: self.identity_value(&req.type_name, entry, &state),
                state: Some(encoded),
                private: vec![],
            }],
            ..Default::default()
        }))
    }

    async fn move_resource_state(
        &self,
        req: Request<pb::move_resource_state::Request>,
    ) -> Result<Response<pb::move_resource_state::Response>, Status> {
        let req = req.into_inner();
        let d = Diagnostic::error(
            "Move not supported",
            format!("{} cannot be moved from {} {}.", req.target_type_name, req.source_provider_address, req.source_type_name),
        );
        Ok(Response::new(pb::move_resource_state::Response { diagnostics: convert::diagnostics(d.into()), ..Default::default() }))
    }

    async fn generate_resource_config(
        &self,
        req: Request<pb::generate_resource_config::Request>,
    ) -> Result<Response<pb::generate_resource_config::Response>, Status> {
        let req = req.into_inner();
        let empty = pb::generate_resource_config::Response::default();
        let entry = try_diags!(self.resource(&req.type_name), empty);
        let mut state = try_diags!(decode_value(req.state.as_ref(), &entry.ty), empty);
        // Configuration holds what a user writes: drop what the provider computes by itself.
        for attr in entry.schema.block.attributes.iter().filter(|a| a.computed && !a.optional) {
            state.set(&attr.name, Value::Null);
        }
        let config = try_diags!(encode_value(&state.conform(&entry.ty), &entry.ty), empty);
        Ok(Response::new(pb::generate_resource_config::Response { config: Some(config), diagnostics: vec![] }))
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let req = req.into_inner();
        let empty = pb::read_data_source::Response::default();
        let entry = try_diags!(self.data_sources.get(&req.type_name).ok_or_else(|| unknown_type("data source", &req.type_name)), empty);
        let config = try_diags!(decode_value(req.config.as_ref(), &entry.ty), empty);
        let client = try_diags!(self.configured_client().await, empty);
        let state = try_diags!(entry.imp.read(&client, &config).await, empty).conform(&entry.ty);
        let encoded = try_diags!(encode_value(&state, &entry.ty), empty);
        Ok(Response::new(pb::read_data_source::Response { state: Some(encoded), ..Default::default() }))
    }

    async fn open_ephemeral_resource(
        &self,
        req: Request<pb::open_ephemeral_resource::Request>,
    ) -> Result<Response<pb::open_ephemeral_resource::Response>, Status> {
        let req = req.into_inner();
        let empty = pb::open_ephemeral_resource::Response::default();
        let entry = try_diags!(self.ephemeral.get(&req.type_name).ok_or_else(|| unknown_type("ephemeral resource", &req.type_name)), empty);
        let config = try_diags!(decode_value(req.config.as_ref(), &entry.ty), empty);
        let client = try_diags!(self.configured_client().await, empty);
        let opened = try_diags!(entry.imp.open(&client, &config).await, empty);
        let result = try_diags!(encode_value(&opened.result.conform(&entry.ty), &entry.ty), empty);
        Ok(Response::new(pb::open_ephemeral_resource::Response {
            result: Some(result),
            renew_at: opened.renew_at.map(prost_types::Timestamp::from),
            private: Some(opened.private),
            ..Default::default()
        }))
    }

    async fn renew_ephemeral_resource(
        &self,
        req: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Result<Response<pb::renew_ephemeral_resource::Response>, Status> {
        let req = req.into_inner();
        let empty = pb::renew_ephemeral_resource::Response::default();
        let entry = try_diags!(self.ephemeral.get(&req.type_name).ok_or_else(|| unknown_type("ephemeral resource", &req.type_name)), empty);
        let client = try_diags!(self.configured_client().await, empty);
        let private = req.private.unwrap_or_default();
        let renew_at = try_diags!(entry.imp.renew(&client, &private).await, empty);
        Ok(Response::new(pb::renew_ephemeral_resource::Response {
            renew_at: renew_at.map(prost_types::Timestamp::from),
            private: Some(private),
            diagnostics: vec![],
        }))
    }

    async fn close_ephemeral_resource(
        &self,
        req: Request<pb::close_ephemeral_resource::Request>,
    ) -> Result<Response<pb::close_ephemeral_resource::Response>, Status> {
        let req = req.into_inner();
        let empty = pb::close_ephemeral_resource::Response::default();
        let entry = try_diags!(self.ephemeral.get(&req.type_name).ok_or_else(|| unknown_type("ephemeral resource", &req.type_name)), empty);
        let client = try_diags!(self.configured_client().await, empty);
        let diags = entry.imp.close(&client, &req.private.unwrap_or_default()).await;
        Ok(Response::new(pb::close_ephemeral_resource::Response { diagnostics: convert::diagnostics(diags) }))
    }

    type ListResourceStream = Stream<pb::list_resource::Event>;

    async fn list_resource(&self, req: Request<pb::list_resource::Request>) -> Result<Response<Self::ListResourceStream>, Status> {
        let req = req.into_inner();
        let events = match self.list_events(&req).await {
            Ok(events) => events,
            Err(d) => vec![pb::list_resource::Event { diagnostic: convert::diagnostics(d), ..Default::default() }],
        };
        Ok(Response::new(Box::pin(futures::stream::iter(events.into_iter().map(Ok)))))
    }

    async fn get_functions(&self, _: Request<pb::get_functions::Request>) -> Result<Response<pb::get_functions::Response>, Status> {
        Ok(Response::new(pb::get_functions::Response {
            functions: self.functions.iter().map(|(k, f)| (k.clone(), convert::function(&f.signature()))).collect(),
            diagnostics: vec![],
        }))
    }

    async fn call_function(&self, req: Request<pb::call_function::Request>) -> Result<Response<pb::call_function::Response>, Status> {
        let req = req.into_inner();
        let fail = |text: String, argument: Option<i64>| {
            Ok(Response::new(pb::call_function::Response {
                result: None,
                error: Some(pb::FunctionError { text, function_argument: argument }),
            }))
        };
        let Some(f) = self.functions.get(&req.name) else {
            return fail(format!("the maestro provider has no function {:?}", req.name), None);
        };
        let sig = f.signature();
        let mut args = Vec::with_capacity(req.arguments.len());
        for (i, dv) in req.arguments.iter().enumerate() {
            let param = sig.parameters.get(i).or(sig.variadic.as_ref());
            let Some(param) = param else { return fail(format!("too many arguments ({})", req.arguments.len()), Some(i as i64)) };
            match decode_value(Some(dv), &param.ty) {
                Ok(v) => args.push(v),
                Err(d) => return fail(d.to_string(), Some(i as i64)),
            }
        }
        match f.call(&args) {
            Ok(v) => match encode_value(&v, &sig.return_type) {
                Ok(result) => Ok(Response::new(pb::call_function::Response { result: Some(result), error: None })),
                Err(d) => fail(d.to_string(), None),
            },
            Err(e) => fail(e.text, e.argument),
        }
    }

    async fn plan_action(&self, req: Request<pb::plan_action::Request>) -> Result<Response<pb::plan_action::Response>, Status> {
        // Actions change nothing Terraform plans; the plan only checks the configuration.
        let req = req.into_inner();
        let entry = self.actions.get(&req.action_type).ok_or_else(|| unknown_type("action", &req.action_type));
        let diagnostics = validate_config(entry, req.config.as_ref(), |e, c, d| e.imp.validate(c, d));
        Ok(Response::new(pb::plan_action::Response { diagnostics, deferred: None }))
    }

    type InvokeActionStream = Stream<pb::invoke_action::Event>;

    async fn invoke_action(&self, req: Request<pb::invoke_action::Request>) -> Result<Response<Self::InvokeActionStream>, Status> {
        use pb::invoke_action::event::{Completed, Progress, Type as Kind};
        use pb::invoke_action::Event;
        let req = req.into_inner();
        let completed = |d: Diagnostics| Event { r#type: Some(Kind::Completed(Completed { diagnostics: convert::diagnostics(d) })) };
        let prepared = async {
            let entry = self.actions.get(&req.action_type).ok_or_else(|| unknown_type("action", &req.action_type))?;
            let config = decode_value(req.config.as_ref(), &entry.ty)?;
            Ok::<_, Diagnostics>((entry.imp.clone(), config, self.configured_client().await?))
        };
        let (action, config, client) = match prepared.await {
            Ok(ready) => ready,
            Err(d) => return Ok(Response::new(Box::pin(futures::stream::iter([Ok(completed(d))])))),
        };
        // Progress lines reach the CLI while the action runs; Completed closes the stream.
        let (tx, rx) = futures::channel::mpsc::unbounded();
        tokio::spawn(async move {
            let progress_tx = tx.clone();
            let progress = move |message: String| {
                let _ = progress_tx.unbounded_send(Ok(Event { r#type: Some(Kind::Progress(Progress { message })) }));
            };
            let diags = action.invoke(&client, &config, &progress).await;
            let _ = tx.unbounded_send(Ok(completed(diags)));
        });
        Ok(Response::new(Box::pin(rx)))
    }

    async fn stop_provider(&self, _: Request<pb::stop_provider::Request>) -> Result<Response<pb::stop_provider::Response>, Status> {
        tracing::info!("StopProvider received; cancelling in-flight retries");
        crate::framework::cancel::stop();
        Ok(Response::new(pb::stop_provider::Response { error: String::new() }))
    }
}

impl<P: Provider> ProviderService<P> {
    /// The events of one ListResource call: each object's identity and, when asked for, its
    /// state in the managed resource's schema (what `query -generate-config-out` writes).
    async fn list_events(&self, req: &pb::list_resource::Request) -> Result<Vec<pb::list_resource::Event>, Diagnostics> {
        let entry = self.lists.get(&req.type_name).ok_or_else(|| unknown_type("list resource", &req.type_name))?;
        let resource = self.resource(&req.type_name)?;
        let identity_type = self.identities.get(&req.type_name).map(IdentitySchema::value_type).ok_or_else(|| {
            Diagnostics::from(Diagnostic::error("No resource identity", format!("{} has no identity to list by.", req.type_name)))
        })?;
        let config = decode_value(req.config.as_ref(), &entry.ty)?;
        let client = self.configured_client().await?;
        let limit = usize::try_from(req.limit).ok().filter(|l| *l > 0).unwrap_or(usize::MAX);
        let found = entry.imp.list(&client, &config, req.include_resource_object, limit).await?;
        let mut events = Vec::with_capacity(found.len());
        for item in found.into_iter().take(limit) {
            let identity = encode_value(&item.identity.conform(&identity_type), &identity_type)?;
            let resource_object = match item.resource_object.filter(|_| req.include_resource_object) {
                Some(state) => Some(encode_value(&state.conform(&resource.ty), &resource.ty)?),
                None => None,
            };
            events.push(pb::list_resource::Event {
                identity: Some(pb::ResourceIdentityData { identity_data: Some(identity) }),
                display_name: item.display_name,
                resource_object,
                diagnostic: convert::diagnostics(item.diagnostics),
            });
        }
        Ok(events)
    }

    fn id_from_identity(&self, type_name: &str, identity: Option<&pb::ResourceIdentityData>) -> Result<String, Diagnostics> {
        let missing =
            || Diagnostics::from(Diagnostic::error("Missing import ID", format!("Importing {type_name} needs an ID or an identity.")));
        let schema = self.identities.get(type_name).ok_or_else(missing)?;
        let data = identity.and_then(|i| i.identity_data.as_ref()).ok_or_else(missing)?;
        let value = decode_value(Some(data), &schema.value_type())?;
        let key = schema.attributes.iter().find(|a| a.required_for_import).ok_or_else(missing)?;
        value.get(&key.name).as_str().map(str::to_string).ok_or_else(missing)
    }
}

#[cfg(test)]
mod tests {
    //! The service with a small in-memory provider: the framework's generic behaviour (state
    //! upgrades, planning, identity, write-only handling) through the real protobuf messages.
    use super::*;
    use crate::framework::resource::{Applied, IdentityAttribute};
    use crate::framework::schema::{Attribute, Block};
    use async_trait::async_trait;
    use pb::provider_server::Provider as _;

    struct Widget;

    fn widget_schema() -> Schema {
        Schema::new(
            Block::new("test")
                .attribute(Attribute::string("name").required().force_new())
                .attribute(Attribute::string("size").default("small"))
                .attribute(Attribute::string("password").optional().write_only())
                .attribute(Attribute::string("arn").computed().keep_state_for_unknown()),
        )
        .version(1)
    }

    #[async_trait]
    impl Resource<()> for Widget {
        fn type_name(&self) -> &'static str {
            "test_widget"
        }
        fn schema(&self) -> Schema {
            widget_schema()
        }
        fn identity_schema(&self) -> Option<IdentitySchema> {
            Some(IdentitySchema {
                version: 0,
                attributes: vec![IdentityAttribute {
                    name: "name".into(),
                    ty: Type::String,
                    required_for_import: true,
                    description: String::new(),
                }],
            })
        }
        fn identity(&self, state: &Value) -> Option<Value> {
            Some(Value::object([("name", state.get("name").clone())]))
        }
        fn upgrade_state(&self, from: i64, mut state: serde_json::Value) -> Result<serde_json::Value, Diagnostics> {
            // Version 0 called the attribute "label".
            assert_eq!(from, 0);
            let label = state["label"].take();
            state["name"] = label;
            Ok(state)
        }
        async fn create(&self, _: &(), planned: &Value) -> Applied {
            let mut s = planned.clone();
            assert_eq!(s.get("password"), &Value::string("hunter2"), "write-only values reach create");
            s.set("arn", Value::string(format!("arn:test:{}", planned.get("name").as_str().unwrap())));
            Applied::ok(s)
        }
        async fn read(&self, _: &(), state: &Value) -> Result<Option<Value>, Diagnostics> {
            Ok(Some(state.clone()))
        }
        async fn update(&self, _: &(), _: &Value, planned: &Value) -> Applied {
            Applied::ok(planned.clone())
        }
        async fn delete(&self, _: &(), _: &Value) -> Diagnostics {
            Diagnostics::new()
        }
        async fn import(&self, _: &(), id: &str) -> Result<Value, Diagnostics> {
            Ok(Value::object([("name", Value::string(id))]))
        }
    }

    struct TestProvider;

    #[async_trait]
    impl Provider for TestProvider {
        type Client = ();
        fn type_name(&self) -> &'static str {
            "test"
        }
        fn schema(&self) -> Schema {
            Schema::new(Block::new("p"))
        }
        async fn configure(&self, _: &Value, _: &str) -> Result<(), Diagnostics> {
            Ok(())
        }
        fn resources(&self) -> Vec<Arc<dyn Resource<()>>> {
            vec![Arc::new(Widget)]
        }
    }

    async fn service() -> ProviderService<TestProvider> {
        let svc = ProviderService::new(TestProvider);
        svc.configure_provider(Request::new(pb::configure_provider::Request::default())).await.unwrap();
        svc
    }

    fn dv(v: &Value) -> Option<pb::DynamicValue> {
        Some(encode_value(&v.clone().conform(&widget_schema().value_type()), &widget_schema().value_type()).unwrap())
    }

    fn value(d: &Option<pb::DynamicValue>) -> Value {
        decode_value(d.as_ref(), &widget_schema().value_type()).unwrap()
    }

    #[tokio::test]
    async fn old_state_is_upgraded_and_stray_attributes_dropped() {
        let svc = service().await;
        let raw = pb::RawState { json: br#"{"label":"w1","size":"big","gone":true}"#.to_vec(), flatmap: Default::default() };
        let resp = svc
            .upgrade_resource_state(Request::new(pb::upgrade_resource_state::Request {
                type_name: "test_widget".into(),
                version: 0,
                raw_state: Some(raw),
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
        let v = value(&resp.upgraded_state);
        assert_eq!(v.get("name"), &Value::string("w1"));
        assert_eq!(v.get("size"), &Value::string("big"));
    }

    #[tokio::test]
    async fn state_from_a_newer_provider_is_refused() {
        let svc = service().await;
        let raw = pb::RawState { json: b"{}".to_vec(), flatmap: Default::default() };
        let resp = svc
            .upgrade_resource_state(Request::new(pb::upgrade_resource_state::Request {
                type_name: "test_widget".into(),
                version: 7,
                raw_state: Some(raw),
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(resp.diagnostics[0].detail.contains("version 7"));
    }

    #[tokio::test]
    async fn plan_create_then_replace_with_identity() {
        let svc = service().await;
        let config = Value::object([("name", Value::string("w1")), ("password", Value::string("hunter2"))]);
        let resp = svc
            .plan_resource_change(Request::new(pb::plan_resource_change::Request {
                type_name: "test_widget".into(),
                prior_state: dv(&Value::Null),
                proposed_new_state: dv(&config),
                config: dv(&config),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        let planned = value(&resp.planned_state);
        assert_eq!(planned.get("size"), &Value::string("small"));
        assert!(planned.get("arn").is_unknown());
        assert!(planned.get("password").is_null(), "write-only never planned");
        assert!(resp.planned_identity.is_some());

        let applied = svc
            .apply_resource_change(Request::new(pb::apply_resource_change::Request {
                type_name: "test_widget".into(),
                prior_state: dv(&Value::Null),
                planned_state: resp.planned_state.clone(),
                config: dv(&config),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
        let state = value(&applied.new_state);
        assert_eq!(state.get("arn"), &Value::string("arn:test:w1"));
        assert!(state.get("password").is_null(), "write-only never stored");

        let renamed = Value::object([("name", Value::string("w2"))]);
        let mut proposed = state.clone();
        proposed.set("name", Value::string("w2"));
        let replan = svc
            .plan_resource_change(Request::new(pb::plan_resource_change::Request {
                type_name: "test_widget".into(),
                prior_state: dv(&state),
                proposed_new_state: dv(&proposed),
                config: dv(&renamed),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(replan.requires_replace, vec![convert::attribute_path(&AttributePath::root("name"))]);
    }

    #[tokio::test]
    async fn import_by_identity_uses_the_identity_attribute() {
        let svc = service().await;
        let identity_ty = Type::object([("name", Type::String)]);
        let identity = encode_value(&Value::object([("name", Value::string("w9"))]), &identity_ty).unwrap();
        let resp = svc
            .import_resource_state(Request::new(pb::import_resource_state::Request {
                type_name: "test_widget".into(),
                id: String::new(),
                identity: Some(pb::ResourceIdentityData { identity_data: Some(identity) }),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
        assert_eq!(value(&resp.imported_resources[0].state).get("name"), &Value::string("w9"));
    }

    #[tokio::test]
    async fn unknown_types_are_diagnostics_not_transport_errors() {
        let svc = service().await;
        let resp = svc
            .validate_resource_config(Request::new(pb::validate_resource_config::Request {
                type_name: "nope".into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(resp.diagnostics[0].summary.contains("Unknown resource type"));
    }
}
