//! UpgradeResourceState and UpgradeResourceIdentity: stored JSON (written by this or an older
//! provider) brought to the current schema, or refused with a reason.

use super::{encode, DynamicValue, Server};
use crate::framework::diagnostics::{Diagnostic, Diagnostics};
use crate::framework::provider::Provider;
use crate::framework::value::Value;

/// Stored state as Terraform hands it over: JSON, or the legacy flatmap (never ours).
#[derive(Clone, Debug, Default)]
pub struct RawState<'a> {
    pub json: &'a [u8],
    pub has_flatmap: bool,
}

impl<P: Provider> Server<P> {
    pub fn upgrade_resource_state(&self, type_name: &str, version: i64, raw: RawState<'_>) -> Result<DynamicValue, Diagnostics> {
        let entry = self.resource(type_name)?;
        if raw.json.is_empty() && raw.has_flatmap {
            return Err(Diagnostic::error(
                "Unsupported state format",
                "This state was written in the legacy flatmap format, which this provider never produced.",
            )
            .into());
        }
        let json: serde_json::Value = if raw.json.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(raw.json)
                .map_err(|e| Diagnostics::from(Diagnostic::error("Corrupt state", format!("The stored state is not JSON: {e}"))))?
        };
        if version > entry.schema.version {
            return Err(Diagnostic::error(
                "State from a newer provider",
                format!(
                    "This {type_name} state has schema version {version}, but this provider knows only up to {}. Upgrade the provider.",
                    entry.schema.version
                ),
            )
            .into());
        }
        let json = if version < entry.schema.version { entry.imp.upgrade_state(version, json)? } else { json };
        let value = Value::from_json(&json, &entry.ty).map_err(|e| {
            Diagnostics::from(Diagnostic::error("Corrupt state", format!("The stored state does not match the schema: {e}")))
        })?;
        encode(&value, &entry.ty)
    }

    pub fn upgrade_resource_identity(&self, type_name: &str, raw_json: &[u8]) -> Result<DynamicValue, Diagnostics> {
        let schema = self.identities.get(type_name).ok_or_else(|| super::unknown_type("resource identity", type_name))?;
        let json: serde_json::Value = serde_json::from_slice(raw_json).unwrap_or(serde_json::Value::Null);
        let value =
            Value::from_json(&json, &schema.value_type()).map_err(|e| Diagnostics::from(Diagnostic::error("Corrupt identity", e)))?;
        encode(&value, &schema.value_type())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{configured, value};
    use super::*;
    use crate::framework::value::Type;

    #[tokio::test]
    async fn old_state_is_upgraded_and_stray_attributes_dropped() {
        let server = configured().await;
        let raw = RawState { json: br#"{"label":"w1","size":"big","gone":true}"#, has_flatmap: false };
        let upgraded = server.upgrade_resource_state("test_widget", 0, raw).unwrap();
        let v = value(&Some(upgraded));
        assert_eq!(v.get("name"), &Value::string("w1"));
        assert_eq!(v.get("size"), &Value::string("big"));
    }

    #[tokio::test]
    async fn current_state_is_read_as_it_is() {
        let server = configured().await;
        let raw = RawState { json: br#"{"label":"kept","name":"w1"}"#, has_flatmap: false };
        let v = value(&Some(server.upgrade_resource_state("test_widget", 1, raw).unwrap()));
        assert_eq!(v.get("name"), &Value::string("w1"), "no upgrade runs at the current version");
    }

    #[tokio::test]
    async fn state_from_a_newer_provider_is_refused() {
        let server = configured().await;
        let err = server.upgrade_resource_state("test_widget", 7, RawState { json: b"{}", has_flatmap: false }).unwrap_err();
        assert!(err.0[0].detail.contains("version 7"), "{err}");
    }

    #[tokio::test]
    async fn flatmap_and_corrupt_state_are_refused() {
        let server = configured().await;
        let flatmap = server.upgrade_resource_state("test_widget", 1, RawState { json: b"", has_flatmap: true }).unwrap_err();
        assert_eq!(flatmap.0[0].summary, "Unsupported state format");
        let corrupt = server.upgrade_resource_state("test_widget", 1, RawState { json: b"{", has_flatmap: false }).unwrap_err();
        assert_eq!(corrupt.0[0].summary, "Corrupt state");
        let mistyped = server.upgrade_resource_state("test_widget", 1, RawState { json: br#"{"name":[1]}"#, has_flatmap: false });
        assert_eq!(mistyped.unwrap_err().0[0].summary, "Corrupt state");
    }

    #[tokio::test]
    async fn identity_is_read_against_its_schema() {
        let server = configured().await;
        let upgraded = server.upgrade_resource_identity("test_widget", br#"{"name":"w1"}"#).unwrap();
        let identity = super::super::decode(Some(&upgraded), &Type::object([("name", Type::String)])).unwrap();
        assert_eq!(identity.get("name"), &Value::string("w1"));
        assert!(server.upgrade_resource_identity("nope", b"{}").is_err());
    }
}
