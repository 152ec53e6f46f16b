//! Values as they cross the wire, still encoded: the protocol's `DynamicValue` without protobuf.

use crate::framework::diagnostics::{Diagnostic, Diagnostics};
use crate::framework::msgpack;
use crate::framework::value::{Type, Value};

/// An encoded value: msgpack (what every response carries) or JSON (accepted on input).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DynamicValue {
    pub msgpack: Vec<u8>,
    pub json: Vec<u8>,
}

/// A resource identity as Terraform stores it beside the state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IdentityData {
    pub data: Option<DynamicValue>,
}

/// Decodes a value: msgpack when present, else JSON, else null.
pub fn decode(dv: Option<&DynamicValue>, ty: &Type) -> Result<Value, Diagnostics> {
    let Some(dv) = dv else { return Ok(Value::Null) };
    if !dv.msgpack.is_empty() {
        return msgpack::decode(&dv.msgpack, ty).map_err(|e| codec_error(e.to_string()));
    }
    if !dv.json.is_empty() {
        let json: serde_json::Value = serde_json::from_slice(&dv.json).map_err(|e| codec_error(format!("json: {e}")))?;
        return Value::from_json(&json, ty).map_err(codec_error);
    }
    Ok(Value::Null)
}

/// Encodes a value as msgpack, which is what Terraform expects in every response.
pub fn encode(value: &Value, ty: &Type) -> Result<DynamicValue, Diagnostics> {
    let msgpack = msgpack::encode(value, ty).map_err(|e| codec_error(e.to_string()))?;
    Ok(DynamicValue { msgpack, json: Vec::new() })
}

fn codec_error(detail: String) -> Diagnostics {
    Diagnostic::error(
        "Value encoding error",
        format!("The provider could not translate a value to or from the wire format. This is a bug in the provider: {detail}"),
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_are_accepted_and_answered_in_msgpack() {
        let dv = DynamicValue { msgpack: vec![], json: br#"{"a":"x"}"#.to_vec() };
        let ty = Type::object([("a", Type::String), ("b", Type::String)]);
        let v = decode(Some(&dv), &ty).unwrap();
        assert_eq!(v.get("a"), &Value::string("x"));
        assert!(v.get("b").is_null());
        let enc = encode(&v, &ty).unwrap();
        assert!(enc.json.is_empty() && !enc.msgpack.is_empty());
        assert_eq!(decode(Some(&enc), &ty).unwrap(), v);
    }

    #[test]
    fn an_absent_or_empty_value_is_null() {
        let ty = Type::object([("a", Type::String)]);
        assert_eq!(decode(None, &ty).unwrap(), Value::Null);
        assert_eq!(decode(Some(&DynamicValue::default()), &ty).unwrap(), Value::Null);
    }
}
