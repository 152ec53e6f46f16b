//! Finders and deleters for iam objects (see the module above).

use crate::framework::{Diagnostic, Diagnostics};
use crate::policy::document;
use crate::provider::aws_error::is_not_found;
use crate::provider::AwsClients;
use crate::resources::common::aws_failure;
use aws_sdk_iam::error::SdkError;
use aws_sdk_iam::operation::delete_role::DeleteRoleError;
use aws_sdk_iam::types::Role;

/// GetRole; `None` when there is no such role.
pub async fn find_role(c: &AwsClients, name: &str) -> Result<Option<Role>, Diagnostics> {
    match c.iam.get_role().role_name(name).send().await {
        Ok(out) => {
            out.role.map(Some).ok_or_else(|| Diagnostics::from(Diagnostic::error("Malformed IAM response", "GetRole returned no role")))
        }
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(aws_failure("iam:GetRole", name, &e)),
    }
}

/// GetRolePolicy: the inline policy's document, decoded from IAM's URL encoding; `None` when
/// the policy (or the role) is gone.
pub async fn find_inline_policy(c: &AwsClients, role: &str, name: &str) -> Result<Option<String>, Diagnostics> {
    match c.iam.get_role_policy().role_name(role).policy_name(name).send().await {
        Ok(out) => Ok(Some(document::decode_iam_document(out.policy_document()))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(aws_failure("iam:GetRolePolicy", &format!("{name} on role {role}"), &e)),
    }
}

/// DeleteRolePolicy; a policy already gone is fine.
pub async fn delete_inline_policy(c: &AwsClients, role: &str, name: &str) -> Result<(), Diagnostics> {
    match c.iam.delete_role_policy().role_name(role).policy_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(aws_failure("iam:DeleteRolePolicy", &format!("{name} on role {role}"), &e)),
    }
}

/// DeleteRole; a role already gone is fine. Other errors are returned as AWS gave them, since
/// what a `DeleteConflict` means (what is still attached) is for the caller to explain.
pub async fn delete_role(c: &AwsClients, name: &str) -> Result<(), SdkError<DeleteRoleError>> {
    match c.iam.delete_role().role_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}
