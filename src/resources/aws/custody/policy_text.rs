//! Resource policy documents as custody reads them: whom a policy lets in, whether two
//! texts are the same policy as AWS may render it, and the shape a declared one must have.

use crate::framework::schema::Validator;
use crate::framework::Value;
use crate::policy::document;
use serde_json::Value as Json;

/// The principals an Allow statement of the policy names, for the diagnostic.
pub(super) fn granted_principals(policy: &str) -> Vec<String> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(policy) else { return Vec::new() };
    let statements = match &doc["Statement"] {
        serde_json::Value::Array(list) => list.clone(),
        one @ serde_json::Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for s in statements.iter().filter(|s| s["Effect"].as_str() == Some("Allow")) {
        collect_principals(&s["Principal"], &mut out);
    }
    out.sort();
    out.dedup();
    out
}

fn collect_principals(p: &serde_json::Value, out: &mut Vec<String>) {
    match p {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(list) => list.iter().for_each(|v| collect_principals(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_principals(v, out)),
        _ => {}
    }
}

/// The most characters Secrets Manager takes in a resource policy.
pub const MAX_POLICY_CHARS: usize = 20_480;

/// Validates a declared resource policy at validate time: a JSON object with a `Statement`
/// that is an object or a non-empty list of objects, at most [`MAX_POLICY_CHARS`]. What it
/// grants is AWS's to judge (BlockPublicPolicy, see [`put_policy`]).
pub fn policy_validator() -> Validator {
    std::sync::Arc::new(|v: &Value| match v {
        Value::String(s) => policy_shape(s),
        _ => Ok(()),
    })
}

fn policy_shape(text: &str) -> Result<(), String> {
    let chars = text.chars().count();
    if chars > MAX_POLICY_CHARS {
        return Err(format!("must be at most {MAX_POLICY_CHARS} characters (a Secrets Manager resource policy), got {chars}"));
    }
    let doc: Json = serde_json::from_str(text)
        .map_err(|e| format!("must be a JSON IAM policy document (use jsonencode or aws_iam_policy_document): {e}"))?;
    let Some(object) = doc.as_object() else {
        return Err("must be a JSON IAM policy document: an object with Version and Statement".into());
    };
    match object.get("Statement") {
        Some(Json::Object(_)) => Ok(()),
        Some(Json::Array(list)) if !list.is_empty() && list.iter().all(Json::is_object) => Ok(()),
        Some(_) => Err("must be a JSON IAM policy document: its Statement must be a statement object or a non-empty list of them".into()),
        None => Err("must be a JSON IAM policy document: it has no Statement".into()),
    }
}

/// Whether two resource policies say the same thing, as AWS may render a policy it was given:
/// compared as parsed JSON by [`document::equivalent`] (key order ignored, a single
/// `Statement` object equal to a one-element list and statements a set, a single string equal
/// to a one-element list for `Action`, `NotAction`, `Resource` and `NotResource`, lists of
/// strings in any order), and besides, for what a resource policy has that an identity policy
/// has not: a single string equal to a one-element list for every member of `Principal` and
/// `NotPrincipal` and for every `Condition` value (condition values compared as text), and an
/// account's root principal equal to its bare account ID. Text that is not JSON equals only
/// the same text.
pub fn same_policy(a: &str, b: &str) -> bool {
    match (serde_json::from_str::<Json>(a), serde_json::from_str::<Json>(b)) {
        (Ok(x), Ok(y)) => document::equivalent(&resource_policy_form(&x), &resource_policy_form(&y)),
        _ => a.trim() == b.trim(),
    }
}

/// The principal and condition forms [`same_policy`] equates, written one way: lists of
/// strings (which [`document::normalize`] then sorts).
fn resource_policy_form(doc: &Json) -> Json {
    let mut doc = doc.clone();
    match doc.get_mut("Statement") {
        Some(Json::Array(statements)) => statements.iter_mut().for_each(statement_form),
        Some(one @ Json::Object(_)) => statement_form(one),
        _ => {}
    }
    doc
}

fn statement_form(statement: &mut Json) {
    let Json::Object(map) = statement else { return };
    for (name, value) in map.iter_mut() {
        match (name.as_str(), value) {
            ("Principal" | "NotPrincipal", Json::Object(kinds)) => {
                for ids in kinds.values_mut() {
                    *ids = strings(ids, |s| account_root(s).unwrap_or(s).to_string());
                }
            }
            ("Condition", Json::Object(operators)) => {
                for keys in operators.values_mut() {
                    if let Json::Object(keys) = keys {
                        for values in keys.values_mut() {
                            *values = strings(values, str::to_string);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// A scalar or a list of scalars as a list of strings (each mapped by `f`); anything else as
/// it is.
fn strings(v: &Json, f: impl Fn(&str) -> String) -> Json {
    let items = match v {
        Json::Array(list) => list.as_slice(),
        one => std::slice::from_ref(one),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Json::String(s) => out.push(Json::String(f(s))),
            Json::Bool(_) | Json::Number(_) => out.push(Json::String(f(&item.to_string()))),
            _ => return v.clone(),
        }
    }
    Json::Array(out)
}

/// `arn:<partition>:iam::<account>:root` → `<account>`: IAM takes both for the account.
fn account_root(principal: &str) -> Option<&str> {
    let mut parts = principal.strip_prefix("arn:")?.splitn(5, ':');
    let (_partition, service, region, account, resource) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (service == "iam" && region.is_empty() && resource == "root" && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        .then_some(account)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn principals_are_read_from_every_allow_statement_shape() {
        let one = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}"#;
        assert_eq!(granted_principals(one), vec!["*"]);
        let many = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:a","Service":["x.amazonaws.com"]}}]}"#;
        assert_eq!(granted_principals(many), vec!["arn:a", "x.amazonaws.com"]);
        assert!(granted_principals("not json").is_empty());
    }

    pub(in super::super) const DECLARED: &str = r#"{
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AgentRole",
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::123456789012:role/agent"]},
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalAccount": ["123456789012"]}}
        }]
    }"#;

    #[test]
    fn a_policy_equals_what_aws_may_render_of_it() {
        // Key order, a single Statement object, single strings for one-element lists, values
        // of a list in another order, a bare account ID for its root, condition values as text.
        let rendered = r#"{"Statement":{"Condition":{"StringEquals":{"aws:PrincipalAccount":"123456789012"}},"Resource":["*"],"Action":"secretsmanager:GetSecretValue","Principal":{"AWS":"arn:aws:iam::123456789012:role/agent"},"Effect":"Allow","Sid":"AgentRole"},"Version":"2012-10-17"}"#;
        assert!(same_policy(DECLARED, rendered));
        assert!(same_policy(rendered, DECLARED));
        let two = |a: &str, b: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":["{a}","{b}"]}},"Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"*"}}]}}"#
            )
        };
        assert!(same_policy(
            &two("arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:role/x"),
            &two("arn:aws:iam::123456789012:role/x", "123456789012")
        ));
        let statements = |first: &str, second: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{first},{second}]}}"#);
        let (allow, deny) = (
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/agent"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}"#,
            r#"{"Effect":"Deny","Principal":"*","Action":"secretsmanager:PutResourcePolicy","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false}}}"#,
        );
        assert!(same_policy(&statements(allow, deny), &statements(deny, &allow.replace("\"Resource\":\"*\"", "\"Resource\":[\"*\"]"))));
        assert!(same_policy(&statements(allow, deny), &statements(allow, &deny.replace("false", "\"false\""))));
    }

    #[test]
    fn a_policy_that_grants_anything_else_differs() {
        let changed = |from: &str, to: &str| {
            let other = DECLARED.replace(from, to);
            assert_ne!(other, DECLARED, "{from} not in the policy");
            assert!(!same_policy(DECLARED, &other), "{from} -> {to} compared equal");
        };
        changed("role/agent", "role/other");
        changed("123456789012:role", "999999999999:role");
        changed("\"Allow\"", "\"Deny\"");
        changed("secretsmanager:GetSecretValue\"]", "secretsmanager:GetSecretValue\", \"secretsmanager:PutSecretValue\"]");
        changed("\"Resource\": \"*\"", "\"NotResource\": \"*\"");
        changed("\"aws:PrincipalAccount\": [\"123456789012\"]", "\"aws:PrincipalAccount\": [\"123456789012\", \"999999999999\"]");
        changed("\"Sid\": \"AgentRole\",", "");
        changed("\"Version\": \"2012-10-17\",", "");
        changed("{\"AWS\": [\"arn:aws:iam::123456789012:role/agent\"]}", "\"*\"");
        // A second statement, even a copy with another Sid, is another policy.
        let doc: Json = serde_json::from_str(DECLARED).unwrap();
        let mut extra = doc.clone();
        let mut copy = doc["Statement"][0].clone();
        copy["Sid"] = Json::String("Another".into());
        extra["Statement"].as_array_mut().unwrap().push(copy);
        assert!(!same_policy(DECLARED, &extra.to_string()));
        // Not JSON: equal only to itself.
        assert!(same_policy("not json", " not json "));
        assert!(!same_policy("not json", DECLARED));
    }

    #[test]
    fn a_declared_policy_is_validated_as_a_policy_document() {
        assert_eq!(policy_shape(DECLARED), Ok(()));
        assert_eq!(policy_shape(r#"{"Statement":{"Effect":"Allow"}}"#), Ok(()));
        for bad in [
            "",
            "not json",
            "[]",
            "\"text\"",
            r#"{"Version":"2012-10-17"}"#,
            r#"{"Statement":[]}"#,
            r#"{"Statement":"Allow"}"#,
            r#"{"Statement":[{}, 1]}"#,
        ] {
            let e = policy_shape(bad).expect_err(bad);
            assert!(e.contains("policy"), "{bad}: {e}");
        }
        let huge = format!(r#"{{"Statement":{{"Sid":"{}"}}}}"#, "x".repeat(MAX_POLICY_CHARS));
        assert!(policy_shape(&huge).unwrap_err().contains("at most"));
        assert_eq!(policy_validator()(&Value::Null), Ok(()));
    }
}
