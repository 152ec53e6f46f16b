//! A small in-memory provider for the server's tests (and the protocol rooms'): one resource
//! with a force-new name, a default, a write-only password and a computed ARN, an identity, and
//! a state upgrade from version 0.

use super::{decode, encode, DynamicValue, Server};
use crate::framework::diagnostics::Diagnostics;
use crate::framework::provider::Provider;
use crate::framework::resource::{
    Applied, Function, FunctionError, FunctionSignature, IdentityAttribute, IdentitySchema, Parameter, Resource,
};
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::validators;
use crate::framework::value::{Type, Value};
use async_trait::async_trait;
use std::sync::Arc;

pub struct Widget;

pub fn widget_schema() -> Schema {
    Schema::new(
        Block::new("test")
            .attribute(Attribute::string("name").required().force_new())
            .attribute(Attribute::string("size").default("small").validate(validators::one_of(&["small", "big"])))
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
        // A widget named "gone" has been deleted outside Terraform.
        Ok((state.get("name") != &Value::string("gone")).then(|| state.clone()))
    }
    async fn update(&self, _: &(), _: &Value, planned: &Value) -> Applied {
        Applied::ok(planned.clone())
    }
    async fn delete(&self, _: &(), state: &Value) -> Diagnostics {
        let mut diags = Diagnostics::new();
        if state.get("name") == &Value::string("stuck") {
            diags.error("Delete failed", "the widget is stuck");
        }
        diags
    }
    async fn import(&self, _: &(), id: &str) -> Result<Value, Diagnostics> {
        Ok(Value::object([("name", Value::string(id))]))
    }
}

/// `shout(text)`: the text in capitals; an empty text is the argument's error.
pub struct Shout;

impl Function for Shout {
    fn name(&self) -> &'static str {
        "shout"
    }
    fn signature(&self) -> FunctionSignature {
        FunctionSignature {
            parameters: vec![Parameter { name: "text".into(), ty: Type::String, description: String::new(), allow_null: false }],
            variadic: None,
            return_type: Type::String,
            summary: String::new(),
            description: String::new(),
        }
    }
    fn call(&self, args: &[Value]) -> Result<Value, FunctionError> {
        match args[0].as_str() {
            Some(text) if !text.is_empty() => Ok(Value::string(text.to_uppercase())),
            _ => Err(FunctionError { text: "text must not be empty".into(), argument: Some(0) }),
        }
    }
}

pub struct TestProvider;

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
    fn functions(&self) -> Vec<Arc<dyn Function>> {
        vec![Arc::new(Shout)]
    }
}

pub async fn configured() -> Server<TestProvider> {
    let server = Server::new(TestProvider);
    server.configure(None, "1.12.0").await.unwrap();
    server
}

/// A widget value as Terraform would send it (every attribute present).
pub fn dv(v: &Value) -> Option<DynamicValue> {
    let ty = widget_schema().value_type();
    Some(encode(&v.clone().conform(&ty), &ty).unwrap())
}

pub fn value(d: &Option<DynamicValue>) -> Value {
    decode(d.as_ref(), &widget_schema().value_type()).unwrap()
}
