//! Builds the AWS SDK clients from the provider configuration and verifies the credentials.

use super::aws_error;
use super::config::ProviderConfig;
use super::web_identity::{WebIdentityCredentials, DEFAULT_SESSION_NAME};
use crate::framework::diagnostics::{AttributePath, Diagnostic, Diagnostics};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_runtime::env_config::file::{EnvConfigFileKind as ProfileFileKind, EnvConfigFiles as ProfileFiles};
use std::collections::BTreeMap;
use std::time::Duration;

/// Everything a resource needs to talk to one AWS account.
pub struct AwsClients {
    pub region: String,
    pub account_id: String,
    pub partition: String,
    /// Who the provider acts as, for error messages.
    pub caller_arn: String,
    pub topic_prefix: String,
    pub default_tags: BTreeMap<String, String>,
    pub iam: aws_sdk_iam::Client,
    pub iot: aws_sdk_iot::Client,
    pub eks: aws_sdk_eks::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    pub kms: aws_sdk_kms::Client,
    pub sts: aws_sdk_sts::Client,
    /// The credentials every client signs with (`assume_role` included), for the requests the
    /// SDK does not make: SigV4 to the platform API's API Gateway (`execute-api`).
    pub credentials: Option<SharedCredentialsProvider>,
    /// The account's `iot:Data-ATS` host, asked for once per provider process: it never
    /// changes, and every plan of a consumer or server shows it. Concurrent plans share the
    /// one call.
    pub iot_data_endpoint: tokio::sync::OnceCell<String>,
    /// The charts chosen in the provider block (`None`: unset).
    pub agent_chart: Option<crate::provider::charts::AgentChart>,
    pub server_chart: Option<crate::provider::charts::ServerChart>,
    /// The agents of this provider configuration that use the deployed agent chart's fixed
    /// names: one per management account and region.
    pub deployed_agent_claims: crate::provider::charts::DeployedAgentClaims,
}

/// The CA bundle to trust besides Mozilla's roots: `custom_ca_bundle`, else `AWS_CA_BUNDLE`
/// (as the AWS CLI and the AWS provider read it). Its path, never its content, is quoted back.
/// These settings also become the process's (`Https::configured`), which the registration
/// API's REST client starts from.
fn https_client(cfg: &ProviderConfig) -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient, Diagnostics> {
    let (path, from_env) = match &cfg.custom_ca_bundle {
        Some(path) => (Some(path.clone()), false),
        None => (std::env::var("AWS_CA_BUNDLE").ok().filter(|p| !p.is_empty()), true),
    };
    let bundle = |problem: String| {
        let source = if from_env { "AWS_CA_BUNDLE" } else { "custom_ca_bundle" };
        let diag = Diagnostic::error("Unusable CA bundle", format!("{source} names {}: {problem}.", path.as_deref().unwrap_or_default()));
        Diagnostics::from(if from_env { diag } else { diag.at(AttributePath::root("custom_ca_bundle")) })
    };
    let pem = match &path {
        Some(p) => Some(std::fs::read(p).map_err(|e| bundle(format!("cannot read it ({e})")))?),
        None => None,
    };
    let https = super::https::Https::new(super::https::tls_config(pem.as_deref()).map_err(bundle)?);
    https.set_configured();
    Ok(https.sdk_client())
}

async fn base_config(cfg: &ProviderConfig) -> Result<SdkConfig, Diagnostics> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client(cfg)?)
        // Throttling and transient network errors are retried by the SDK itself.
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .timeout_config(
            TimeoutConfig::builder().connect_timeout(Duration::from_secs(10)).operation_timeout(Duration::from_secs(120)).build(),
        );
    if let Some(region) = &cfg.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &cfg.profile {
        loader = loader.profile_name(profile);
    }
    if !cfg.shared_config_files.is_empty() || !cfg.shared_credentials_files.is_empty() {
        let mut files = ProfileFiles::builder();
        if cfg.shared_config_files.is_empty() {
            files = files.include_default_config_file(true);
        }
        if cfg.shared_credentials_files.is_empty() {
            files = files.include_default_credentials_file(true);
        }
        for f in &cfg.shared_config_files {
            files = files.with_file(ProfileFileKind::Config, f);
        }
        for f in &cfg.shared_credentials_files {
            files = files.with_file(ProfileFileKind::Credentials, f);
        }
        loader = loader.profile_files(files.build());
    }
    Ok(loader.load().await)
}

/// The configuration STS is called with: the base credentials' (or none), at `endpoints.sts`.
fn sts_config(base: &SdkConfig, cfg: &ProviderConfig) -> SdkConfig {
    let mut sts = base.to_builder();
    if let Some(url) = cfg.endpoints.get("sts") {
        sts = sts.endpoint_url(url);
    }
    sts.build()
}

/// With `assume_role_with_web_identity`, the base credentials are that role session's.
fn with_web_identity(base: SdkConfig, cfg: &ProviderConfig) -> SdkConfig {
    let Some(wi) = &cfg.web_identity else { return base };
    let sts = aws_sdk_sts::Client::new(&sts_config(&base, cfg));
    let provider = WebIdentityCredentials::new(sts, wi);
    base.to_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build()
}

/// Layers `assume_role` over the base credentials, talking to the configured STS endpoint.
async fn with_assumed_role(base: SdkConfig, cfg: &ProviderConfig) -> SdkConfig {
    let Some(ar) = &cfg.assume_role else { return base };
    let s = &ar.session;
    let mut builder = aws_config::sts::AssumeRoleProvider::builder(&s.role_arn)
        .session_name(s.session_name.clone().unwrap_or_else(|| DEFAULT_SESSION_NAME.to_string()))
        .configure(&sts_config(&base, cfg));
    if let Some(id) = &ar.external_id {
        builder = builder.external_id(id);
    }
    if let Some(secs) = s.duration_secs {
        builder = builder.session_length(Duration::from_secs(secs));
    }
    if let Some(policy) = &s.policy {
        builder = builder.policy(policy);
    }
    if !s.policy_arns.is_empty() {
        builder = builder.policy_arns(s.policy_arns.clone());
    }
    if !ar.tags.is_empty() {
        builder = builder.tags(ar.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    let provider = builder.build().await;
    base.to_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build()
}

/// The attribute a failed credential check is pinned to: a session longer than STS allows is
/// the `duration` of the block that asked for it; anything else, the role or the chain.
fn credential_failure_path(cfg: &ProviderConfig, message: &str) -> Option<AttributePath> {
    let too_long = message.contains("DurationSeconds");
    let block = if cfg.web_identity.is_some() && (message.contains("AssumeRoleWithWebIdentity") || cfg.assume_role.is_none()) {
        "assume_role_with_web_identity"
    } else if cfg.assume_role.is_some() {
        "assume_role"
    } else {
        return None;
    };
    Some(AttributePath::root(block).attribute(if too_long { "duration" } else { "role_arn" }))
}

/// Why STS refused a session length, in the user's terms (STS's words say only "exceeds").
fn duration_hint(message: &str) -> &'static str {
    if message.contains("role chaining") {
        "\n\nThe credentials this role is assumed with are themselves a role session (from a profile's role_arn, an earlier AssumeRole, or a web identity), and AWS limits a chained session to 1h: set duration to 1h or less."
    } else if message.contains("MaxSessionDuration") {
        "\n\nThe role's MaxSessionDuration is shorter than duration: shorten duration, or raise the role's maximum session duration (iam update-role --max-session-duration)."
    } else {
        ""
    }
}

/// `arn:aws-cn:sts::...` → `aws-cn`.
fn partition_of(arn: &str) -> String {
    arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws").to_string()
}

pub async fn connect(cfg: &ProviderConfig) -> Result<AwsClients, Diagnostics> {
    let sdk = with_assumed_role(with_web_identity(base_config(cfg).await?, cfg), cfg).await;
    let Some(region) = sdk.region().map(|r| r.to_string()) else {
        return Err(Diagnostic::error(
            "No AWS region",
            "Set `region` in the provider block, or AWS_REGION in the environment, or a region in the selected profile.",
        )
        .at(AttributePath::root("region"))
        .into());
    };
    let endpoint = |svc: &str| cfg.endpoints.get(svc).cloned();
    macro_rules! client {
        ($krate:ident, $svc:literal) => {{
            let mut b = $krate::config::Builder::from(&sdk);
            if let Some(url) = endpoint($svc) {
                b = b.endpoint_url(url);
            }
            $krate::Client::from_conf(b.build())
        }};
    }
    let sts = client!(aws_sdk_sts, "sts");
    let identity = sts.get_caller_identity().send().await.map_err(|e| {
        let message = aws_error::describe(&e);
        let via = match (&cfg.assume_role, &cfg.web_identity) {
            (Some(ar), _) => format!(" after assuming {}", ar.session.role_arn),
            (None, Some(wi)) => format!(" after assuming {} with a web identity", wi.session.role_arn),
            (None, None) => String::new(),
        };
        let diag = Diagnostic::error(
            "Invalid AWS credentials",
            format!(
                "The provider could not verify its credentials with sts:GetCallerIdentity{via}: {message}.{}\n\nCheck the credential chain (environment, profile, shared files), `assume_role`, `assume_role_with_web_identity`, and `endpoints.sts`.",
                duration_hint(&message)
            ),
        );
        Diagnostics::from(match credential_failure_path(cfg, &message) {
            Some(path) => diag.at(path),
            None => diag,
        })
    })?;
    let caller_arn = identity.arn().unwrap_or_default().to_string();
    let account_id = identity.account().unwrap_or_default().to_string();
    super::config::check_account(cfg, &account_id, &caller_arn)?;
    tracing::info!(account_id = %account_id, caller = %caller_arn, region = %region, "provider configured");
    Ok(AwsClients {
        partition: partition_of(&caller_arn),
        region,
        account_id,
        caller_arn,
        topic_prefix: cfg.topic_prefix.clone(),
        default_tags: cfg.default_tags.clone(),
        iam: client!(aws_sdk_iam, "iam"),
        iot: client!(aws_sdk_iot, "iot"),
        eks: client!(aws_sdk_eks, "eks"),
        secretsmanager: client!(aws_sdk_secretsmanager, "secretsmanager"),
        kms: client!(aws_sdk_kms, "kms"),
        sts,
        credentials: sdk.credentials_provider(),
        iot_data_endpoint: tokio::sync::OnceCell::new(),
        agent_chart: cfg.agent_chart,
        server_chart: cfg.server_chart,
        deployed_agent_claims: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_come_from_the_caller_arn() {
        assert_eq!(partition_of("arn:aws-cn:sts::123456789012:assumed-role/x/y"), "aws-cn");
        assert_eq!(partition_of("arn:aws:iam::123456789012:user/x"), "aws");
        assert_eq!(partition_of(""), "aws");
    }
}
