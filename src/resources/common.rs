//! Small helpers every resource file uses: reading known values, tags, and AWS failures as
//! diagnostics.

use crate::framework::schema::Attribute;
use crate::framework::{validators, Diagnostic, Diagnostics, Value};
use crate::policy::naming;
use crate::provider::aws_error;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::collections::BTreeMap;

/// A string attribute of a value that is known by now (apply, read): empty when null.
pub fn text(v: &Value, name: &str) -> String {
    v.get(name).as_str().unwrap_or_default().to_string()
}

/// An optional string attribute.
pub fn opt_text(v: &Value, name: &str) -> Option<String> {
    v.get(name).as_str().map(str::to_string)
}

/// `tags` (what the user configured) and `tags_all` (with the provider's default tags), the
/// pair every taggable resource carries, as the AWS provider does.
pub fn tag_attributes() -> [Attribute; 2] {
    [
        Attribute::string_map("tags")
            .optional()
            .validate(validators::tag_map())
            .description("Tags for the AWS objects this resource creates."),
        Attribute::string_map("tags_all")
            .computed()
            .description("All tags on those objects: the provider's `default_tags` merged with `tags` (which win)."),
    ]
}

pub fn merge_tags(defaults: &BTreeMap<String, String>, tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut all = defaults.clone();
    all.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    all
}

/// The part of the tags found on an object that the user configured, given the provider's
/// defaults and the `tags` state last recorded: everything except default tags still at their
/// default value — unless the configuration sets that key too (to the same value), which stays.
pub fn configured_tags(
    found: &BTreeMap<String, String>,
    defaults: &BTreeMap<String, String>,
    configured: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    found.iter().filter(|(k, v)| configured.contains_key(*k) || defaults.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// `tags` as state holds it: null when nothing is configured, so an absent argument plans clean.
pub fn tags_value(tags: &BTreeMap<String, String>, was_null: bool) -> Value {
    if tags.is_empty() && was_null {
        Value::Null
    } else {
        Value::string_map(tags)
    }
}

/// Keys to add or change, and keys to remove, to go from `old` to `new`.
pub fn tag_changes(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> (BTreeMap<String, String>, Vec<String>) {
    let upsert = new.iter().filter(|(k, v)| old.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let remove = old.keys().filter(|k| !new.contains_key(*k)).cloned().collect();
    (upsert, remove)
}

/// An AWS call that failed, as an error diagnostic naming the call and the object.
pub fn aws_failure<E>(action: &str, object: &str, err: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> Diagnostics
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    Diagnostic::error(format!("{action} failed"), aws_error::explain(action, object, err)).into()
}

/// Writes several computed attributes at once.
pub fn set_all(state: &mut Value, pairs: Vec<(&'static str, Value)>) {
    for (name, value) in pairs {
        state.set(name, value);
    }
}

/// A Secrets Manager secret name (what CreateSecret accepts).
pub fn secret_name_validator() -> crate::framework::schema::Validator {
    validators::pattern("[A-Za-z0-9/_+=.@-]{1,512}", "a Secrets Manager secret name")
}

/// Lowercase hex SHA-256 of a PEM certificate's public key, the fingerprint every resource
/// reports; `None` for anything that is not a certificate.
pub fn certificate_fingerprint(pem: &str) -> Option<String> {
    use crate::crypto::keys;
    keys::cert_public_key_spki(pem).ok().map(|spki| keys::public_key_fingerprint(&spki))
}

/// The JSON text of a document, as stored in state.
pub fn json_text(v: &serde_json::Value) -> Value {
    Value::String(v.to_string())
}

/// The `--cloudevents-client-id` whose MQTT form (`<id>-client`) the IoT policy pins.
pub(crate) fn cloudevents_client_id_attribute(whose: &str) -> Attribute {
    Attribute::string("cloudevents_client_id")
        .optional()
        .computed()
        .validate(validators::rule(naming::check_cloudevents_client_id))
        .description(&format!(
            "The agent's `--cloudevents-client-id` flag. Defaults to `<{whose}>-work-agent`, which both agent charts pass (the deployed chart hard-codes it). The agent's MQTT transport connects to IoT Core as `<cloudevents_client_id>-client`, and that exact client ID is the only one the policy allows."
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn configured_tags_hide_untouched_defaults() {
        let defaults = m(&[("managed-by", "tf"), ("team", "a")]);
        let found = m(&[("managed-by", "tf"), ("team", "b"), ("x", "1")]);
        assert_eq!(configured_tags(&found, &defaults, &BTreeMap::new()), m(&[("team", "b"), ("x", "1")]));
        // A key configured with the default's value is the user's, not only the default's.
        assert_eq!(configured_tags(&found, &defaults, &m(&[("managed-by", "tf")])), m(&[("managed-by", "tf"), ("team", "b"), ("x", "1")]));
        assert_eq!(merge_tags(&defaults, &m(&[("team", "b")])), m(&[("managed-by", "tf"), ("team", "b")]));
    }

    #[test]
    fn tag_changes_split_upserts_and_removals() {
        let (up, rm) = tag_changes(&m(&[("a", "1"), ("b", "2")]), &m(&[("b", "3"), ("c", "4")]));
        assert_eq!(up, m(&[("b", "3"), ("c", "4")]));
        assert_eq!(rm, vec!["a".to_string()]);
    }
}
