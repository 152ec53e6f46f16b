//! The one KMS lookup: DescribeKey, which resolves any reference Secrets Manager takes (key
//! ID, key ARN, alias name, alias ARN) to the key itself. A key or alias of another account is
//! found only by its ARN, and only when that account's key policy lets the caller describe it.

use crate::framework::{Diagnostic, Diagnostics};
use crate::provider::aws_error::{self, is_access_denied_error, is_not_found};
use crate::provider::AwsClients;
use crate::resources::common::aws_failure;

/// The IAM action the lookup needs, named in every message about it.
pub const DESCRIBE_KEY: &str = "kms:DescribeKey";

/// What DescribeKey says about a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFacts {
    /// The key's own ARN (never an alias ARN): what an IAM policy must name to grant its use.
    pub arn: String,
    pub account: String,
    pub region: String,
    /// `Enabled`, `Disabled`, `PendingDeletion`, `PendingImport`, ...
    pub state: String,
    /// `CUSTOMER` or `AWS` (an AWS-managed key such as aws/secretsmanager).
    pub manager: String,
}

impl KeyFacts {
    pub fn is_enabled(&self) -> bool {
        self.state == "Enabled"
    }
}

/// Why a key could not be described.
pub enum KeyLookupError {
    /// The caller may not call kms:DescribeKey (or the key policy does not let it): the
    /// formatted AWS answer, for a warning.
    Denied(String),
    /// Anything else, already a diagnostic.
    Failed(Diagnostics),
}

/// DescribeKey on `reference`; `Ok(None)` when KMS has no such key or alias for the caller.
/// The SDK retries throttling and transient failures itself (the clients' retry config).
pub async fn find_key(c: &AwsClients, reference: &str) -> Result<Option<KeyFacts>, KeyLookupError> {
    match c.kms.describe_key().key_id(reference).send().await {
        Ok(out) => {
            let Some(meta) = out.key_metadata() else {
                return Err(KeyLookupError::Failed(
                    Diagnostic::error("Malformed KMS response", format!("{DESCRIBE_KEY} on {reference} returned no key metadata")).into(),
                ));
            };
            let arn = meta.arn().unwrap_or_default().to_string();
            Ok(Some(KeyFacts {
                region: arn.split(':').nth(3).unwrap_or_default().to_string(),
                account: meta.aws_account_id().unwrap_or_default().to_string(),
                state: meta.key_state().map(|s| s.as_str().to_string()).unwrap_or_default(),
                manager: meta.key_manager().map(|m| m.as_str().to_string()).unwrap_or_default(),
                arn,
            }))
        }
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) if is_access_denied_error(&e) => Err(KeyLookupError::Denied(aws_error::explain(DESCRIBE_KEY, reference, &e))),
        Err(e) => Err(KeyLookupError::Failed(aws_failure(DESCRIBE_KEY, &format!("KMS key {reference}"), &e))),
    }
}
