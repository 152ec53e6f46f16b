//! Base credentials from `assume_role_with_web_identity`: an OIDC token exchanged with
//! sts:AssumeRoleWithWebIdentity. Written here rather than taken from aws-config's
//! `WebIdentityTokenCredentialsProvider` because that one reads only a token file and takes
//! neither session policies nor a duration, which CI systems use to narrow what a run may do.

use super::config::{RoleSession, WebIdentity, WebIdentityToken};
use aws_credential_types::provider::{self, error::CredentialsError, future, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_sdk_sts::types::PolicyDescriptorType;
use std::time::SystemTime;
use zeroize::Zeroizing;

pub const DEFAULT_SESSION_NAME: &str = "terraform-provider-maestro";

/// Refreshed by the SDK's identity cache shortly before the session expires; every refresh
/// reads the token file again, since its issuer rotates it.
#[derive(Debug)]
pub struct WebIdentityCredentials {
    sts: aws_sdk_sts::Client,
    session: RoleSession,
    token: WebIdentityToken,
}

impl WebIdentityCredentials {
    /// `sts` needs no credentials: AssumeRoleWithWebIdentity is an unsigned call.
    pub fn new(sts: aws_sdk_sts::Client, config: &WebIdentity) -> Self {
        WebIdentityCredentials { sts, session: config.session.clone(), token: config.token.clone() }
    }

    async fn token(&self) -> Result<Zeroizing<String>, CredentialsError> {
        match &self.token {
            WebIdentityToken::Value(token) => Ok(Zeroizing::new(token.clone())),
            WebIdentityToken::File(path) => {
                // A small file, read off the runtime's threads (tokio's `fs` feature is not built).
                let owned = path.clone();
                let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(owned))
                    .await
                    .map_err(|e| CredentialsError::unhandled(format!("reading web_identity_token_file: {e}")))?;
                let text =
                    read.map_err(|e| CredentialsError::invalid_configuration(format!("cannot read web_identity_token_file {path}: {e}")))?;
                Ok(Zeroizing::new(text.trim().to_string()))
            }
        }
    }

    async fn fetch(&self) -> provider::Result {
        let token = self.token().await?;
        let s = &self.session;
        let answer = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(&s.role_arn)
            .role_session_name(s.session_name.as_deref().unwrap_or(DEFAULT_SESSION_NAME))
            .web_identity_token(token.as_str())
            .set_duration_seconds(s.duration_secs.map(|d| d as i32))
            .set_policy(s.policy.clone())
            .set_policy_arns(session_policy_arns(&s.policy_arns))
            .send()
            .await
            .map_err(|e| CredentialsError::provider_error(format!("sts:AssumeRoleWithWebIdentity: {}", super::aws_error::describe(&e))))?;
        let Some(c) = answer.credentials else {
            return Err(CredentialsError::unhandled("AssumeRoleWithWebIdentity answered without credentials"));
        };
        let expiry = SystemTime::try_from(c.expiration).ok();
        Ok(Credentials::new(c.access_key_id, c.secret_access_key, Some(c.session_token), expiry, "AssumeRoleWithWebIdentity"))
    }
}

impl ProvideCredentials for WebIdentityCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.fetch())
    }
}

/// STS's shape for managed session policies; `None` sends none.
pub fn session_policy_arns(arns: &[String]) -> Option<Vec<PolicyDescriptorType>> {
    if arns.is_empty() {
        return None;
    }
    Some(arns.iter().map(|arn| PolicyDescriptorType::builder().arn(arn).build()).collect())
}
