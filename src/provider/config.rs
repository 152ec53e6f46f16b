//! The `provider "maestro" {}` block: its schema and its parsed form.

use crate::framework::diagnostics::{AttributePath, Diagnostic, Diagnostics};
use crate::framework::schema::{Attribute, Block, NestedBlock, Schema};
use crate::framework::validators;
use crate::framework::value::Value;
use crate::policy::agent_binding::DEFAULT_TOPIC_PREFIX;
use crate::policy::naming;
use std::collections::BTreeMap;

/// Services whose endpoint can be overridden (emulators, VPC endpoints, FIPS endpoints).
pub const ENDPOINT_SERVICES: &[&str] = &["eks", "iam", "iot", "secretsmanager", "sts"];

pub fn schema() -> Schema {
    let mut endpoints = Block::new("Custom service endpoints, for VPC endpoints or a local AWS emulator.");
    for svc in ENDPOINT_SERVICES {
        endpoints = endpoints.attribute(
            Attribute::string(svc)
                .optional()
                .validate(validators::url())
                .description(&format!("URL to use for the {svc} API instead of the default endpoint.")),
        );
    }
    Schema::new(
        Block::new(
            "Configures access to one AWS account. Use two aliased provider blocks — the regional account (IoT Core) and the management account (EKS, the agent) — as the normal setup.",
        )
        .attribute(
            Attribute::string("region")
                .optional()
                .validate(validators::pattern("[a-z]{2}(-[a-z]+)+-\\d+", "an AWS region such as us-east-1"))
                .description("AWS region. Defaults to `AWS_REGION`/`AWS_DEFAULT_REGION` or the profile's region."),
        )
        .attribute(Attribute::string("profile").optional().description("Named profile from the shared configuration files."))
        .attribute(Attribute::string_list("shared_config_files").optional().description("Paths of shared config files (default `~/.aws/config`)."))
        .attribute(
            Attribute::string_list("shared_credentials_files").optional().description("Paths of shared credentials files (default `~/.aws/credentials`)."),
        )
        .attribute(
            Attribute::string_list("allowed_account_ids")
                .optional()
                .validate(account_id_list())
                .description("Account IDs this provider block may act in. With the credentials resolving to any other account, the provider refuses to configure, before any AWS write, naming the account it found: a regional/management role swap fails here. Conflicts with `forbidden_account_ids`."),
        )
        .attribute(
            Attribute::string_list("forbidden_account_ids")
                .optional()
                .validate(account_id_list())
                .description("Account IDs this provider block must never act in; the provider refuses to configure, before any AWS write, when the credentials resolve to one of them. Conflicts with `allowed_account_ids`."),
        )
        .attribute(
            Attribute::string("topic_prefix")
                .optional()
                .validate(validators::rule(naming::check_topic_prefix))
                .description(&format!("MQTT topic prefix shared by the Maestro server and agents. Defaults to `{DEFAULT_TOPIC_PREFIX}`.")),
        )
        .block(NestedBlock::single(
            "assume_role",
            Block::new("Assume an IAM role before making any call; how the regional and management accounts are usually reached.")
                .attribute(Attribute::string("role_arn").required().validate(validators::arn(Some("iam"))).description("ARN of the role to assume."))
                .attribute(
                    Attribute::string("session_name")
                        .optional()
                        .validate(validators::pattern("[\\w+=,.@-]{2,64}", "2 to 64 characters of letters, digits and +=,.@-"))
                        .description("Session name recorded in CloudTrail. Defaults to `terraform-provider-maestro`."),
                )
                .attribute(Attribute::string("external_id").optional().validate(validators::length(2, 1224)).description("External ID the role's trust policy requires."))
                .attribute(
                    Attribute::string("duration")
                        .optional()
                        .validate(validators::duration(900, 43_200))
                        .description("Session duration such as `1h` (15m to 12h). Defaults to 1h."),
                )
                .attribute(Attribute::string_map("tags").optional().validate(validators::tag_map()).description("Session tags.")),
        ))
        .block(NestedBlock::single("endpoints", endpoints))
        .block(NestedBlock::single(
            "default_tags",
            Block::new("Tags added to every taggable object the provider creates.")
                .attribute(Attribute::string_map("tags").optional().validate(validators::tag_map()).description("Tags to add.")),
        )),
    )
}

/// Every element of a list is an AWS account ID (12 digits).
fn account_id_list() -> crate::framework::schema::Validator {
    let one = validators::digits(12);
    std::sync::Arc::new(move |v: &Value| {
        for (i, id) in v.as_list().into_iter().flatten().enumerate() {
            one(id).map_err(|e| format!("element {i} {e}"))?;
        }
        Ok(())
    })
}

/// The account guard, checked as soon as the credentials' account is known and before any
/// resource calls AWS: the account must be allowed (when a list is given) and not forbidden.
pub fn check_account(cfg: &ProviderConfig, account_id: &str, caller_arn: &str) -> Result<(), Diagnostic> {
    if !cfg.allowed_account_ids.is_empty() && !cfg.allowed_account_ids.iter().any(|a| a == account_id) {
        return Err(Diagnostic::error(
            "AWS account not allowed",
            format!(
                "The credentials of this provider block act in account {account_id} (as {caller_arn}), which is not in allowed_account_ids [{}]. Nothing was changed in AWS. Check assume_role.role_arn: a regional and a management role swapped between provider blocks look like this.",
                cfg.allowed_account_ids.join(", ")
            ),
        )
        .at(AttributePath::root("allowed_account_ids")));
    }
    if cfg.forbidden_account_ids.iter().any(|a| a == account_id) {
        return Err(Diagnostic::error(
            "AWS account forbidden",
            format!(
                "The credentials of this provider block act in account {account_id} (as {caller_arn}), which forbidden_account_ids lists. Nothing was changed in AWS. Check assume_role.role_arn and the credential chain."
            ),
        )
        .at(AttributePath::root("forbidden_account_ids")));
    }
    Ok(())
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: Option<String>,
    pub external_id: Option<String>,
    pub duration_secs: Option<u64>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProviderConfig {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub shared_config_files: Vec<String>,
    pub shared_credentials_files: Vec<String>,
    pub topic_prefix: String,
    pub assume_role: Option<AssumeRole>,
    pub endpoints: BTreeMap<String, String>,
    pub default_tags: BTreeMap<String, String>,
    pub allowed_account_ids: Vec<String>,
    pub forbidden_account_ids: Vec<String>,
}

/// Reads a string attribute, refusing values that are still unknown: configuring with a
/// guess would silently talk to the wrong account or region.
fn known_str(v: &Value, path: AttributePath, diags: &mut Diagnostics) -> Option<String> {
    match v {
        Value::Unknown => {
            diags.push(
                Diagnostic::error(
                    "Provider configuration not known yet",
                    "This value depends on a resource that is not created yet. Provider configuration must be known at plan time.",
                )
                .at(path),
            );
            None
        }
        other => other.as_str().map(str::to_string),
    }
}

fn string_list(v: &Value) -> Vec<String> {
    v.as_list().map(|l| l.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

impl ProviderConfig {
    pub fn parse(config: &Value) -> Result<ProviderConfig, Diagnostics> {
        let mut diags = Diagnostics::new();
        let mut out = ProviderConfig {
            region: known_str(config.get("region"), AttributePath::root("region"), &mut diags),
            profile: known_str(config.get("profile"), AttributePath::root("profile"), &mut diags),
            shared_config_files: string_list(config.get("shared_config_files")),
            shared_credentials_files: string_list(config.get("shared_credentials_files")),
            topic_prefix: known_str(config.get("topic_prefix"), AttributePath::root("topic_prefix"), &mut diags)
                .unwrap_or_else(|| DEFAULT_TOPIC_PREFIX.to_string()),
            default_tags: config.get("default_tags").get("tags").string_map_entries(),
            allowed_account_ids: string_list(config.get("allowed_account_ids")),
            forbidden_account_ids: string_list(config.get("forbidden_account_ids")),
            ..Default::default()
        };
        for name in ["allowed_account_ids", "forbidden_account_ids"] {
            if config.get(name).is_unknown() || config.get(name).as_list().is_some_and(|l| l.iter().any(Value::is_unknown)) {
                known_str(&Value::Unknown, AttributePath::root(name), &mut diags);
            }
        }
        if !out.allowed_account_ids.is_empty() && !out.forbidden_account_ids.is_empty() {
            diags.push(
                Diagnostic::error(
                    "Conflicting account guards",
                    "Set allowed_account_ids or forbidden_account_ids, not both: an allow list already forbids every other account.",
                )
                .at(AttributePath::root("forbidden_account_ids")),
            );
        }
        let ar = config.get("assume_role");
        if !ar.is_null() {
            let at = |name: &str| AttributePath::root("assume_role").attribute(name);
            out.assume_role = known_str(ar.get("role_arn"), at("role_arn"), &mut diags).map(|role_arn| AssumeRole {
                role_arn,
                session_name: known_str(ar.get("session_name"), at("session_name"), &mut diags),
                external_id: known_str(ar.get("external_id"), at("external_id"), &mut diags),
                duration_secs: known_str(ar.get("duration"), at("duration"), &mut diags).and_then(|d| validators::parse_duration(&d)),
                tags: ar.get("tags").string_map_entries(),
            });
        }
        for svc in ENDPOINT_SERVICES {
            let path = AttributePath::root("endpoints").attribute(svc);
            if let Some(url) = known_str(config.get("endpoints").get(svc), path, &mut diags) {
                out.endpoints.insert(svc.to_string(), url);
            }
        }
        if diags.has_errors() {
            Err(diags)
        } else {
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_block() {
        let cfg = Value::object([
            ("region", Value::string("us-east-1")),
            ("topic_prefix", Value::Null),
            (
                "assume_role",
                Value::object([("role_arn", Value::string("arn:aws:iam::987654321098:role/x")), ("duration", Value::string("30m"))]),
            ),
            ("endpoints", Value::object([("iot", Value::string("http://127.0.0.1:1"))])),
            ("default_tags", Value::object([("tags", Value::object([("team", Value::string("p"))]))])),
        ]);
        let p = ProviderConfig::parse(&cfg).unwrap();
        assert_eq!(p.region.as_deref(), Some("us-east-1"));
        assert_eq!(p.topic_prefix, DEFAULT_TOPIC_PREFIX);
        let ar = p.assume_role.unwrap();
        assert_eq!(ar.duration_secs, Some(1800));
        assert_eq!(p.endpoints.get("iot").map(String::as_str), Some("http://127.0.0.1:1"));
        assert_eq!(p.default_tags.get("team").map(String::as_str), Some("p"));
    }

    #[test]
    fn unknown_values_are_errors_at_their_path() {
        let cfg = Value::object([("assume_role", Value::object([("role_arn", Value::Unknown)]))]);
        let err = ProviderConfig::parse(&cfg).unwrap_err();
        assert_eq!(err.0[0].attribute.as_ref().unwrap().to_string(), "assume_role.role_arn");
    }

    #[test]
    fn the_account_guard_allows_listed_and_refuses_forbidden_accounts_naming_the_one_seen() {
        let cfg = |allowed: &[&str], forbidden: &[&str]| ProviderConfig {
            allowed_account_ids: allowed.iter().map(|s| s.to_string()).collect(),
            forbidden_account_ids: forbidden.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert!(check_account(&cfg(&[], &[]), "123456789012", "arn").is_ok());
        assert!(check_account(&cfg(&["123456789012"], &[]), "123456789012", "arn").is_ok());
        let refused = check_account(&cfg(&["123456789012"], &[]), "987654321098", "arn:x").unwrap_err();
        assert_eq!(refused.attribute.as_ref().unwrap().to_string(), "allowed_account_ids");
        assert!(refused.detail.contains("987654321098") && refused.detail.contains("arn:x"), "{}", refused.detail);
        let forbidden = check_account(&cfg(&[], &["987654321098"]), "987654321098", "arn").unwrap_err();
        assert_eq!(forbidden.attribute.as_ref().unwrap().to_string(), "forbidden_account_ids");
        assert!(check_account(&cfg(&[], &["987654321098"]), "123456789012", "arn").is_ok());
    }

    #[test]
    fn account_guards_are_twelve_digits_and_not_both() {
        let mut diags = Diagnostics::new();
        let cfg = Value::object([("allowed_account_ids", Value::List(vec![Value::string("123456789012"), Value::string("12345")]))]);
        crate::framework::schema::validate_block(&schema().block, &cfg, &AttributePath::default(), &mut diags);
        assert_eq!(diags.0[0].attribute.as_ref().unwrap().to_string(), "allowed_account_ids");
        assert!(diags.0[0].detail.contains("element 1"), "{}", diags.0[0].detail);
        let both = Value::object([
            ("allowed_account_ids", Value::List(vec![Value::string("123456789012")])),
            ("forbidden_account_ids", Value::List(vec![Value::string("987654321098")])),
        ]);
        let err = ProviderConfig::parse(&both).unwrap_err();
        assert_eq!(err.0[0].attribute.as_ref().unwrap().to_string(), "forbidden_account_ids");
    }

    #[test]
    fn schema_rejects_a_malformed_role_arn() {
        let cfg = Value::object([("assume_role", Value::object([("role_arn", Value::string("maestro-management"))]))]);
        let mut diags = Diagnostics::new();
        crate::framework::schema::validate_block(&schema().block, &cfg, &AttributePath::default(), &mut diags);
        assert!(diags.has_errors());
        assert_eq!(diags.0[0].attribute.as_ref().unwrap().to_string(), "assume_role.role_arn");
    }
}
