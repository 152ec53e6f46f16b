//! The `provider "maestro" {}` block: its schema and its parsed form.

use crate::framework::diagnostics::{AttributePath, Diagnostic, Diagnostics};
use crate::framework::schema::{Attribute, Block, NestedBlock, Schema};
use crate::framework::validators;
use crate::framework::value::Value;
use crate::policy::agent_binding::DEFAULT_TOPIC_PREFIX;
use crate::policy::naming;
use crate::provider::charts::{self, AgentChart, ServerChart};
use std::collections::BTreeMap;

/// Services whose endpoint can be overridden (emulators, VPC endpoints, FIPS endpoints).
pub const ENDPOINT_SERVICES: &[&str] = &["eks", "iam", "iot", "kms", "secretsmanager", "sts"];

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
                .validate(validators::rule(naming::check_region))
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
            Attribute::string("custom_ca_bundle")
                .optional()
                .description("Path of a PEM file of CA certificates to trust besides the built-in Mozilla roots, for a TLS-inspecting proxy or a private endpoint. When unset, the file `AWS_CA_BUNDLE` names, if set."),
        )
        .attribute(
            Attribute::string("topic_prefix")
                .optional()
                .validate(validators::rule(naming::check_topic_prefix))
                .description(&format!("MQTT topic prefix shared by the Maestro server and agents. Defaults to `{DEFAULT_TOPIC_PREFIX}`.")),
        )
        .attribute(
            Attribute::string("agent_chart")
                .optional()
                .validate(validators::one_of(charts::AGENT_CHARTS))
                .description("The Helm chart that runs the Maestro agents this provider block's resources serve: `rosa-regional-platform` (the deployed chart, `argocd/config/management-cluster/maestro-agent`), `maestro` (upstream's `charts/maestro-agent`) or `custom` (a chart of your own). Every default of `maestro_agent_key` and `maestro_agent_identity` follows from it: the secret names, the Pod Identity association's namespace and service account, the role's grants, the files config.yaml points at and the Helm values. Unset behaves as `custom` (seed 001's names), with a plan warning. See the chart guide."),
        )
        .attribute(
            Attribute::string("server_chart")
                .optional()
                .validate(charts::server_chart_validator())
                .description("The Helm chart that runs the Maestro server: `rosa-regional-platform` (the deployed chart, `argocd/config/regional-cluster/maestro-server`) or `custom` (a chart of your own). With the deployed chart, `maestro_server_identity` grants read on the database secret it mounts (`maestro/db-credentials`) and warns about its replicas' shared client ID. Unset behaves as `custom`, with a plan warning. Upstream's server chart (`maestro`) is refused, with why."),
        )
        .block(NestedBlock::single(
            "assume_role",
            role_session_attributes(Block::new(
                "Assume an IAM role before making any call; how the regional and management accounts are usually reached. With `assume_role_with_web_identity`, this role is assumed with the web identity session's credentials (role chaining, which AWS limits to 1h sessions).",
            ))
            .attribute(Attribute::string("external_id")
                    .optional()
                    .validate(validators::length(2, 1224))
                    .validate(validators::pattern("[A-Za-z0-9_+=,.@:/-]*", "ASCII letters, digits and _+=,.@:/- only (STS's ExternalId characters)"))
                    .description("External ID the role's trust policy requires."))
            .attribute(Attribute::string_map("tags").optional().validate(validators::session_tag_map()).description("Session tags (at most 50).")),
        ))
        .block(NestedBlock::single(
            "assume_role_with_web_identity",
            role_session_attributes(Block::new(
                "Get the base credentials by exchanging an OpenID Connect token (a CI system's, or a Kubernetes service account's) with sts:AssumeRoleWithWebIdentity, instead of the default credential chain. The token file is read again whenever the credentials are refreshed, so rotated tokens are picked up.",
            ))
            .attribute(
                Attribute::string("web_identity_token")
                    .optional()
                    .sensitive()
                    .validate(validators::length(4, 20_000))
                    .description("The OIDC token itself. Conflicts with `web_identity_token_file`."),
            )
            .attribute(
                Attribute::string("web_identity_token_file")
                    .optional()
                    .description("Path of a file holding the OIDC token. Defaults to `AWS_WEB_IDENTITY_TOKEN_FILE` when neither this nor `web_identity_token` is set."),
            ),
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
    validators::each(validators::digits(12), 1000)
}

/// AWS's limits on a role session, for both ways of getting one: STS takes at most 10 managed
/// session policy ARNs, and an inline session policy of 2048 characters once packed.
const MAX_SESSION_POLICY_ARNS: usize = 10;
const MAX_SESSION_POLICY_CHARS: usize = 2048;
/// A role session obtained with a role session's credentials (role chaining) lasts at most 1h.
pub const ROLE_CHAINING_MAX_SECS: u64 = 3600;

/// The attributes `assume_role` and `assume_role_with_web_identity` share.
fn role_session_attributes(block: Block) -> Block {
    block
        .attribute(Attribute::string("role_arn").required().validate(validators::arn_of("iam", "role/", "arn:PARTITION:iam::ACCOUNT:role/NAME")).description("ARN of the role to assume."))
        .attribute(
            Attribute::string("session_name")
                .optional()
                .validate(validators::pattern("[A-Za-z0-9_+=,.@-]{2,64}", "2 to 64 characters of ASCII letters, digits and _+=,.@-"))
                .description("Session name recorded in CloudTrail. Defaults to `terraform-provider-maestro`."),
        )
        .attribute(
            Attribute::string("duration")
                .optional()
                .validate(validators::duration(900, 43_200))
                .description("Session duration such as `1h` (15m to 12h, and at most the role's maximum session duration; 1h at most when the credentials it is assumed with are themselves a role session). Defaults to 1h."),
        )
        .attribute(
            Attribute::string("policy")
                .optional()
                .validate(validators::json_policy(MAX_SESSION_POLICY_CHARS))
                .description("An IAM policy (JSON) that narrows the session: it gets only what both the role's policies and this one allow. At most 2048 characters without whitespace."),
        )
        .attribute(
            Attribute::string_list("policy_arns")
                .optional()
                .validate(validators::each(validators::arn_of("iam", "policy/", "arn:PARTITION:iam::ACCOUNT:policy/NAME"), MAX_SESSION_POLICY_ARNS))
                .description("ARNs of managed IAM policies that narrow the session, as `policy` does (at most 10)."),
        )
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
    pub session: RoleSession,
    pub external_id: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// What both `assume_role` and `assume_role_with_web_identity` ask of STS.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoleSession {
    pub role_arn: String,
    pub session_name: Option<String>,
    pub duration_secs: Option<u64>,
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
}

/// Where the OIDC token of `assume_role_with_web_identity` comes from.
#[derive(Clone, PartialEq)]
pub enum WebIdentityToken {
    /// The token itself (a secret: kept out of `Debug`).
    Value(String),
    /// A file read at every credential refresh (CI systems and Kubernetes rotate it).
    File(String),
}

impl std::fmt::Debug for WebIdentityToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebIdentityToken::Value(_) => f.write_str("Value(<redacted>)"),
            WebIdentityToken::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct WebIdentity {
    pub session: RoleSession,
    pub token: WebIdentityToken,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProviderConfig {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub shared_config_files: Vec<String>,
    pub shared_credentials_files: Vec<String>,
    pub topic_prefix: String,
    pub assume_role: Option<AssumeRole>,
    pub web_identity: Option<WebIdentity>,
    pub endpoints: BTreeMap<String, String>,
    pub default_tags: BTreeMap<String, String>,
    pub allowed_account_ids: Vec<String>,
    pub forbidden_account_ids: Vec<String>,
    pub custom_ca_bundle: Option<String>,
    /// The charts that run the agents and the server; `None` when unset.
    pub agent_chart: Option<AgentChart>,
    pub server_chart: Option<ServerChart>,
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

/// A list argument, or any of its elements, still unknown is refused as `known_str` refuses a
/// string: the provider cannot configure on a guess.
fn require_known_list(v: &Value, path: AttributePath, diags: &mut Diagnostics) {
    if v.is_unknown() || v.as_list().is_some_and(|l| l.iter().any(Value::is_unknown)) {
        known_str(&Value::Unknown, path, diags);
    }
}

/// The attributes `role_session_attributes` declares, read from either block.
fn role_session(block: &Value, at: &AttributePath, diags: &mut Diagnostics) -> Option<RoleSession> {
    let role_arn = known_str(block.get("role_arn"), at.clone().attribute("role_arn"), diags)?;
    require_known_list(block.get("policy_arns"), at.clone().attribute("policy_arns"), diags);
    Some(RoleSession {
        role_arn,
        session_name: known_str(block.get("session_name"), at.clone().attribute("session_name"), diags),
        duration_secs: known_str(block.get("duration"), at.clone().attribute("duration"), diags)
            .and_then(|d| validators::parse_duration(&d)),
        policy: known_str(block.get("policy"), at.clone().attribute("policy"), diags),
        policy_arns: string_list(block.get("policy_arns")),
    })
}

fn string_list(v: &Value) -> Vec<String> {
    v.as_list().map(|l| l.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// Arguments that exclude each other. Checked by ValidateProviderConfig, so a literal
/// conflict fails at `validate`, and again when configuring, for values known only at plan.
pub fn check_conflicting_arguments(config: &Value, diags: &mut Diagnostics) {
    let is_set = |v: &Value| v.is_wholly_known() && !v.is_null() && v.as_list().is_none_or(|items| !items.is_empty());
    if is_set(config.get("allowed_account_ids")) && is_set(config.get("forbidden_account_ids")) {
        diags.push(
            Diagnostic::error(
                "Conflicting account guards",
                "Set allowed_account_ids or forbidden_account_ids, not both: an allow list already forbids every other account, so drop allowed_account_ids to keep only the exclusions, or forbidden_account_ids to keep only the allow list.",
            )
            .at(AttributePath::root("allowed_account_ids")),
        );
    }
    let web_identity = config.get("assume_role_with_web_identity");
    if is_set(web_identity.get("web_identity_token")) && is_set(web_identity.get("web_identity_token_file")) {
        diags.push(
            Diagnostic::error("Conflicting web identity tokens", "Set web_identity_token or web_identity_token_file, not both.")
                .at(AttributePath::root("assume_role_with_web_identity").attribute("web_identity_token_file")),
        );
    }
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
            custom_ca_bundle: known_str(config.get("custom_ca_bundle"), AttributePath::root("custom_ca_bundle"), &mut diags),
            agent_chart: known_str(config.get("agent_chart"), AttributePath::root("agent_chart"), &mut diags)
                .as_deref()
                .and_then(AgentChart::parse),
            server_chart: known_str(config.get("server_chart"), AttributePath::root("server_chart"), &mut diags)
                .as_deref()
                .and_then(ServerChart::parse),
            ..Default::default()
        };
        for name in ["allowed_account_ids", "forbidden_account_ids"] {
            require_known_list(config.get(name), AttributePath::root(name), &mut diags);
        }
        check_conflicting_arguments(config, &mut diags);
        let ar = config.get("assume_role");
        if !ar.is_null() {
            let at = AttributePath::root("assume_role");
            out.assume_role = role_session(ar, &at, &mut diags).map(|session| AssumeRole {
                session,
                external_id: known_str(ar.get("external_id"), at.clone().attribute("external_id"), &mut diags),
                tags: ar.get("tags").string_map_entries(),
            });
        }
        let wi = config.get("assume_role_with_web_identity");
        if !wi.is_null() {
            let at = AttributePath::root("assume_role_with_web_identity");
            let token = known_str(wi.get("web_identity_token"), at.clone().attribute("web_identity_token"), &mut diags);
            let file = known_str(wi.get("web_identity_token_file"), at.clone().attribute("web_identity_token_file"), &mut diags);
            let token = match (token, file) {
                // Refused by check_conflicting_arguments above.
                (Some(_), Some(_)) => None,
                (Some(token), None) => Some(WebIdentityToken::Value(token)),
                (None, Some(file)) => Some(WebIdentityToken::File(file)),
                (None, None) => match std::env::var("AWS_WEB_IDENTITY_TOKEN_FILE") {
                    Ok(file) if !file.is_empty() => Some(WebIdentityToken::File(file)),
                    _ => {
                        diags.push(
                            Diagnostic::error(
                                "No web identity token",
                                "assume_role_with_web_identity needs the OIDC token: set web_identity_token or web_identity_token_file, or AWS_WEB_IDENTITY_TOKEN_FILE in the environment.",
                            )
                            .at(at.clone().attribute("web_identity_token_file")),
                        );
                        None
                    }
                },
            };
            if let (Some(session), Some(token)) = (role_session(wi, &at, &mut diags), token) {
                out.web_identity = Some(WebIdentity { session, token });
            }
        }
        // A web identity session is a role session, so the role assumed with it is chained:
        // STS refuses more than 1h. Said here, before any call, rather than by STS.
        if let (Some(_), Some(ar)) = (&out.web_identity, &out.assume_role) {
            if ar.session.duration_secs.is_some_and(|d| d > ROLE_CHAINING_MAX_SECS) {
                diags.push(
                    Diagnostic::error(
                        "Session too long for role chaining",
                        "assume_role is assumed with the credentials of assume_role_with_web_identity, a role session; AWS limits a role session obtained that way (role chaining) to 1h. Set assume_role.duration to 1h or less.",
                    )
                    .at(AttributePath::root("assume_role").attribute("duration")),
                );
            }
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
        assert_eq!(ar.session.duration_secs, Some(1800));
        assert_eq!(p.endpoints.get("iot").map(String::as_str), Some("http://127.0.0.1:1"));
        assert_eq!(p.default_tags.get("team").map(String::as_str), Some("p"));
    }

    #[test]
    fn web_identity_takes_one_token_and_limits_the_chained_session() {
        let wi = |token: Option<&str>, file: Option<&str>| {
            Value::object([
                ("role_arn", Value::string("arn:aws:iam::123456789012:role/ci")),
                ("web_identity_token", token.map(Value::string).unwrap_or(Value::Null)),
                ("web_identity_token_file", file.map(Value::string).unwrap_or(Value::Null)),
                ("policy_arns", Value::List(vec![Value::string("arn:aws:iam::aws:policy/ReadOnlyAccess")])),
            ])
        };
        let parsed = ProviderConfig::parse(&Value::object([("assume_role_with_web_identity", wi(Some("eyJ.token"), None))])).unwrap();
        let web = parsed.web_identity.unwrap();
        assert_eq!(web.token, WebIdentityToken::Value("eyJ.token".into()));
        assert_eq!(web.session.policy_arns, vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".to_string()]);
        assert!(!format!("{web:?}").contains("eyJ.token"), "the token stays out of Debug output");

        let both = ProviderConfig::parse(&Value::object([("assume_role_with_web_identity", wi(Some("t0ken"), Some("/t")))])).unwrap_err();
        assert_eq!(both.0[0].attribute.as_ref().unwrap().to_string(), "assume_role_with_web_identity.web_identity_token_file");

        let chained = Value::object([
            ("assume_role_with_web_identity", wi(None, Some("/var/run/token"))),
            (
                "assume_role",
                Value::object([("role_arn", Value::string("arn:aws:iam::987654321098:role/x")), ("duration", Value::string("2h"))]),
            ),
        ]);
        let err = ProviderConfig::parse(&chained).unwrap_err();
        assert_eq!(err.0[0].attribute.as_ref().unwrap().to_string(), "assume_role.duration");
    }

    #[test]
    fn session_policies_are_json_within_stss_limits() {
        let block = |policy: &str, arns: usize| {
            Value::object([(
                "assume_role",
                Value::object([
                    ("role_arn", Value::string("arn:aws:iam::987654321098:role/x")),
                    ("policy", Value::string(policy)),
                    ("policy_arns", Value::List((0..arns).map(|i| Value::string(format!("arn:aws:iam::aws:policy/P{i}"))).collect())),
                ]),
            )])
        };
        let check = |cfg: &Value| {
            let mut diags = Diagnostics::new();
            crate::framework::schema::validate_block(&schema().block, cfg, &AttributePath::default(), &mut diags);
            diags.0.iter().map(|d| d.attribute.as_ref().unwrap().to_string()).collect::<Vec<_>>()
        };
        let good = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}"#;
        assert!(check(&block(good, 10)).is_empty());
        assert_eq!(check(&block("{not json", 0)), vec!["assume_role.policy"]);
        assert_eq!(check(&block(good, 11)), vec!["assume_role.policy_arns"]);
        let huge = format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "iot:*", "Resource": "{}"}}]}}"#,
            "a".repeat(2100)
        );
        assert_eq!(check(&block(&huge, 0)), vec!["assume_role.policy"]);
        let parsed = ProviderConfig::parse(&block(good, 2)).unwrap().assume_role.unwrap();
        assert_eq!((parsed.session.policy.as_deref(), parsed.session.policy_arns.len()), (Some(good), 2));
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
        assert_eq!(err.0[0].attribute.as_ref().unwrap().to_string(), "allowed_account_ids");
        // ValidateProviderConfig refuses the same pair, unless a list is not known yet.
        let mut diags = Diagnostics::new();
        check_conflicting_arguments(&both, &mut diags);
        assert_eq!(diags.0.len(), 1);
        let unknown = Value::object([
            ("allowed_account_ids", Value::Unknown),
            ("forbidden_account_ids", Value::List(vec![Value::string("987654321098")])),
        ]);
        let mut diags = Diagnostics::new();
        check_conflicting_arguments(&unknown, &mut diags);
        assert!(diags.is_empty());
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
