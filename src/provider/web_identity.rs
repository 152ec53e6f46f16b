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
                let read = tokio::task::spawn_blocking(move || read_token_file(std::path::Path::new(&owned)))
                    .await
                    .map_err(|e| CredentialsError::unhandled(format!("reading web_identity_token_file: {e}")))?;
                read.map_err(|e| CredentialsError::invalid_configuration(format!("cannot read web_identity_token_file {path}: {e}")))
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

/// A token file may not be larger than this (tokens are at most 20,000 characters).
const MAX_TOKEN_FILE_BYTES: usize = 1 << 20;

/// Reads a token file into memory that is wiped when dropped, trimmed in place. Unlike
/// `read_to_string(..).trim().to_string()`, no copy of the token is left behind unwiped: the
/// buffer is sized from the file's length, replaced (and the old one wiped) only if the file
/// turns out longer, and the trimmed text stays in the same allocation. Errors never quote the
/// file's content.
fn read_token_file(path: &std::path::Path) -> std::io::Result<Zeroizing<String>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata().map(|m| m.len() as usize).unwrap_or(0).min(MAX_TOKEN_FILE_BYTES);
    // One byte more than announced, so reading the whole file needs no second buffer.
    let mut buf = Zeroizing::new(vec![0u8; size + 1]);
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if buf.len() > MAX_TOKEN_FILE_BYTES {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is larger than 1 MiB; it is not a token"));
            }
            let mut bigger = Zeroizing::new(vec![0u8; buf.len() * 2]);
            bigger[..filled].copy_from_slice(&buf[..filled]);
            buf = bigger; // the smaller buffer is wiped as it is dropped
        }
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    let mut token = match String::from_utf8(std::mem::take(&mut *buf)) {
        Ok(text) => Zeroizing::new(text),
        Err(e) => {
            zeroize::Zeroize::zeroize(&mut e.into_bytes());
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is not UTF-8 text"));
        }
    };
    let end = token.trim_end().len();
    token.truncate(end);
    let start = token.len() - token.trim_start().len();
    token.drain(..start);
    Ok(token)
}

/// STS's shape for managed session policies; `None` sends none.
pub fn session_policy_arns(arns: &[String]) -> Option<Vec<PolicyDescriptorType>> {
    if arns.is_empty() {
        return None;
    }
    Some(arns.iter().map(|arn| PolicyDescriptorType::builder().arn(arn).build()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, content: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("maestro-web-identity-{}-{name}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn a_token_file_is_read_whole_and_trimmed() {
        // Written by `echo`, or by Kubernetes, with a trailing newline and stray spaces.
        let path = temp_file("trim", b"  eyJhbGciOi.payload.sig\n\n");
        assert_eq!(read_token_file(&path).unwrap().as_str(), "eyJhbGciOi.payload.sig");
        let long = "x".repeat(70_000);
        std::fs::write(&path, &long).unwrap();
        assert_eq!(read_token_file(&path).unwrap().as_str(), long);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn unreadable_token_files_are_reported_without_their_content() {
        let path = temp_file("binary", b"secret-prefix\xff\xfe");
        let err = read_token_file(&path).unwrap_err().to_string();
        assert!(err.contains("not UTF-8") && !err.contains("secret-prefix"), "{err}");
        std::fs::remove_file(&path).unwrap();
        assert!(read_token_file(&path).is_err());
    }
}
