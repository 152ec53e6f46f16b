//! Turning AWS SDK errors into messages users can act on, and classifying the ones that are
//! worth retrying.
//!
//! Every diagnostic that reports an AWS error goes through [`explain`] (or [`describe`] when the
//! caller words the sentence around it): the action, the object, AWS's error code and message,
//! the HTTP status, the request ID to quote to AWS support, and what to do for that code. The
//! SDK's own `Display` helpers are not used for this because they end in the error's `Debug`
//! form (headers, `SdkBody`, `StatusCode(404)`), which is noise to a user.

use std::error::Error;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::{ErrorMetadata, ProvideErrorMetadata};
use aws_types::request_id::RequestId;

/// The AWS error code (`NoSuchEntity`, `ResourceNotFoundException`, ...) of a service error.
pub fn code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    err.as_service_error().and_then(|e| e.code())
}

pub fn message<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    err.as_service_error().and_then(|e| e.message())
}

/// What AWS answered, in words: `ResourceNotFoundException (HTTP 404): No cluster found for
/// name: mc01. (request ID 5f0c...)` for a service error; the cause chain ("dispatch failure:
/// io error: connection refused") for an error that never got an answer.
pub fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: Error + ProvideErrorMetadata + 'static,
{
    let request_id = err.request_id().map(|id| format!(" (request ID {id})")).unwrap_or_default();
    let status = err.raw_response().map(|r| format!(" (HTTP {})", r.status().as_u16())).unwrap_or_default();
    match err.as_service_error() {
        Some(service) => {
            let code = service.code().unwrap_or("an error without a code");
            let message = service.message().map(|m| format!(": {}", m.trim())).unwrap_or_default();
            format!("{code}{status}{message}{request_id}")
        }
        None => format!("{}{status}{request_id}", cause_chain(err)),
    }
}

/// The one sentence every failed AWS call becomes: `{action} on {object} failed: {describe}`
/// followed by what to do for that error code, when there is something to say.
pub fn explain<E>(action: &str, object: &str, err: &SdkError<E, HttpResponse>) -> String
where
    E: Error + ProvideErrorMetadata + 'static,
{
    let mut text = format!("{action} on {object} failed: {}", describe(err));
    if let Some(hint) = hint(action, object, code(err), message(err), err) {
        text.push_str("\n\n");
        text.push_str(&hint);
    }
    text
}

/// What a user can do about an error code: the remedies AWS's documentation gives for it.
fn hint<E, R>(action: &str, object: &str, code: Option<&str>, message: Option<&str>, err: &SdkError<E, R>) -> Option<String> {
    let message = message.unwrap_or_default();
    let kms = message.contains("KMS") || message.contains("kms:") || code.is_some_and(|c| c.starts_with("KMS"));
    let hint = match code {
        Some(c) if kms && is_access_denied(c) => format!(
            "The provider's role may not use the KMS key for {object}: allow kms:Decrypt and kms:GenerateDataKey to that role (with kms:ViaService for Secrets Manager) in the key policy, or use a key it may use."
        ),
        Some(c) if is_access_denied(c) => format!(
            "The role the provider uses may not call {action} on {object}: allow `{action}` on that resource in its IAM policy (and check permission boundaries, service control policies and resource policies that may deny it)."
        ),
        Some("NoSuchEntity" | "NoSuchEntityException" | "ResourceNotFoundException" | "NotFoundException") => format!(
            "AWS did not find what the call names ({object}) in the account and region the provider acts in: check the names, and that the provider block (region, assume_role, allowed_account_ids) reaches the account that holds it."
        ),
        Some(c) if is_throttling_code(c) => {
            "AWS kept throttling the request after the provider's retries: run again later, or with a lower -parallelism.".to_string()
        }
        Some(
            "ExpiredToken" | "ExpiredTokenException" | "InvalidClientTokenId" | "UnrecognizedClientException" | "SignatureDoesNotMatch"
            | "InvalidSignatureException",
        ) => "AWS refused the provider's credentials: renew them (a new session or SSO login), and check the clock of this machine.".to_string(),
        Some("LimitExceeded" | "LimitExceededException" | "ServiceQuotaExceededException") => {
            format!("A quota of the account was reached for {action}: remove unused objects or ask AWS for a higher quota.")
        }
        Some("EntityAlreadyExists" | "ResourceAlreadyExistsException" | "ResourceExistsException" | "ResourceInUseException") => format!(
            "{object} already exists, made outside this configuration or by another state: import it (see the resource's Import section) or choose another name."
        ),
        Some("EncryptionFailure" | "KMSInvalidStateException" | "KMSDisabledException" | "KMSNotFoundException") => format!(
            "The KMS key {object} is written under cannot be used: check that it exists in the provider's region (in another account, name it by key or alias ARN), that it is enabled, and that its key policy lets the provider's role use it."
        ),
        Some("DeleteConflict") => format!("Something this resource did not create still uses {object}: detach it and run again."),
        Some("InternalFailure" | "InternalFailureException" | "InternalServerException" | "ServiceUnavailable" | "ServiceUnavailableException") => {
            "AWS reported a failure on its side after the provider's retries: run again.".to_string()
        }
        Some(_) => return None,
        None if matches!(err, SdkError::DispatchFailure(_)) => {
            "The provider could not reach AWS: check the network, a proxy (HTTPS_PROXY), and the provider's `endpoints` if set.".to_string()
        }
        None if matches!(err, SdkError::TimeoutError(_)) => "AWS did not answer in time: run again.".to_string(),
        None => return None,
    };
    Some(hint)
}

/// Whether AWS refused the call for the caller's permissions (IAM, a key policy, an SCP).
pub fn is_access_denied_error<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    code(err).is_some_and(is_access_denied)
}

fn is_access_denied(code: &str) -> bool {
    matches!(code, "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "UnauthorizedException" | "AuthorizationError")
        || code.starts_with("KMSAccessDenied")
}

fn is_throttling_code(code: &str) -> bool {
    matches!(code, "ThrottlingException" | "TooManyRequestsException" | "Throttling" | "RequestLimitExceeded")
}

/// The error and its sources, each in its own words, without the `Debug` forms the SDK's
/// `DisplayErrorContext` appends: `dispatch failure: io error: connection refused`.
pub fn cause_chain(err: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(current) = next {
        let text = match current.downcast_ref::<ErrorMetadata>() {
            // ErrorMetadata's Display is a debug struct (`Error { code: ... }`).
            Some(meta) => metadata_words(meta),
            None => current.to_string(),
        };
        // Errors that wrap one another often repeat their source's text; say it once.
        if !text.is_empty() && !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        next = current.source();
    }
    parts.join(": ")
}

fn metadata_words(meta: &ErrorMetadata) -> String {
    let mut text = meta.code().unwrap_or("error").to_string();
    if let Some(message) = meta.message() {
        text.push_str(": ");
        text.push_str(message.trim());
    }
    if let Some(id) = meta.request_id() {
        text.push_str(&format!(" (request ID {id})"));
    }
    text
}

/// Whether an error means "the object does not exist".
pub fn is_not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(code(err), Some("NoSuchEntity" | "NoSuchEntityException" | "ResourceNotFoundException" | "NotFoundException"))
}

/// Whether a service error carries this AWS error code.
pub fn has_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>, expected: &str) -> bool {
    code(err) == Some(expected)
}

/// Whether a service error carries this code and its message contains `fragment`: for the
/// errors AWS reuses one code for (EKS's InvalidParameterException "Role ... does not exist").
pub fn has_code_and_message<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>, expected: &str, fragment: &str) -> bool {
    has_code(err, expected) && message(err).is_some_and(|m| m.contains(fragment))
}

/// Whether AWS refused a request for its rate: safe to resend even when the call is not
/// idempotent, since nothing was done.
pub fn is_throttling<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    code(err).is_some_and(is_throttling_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eks::operation::create_pod_identity_association::CreatePodIdentityAssociationError;
    use aws_sdk_eks::types::error::ResourceNotFoundException;
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_types::body::SdkBody;

    /// Rust `Debug` syntax that must never reach a user.
    const DEBUG_MARKERS: [&str; 6] = ["Some(", "StatusCode(", "SdkBody", "ServiceError", "Error {", "headers:"];

    fn response(status: u16, request_id: &str, body: &str) -> HttpResponse {
        let mut raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::from(body));
        raw.headers_mut().insert("x-amzn-requestid", request_id.to_string());
        raw.headers_mut().insert("content-type", "application/json");
        raw
    }

    fn meta(code: &str, message: &str, request_id: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message(message).custom("aws_request_id", request_id).build()
    }

    fn assert_readable(text: &str) {
        for marker in DEBUG_MARKERS {
            assert!(!text.contains(marker), "{marker:?} in {text}");
        }
    }

    /// What the EKS client builds from a 404 to CreatePodIdentityAssociation.
    fn missing_cluster() -> SdkError<CreatePodIdentityAssociationError, HttpResponse> {
        let body = r#"{"message":"No cluster found for name: mc01."}"#;
        let modeled = ResourceNotFoundException::builder()
            .message("No cluster found for name: mc01.")
            .meta(meta("ResourceNotFoundException", "No cluster found for name: mc01.", "req-404"))
            .build();
        SdkError::service_error(CreatePodIdentityAssociationError::ResourceNotFoundException(modeled), response(404, "req-404", body))
    }

    #[test]
    fn a_modeled_service_error_reads_like_the_aws_provider() {
        let text = explain("eks:CreatePodIdentityAssociation", "EKS cluster mc01", &missing_cluster());
        assert!(
            text.starts_with(
                "eks:CreatePodIdentityAssociation on EKS cluster mc01 failed: ResourceNotFoundException (HTTP 404): No cluster found for name: mc01. (request ID req-404)"
            ),
            "{text}"
        );
        assert!(text.contains("AWS did not find what the call names (EKS cluster mc01) in the account and region"), "{text}");
        assert_readable(&text);
        // What the SDK itself would have printed: the reason for this module.
        let sdk = aws_smithy_types::error::display::DisplayErrorContext(&missing_cluster()).to_string();
        assert!(sdk.contains("StatusCode(") || sdk.contains("SdkBody"), "the SDK's form changed: {sdk}");
    }

    #[test]
    fn an_unmodeled_access_denied_names_the_action_to_allow() {
        let err = SdkError::service_error(
            GetSecretValueError::generic(meta(
                "AccessDeniedException",
                "User: arn:aws:sts::1:assumed-role/r/s is not authorized",
                "req-403",
            )),
            response(403, "req-403", "{}"),
        );
        let text = explain("secretsmanager:GetSecretValue", "secret mc01/maestro/agent-mqtt-cert", &err);
        assert!(
            text.contains(
                "failed: AccessDeniedException (HTTP 403): User: arn:aws:sts::1:assumed-role/r/s is not authorized (request ID req-403)"
            ),
            "{text}"
        );
        assert!(text.contains("allow `secretsmanager:GetSecretValue` on that resource"), "{text}");
        assert_readable(&text);
    }

    #[test]
    fn a_kms_refusal_points_at_the_key_policy() {
        let err = SdkError::service_error(
            GetSecretValueError::generic(meta("AccessDeniedException", "Access to KMS is not allowed", "req-kms")),
            response(400, "req-kms", "{}"),
        );
        let text = explain("secretsmanager:GetSecretValue", "secret s", &err);
        assert!(text.contains("in the key policy"), "{text}");
        assert_readable(&text);
    }

    #[test]
    fn a_key_secrets_manager_cannot_encrypt_with_names_what_to_check() {
        let err = SdkError::service_error(
            GetSecretValueError::generic(meta("EncryptionFailure", "Secrets Manager can't encrypt the secret value", "r")),
            response(400, "r", "{}"),
        );
        let text = explain("secretsmanager:CreateSecret", "secret s", &err);
        assert!(text.contains("EncryptionFailure (HTTP 400)") && text.contains("that it is enabled"), "{text}");
    }

    #[test]
    fn throttling_and_internal_errors_say_to_run_again() {
        for (code, words) in [("ThrottlingException", "throttling"), ("ServiceUnavailable", "run again"), ("InternalFailure", "run again")]
        {
            let err = SdkError::service_error(GetSecretValueError::generic(meta(code, "m", "r")), response(400, "r", "{}"));
            let text = explain("secretsmanager:GetSecretValue", "secret s", &err);
            assert!(text.contains(words), "{text}");
            assert_readable(&text);
        }
    }

    #[test]
    fn an_error_without_an_answer_shows_its_causes_without_debug() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let err: SdkError<GetSecretValueError, HttpResponse> = SdkError::dispatch_failure(ConnectorError::io(io.into()));
        let text = explain("secretsmanager:GetSecretValue", "secret s", &err);
        assert!(text.contains("failed: dispatch failure: io error: connection refused"), "{text}");
        assert!(text.contains("could not reach AWS"), "{text}");
        assert_readable(&text);
    }

    #[test]
    fn nested_error_metadata_is_put_in_words() {
        // A credentials provider's failure carries the STS error's metadata as a source.
        #[derive(Debug)]
        struct Wrapper(ErrorMetadata);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("failed to load credentials")
            }
        }
        impl Error for Wrapper {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let text = cause_chain(&Wrapper(meta("AccessDenied", "not authorized to perform sts:AssumeRole", "req-sts")));
        assert_eq!(text, "failed to load credentials: AccessDenied: not authorized to perform sts:AssumeRole (request ID req-sts)");
    }

    #[test]
    fn classification_is_unchanged() {
        assert!(is_not_found(&missing_cluster()));
        assert!(has_code(&missing_cluster(), "ResourceNotFoundException"));
        assert!(has_code_and_message(&missing_cluster(), "ResourceNotFoundException", "mc01"));
        let throttled = SdkError::<GetSecretValueError, HttpResponse>::service_error(
            GetSecretValueError::generic(meta("Throttling", "slow down", "r")),
            response(400, "r", "{}"),
        );
        assert!(is_throttling(&throttled));
    }
}
