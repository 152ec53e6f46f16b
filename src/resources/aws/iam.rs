//! Finders and deleters for iam objects (see the module above).

use crate::framework::{Diagnostic, Diagnostics};
use crate::policy::document;
use crate::provider::aws_error::{self, has_code, is_not_found};
use crate::provider::AwsClients;
use crate::resources::common::aws_failure;
use aws_sdk_iam::error::SdkError;
use aws_sdk_iam::operation::delete_role::DeleteRoleError;
use aws_sdk_iam::types::{Role, Tag};
use std::collections::BTreeMap;

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

/// A role to create with the Pod Identity trust policy, or to take back after a create that
/// did not finish (a lost answer, a killed provider).
pub struct NewRole<'a> {
    pub name: &'a str,
    /// Names the owner (agent or server, and its EKS cluster): a role with exactly this
    /// description was made by this provider for this owner, so it is adopted; any other role
    /// of that name is refused, since it may be someone else's.
    pub description: &'a str,
    pub tags: Vec<Tag>,
    /// The argument the refusal is pinned to, and the import ID it suggests.
    pub owner_attribute: &'a str,
    pub import_id: &'a str,
}

/// CreateRole, or adoption of the role of that name when its description is ours. Returns
/// whether it adopted (so the caller writes the inline policies either way).
pub async fn create_or_adopt_role(c: &AwsClients, r: &NewRole<'_>) -> Result<bool, Diagnostics> {
    let created = c
        .iam
        .create_role()
        .role_name(r.name)
        .assume_role_policy_document(crate::policy::iam::pod_identity_trust_policy().to_string())
        .description(r.description)
        .set_tags(Some(r.tags.clone()).filter(|t| !t.is_empty()))
        .send()
        .await;
    match created {
        Ok(_) => Ok(false),
        Err(e) if has_code(&e, "EntityAlreadyExists") => {
            let found = find_role(c, r.name).await?;
            if found.as_ref().and_then(|role| role.description()) == Some(r.description) {
                tracing::info!(role = %r.name, "adopting the role an unfinished create of this provider left");
                reset_trust_policy(c, r.name).await?;
                // A description is text anyone can write: the role may have been made by
                // someone who assumed it (under a trust policy of their own) before handing it
                // over. No session from before the adoption may read what the role is about to
                // be granted (the workload's secrets).
                revoke_older_sessions(c, r.name).await?;
                let found_tags = found.as_ref().map(tags_of).unwrap_or_default();
                let wanted: BTreeMap<String, String> = r.tags.iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
                let (upsert, remove) = crate::resources::common::tag_changes(&found_tags, &wanted);
                update_role_tags(c, r.name, &upsert, &remove).await?;
                return Ok(true);
            }
            Err(Diagnostic::error(
                "IAM role already exists",
                format!(
                    "Role {} already exists in account {} and was not made by this provider for this configuration (its description differs). If it is this one's, import it: `tofu import <address> {}` (or an import block with id = \"{}\").",
                    r.name, c.account_id, r.import_id, r.import_id
                ),
            )
            .at(crate::framework::AttributePath::root(r.owner_attribute))
            .into())
        }
        Err(e) => Err(aws_failure("iam:CreateRole", r.name, &e)),
    }
}

/// Tags in IAM's shape.
pub fn iam_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok()).collect()
}

/// The tags found on a role.
pub fn tags_of(role: &Role) -> BTreeMap<String, String> {
    role.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

/// Untags, then tags, a role.
pub async fn update_role_tags(c: &AwsClients, role: &str, upsert: &BTreeMap<String, String>, remove: &[String]) -> Result<(), Diagnostics> {
    if !remove.is_empty() {
        c.iam
            .untag_role()
            .role_name(role)
            .set_tag_keys(Some(remove.to_vec()))
            .send()
            .await
            .map_err(|e| aws_failure("iam:UntagRole", role, &e))?;
    }
    if !upsert.is_empty() {
        c.iam.tag_role().role_name(role).set_tags(Some(iam_tags(upsert))).send().await.map_err(|e| aws_failure("iam:TagRole", role, &e))?;
    }
    Ok(())
}

/// Deletes the named inline policies, then the role. A role that is gone is fine; one that
/// still has policies or instance profiles someone else attached is left in place, with the
/// reason.
pub async fn delete_role_and_inline_policies(c: &AwsClients, role: &str, inline_policies: &[&str]) -> Diagnostics {
    for name in inline_policies {
        if let Err(d) = delete_inline_policy(c, role, name).await {
            return d;
        }
    }
    let mut deleted = delete_role(c, role).await;
    if deleted.as_ref().is_err_and(|e| has_code(e, "DeleteConflict")) {
        // An adopted role carries the session revocation too (only then: no call otherwise).
        if let Err(d) = delete_inline_policy(c, role, REVOKE_OLDER_SESSIONS).await {
            return d;
        }
        deleted = delete_role(c, role).await;
    }
    match deleted {
        Ok(()) => Diagnostics::new(),
        Err(e) if has_code(&e, "DeleteConflict") => Diagnostic::error(
            "IAM role still in use",
            format!(
                "Role {role} has policies or instance profiles that this resource did not create, so it was left in place: {}. Detach them and destroy again.",
                aws_error::describe(&e)
            ),
        )
        .into(),
        Err(e) => aws_failure("iam:DeleteRole", role, &e),
    }
}

/// ListRoles, every page (its paginator, 1000 roles a page, IAM's largest): the names of the
/// account's roles.
pub async fn list_role_names(c: &AwsClients) -> Result<Vec<String>, Diagnostics> {
    let listed = c.iam.list_roles().into_paginator().page_size(1000).items().send().try_collect().await;
    let roles = listed.map_err(|e| aws_failure("iam:ListRoles", "the account", &e))?;
    Ok(roles.iter().map(|r| r.role_name().to_string()).collect())
}

/// PutRolePolicy for each (attribute, policy name, document) whose attribute `changed` says
/// needs writing.
pub async fn put_inline_policies<const N: usize>(
    c: &AwsClients,
    role: &str,
    policies: [(&'static str, &'static str, serde_json::Value); N],
    changed: impl Fn(&str) -> bool,
) -> Result<(), Diagnostics> {
    for (attribute, name, doc) in policies {
        if !changed(attribute) {
            continue;
        }
        c.iam
            .put_role_policy()
            .role_name(role)
            .policy_name(name)
            .policy_document(doc.to_string())
            .send()
            .await
            .map_err(|e| aws_failure("iam:PutRolePolicy", &format!("{name} on role {role}"), &e))?;
    }
    Ok(())
}

/// The inline policy by which IAM revokes a role's older sessions: the name and shape the IAM
/// console's "Revoke active sessions" writes, so a later revocation from the console updates
/// the same policy.
pub const REVOKE_OLDER_SESSIONS: &str = "AWSRevokeOlderSessions";

/// Denies everything to every session of `role` issued before now (`aws:TokenIssueTime`), as
/// IAM documents for revoking a role's temporary credentials. Sessions issued later, the
/// workload's, are unaffected.
pub async fn revoke_older_sessions(c: &AwsClients, role: &str) -> Result<(), Diagnostics> {
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    c.iam
        .put_role_policy()
        .role_name(role)
        .policy_name(REVOKE_OLDER_SESSIONS)
        .policy_document(crate::policy::iam::revoke_sessions_issued_before(&now).to_string())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_failure("iam:PutRolePolicy", &format!("{REVOKE_OLDER_SESSIONS} on role {role}"), &e))
}

/// UpdateAssumeRolePolicy back to the Pod Identity trust (changed out of band).
pub async fn reset_trust_policy(c: &AwsClients, role: &str) -> Result<(), Diagnostics> {
    c.iam
        .update_assume_role_policy()
        .role_name(role)
        .policy_document(crate::policy::iam::pod_identity_trust_policy().to_string())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_failure("iam:UpdateAssumeRolePolicy", role, &e))
}
