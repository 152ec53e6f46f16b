//! Turning AWS SDK errors into messages users can act on, and classifying the ones that are
//! worth retrying.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The AWS error code (`NoSuchEntity`, `ResourceNotFoundException`, ...) of a service error.
pub fn code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    err.as_service_error().and_then(|e| e.code())
}

pub fn message<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    err.as_service_error().and_then(|e| e.message())
}

/// The full cause chain ("dispatch failure: io error: connection refused"), which the SDK's
/// plain Display hides behind "dispatch failure".
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    DisplayErrorContext(err).to_string()
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
    matches!(code(err), Some("ThrottlingException" | "TooManyRequestsException" | "Throttling" | "RequestLimitExceeded"))
}
