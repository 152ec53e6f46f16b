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
            ..Default::default()
        };
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
    fn schema_rejects_a_malformed_role_arn() {
        let cfg = Value::object([("assume_role", Value::object([("role_arn", Value::string("maestro-management"))]))]);
        let mut diags = Diagnostics::new();
        crate::framework::schema::validate_block(&schema().block, &cfg, &AttributePath::default(), &mut diags);
        assert!(diags.has_errors());
        assert_eq!(diags.0[0].attribute.as_ref().unwrap().to_string(), "assume_role.role_arn");
    }
}
