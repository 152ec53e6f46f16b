//! ApplyResourceChange: create, update or delete as the plan says; write-only values handed to
//! the resource from the configuration and nulled in what is stored; no unknown left in state.

use super::{decode, encode, DynamicValue, IdentityData, Server};
use crate::framework::diagnostics::Diagnostics;
use crate::framework::plan::null_write_only;
use crate::framework::provider::Provider;
use crate::framework::schema::Schema;
use crate::framework::value::Value;

pub struct ApplyRequest<'a> {
    pub type_name: &'a str,
    pub prior_state: Option<&'a DynamicValue>,
    pub planned_state: Option<&'a DynamicValue>,
    pub config: Option<&'a DynamicValue>,
    pub planned_private: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct Applied {
    pub new_state: Option<DynamicValue>,
    pub private: Vec<u8>,
    pub new_identity: Option<IdentityData>,
    pub diagnostics: Diagnostics,
}

impl<P: Provider> Server<P> {
    pub async fn apply_resource_change(&self, req: ApplyRequest<'_>) -> Applied {
        // On an early failure, keep what Terraform had so nothing is forgotten.
        let prior_state = req.prior_state.cloned();
        self.apply(req).await.unwrap_or_else(|diagnostics| Applied { new_state: prior_state, diagnostics, ..Applied::default() })
    }

    async fn apply(&self, req: ApplyRequest<'_>) -> Result<Applied, Diagnostics> {
        let entry = self.resource(req.type_name)?;
        let prior = decode(req.prior_state, &entry.ty)?;
        let planned = decode(req.planned_state, &entry.ty)?;
        let config = decode(req.config, &entry.ty)?;
        let client = self.configured_client().await?;
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
        Ok(Applied {
            new_identity: self.identity_of(req.type_name, entry, &new_state),
            new_state: Some(encode(&new_state, &entry.ty)?),
            private: req.planned_private,
            diagnostics: diags,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::super::testing::{configured, dv, value};
    use super::*;

    fn widget(name: &str, arn: Value) -> Value {
        Value::object([("name", Value::string(name)), ("size", Value::string("small")), ("arn", arn)])
    }

    #[tokio::test]
    async fn create_sees_the_write_only_value_and_state_never_keeps_it() {
        let server = configured().await;
        let config = dv(&Value::object([("name", Value::string("w1")), ("password", Value::string("hunter2"))]));
        let planned = dv(&widget("w1", Value::Unknown));
        let applied = server
            .apply_resource_change(ApplyRequest {
                type_name: "test_widget",
                prior_state: None,
                planned_state: planned.as_ref(),
                config: config.as_ref(),
                planned_private: b"private".to_vec(),
            })
            .await;
        // The widget asserts in create that it received the password from the configuration.
        assert!(applied.diagnostics.is_empty(), "{}", applied.diagnostics);
        let state = value(&applied.new_state);
        assert_eq!(state.get("arn"), &Value::string("arn:test:w1"));
        assert!(state.get("password").is_null(), "write-only never stored");
        assert!(applied.new_identity.is_some());
        assert_eq!(applied.private, b"private");
    }

    #[tokio::test]
    async fn an_unknown_left_after_apply_is_nulled_with_an_error() {
        let server = configured().await;
        // The widget's update returns the plan as it is, unknown ARN included.
        let (prior, planned) = (dv(&widget("w1", Value::string("a"))), dv(&widget("w1", Value::Unknown)));
        let applied = server
            .apply_resource_change(ApplyRequest {
                type_name: "test_widget",
                prior_state: prior.as_ref(),
                planned_state: planned.as_ref(),
                config: planned.as_ref(),
                planned_private: vec![],
            })
            .await;
        assert_eq!(applied.diagnostics.0.len(), 1, "{}", applied.diagnostics);
        assert_eq!(applied.diagnostics.0[0].summary, "Provider produced an unknown value");
        let state = value(&applied.new_state);
        assert!(state.is_wholly_known(), "{state:?}");
        assert!(state.get("arn").is_null());
        assert_eq!(state.get("name"), &Value::string("w1"), "known values are kept");
    }

    #[test]
    fn unknowns_are_nulled_at_every_depth() {
        let nested = Value::object([("a", Value::Unknown), ("b", Value::List(vec![Value::string("x"), Value::Unknown]))]);
        let nulled = unknowns_to_null(nested);
        assert_eq!(nulled, Value::object([("a", Value::Null), ("b", Value::List(vec![Value::string("x"), Value::Null]))]));
    }

    #[tokio::test]
    async fn delete_forgets_the_object_unless_it_failed() {
        let server = configured().await;
        let delete = |prior: Option<DynamicValue>| {
            let server = &server;
            async move {
                server
                    .apply_resource_change(ApplyRequest {
                        type_name: "test_widget",
                        prior_state: prior.as_ref(),
                        planned_state: None,
                        config: None,
                        planned_private: vec![],
                    })
                    .await
            }
        };
        let deleted = delete(dv(&widget("w1", Value::string("a")))).await;
        assert!(deleted.diagnostics.is_empty());
        assert!(value(&deleted.new_state).is_null());
        let stuck = delete(dv(&widget("stuck", Value::string("a")))).await;
        assert!(stuck.diagnostics.has_errors());
        assert_eq!(value(&stuck.new_state).get("name"), &Value::string("stuck"), "a failed delete stays in state");
        assert!(stuck.new_identity.is_some());
    }

    #[tokio::test]
    async fn an_early_failure_keeps_the_prior_state() {
        let server = configured().await;
        let prior = DynamicValue { msgpack: b"whatever Terraform had".to_vec(), json: vec![] };
        let applied = server
            .apply_resource_change(ApplyRequest {
                type_name: "nope",
                prior_state: Some(&prior),
                planned_state: None,
                config: None,
                planned_private: b"private".to_vec(),
            })
            .await;
        assert!(applied.diagnostics.has_errors());
        assert_eq!(applied.new_state, Some(prior));
        assert!(applied.private.is_empty() && applied.new_identity.is_none());
    }
}
