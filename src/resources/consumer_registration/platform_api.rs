//! The regional platform API's side of a request: API Gateway authorizes it with IAM, so each
//! one is signed with SigV4 (service `execute-api`) by the provider's own credentials, the
//! `assume_role` session included (its session token goes along as `x-amz-security-token`).

use super::transport::Request;
use crate::provider::AwsClients;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign as sigv4_sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use std::time::SystemTime;

pub const SIGNING_NAME: &str = "execute-api";

/// The provider's current credentials (refreshed by the SDK's provider when a session ends).
pub async fn credentials(clients: &AwsClients) -> Result<Credentials, String> {
    let provider = clients.credentials.as_ref().ok_or("the provider has no AWS credentials to sign platform API requests with")?;
    provider.provide_credentials().await.map_err(|e| format!("the provider's AWS credentials could not be loaded to sign the request: {e}"))
}

/// Adds `host`, `x-amz-date`, `authorization` (and `x-amz-security-token`) to `request`, over
/// its method, URL, headers and body as they will be sent.
pub fn sign(request: &mut Request, credentials: &Credentials, region: &str) -> Result<(), String> {
    let uri: hyper::Uri = request.url.parse().map_err(|e| format!("invalid URL {}: {e}", request.url))?;
    let host = uri.authority().map(|a| a.as_str().to_string()).ok_or_else(|| format!("no host in {}", request.url))?;
    request.headers.push(("host".into(), host));
    let identity: Identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SIGNING_NAME)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("SigV4: {e}"))?
        .into();
    let body = request.body.as_deref().unwrap_or_default();
    let signable = SignableRequest::new(
        request.method.as_str(),
        request.url.as_str(),
        request.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| format!("SigV4: {e}"))?;
    let (instructions, _signature) = sigv4_sign(signable, &params).map_err(|e| format!("SigV4: {e}"))?.into_parts();
    for (name, value) in instructions.headers() {
        request.headers.push((name.to_string(), value.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_names_execute_api_the_region_and_carries_the_session_token() {
        let mut request = Request {
            method: hyper::Method::POST,
            url: "https://abc.execute-api.eu-west-1.amazonaws.com/prod/api/v0/management_clusters".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(b"{}".to_vec()),
        };
        let credentials = Credentials::new("ASIAEXAMPLE", "secret", Some("session-token".into()), None, "test");
        sign(&mut request, &credentials, "eu-west-1").unwrap();
        let header = |name: &str| request.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
        assert!(header("authorization").starts_with("AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/"), "{}", header("authorization"));
        assert!(header("authorization").contains("/eu-west-1/execute-api/aws4_request"));
        assert!(header("authorization").contains("content-type;host;x-amz-date"));
        assert_eq!(header("x-amz-security-token"), "session-token");
        assert_eq!(header("host"), "abc.execute-api.eu-west-1.amazonaws.com");
    }
}
