//! Schema description: what a provider, resource, data source or ephemeral resource accepts
//! and computes, plus the behaviours the framework applies generically (validators, defaults,
//! requires-replace, keeping state for unknowns).

use super::diagnostics::{AttributePath, Diagnostic, Diagnostics};
use super::value::{Type, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Checks one known, non-null value; the error text completes "Invalid <attribute>: ...".
pub type Validator = Arc<dyn Fn(&Value) -> Result<(), String> + Send + Sync>;

#[derive(Clone, Debug, Default)]
pub struct Schema {
    /// Bumped when stored state changes shape; see `Resource::upgrade_state`.
    pub version: i64,
    pub block: Block,
}

impl Schema {
    pub fn new(block: Block) -> Self {
        Schema { version: 0, block }
    }

    pub fn version(mut self, version: i64) -> Self {
        self.version = version;
        self
    }

    pub fn value_type(&self) -> Type {
        self.block.value_type()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Block {
    pub description: String,
    pub deprecated: bool,
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
}

impl Block {
    pub fn new(description: &str) -> Self {
        Block { description: description.to_string(), ..Default::default() }
    }

    pub fn attribute(mut self, a: Attribute) -> Self {
        self.attributes.push(a);
        self
    }

    pub fn block(mut self, b: NestedBlock) -> Self {
        self.blocks.push(b);
        self
    }

    pub fn find_attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The object type this block's values have on the wire.
    pub fn value_type(&self) -> Type {
        let mut attrs: BTreeMap<String, Type> = self.attributes.iter().map(|a| (a.name.clone(), a.value_type())).collect();
        for b in &self.blocks {
            attrs.insert(b.name.clone(), b.value_type());
        }
        Type::Object(attrs)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nesting {
    /// At most one, null when absent.
    Single,
    /// Exactly one, never null (absent means all attributes null).
    Group,
    List,
    Set,
    Map,
}

impl Nesting {
    fn wrap(self, object: Type) -> Type {
        match self {
            Nesting::Single | Nesting::Group => object,
            Nesting::List => Type::list(object),
            Nesting::Set => Type::set(object),
            Nesting::Map => Type::map(object),
        }
    }
}

#[derive(Clone, Debug)]
pub struct NestedBlock {
    pub name: String,
    pub nesting: Nesting,
    pub block: Block,
    pub min_items: i64,
    pub max_items: i64,
}

impl NestedBlock {
    pub fn single(name: &str, block: Block) -> Self {
        NestedBlock { name: name.to_string(), nesting: Nesting::Single, block, min_items: 0, max_items: 0 }
    }

    pub fn value_type(&self) -> Type {
        self.nesting.wrap(self.block.value_type())
    }
}

#[derive(Clone, Debug)]
pub enum AttributeKind {
    Plain(Type),
    /// Nested attributes (protocol's `nested_type`): attributes with structure but `=` syntax.
    Nested {
        nesting: Nesting,
        attributes: Vec<Attribute>,
    },
}

#[derive(Clone)]
pub struct Attribute {
    pub name: String,
    pub kind: AttributeKind,
    pub description: String,
    pub required: bool,
    pub optional: bool,
    pub computed: bool,
    pub sensitive: bool,
    /// Accepted in configuration but never stored: always null in plan and state.
    pub write_only: bool,
    pub deprecation: Option<String>,
    /// A change to this attribute replaces the resource.
    pub force_new: bool,
    /// Used for an optional+computed attribute left out of the configuration.
    pub default: Option<Value>,
    /// On update, an unconfigured computed value keeps its prior state rather than becoming
    /// unknown (ids and ARNs that never change once created).
    pub keep_state_for_unknown: bool,
    pub validators: Vec<Validator>,
}

impl std::fmt::Debug for Attribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attribute").field("name", &self.name).field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl Attribute {
    pub fn new(name: &str, ty: Type) -> Self {
        Attribute {
            name: name.to_string(),
            kind: AttributeKind::Plain(ty),
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            write_only: false,
            deprecation: None,
            force_new: false,
            default: None,
            keep_state_for_unknown: false,
            validators: Vec::new(),
        }
    }

    pub fn string(name: &str) -> Self {
        Attribute::new(name, Type::String)
    }

    pub fn number(name: &str) -> Self {
        Attribute::new(name, Type::Number)
    }

    pub fn bool(name: &str) -> Self {
        Attribute::new(name, Type::Bool)
    }

    pub fn string_map(name: &str) -> Self {
        Attribute::new(name, Type::map(Type::String))
    }

    pub fn string_list(name: &str) -> Self {
        Attribute::new(name, Type::list(Type::String))
    }

    pub fn nested(name: &str, nesting: Nesting, attributes: Vec<Attribute>) -> Self {
        let mut a = Attribute::new(name, Type::Dynamic);
        a.kind = AttributeKind::Nested { nesting, attributes };
        a
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }

    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }

    pub fn deprecated(mut self, message: &str) -> Self {
        self.deprecation = Some(message.to_string());
        self
    }

    pub fn force_new(mut self) -> Self {
        self.force_new = true;
        self
    }

    /// Optional and computed, with this value when left out of the configuration.
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.optional = true;
        self.computed = true;
        self.default = Some(value.into());
        self
    }

    pub fn keep_state_for_unknown(mut self) -> Self {
        self.keep_state_for_unknown = true;
        self
    }

    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }

    pub fn validate(mut self, v: Validator) -> Self {
        self.validators.push(v);
        self
    }

    pub fn value_type(&self) -> Type {
        match &self.kind {
            AttributeKind::Plain(t) => t.clone(),
            AttributeKind::Nested { nesting, attributes } => {
                nesting.wrap(Type::Object(attributes.iter().map(|a| (a.name.clone(), a.value_type())).collect()))
            }
        }
    }
}

/// Runs attribute validators and deprecation warnings over a configuration value, recursing
/// into nested blocks. Unknown and null values are skipped: they are checked again once known.
pub fn validate_block(block: &Block, config: &Value, path: &AttributePath, diags: &mut Diagnostics) {
    for attr in &block.attributes {
        let value = config.get(&attr.name);
        let attr_path = if path.0.is_empty() { AttributePath::root(&attr.name) } else { path.clone().attribute(&attr.name) };
        if value.is_null() || value.is_unknown() {
            continue;
        }
        if let Some(msg) = &attr.deprecation {
            diags.push(Diagnostic::warning("Attribute Deprecated", msg.clone()).at(attr_path.clone()));
        }
        for validator in &attr.validators {
            if let Err(msg) = validator(value) {
                // Validators quote the value they refuse; a sensitive one must not reach the
                // CLI's output or logs that way.
                let msg = match value.as_str() {
                    Some(secret) if attr.sensitive && !secret.is_empty() => msg.replace(secret, "(sensitive value)"),
                    _ => msg,
                };
                // The attribute is named in the text too: a value that arrives through a module
                // variable is shown by the CLI at the line that uses the variable, and the quoted
                // value (never a sensitive one) is what the user then searches for.
                diags.push(Diagnostic::error(format!("Invalid {}", attr.name), format!("{attr_path} {msg}")).at(attr_path.clone()));
            }
        }
    }
    for nested in &block.blocks {
        let value = config.get(&nested.name);
        let block_path = if path.0.is_empty() { AttributePath::root(&nested.name) } else { path.clone().attribute(&nested.name) };
        match (nested.nesting, value) {
            (Nesting::Single | Nesting::Group, v @ Value::Map(_)) => validate_block(&nested.block, v, &block_path, diags),
            (Nesting::List | Nesting::Set, Value::List(items)) => {
                for (i, item) in items.iter().enumerate() {
                    validate_block(&nested.block, item, &block_path.clone().index(i as i64), diags);
                }
            }
            (Nesting::Map, Value::Map(entries)) => {
                for (k, item) in entries {
                    validate_block(&nested.block, item, &block_path.clone().key(k), diags);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::validators;

    fn block() -> Block {
        Block::new("test")
            .attribute(Attribute::string("name").required().validate(validators::length(1, 3)))
            .attribute(Attribute::string("old").optional().deprecated("use name"))
            .block(NestedBlock::single(
                "inner",
                Block::new("inner").attribute(Attribute::string("id").optional().validate(validators::digits(2))),
            ))
    }

    #[test]
    fn implied_type_includes_blocks() {
        let ty = block().value_type();
        assert_eq!(ty, Type::object([("name", Type::String), ("old", Type::String), ("inner", Type::object([("id", Type::String)])),]));
    }

    #[test]
    fn validation_errors_point_at_the_attribute() {
        let config = Value::object([
            ("name", Value::string("toolong")),
            ("old", Value::string("x")),
            ("inner", Value::object([("id", Value::string("1x"))])),
        ]);
        let mut diags = Diagnostics::new();
        validate_block(&block(), &config, &AttributePath::default(), &mut diags);
        let paths: Vec<String> = diags.0.iter().map(|d| d.attribute.as_ref().unwrap().to_string()).collect();
        assert_eq!(paths, vec!["name", "old", "inner.id"]);
        assert!(diags.has_errors());
    }

    #[test]
    fn the_message_names_the_attribute_and_quotes_the_value() {
        let config = Value::object([("name", Value::string("ab")), ("inner", Value::object([("id", Value::string("123"))]))]);
        let mut diags = Diagnostics::new();
        validate_block(&block(), &config, &AttributePath::default(), &mut diags);
        assert_eq!(diags.0.len(), 1);
        assert_eq!(diags.0[0].detail, "inner.id must be exactly 2 digits, got \"123\" (3 digits)");
    }

    #[test]
    fn a_refused_sensitive_value_is_not_quoted_back() {
        let block = Block::new("test").attribute(Attribute::string("token").optional().sensitive().validate(validators::length(4, 8)));
        let mut diags = Diagnostics::new();
        validate_block(&block, &Value::object([("token", Value::string("s3cr3t-t0ken"))]), &AttributePath::default(), &mut diags);
        let detail = &diags.0[0].detail;
        assert!(detail.contains("between 4 and 8 characters"), "{detail}");
        assert!(!detail.contains("s3cr3t-t0ken"), "{detail}");
    }

    #[test]
    fn unknown_values_are_not_validated_yet() {
        let config = Value::object([("name", Value::Unknown)]);
        let mut diags = Diagnostics::new();
        validate_block(&block(), &config, &AttributePath::default(), &mut diags);
        assert!(diags.is_empty());
    }
}
