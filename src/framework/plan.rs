//! Generic planning from the schema: defaults, write-only nulling, unknown-marking of computed
//! attributes, and requires-replace for `force_new` attributes. Resources refine the result in
//! `Resource::modify_plan`.

use super::diagnostics::AttributePath;
use super::schema::Schema;
use super::value::Value;

/// Applies the schema's behaviours to Terraform's proposed new state.
pub fn plan_from_schema(schema: &Schema, prior: &Value, config: &Value, proposed: Value) -> Value {
    if proposed.is_null() {
        return proposed; // destroy
    }
    let creating = prior.is_null();
    let mut planned = proposed;
    let mut unconfigured_computed = Vec::new();
    for attr in &schema.block.attributes {
        if attr.write_only {
            planned.set(&attr.name, Value::Null);
            continue;
        }
        if !attr.computed || !config.get(&attr.name).is_null() {
            continue;
        }
        if let Some(default) = &attr.default {
            planned.set(&attr.name, default.clone());
        } else if creating {
            planned.set(&attr.name, Value::Unknown);
        } else if !attr.keep_state_for_unknown {
            unconfigured_computed.push(attr.name.as_str());
        }
    }
    // On update, a computed value may change along with anything configured; the resource
    // fills in what it can predict, the rest is "known after apply".
    if !creating && &planned != prior {
        for name in unconfigured_computed {
            planned.set(name, Value::Unknown);
        }
    }
    planned
}

/// `force_new` attributes whose planned value differs from the prior state.
pub fn replacement_paths(schema: &Schema, prior: &Value, planned: &Value) -> Vec<AttributePath> {
    if prior.is_null() || planned.is_null() {
        return Vec::new();
    }
    schema
        .block
        .attributes
        .iter()
        .filter(|a| a.force_new && prior.get(&a.name) != planned.get(&a.name))
        .map(|a| AttributePath::root(&a.name))
        .collect()
}

/// Write-only attributes never leave the provider; applied and read state carry them as null.
pub fn null_write_only(schema: &Schema, state: &mut Value) {
    if state.is_null() {
        return;
    }
    for attr in schema.block.attributes.iter().filter(|a| a.write_only) {
        state.set(&attr.name, Value::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::{Attribute, Block};

    fn schema() -> Schema {
        Schema::new(
            Block::new("t")
                .attribute(Attribute::string("name").required().force_new())
                .attribute(Attribute::string("note").optional())
                .attribute(Attribute::string("namespace").default("maestro"))
                .attribute(Attribute::string("arn").computed().keep_state_for_unknown())
                .attribute(Attribute::string("etag").computed())
                .attribute(Attribute::string("password").optional().write_only()),
        )
    }

    /// An object with every schema attribute present, as Terraform sends them.
    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::object(pairs.iter().cloned()).conform(&schema().value_type())
    }

    #[test]
    fn create_marks_computed_unknown_and_applies_defaults() {
        let config = obj(&[("name", "a".into()), ("password", "s3cret".into())]);
        let planned = plan_from_schema(&schema(), &Value::Null, &config, config.clone());
        assert_eq!(planned.get("namespace"), &Value::string("maestro"));
        assert!(planned.get("arn").is_unknown());
        assert!(planned.get("etag").is_unknown());
        assert!(planned.get("password").is_null(), "write-only must never be planned");
    }

    #[test]
    fn no_change_keeps_everything() {
        let prior = obj(&[("name", "a".into()), ("namespace", "maestro".into()), ("arn", "x".into()), ("etag", "1".into())]);
        let config = obj(&[("name", "a".into())]);
        let planned = plan_from_schema(&schema(), &prior, &config, prior.clone());
        assert_eq!(planned, prior);
        assert!(replacement_paths(&schema(), &prior, &planned).is_empty());
    }

    #[test]
    fn update_marks_volatile_computed_unknown_but_keeps_stable_ones() {
        let prior = obj(&[("name", "a".into()), ("namespace", "maestro".into()), ("arn", "x".into()), ("etag", "1".into())]);
        let config = obj(&[("name", "a".into()), ("note", "hello".into())]);
        let mut proposed = prior.clone();
        proposed.set("note", "hello".into());
        let planned = plan_from_schema(&schema(), &prior, &config, proposed);
        assert_eq!(planned.get("arn"), &Value::string("x"));
        assert!(planned.get("etag").is_unknown());
    }

    #[test]
    fn force_new_changes_require_replacement() {
        let prior = obj(&[("name", "a".into())]);
        let planned = obj(&[("name", "b".into())]);
        let paths = replacement_paths(&schema(), &prior, &planned);
        assert_eq!(paths, vec![AttributePath::root("name")]);
    }
}
