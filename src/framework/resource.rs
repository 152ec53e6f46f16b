//! The traits resources, data sources, ephemeral resources and functions implement.
//!
//! They are generic over `C`, the provider's configured client bundle, so the framework knows
//! nothing of AWS. Each implementation lives in its folder under `src/resources/` and is listed
//! once in that module's registry.

use super::diagnostics::Diagnostics;
use super::schema::Schema;
use super::value::{Type, Value};
use async_trait::async_trait;
use std::time::SystemTime;

/// The provider's view of a planned change, handed to [`Resource::modify_plan`] after the
/// framework has applied defaults and unknown-marking from the schema.
pub struct Plan<'a> {
    /// Null when the resource is being created.
    pub prior: &'a Value,
    pub config: &'a Value,
    /// What the provider promises the state will be; unknown where it cannot say yet.
    pub planned: Value,
    /// Attributes (besides those marked `force_new`) whose change needs a replacement.
    pub requires_replace: Vec<super::diagnostics::AttributePath>,
}

impl Plan<'_> {
    pub fn is_create(&self) -> bool {
        self.prior.is_null()
    }

    /// True when the configured attributes differ from the prior state.
    pub fn has_changes(&self) -> bool {
        !self.prior.is_null() && &self.planned != self.prior
    }
}

/// What create and update produce. A failure midway still returns the state of whatever was
/// created, so Terraform records it (tainted) and the next apply repairs or replaces it rather
/// than leaving AWS objects nobody tracks.
pub struct Applied {
    pub state: Value,
    pub diags: Diagnostics,
}

impl Applied {
    pub fn ok(state: Value) -> Self {
        Applied { state, diags: Diagnostics::new() }
    }

    pub fn failed(state: Value, diags: Diagnostics) -> Self {
        Applied { state, diags }
    }
}

#[async_trait]
pub trait Resource<C: Send + Sync>: Send + Sync {
    /// Full type name, e.g. `maestro_agent_identity`.
    fn type_name(&self) -> &'static str;

    fn schema(&self) -> Schema;

    /// The one string attribute, and its description, that names the remote object — the
    /// usual resource identity. Resources with such an identity say only this; the two methods
    /// below follow from it.
    fn identity_attribute(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    /// Resource identity (protocol 6.9+): attributes that name the remote object.
    fn identity_schema(&self) -> Option<IdentitySchema> {
        self.identity_attribute().map(|(name, description)| IdentitySchema::single_string(name, description))
    }

    /// The identity of a resource as derived from its state.
    fn identity(&self, state: &Value) -> Option<Value> {
        self.identity_attribute().and_then(|(name, _)| IdentitySchema::single_from_state(state, name))
    }

    /// Checks beyond per-attribute validators (cross-attribute rules). Values may be unknown.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// Refines the plan: compute attributes that are knowable before apply and flag changes
    /// that need replacement. `client` is `None` when the provider is not configured yet.
    async fn modify_plan(&self, _client: Option<&C>, _plan: &mut Plan<'_>, _diags: &mut Diagnostics) {}

    async fn create(&self, client: &C, planned: &Value) -> Applied;

    /// Returns `None` when the remote object is gone, so Terraform plans to create it again.
    async fn read(&self, client: &C, state: &Value) -> Result<Option<Value>, Diagnostics>;

    async fn update(&self, client: &C, prior: &Value, planned: &Value) -> Applied;

    async fn delete(&self, client: &C, state: &Value) -> Diagnostics;

    /// Turns an import ID into a minimal state; Terraform then calls `read` to fill it.
    async fn import(&self, _client: &C, _id: &str) -> Result<Value, Diagnostics> {
        Err(super::diagnostics::Diagnostic::error("Import not supported", format!("{} cannot be imported.", self.type_name())).into())
    }

    /// Rewrites JSON state stored by an older schema version into the current shape.
    fn upgrade_state(&self, _from_version: i64, state: serde_json::Value) -> Result<serde_json::Value, Diagnostics> {
        Ok(state)
    }
}

#[derive(Clone, Debug)]
pub struct IdentitySchema {
    pub version: i64,
    /// (name, type, required for import, description)
    pub attributes: Vec<IdentityAttribute>,
}

#[derive(Clone, Debug)]
pub struct IdentityAttribute {
    pub name: String,
    pub ty: Type,
    pub required_for_import: bool,
    pub description: String,
}

impl IdentitySchema {
    /// The usual identity: one required string attribute naming the remote object.
    pub fn single_string(name: &str, description: &str) -> Self {
        IdentitySchema {
            version: 0,
            attributes: vec![IdentityAttribute {
                name: name.into(),
                ty: Type::String,
                required_for_import: true,
                description: description.into(),
            }],
        }
    }

    /// The identity `{name = <state.name>}` of a [`single_string`](Self::single_string)
    /// schema; `None` while the state has no value for it.
    pub fn single_from_state(state: &Value, name: &str) -> Option<Value> {
        let id = state.get(name);
        (!id.is_null()).then(|| Value::object([(name, id.clone())]))
    }

    pub fn value_type(&self) -> Type {
        Type::Object(self.attributes.iter().map(|a| (a.name.clone(), a.ty.clone())).collect())
    }
}

#[async_trait]
pub trait DataSource<C: Send + Sync>: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}
    async fn read(&self, client: &C, config: &Value) -> Result<Value, Diagnostics>;
}

/// An ephemeral resource's result: never stored, only handed to other configuration for the
/// length of one run.
pub struct Opened {
    pub result: Value,
    pub renew_at: Option<SystemTime>,
    /// Opaque to Terraform; handed back to renew and close.
    pub private: Vec<u8>,
}

#[async_trait]
pub trait EphemeralResource<C: Send + Sync>: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}
    async fn open(&self, client: &C, config: &Value) -> Result<Opened, Diagnostics>;
    async fn renew(&self, _client: &C, _private: &[u8]) -> Result<Option<SystemTime>, Diagnostics> {
        Ok(None)
    }
    async fn close(&self, _client: &C, _private: &[u8]) -> Diagnostics {
        Diagnostics::new()
    }
}

/// One object a list resource found: its identity (in the managed resource's identity schema)
/// and, when asked for, the state `import` would give it.
#[derive(Clone, Debug)]
pub struct Listed {
    pub identity: Value,
    pub display_name: String,
    pub resource_object: Option<Value>,
    /// Why an object could not be read in full (it is still listed).
    pub diagnostics: Diagnostics,
}

/// Lists remote objects of a managed resource type (protocol 6.10, `terraform query`). The type
/// name is the managed resource's: `list "maestro_consumer" "all" { ... }`.
#[async_trait]
pub trait ListResource<C: Send + Sync>: Send + Sync {
    fn type_name(&self) -> &'static str;
    /// The arguments of the list block's `config`.
    fn schema(&self) -> Schema;
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}
    /// At most `limit` objects; `resource_object` only when `include_resource_object`.
    async fn list(&self, client: &C, config: &Value, include_resource_object: bool, limit: usize) -> Result<Vec<Listed>, Diagnostics>;
}

/// An imperative operation a user invokes (protocol 6.10, `terraform apply -invoke=...`).
#[async_trait]
pub trait Action<C: Send + Sync>: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}
    /// Runs the action; `progress` shows a line to the user while it runs.
    async fn invoke(&self, client: &C, config: &Value, progress: &(dyn Fn(String) + Send + Sync)) -> Diagnostics;
}

#[derive(Clone, Debug)]
pub struct Parameter {
    pub name: String,
    pub ty: Type,
    pub description: String,
    pub allow_null: bool,
}

#[derive(Clone, Debug)]
pub struct FunctionSignature {
    pub parameters: Vec<Parameter>,
    pub variadic: Option<Parameter>,
    pub return_type: Type,
    pub summary: String,
    pub description: String,
}

/// An error from a provider function, optionally blaming one argument (0-based).
#[derive(Clone, Debug)]
pub struct FunctionError {
    pub text: String,
    pub argument: Option<i64>,
}

/// Provider-defined functions are pure: no client, no I/O.
pub trait Function: Send + Sync {
    fn name(&self) -> &'static str;
    fn signature(&self) -> FunctionSignature;
    fn call(&self, args: &[Value]) -> Result<Value, FunctionError>;
}
