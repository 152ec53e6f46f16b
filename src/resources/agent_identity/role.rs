//! The agent's IAM role: its trust policy, its two inline policies and its tags. Lookups and
//! deletes go through the shared finders in `resources::aws::iam`.

use super::model::{attr, Account, Spec, IOT_POLICY_NAME, SECRETS_POLICY_NAME};
use crate::framework::{Diagnostics, Value};
use crate::policy::{document, iam};
use crate::provider::AwsClients;
use crate::resources::aws::iam::{self as finders, iam_tags, tags_of};
use crate::resources::common::{configured_tags, tags_value};
use aws_sdk_iam::types::Role;
use std::collections::BTreeMap;

/// CreateRole, or adoption of the role an unfinished create of this agent left (its
/// description names the agent and its EKS cluster). Any other role of that name is refused,
/// pinned to `cluster_id`, with how to import it.
pub async fn create(c: &AwsClients, spec: &Spec) -> Result<(), Diagnostics> {
    let role = spec.role_name();
    tracing::info!(role = %role, "creating the agent's IAM role");
    let description =
        format!("Maestro agent {} on EKS cluster {} (managed by terraform-provider-maestro)", spec.cluster_id, spec.eks_cluster_name);
    let new = finders::NewRole {
        name: &role,
        description: &description,
        tags: iam_tags(&spec.tags_all(c.into())),
        owner_attribute: attr::CLUSTER_ID,
        import_id: &spec.cluster_id,
    };
    finders::create_or_adopt_role(c, &new).await.map(|_| ())
}

/// PutRolePolicy for each inline policy whose attribute `changed` says needs writing.
pub async fn put_policies(c: &AwsClients, spec: &Spec, changed: impl Fn(&str) -> bool) -> Result<(), Diagnostics> {
    finders::put_inline_policies(c, &spec.role_name(), spec.inline_policies(c.into()), changed).await
}

/// The role's policies where the plan changed them: the trust policy back to the Pod Identity
/// one, and each inline policy.
pub async fn update(c: &AwsClients, spec: &Spec, prior: &Value, planned: &Value) -> Result<(), Diagnostics> {
    let role = spec.role_name();
    if prior.get(attr::TRUST_POLICY) != planned.get(attr::TRUST_POLICY) {
        finders::reset_trust_policy(c, &role).await?;
    }
    put_policies(c, spec, |attr| prior.get(attr) != planned.get(attr)).await
}

/// Untags, then tags, the role.
pub async fn update_tags(c: &AwsClients, spec: &Spec, upsert: &BTreeMap<String, String>, remove: &[String]) -> Result<(), Diagnostics> {
    finders::update_role_tags(c, &spec.role_name(), upsert, remove).await
}

/// Refreshes the role's attributes in `new` from AWS: its ARN, the trust and inline policies
/// (reconciled with what we expect, so equivalent JSON is no diff) and the tags. Returns the
/// role, or `None` when it is gone (the resource is gone with it).
pub async fn read(c: &AwsClients, spec: &Spec, was_tags_null: bool, new: &mut Value) -> Result<Option<Role>, Diagnostics> {
    let role_name = spec.role_name();
    let Some(role) = finders::find_role(c, &role_name).await? else { return Ok(None) };
    new.set(attr::ROLE_ARN, Value::string(role.arn()));
    let trust = role.assume_role_policy_document().map(document::decode_iam_document).unwrap_or_default();
    new.set(attr::TRUST_POLICY, Value::String(document::reconcile(&trust, &iam::pod_identity_trust_policy())));
    for (attr, name, expected) in spec.inline_policies(Account::from(c)) {
        let found = finders::find_inline_policy(c, &role_name, name).await?;
        new.set(attr, found.map(|doc| Value::String(document::reconcile(&doc, &expected))).unwrap_or(Value::Null));
    }
    let found_tags = tags_of(&role);
    new.set(attr::TAGS, tags_value(&configured_tags(&found_tags, &c.default_tags, &spec.tags), was_tags_null));
    new.set(attr::TAGS_ALL, Value::string_map(&found_tags));
    Ok(Some(role))
}

/// The inline policies, then the role.
pub async fn delete(c: &AwsClients, spec: &Spec) -> Diagnostics {
    finders::delete_role_and_inline_policies(c, &spec.role_name(), &[SECRETS_POLICY_NAME, IOT_POLICY_NAME]).await
}
