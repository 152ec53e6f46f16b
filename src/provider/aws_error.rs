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
