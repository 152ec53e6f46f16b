//! Pure planning: what a change to a registration can and cannot do, decided before apply.

use super::model::{attr, Api, Spec};
use crate::framework::{AttributePath, Diagnostic, Value};

/// The platform API creates and reads management clusters; it has no PATCH. A label change
/// planned through it would fail half-way into the apply, so it is refused now.
pub fn refuse_platform_label_change(prior: &Value, planned: &Value) -> Option<Diagnostic> {
    if prior.is_null() || !planned.get(attr::LABELS).is_wholly_known() {
        return None;
    }
    let spec = Spec::from_value(planned);
    if !matches!(spec.api, Some(Api::Platform { .. })) || Spec::from_value(prior).labels == spec.labels {
        return None;
    }
    Some(
        Diagnostic::error(
            "Labels cannot change through the platform API",
            "The regional platform API (`/api/v0/management_clusters`) registers and reads consumers but cannot change them. Change the labels through Maestro's REST API (a `maestro_api` block instead of `platform_api`), or keep the labels Maestro holds.",
        )
        .at(AttributePath::root(attr::LABELS)),
    )
}

/// Turns an import ID into the API to read through: `<name>,<maestro url>` for Maestro's REST
/// API, `<name>,<platform api url>,<region>` for the platform API.
pub fn parse_import_id(id: &str) -> Result<(String, Value, Value), String> {
    let parts: Vec<&str> = id.split(',').collect();
    let api = |url: &str| Value::object([(attr::URL, Value::string(url)), (attr::CA_PEM, Value::Null)]);
    match parts.as_slice() {
        [name, url] => {
            let mut maestro = api(url);
            maestro.set(attr::BEARER_TOKEN, Value::Null);
            Ok((name.to_string(), maestro, Value::Null))
        }
        [name, url, region] => {
            let mut platform = api(url);
            platform.set(attr::REGION, Value::string(*region));
            Ok((name.to_string(), Value::Null, platform))
        }
        _ => Err(format!("The import ID is `<name>,<Maestro REST API URL>` or `<name>,<platform API URL>,<region>`, got {id:?}.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(api: &str, labels: &[(&str, &str)]) -> Value {
        let block = Value::object([(attr::URL, Value::string("https://x"))]);
        let mut v = Value::object([(attr::LABELS, Value::object(labels.iter().map(|(k, v)| (*k, Value::string(*v)))))]);
        v.set(api, block);
        v
    }

    #[test]
    fn only_a_label_change_through_the_platform_api_is_refused() {
        let prior = state(attr::PLATFORM_API, &[("a", "1")]);
        assert!(refuse_platform_label_change(&prior, &state(attr::PLATFORM_API, &[("a", "2")])).is_some());
        assert!(refuse_platform_label_change(&prior, &state(attr::PLATFORM_API, &[("a", "1")])).is_none());
        assert!(refuse_platform_label_change(&prior, &state(attr::MAESTRO_API, &[("a", "2")])).is_none());
        assert!(refuse_platform_label_change(&Value::Null, &state(attr::PLATFORM_API, &[("a", "2")])).is_none());
    }

    #[test]
    fn import_ids_name_the_api() {
        let (name, maestro, platform) = parse_import_id("mc-1,https://maestro.example.com").unwrap();
        assert_eq!(
            (name.as_str(), maestro.get(attr::URL).as_str(), platform.is_null()),
            ("mc-1", Some("https://maestro.example.com"), true)
        );
        let (_, maestro, platform) = parse_import_id("mc-1,https://gw/prod,us-east-1").unwrap();
        assert!(maestro.is_null() && platform.get(attr::REGION).as_str() == Some("us-east-1"));
        assert!(parse_import_id("mc-1").unwrap_err().contains("<name>,<Maestro REST API URL>"));
    }
}
