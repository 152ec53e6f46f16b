//! The value model that sits between the wire (msgpack/JSON DynamicValues) and resources.
//!
//! Terraform values are typed by the schema, not self-describing, so decoding always needs a
//! [`Type`]. Objects and maps share one representation (a sorted map); lists, sets and tuples
//! share another. Unknown values only appear in plans and configs, never in applied state.

use std::collections::BTreeMap;
use std::fmt;

/// A Terraform (cty) type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    String,
    Number,
    Bool,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(BTreeMap<String, Type>),
    Tuple(Vec<Type>),
    /// Any type; on the wire such values carry their own type as JSON.
    Dynamic,
}

impl Type {
    pub fn list(element: Type) -> Type {
        Type::List(Box::new(element))
    }
    pub fn set(element: Type) -> Type {
        Type::Set(Box::new(element))
    }
    pub fn map(element: Type) -> Type {
        Type::Map(Box::new(element))
    }
    pub fn object<I, K>(attributes: I) -> Type
    where
        I: IntoIterator<Item = (K, Type)>,
        K: Into<String>,
    {
        Type::Object(attributes.into_iter().map(|(k, t)| (k.into(), t)).collect())
    }

    /// The JSON form Terraform uses for types in schemas (`"string"`, `["list","string"]`, ...).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Type::String => json!("string"),
            Type::Number => json!("number"),
            Type::Bool => json!("bool"),
            Type::Dynamic => json!("dynamic"),
            Type::List(e) => json!(["list", e.to_json()]),
            Type::Set(e) => json!(["set", e.to_json()]),
            Type::Map(e) => json!(["map", e.to_json()]),
            Type::Tuple(es) => json!(["tuple", es.iter().map(Type::to_json).collect::<Vec<_>>()]),
            Type::Object(attrs) => {
                let attrs: serde_json::Map<_, _> = attrs.iter().map(|(k, t)| (k.clone(), t.to_json())).collect();
                json!(["object", attrs])
            }
        }
    }

    /// Parses the JSON form of a type, as found in dynamic values.
    pub fn from_json(json: &serde_json::Value) -> Result<Type, String> {
        use serde_json::Value as J;
        match json {
            J::String(s) => match s.as_str() {
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(format!("unknown primitive type {other:?}")),
            },
            J::Array(parts) if parts.len() == 2 => {
                let kind = parts[0].as_str().ok_or("type kind must be a string")?;
                match kind {
                    "list" => Ok(Type::list(Type::from_json(&parts[1])?)),
                    "set" => Ok(Type::set(Type::from_json(&parts[1])?)),
                    "map" => Ok(Type::map(Type::from_json(&parts[1])?)),
                    "tuple" => {
                        let elems = parts[1].as_array().ok_or("tuple types must be a list")?;
                        Ok(Type::Tuple(elems.iter().map(Type::from_json).collect::<Result<_, _>>()?))
                    }
                    "object" => {
                        let attrs = parts[1].as_object().ok_or("object types must be a map")?;
                        let mut out = BTreeMap::new();
                        for (k, t) in attrs {
                            out.insert(k.clone(), Type::from_json(t)?);
                        }
                        Ok(Type::Object(out))
                    }
                    other => Err(format!("unknown type kind {other:?}")),
                }
            }
            // Object types may carry a third element listing optional attributes; it only
            // matters for type conversion inside Terraform, so it is read past.
            J::Array(parts) if parts.len() == 3 && parts[0] == "object" => Type::from_json(&J::Array(parts[..2].to_vec())),
            other => Err(format!("malformed type {other}")),
        }
    }

    /// Best-effort type of a known value, used when a dynamic value has to be encoded.
    pub fn infer(value: &Value) -> Type {
        match value {
            Value::Null | Value::Unknown => Type::Dynamic,
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::List(items) => Type::Tuple(items.iter().map(Type::infer).collect()),
            Value::Map(entries) => Type::Object(entries.iter().map(|(k, v)| (k.clone(), Type::infer(v))).collect()),
        }
    }
}

/// A Terraform value. Objects and maps are both [`Value::Map`]; lists, sets and tuples are
/// [`Value::List`] — the schema type tells them apart on the wire.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    /// Not known until apply (or, in a config, until another resource is applied).
    Unknown,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn object<I, K>(entries: I) -> Value
    where
        I: IntoIterator<Item = (K, Value)>,
        K: Into<String>,
    {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A map(string) value from string pairs.
    pub fn string_map<'a>(entries: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }

    /// True when neither this value nor anything inside it is unknown.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(items) => items.iter().all(Value::is_wholly_known),
            Value::Map(entries) => entries.values().all(Value::is_wholly_known),
            _ => true,
        }
    }

    /// True when the named attributes of this object are all wholly known.
    pub fn attributes_known(&self, names: &[&str]) -> bool {
        names.iter().all(|n| self.get(n).is_wholly_known())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The attribute `name` of an object; null when absent or when this is not an object.
    pub fn get(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        match self {
            Value::Map(entries) => entries.get(name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    /// Sets attribute `name` of an object (turning a null into an empty object first).
    pub fn set(&mut self, name: &str, value: Value) {
        if !matches!(self, Value::Map(_)) {
            *self = Value::Map(BTreeMap::new());
        }
        if let Value::Map(entries) = self {
            entries.insert(name.to_string(), value);
        }
    }

    /// A map(string) attribute as a Rust map, ignoring null entries.
    pub fn string_map_entries(&self) -> BTreeMap<String, String> {
        self.as_map().map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect()).unwrap_or_default()
    }

    /// Converts to plain JSON; unknown values are not representable and become `None`.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        Some(match self {
            Value::Unknown => return None,
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => J::Number(n.clone()),
            Value::String(s) => J::String(s.clone()),
            Value::List(items) => J::Array(items.iter().map(Value::to_json).collect::<Option<_>>()?),
            Value::Map(entries) => J::Object(entries.iter().map(|(k, v)| Some((k.clone(), v.to_json()?))).collect::<Option<_>>()?),
        })
    }

    /// Converts JSON into a value of type `ty`, filling absent object attributes with null and
    /// dropping attributes the type does not have (state written by older schema versions).
    pub fn from_json(json: &serde_json::Value, ty: &Type) -> Result<Value, String> {
        use serde_json::Value as J;
        if json.is_null() {
            return Ok(Value::Null);
        }
        Ok(match (ty, json) {
            (Type::String, J::String(s)) => Value::String(s.clone()),
            // Terraform accepts primitive conversions in state; numbers and bools to strings.
            (Type::String, J::Number(n)) => Value::String(n.to_string()),
            (Type::String, J::Bool(b)) => Value::String(b.to_string()),
            (Type::Number, J::Number(n)) => Value::Number(n.clone()),
            (Type::Number, J::String(s)) => Value::Number(parse_number(s)?),
            (Type::Bool, J::Bool(b)) => Value::Bool(*b),
            (Type::Bool, J::String(s)) => Value::Bool(s.parse().map_err(|_| format!("{s:?} is not a bool"))?),
            (Type::List(e) | Type::Set(e), J::Array(items)) => {
                Value::List(items.iter().map(|i| Value::from_json(i, e)).collect::<Result<_, _>>()?)
            }
            (Type::Tuple(es), J::Array(items)) if es.len() == items.len() => {
                Value::List(items.iter().zip(es).map(|(i, e)| Value::from_json(i, e)).collect::<Result<_, _>>()?)
            }
            (Type::Map(e), J::Object(entries)) => {
                Value::Map(entries.iter().map(|(k, v)| Ok((k.clone(), Value::from_json(v, e)?))).collect::<Result<_, String>>()?)
            }
            (Type::Object(attrs), J::Object(entries)) => {
                let mut out = BTreeMap::new();
                for (name, attr_ty) in attrs {
                    let v = match entries.get(name) {
                        Some(j) => Value::from_json(j, attr_ty).map_err(|e| format!("{name}: {e}"))?,
                        None => Value::Null,
                    };
                    out.insert(name.clone(), v);
                }
                Value::Map(out)
            }
            (Type::Dynamic, j) => Value::from_json(j, &infer_json_type(j))?,
            (ty, j) => return Err(format!("expected {}, found {j}", ty.to_json())),
        })
    }

    /// Makes an object value carry exactly the attributes of `ty` (missing ones as null),
    /// recursively. The wire format requires every attribute key to be present.
    pub fn conform(self, ty: &Type) -> Value {
        match (self, ty) {
            (Value::Map(mut entries), Type::Object(attrs)) => {
                Value::Map(attrs.iter().map(|(name, t)| (name.clone(), entries.remove(name).unwrap_or_default().conform(t))).collect())
            }
            (Value::Map(entries), Type::Map(e)) => Value::Map(entries.into_iter().map(|(k, v)| (k, v.conform(e))).collect()),
            (Value::List(items), Type::List(e) | Type::Set(e)) => Value::List(items.into_iter().map(|v| v.conform(e)).collect()),
            (v, _) => v,
        }
    }
}

fn infer_json_type(json: &serde_json::Value) -> Type {
    use serde_json::Value as J;
    match json {
        J::Null => Type::Dynamic,
        J::Bool(_) => Type::Bool,
        J::Number(_) => Type::Number,
        J::String(_) => Type::String,
        J::Array(items) => Type::Tuple(items.iter().map(infer_json_type).collect()),
        J::Object(entries) => Type::Object(entries.iter().map(|(k, v)| (k.clone(), infer_json_type(v))).collect()),
    }
}

/// Parses a decimal number as Terraform writes them (integers stay exact).
pub fn parse_number(s: &str) -> Result<serde_json::Number, String> {
    if let Ok(i) = s.parse::<i64>() {
        return Ok(i.into());
    }
    if let Ok(u) = s.parse::<u64>() {
        return Ok(u.into());
    }
    s.parse::<f64>().ok().and_then(serde_json::Number::from_f64).ok_or_else(|| format!("{s:?} is not a number"))
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<Option<String>> for Value {
    fn from(s: Option<String>) -> Self {
        s.map(Value::String).unwrap_or(Value::Null)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Number(n.into())
    }
}

impl fmt::Display for Value {
    /// A compact rendering for diagnostics; never used for secret-bearing values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unknown => write!(f, "(known after apply)"),
            other => write!(f, "{}", other.to_json().unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_json_round_trips() {
        let ty = Type::object([
            ("a", Type::String),
            ("b", Type::list(Type::Number)),
            ("c", Type::map(Type::Bool)),
            ("d", Type::Tuple(vec![Type::String, Type::Dynamic])),
        ]);
        let json = ty.to_json();
        assert_eq!(
            json,
            json!(["object", {"a": "string", "b": ["list", "number"], "c": ["map", "bool"], "d": ["tuple", ["string", "dynamic"]]}])
        );
        assert_eq!(Type::from_json(&json).unwrap(), ty);
    }

    #[test]
    fn from_json_fills_missing_attributes_and_drops_unknown_ones() {
        let ty = Type::object([("kept", Type::String), ("added", Type::String)]);
        let v = Value::from_json(&json!({"kept": "x", "removed": 1}), &ty).unwrap();
        assert_eq!(v, Value::object([("added", Value::Null), ("kept", Value::string("x"))]));
    }

    #[test]
    fn from_json_rejects_mismatched_types() {
        let err = Value::from_json(&json!({"a": [1]}), &Type::object([("a", Type::String)])).unwrap_err();
        assert!(err.starts_with("a: expected"), "{err}");
    }

    #[test]
    fn conform_adds_missing_nested_attributes() {
        let ty = Type::object([("o", Type::object([("x", Type::String), ("y", Type::Number)]))]);
        let v = Value::object([("o", Value::object([("x", Value::string("1"))]))]).conform(&ty);
        assert_eq!(v.get("o").get("y"), &Value::Null);
        assert_eq!(v.get("o").get("x"), &Value::string("1"));
    }

    #[test]
    fn numbers_read_back_exactly_from_json_text() {
        // Found by fuzzing: state is JSON text, and without serde_json's `float_roundtrip`
        // feature this number read back one ULP off (1.234567890234568e22).
        let n = parse_number("12345678902345678901223").unwrap();
        let text = serde_json::to_string(&n).unwrap();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(Value::from_json(&back, &Type::Number).unwrap(), Value::Number(n));
    }

    #[test]
    fn wholly_known_looks_inside_collections() {
        let v = Value::object([("a", Value::List(vec![Value::Unknown]))]);
        assert!(!v.is_wholly_known());
        assert!(Value::object([("a", Value::Null)]).is_wholly_known());
    }
}
