//! Translation between the framework's types and the generated tfplugin6 messages.

use super::generated::tfplugin6 as pb;
use crate::framework::diagnostics::{AttributePath, Diagnostic, Diagnostics, PathStep, Severity};
use crate::framework::resource::{FunctionSignature, IdentitySchema, Parameter};
use crate::framework::schema::{Attribute, AttributeKind, Block, NestedBlock, Nesting, Schema};
use crate::framework::server::{DynamicValue, IdentityData};
use crate::framework::value::Type;

/// A request's value, still encoded, for the framework's server.
pub fn dynamic(dv: Option<pb::DynamicValue>) -> Option<DynamicValue> {
    dv.map(Into::into)
}

impl From<pb::DynamicValue> for DynamicValue {
    fn from(dv: pb::DynamicValue) -> Self {
        DynamicValue { msgpack: dv.msgpack, json: dv.json }
    }
}

impl From<DynamicValue> for pb::DynamicValue {
    fn from(dv: DynamicValue) -> Self {
        pb::DynamicValue { msgpack: dv.msgpack, json: dv.json }
    }
}

pub fn identity(data: pb::ResourceIdentityData) -> IdentityData {
    IdentityData { data: data.identity_data.map(Into::into) }
}

pub fn identity_data(identity: IdentityData) -> pb::ResourceIdentityData {
    pb::ResourceIdentityData { identity_data: identity.data.map(Into::into) }
}

pub fn diagnostics(diags: Diagnostics) -> Vec<pb::Diagnostic> {
    diags.0.into_iter().map(diagnostic).collect()
}

fn diagnostic(d: Diagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: match d.severity {
            Severity::Error => pb::diagnostic::Severity::Error as i32,
            Severity::Warning => pb::diagnostic::Severity::Warning as i32,
        },
        summary: d.summary,
        detail: d.detail,
        attribute: d.attribute.as_ref().map(attribute_path),
    }
}

pub fn attribute_path(path: &AttributePath) -> pb::AttributePath {
    use pb::attribute_path::{step::Selector, Step};
    pb::AttributePath {
        steps: path
            .0
            .iter()
            .map(|s| Step {
                selector: Some(match s {
                    PathStep::Attribute(a) => Selector::AttributeName(a.clone()),
                    PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

fn type_bytes(ty: &Type) -> Vec<u8> {
    serde_json::to_vec(&ty.to_json()).expect("type JSON serialises")
}

pub fn schema(s: &Schema) -> pb::Schema {
    pb::Schema { version: s.version, block: Some(block(&s.block)) }
}

fn block(b: &Block) -> pb::schema::Block {
    pb::schema::Block {
        version: 0,
        attributes: b.attributes.iter().map(attribute).collect(),
        block_types: b.blocks.iter().map(nested_block).collect(),
        description: b.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: b.deprecated,
    }
}

fn attribute(a: &Attribute) -> pb::schema::Attribute {
    let (ty, nested_type) = match &a.kind {
        AttributeKind::Plain(t) => (type_bytes(t), None),
        AttributeKind::Nested { nesting, attributes } => (
            Vec::new(),
            Some(pb::schema::Object {
                attributes: attributes.iter().map(attribute).collect(),
                nesting: object_nesting(*nesting) as i32,
                ..Default::default()
            }),
        ),
    };
    pb::schema::Attribute {
        name: a.name.clone(),
        r#type: ty,
        nested_type,
        description: a.description.clone(),
        required: a.required,
        optional: a.optional,
        computed: a.computed,
        sensitive: a.sensitive,
        write_only: a.write_only,
        deprecated: a.deprecation.is_some(),
        description_kind: pb::StringKind::Markdown as i32,
    }
}

fn object_nesting(n: Nesting) -> pb::schema::object::NestingMode {
    use pb::schema::object::NestingMode as M;
    match n {
        Nesting::Single | Nesting::Group => M::Single,
        Nesting::List => M::List,
        Nesting::Set => M::Set,
        Nesting::Map => M::Map,
    }
}

fn nested_block(b: &NestedBlock) -> pb::schema::NestedBlock {
    use pb::schema::nested_block::NestingMode as M;
    pb::schema::NestedBlock {
        type_name: b.name.clone(),
        block: Some(block(&b.block)),
        nesting: match b.nesting {
            Nesting::Single => M::Single,
            Nesting::Group => M::Group,
            Nesting::List => M::List,
            Nesting::Set => M::Set,
            Nesting::Map => M::Map,
        } as i32,
        min_items: b.min_items,
        max_items: b.max_items,
    }
}

pub fn identity_schema(s: &IdentitySchema) -> pb::ResourceIdentitySchema {
    pb::ResourceIdentitySchema {
        version: s.version,
        identity_attributes: s
            .attributes
            .iter()
            .map(|a| pb::resource_identity_schema::IdentityAttribute {
                name: a.name.clone(),
                r#type: type_bytes(&a.ty),
                required_for_import: a.required_for_import,
                optional_for_import: !a.required_for_import,
                description: a.description.clone(),
            })
            .collect(),
    }
}

fn parameter(p: &Parameter) -> pb::function::Parameter {
    pb::function::Parameter {
        name: p.name.clone(),
        r#type: type_bytes(&p.ty),
        allow_null_value: p.allow_null,
        allow_unknown_values: false,
        description: p.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
    }
}

pub fn function(sig: &FunctionSignature) -> pb::Function {
    pb::Function {
        parameters: sig.parameters.iter().map(parameter).collect(),
        variadic_parameter: sig.variadic.as_ref().map(parameter),
        r#return: Some(pb::function::Return { r#type: type_bytes(&sig.return_type) }),
        summary: sig.summary.clone(),
        description: sig.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecation_message: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn schema_types_are_json_bytes() {
        let s = Schema::new(Block::new("d").attribute(Attribute::string_map("tags").optional()));
        let pb = schema(&s);
        let attr = &pb.block.as_ref().unwrap().attributes[0];
        assert_eq!(attr.r#type, br#"["map","string"]"#.to_vec());
        assert_eq!(attr.description_kind, pb::StringKind::Markdown as i32);
        // And the message survives the protobuf wire format.
        let back = pb::Schema::decode(pb.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, pb);
    }

    #[test]
    fn diagnostics_keep_their_attribute_path() {
        let d = Diagnostics::from(Diagnostic::error("bad", "worse").at(AttributePath::root("tags").key("k")));
        let out = diagnostics(d);
        assert_eq!(out[0].severity, pb::diagnostic::Severity::Error as i32);
        assert_eq!(out[0].attribute.as_ref().unwrap().steps.len(), 2);
    }
}
