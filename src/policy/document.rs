//! Comparing IAM policy documents by meaning rather than by text.
//!
//! AWS keeps documents roughly as submitted, but other tools (and people editing in the
//! console) may reorder keys or write a one-element list as a plain string. Such rewrites
//! are not drift; a changed action or resource is.

use serde_json::Value;

/// A canonical form: single strings in Action/NotAction/Resource/NotResource become lists,
/// lists of strings are sorted and de-duplicated, and so are statements (a lone statement
/// object becomes a list of one): IAM and IoT Core evaluate statements as a set. Key order
/// never matters for `serde_json::Value` equality.
pub fn normalize(doc: &Value) -> Value {
    match doc {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("Action" | "NotAction" | "Resource" | "NotResource", Value::String(s)) => {
                            Value::Array(vec![Value::String(s.clone())])
                        }
                        ("Statement", Value::Object(_)) => statement_set(std::slice::from_ref(v)),
                        ("Statement", Value::Array(items)) if !items.iter().all(Value::is_string) => statement_set(items),
                        _ => normalize(v),
                    };
                    (k.clone(), sort_strings(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// Normalized statements in a fixed order (that of their canonical text), each once.
fn statement_set(statements: &[Value]) -> Value {
    let mut keyed: Vec<(String, Value)> = statements
        .iter()
        .map(|s| {
            let normal = normalize(s);
            (canonical_text(&normal), normal)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    Value::Array(keyed.into_iter().map(|(_, s)| s).collect())
}

/// JSON text with every object's keys sorted, so equal values have equal text whatever order
/// their keys were written in (objects keep insertion order here: `preserve_order`).
fn canonical_text(v: &Value) -> String {
    fn sorted_keys(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), sorted_keys(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
            other => other.clone(),
        }
    }
    sorted_keys(v).to_string()
}

fn sort_strings(v: Value) -> Value {
    match v {
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let mut strings: Vec<String> = items.into_iter().filter_map(|i| i.as_str().map(str::to_string)).collect();
            strings.sort();
            strings.dedup();
            Value::Array(strings.into_iter().map(Value::String).collect())
        }
        other => other,
    }
}

/// True when two documents grant the same thing in the sense above.
pub fn equivalent(a: &Value, b: &Value) -> bool {
    normalize(a) == normalize(b)
}

/// What to record in state for a document read back from AWS: our own rendering when it
/// means the same as what we would write (so plans stay empty), otherwise AWS's text, so the
/// plan shows the drift.
pub fn reconcile(actual: &str, expected: &Value) -> String {
    match serde_json::from_str::<Value>(actual) {
        Ok(parsed) if equivalent(&parsed, expected) => expected.to_string(),
        Ok(parsed) => parsed.to_string(),
        Err(_) => actual.to_string(),
    }
}

/// IAM returns inline and trust policy documents URL-encoded (RFC 3986).
pub fn decode_iam_document(raw: &str) -> String {
    if raw.trim_start().starts_with('{') {
        return raw.to_string();
    }
    urlencoding::decode(raw).map(|s| s.into_owned()).unwrap_or_else(|_| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rewrites_that_keep_meaning_are_equivalent() {
        let a = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": ["b", "a"]}]});
        let b =
            json!({"Statement": [{"Resource": ["a", "b", "a"], "Action": ["iot:Connect"], "Effect": "Allow"}], "Version": "2012-10-17"});
        assert!(equivalent(&a, &b));
    }

    #[test]
    fn statements_are_a_set() {
        // Found by fuzzing: reordered or repeated statements, or a lone statement written
        // without its list, grant the same and must not plan as drift.
        let connect = json!({"Effect": "Allow", "Action": ["iot:Connect"], "Resource": ["client/a"]});
        let publish = json!({"Effect": "Allow", "Action": ["iot:Publish"], "Resource": ["topic/a"]});
        let ours = json!({"Version": "2012-10-17", "Statement": [connect.clone(), publish.clone()]});
        assert!(equivalent(&ours, &json!({"Version": "2012-10-17", "Statement": [publish.clone(), connect.clone(), publish.clone()]})));
        let lone = json!({"Statement": [connect.clone()]});
        assert!(equivalent(&lone, &json!({"Statement": {"Resource": "client/a", "Action": "iot:Connect", "Effect": "Allow"}})));
        assert!(!equivalent(&ours, &lone));
        assert_eq!(normalize(&normalize(&ours)), normalize(&ours));
    }

    #[test]
    fn changed_grants_are_not_equivalent() {
        let a = json!({"Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "client/a"}]});
        let b = json!({"Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "client/*"}]});
        assert!(!equivalent(&a, &b));
    }

    #[test]
    fn reconcile_keeps_our_text_only_when_equivalent() {
        let expected = json!({"Statement": [{"Action": ["x"], "Resource": ["r"]}]});
        assert_eq!(reconcile(r#"{"Statement":[{"Resource":"r","Action":"x"}]}"#, &expected), expected.to_string());
        let edited = reconcile(r#"{"Statement":[{"Resource":"*","Action":"x"}]}"#, &expected);
        assert!(edited.contains(r#""Resource":"*""#), "{edited}");
    }

    #[test]
    fn url_encoded_documents_are_decoded() {
        assert_eq!(decode_iam_document("%7B%22a%22%3A1%7D"), r#"{"a":1}"#);
        assert_eq!(decode_iam_document(r#"{"a":1}"#), r#"{"a":1}"#);
    }
}
