//! The Validate*Config calls: schema validators first, then the implementation's own
//! cross-attribute checks. Values may still be unknown here.

use super::{decode, DynamicValue, Entry, Server};
use crate::framework::diagnostics::{AttributePath, Diagnostics};
use crate::framework::provider::Provider;
use crate::framework::schema::validate_block;
use crate::framework::value::Value;

fn validate_config<T: ?Sized>(
    entry: Result<&Entry<T>, Diagnostics>,
    config: Option<&DynamicValue>,
    extra: impl FnOnce(&Entry<T>, &Value, &mut Diagnostics),
) -> Diagnostics {
    let checked = entry.and_then(|entry| {
        let config = decode(config, &entry.ty)?;
        let mut diags = Diagnostics::new();
        validate_block(&entry.schema.block, &config, &AttributePath::default(), &mut diags);
        extra(entry, &config, &mut diags);
        Ok(diags)
    });
    checked.unwrap_or_else(|d| d)
}

impl<P: Provider> Server<P> {
    pub fn validate_provider_config(&self, config: Option<&DynamicValue>) -> Diagnostics {
        let config = match decode(config, &self.provider_type) {
            Ok(config) => config,
            Err(d) => return d,
        };
        let mut diags = Diagnostics::new();
        validate_block(&self.provider_schema.block, &config, &AttributePath::default(), &mut diags);
        self.provider.validate_config(&config, &mut diags);
        diags
    }

    pub fn validate_resource_config(&self, type_name: &str, config: Option<&DynamicValue>) -> Diagnostics {
        validate_config(self.resource(type_name), config, |e, c, d| e.imp.validate(c, d))
    }

    pub fn validate_data_source_config(&self, type_name: &str, config: Option<&DynamicValue>) -> Diagnostics {
        validate_config(self.data_source(type_name), config, |e, c, d| e.imp.validate(c, d))
    }

    pub fn validate_ephemeral_resource_config(&self, type_name: &str, config: Option<&DynamicValue>) -> Diagnostics {
        validate_config(self.ephemeral_resource(type_name), config, |e, c, d| e.imp.validate(c, d))
    }

    pub fn validate_list_resource_config(&self, type_name: &str, config: Option<&DynamicValue>) -> Diagnostics {
        validate_config(self.list_entry(type_name), config, |e, c, d| e.imp.validate(c, d))
    }

    /// Also PlanAction: actions change nothing Terraform plans, so their plan only checks this.
    pub fn validate_action_config(&self, type_name: &str, config: Option<&DynamicValue>) -> Diagnostics {
        validate_config(self.action(type_name), config, |e, c, d| e.imp.validate(c, d))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{configured, dv};
    use crate::framework::diagnostics::AttributePath;
    use crate::framework::value::Value;

    #[tokio::test]
    async fn unknown_types_are_diagnostics() {
        let server = configured().await;
        let diags = server.validate_resource_config("nope", None);
        assert!(diags.to_string().contains("Unknown resource type"), "{diags}");
        assert!(server.validate_action_config("nope", None).to_string().contains("Unknown action type"));
    }

    #[tokio::test]
    async fn schema_validators_run_on_the_configuration() {
        let server = configured().await;
        let huge = Value::object([("name", Value::string("w1")), ("size", Value::string("huge"))]);
        let diags = server.validate_resource_config("test_widget", dv(&huge).as_ref());
        assert_eq!(diags.0.len(), 1, "{diags}");
        assert_eq!(diags.0[0].attribute, Some(AttributePath::root("size")), "the error is pinned to its attribute");
        let big = Value::object([("name", Value::string("w1")), ("size", Value::string("big"))]);
        assert!(server.validate_resource_config("test_widget", dv(&big).as_ref()).is_empty());
    }
}
