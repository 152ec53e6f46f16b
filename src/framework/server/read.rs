//! ReadResource, ImportResourceState (by ID or by identity), GenerateResourceConfig and
//! MoveResourceState: what Terraform learns about an object that already exists.

use super::{decode, encode, DynamicValue, IdentityData, Server};
use crate::framework::diagnostics::{Diagnostic, Diagnostics};
use crate::framework::plan::null_write_only;
use crate::framework::provider::Provider;
use crate::framework::value::Value;

#[derive(Debug, Default)]
pub struct Read {
    pub new_state: Option<DynamicValue>,
    pub new_identity: Option<IdentityData>,
    pub diagnostics: Diagnostics,
}

/// One object an import found (this provider imports exactly one per call).
#[derive(Debug)]
pub struct Imported {
    pub state: DynamicValue,
    pub identity: Option<IdentityData>,
}

impl<P: Provider> Server<P> {
    /// Refresh: the object as it is now; null state when it is gone. On failure Terraform keeps
    /// the state it sent.
    pub async fn read_resource(&self, type_name: &str, current_state: Option<&DynamicValue>) -> Read {
        let unchanged = |diagnostics| Read { new_state: current_state.cloned(), new_identity: None, diagnostics };
        match self.read(type_name, current_state).await {
            Ok(Some(read)) => read,
            Ok(None) => unchanged(Diagnostics::new()),
            Err(diagnostics) => unchanged(diagnostics),
        }
    }

    async fn read(&self, type_name: &str, current_state: Option<&DynamicValue>) -> Result<Option<Read>, Diagnostics> {
        let entry = self.resource(type_name)?;
        let state = decode(current_state, &entry.ty)?;
        if state.is_null() {
            return Ok(None);
        }
        let client = self.configured_client().await?;
        let new_state = match entry.imp.read(&client, &state).await? {
            Some(mut s) => {
                null_write_only(&entry.schema, &mut s);
                s.conform(&entry.ty)
            }
            None => {
                tracing::info!(type_name = %type_name, "remote object is gone; removing it from state");
                Value::Null
            }
        };
        Ok(Some(Read {
            new_identity: self.identity_of(type_name, entry, &new_state),
            new_state: Some(encode(&new_state, &entry.ty)?),
            diagnostics: Diagnostics::new(),
        }))
    }

    /// Import by ID, or (protocol 6.9+, empty ID) by the identity's import attribute.
    pub async fn import_resource_state(&self, type_name: &str, id: &str, identity: Option<&IdentityData>) -> Result<Imported, Diagnostics> {
        let entry = self.resource(type_name)?;
        let id = if id.is_empty() { self.id_from_identity(type_name, identity)? } else { id.to_string() };
        let client = self.configured_client().await?;
        let state = entry.imp.import(&client, &id).await?.conform(&entry.ty);
        Ok(Imported { identity: self.identity_of(type_name, entry, &state), state: encode(&state, &entry.ty)? })
    }

    fn id_from_identity(&self, type_name: &str, identity: Option<&IdentityData>) -> Result<String, Diagnostics> {
        let missing =
            || Diagnostics::from(Diagnostic::error("Missing import ID", format!("Importing {type_name} needs an ID or an identity.")));
        let schema = self.identities.get(type_name).ok_or_else(missing)?;
        let data = identity.and_then(|i| i.data.as_ref()).ok_or_else(missing)?;
        let value = decode(Some(data), &schema.value_type())?;
        let key = schema.attributes.iter().find(|a| a.required_for_import).ok_or_else(missing)?;
        value.get(&key.name).as_str().map(str::to_string).ok_or_else(missing)
    }

    /// Configuration holds what a user writes: what the provider computes by itself is dropped.
    pub fn generate_resource_config(&self, type_name: &str, state: Option<&DynamicValue>) -> Result<DynamicValue, Diagnostics> {
        let entry = self.resource(type_name)?;
        let mut state = decode(state, &entry.ty)?;
        for attr in entry.schema.block.attributes.iter().filter(|a| a.computed && !a.optional) {
            state.set(&attr.name, Value::Null);
        }
        encode(&state.conform(&entry.ty), &entry.ty)
    }

    /// No resource here accepts state moved from another type.
    pub fn move_resource_state(&self, target_type_name: &str, source_provider_address: &str, source_type_name: &str) -> Diagnostics {
        Diagnostic::error(
            "Move not supported",
            format!("{target_type_name} cannot be moved from {source_provider_address} {source_type_name}."),
        )
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{configured, dv, value};
    use super::*;
    use crate::framework::value::Type;

    #[tokio::test]
    async fn import_by_identity_uses_the_identity_attribute() {
        let server = configured().await;
        let identity_ty = Type::object([("name", Type::String)]);
        let identity = IdentityData { data: Some(encode(&Value::object([("name", Value::string("w9"))]), &identity_ty).unwrap()) };
        let imported = server.import_resource_state("test_widget", "", Some(&identity)).await.unwrap();
        assert_eq!(value(&Some(imported.state)).get("name"), &Value::string("w9"));
        assert!(imported.identity.is_some());
        let err = server.import_resource_state("test_widget", "", None).await.unwrap_err();
        assert_eq!(err.0[0].summary, "Missing import ID");
    }

    #[tokio::test]
    async fn read_nulls_write_only_values_and_forgets_what_is_gone() {
        let server = configured().await;
        let stored = dv(&Value::object([("name", Value::string("w1")), ("password", Value::string("leaked"))]));
        let read = server.read_resource("test_widget", stored.as_ref()).await;
        assert!(read.diagnostics.is_empty(), "{}", read.diagnostics);
        let state = value(&read.new_state);
        assert_eq!(state.get("name"), &Value::string("w1"));
        assert!(state.get("password").is_null(), "write-only values are never read back into state");
        assert!(read.new_identity.is_some());

        let gone = server.read_resource("test_widget", dv(&Value::object([("name", Value::string("gone"))])).as_ref()).await;
        assert!(gone.diagnostics.is_empty());
        assert!(value(&gone.new_state).is_null(), "an object deleted outside Terraform leaves state");
    }

    #[tokio::test]
    async fn a_failed_read_keeps_the_state_terraform_sent() {
        let server = configured().await;
        let sent = DynamicValue { msgpack: b"as sent".to_vec(), json: vec![] };
        let read = server.read_resource("nope", Some(&sent)).await;
        assert!(read.diagnostics.has_errors());
        assert_eq!(read.new_state, Some(sent));
    }

    #[tokio::test]
    async fn generated_config_leaves_out_what_the_provider_computes() {
        let server = configured().await;
        let state = dv(&Value::object([("name", Value::string("w1")), ("arn", Value::string("arn:test:w1"))]));
        let config = value(&Some(server.generate_resource_config("test_widget", state.as_ref()).unwrap()));
        assert_eq!(config.get("name"), &Value::string("w1"));
        assert!(config.get("arn").is_null());
    }
}
