//! The server's IAM role `<name>-maestro-server`: Pod Identity trust, the inline policies
//! `maestro-server-secrets` and `maestro-server-iot`, and tags.

use super::model::{attr, Account, Spec, IOT_POLICY_NAME, SECRETS_POLICY_NAME};
use crate::framework::{Diagnostics, Value};
use crate::policy::{document, iam};
use crate::provider::AwsClients;
use crate::resources::aws::iam::{self as finders, iam_tags, tags_of};
use crate::resources::common::{configured_tags, tags_value};

/// CreateRole (or adoption of the role an unfinished create of this server left: see
/// [`finders::create_or_adopt_role`]) and both inline policies.
pub async fn create(c: &AwsClients, spec: &Spec) -> Result<(), Diagnostics> {
    let role = spec.role_name();
    let description =
        format!("Maestro server {} on EKS cluster {} (managed by terraform-provider-maestro)", spec.name, spec.eks_cluster_name);
    let new = finders::NewRole {
        name: &role,
        description: &description,
        tags: iam_tags(&spec.tags_all(Account::from(c))),
        owner_attribute: attr::NAME,
        import_id: &spec.name,
    };
    finders::create_or_adopt_role(c, &new).await?;
    put_policies(c, spec, |_| true).await
}

async fn put_policies(c: &AwsClients, spec: &Spec, changed: impl Fn(&str) -> bool) -> Result<(), Diagnostics> {
    finders::put_inline_policies(c, &spec.role_name(), spec.inline_policies(Account::from(c)), changed).await
}

/// Update: the role made again when read found it gone, else the documents the plan changed
/// and the tags.
pub async fn converge(c: &AwsClients, spec: &Spec, prior: &Value, planned: &Value) -> Result<(), Diagnostics> {
    let role = spec.role_name();
    if prior.get(attr::TRUST_POLICY).is_null() {
        return create(c, spec).await;
    }
    if prior.get(attr::TRUST_POLICY) != planned.get(attr::TRUST_POLICY) {
        finders::reset_trust_policy(c, &role).await?;
    }
    put_policies(c, spec, |attribute| prior.get(attribute) != planned.get(attribute)).await?;
    let (upsert, remove) = crate::resources::common::tag_changes(
        &prior.get(attr::TAGS_ALL).string_map_entries(),
        &planned.get(attr::TAGS_ALL).string_map_entries(),
    );
    finders::update_role_tags(c, &role, &upsert, &remove).await
}

/// Refresh: the trust and inline policies as AWS holds them (our form when equivalent); all
/// null when the role is gone. Returns the role's ARN when it exists.
pub async fn read(c: &AwsClients, spec: &Spec, was_tags_null: bool, new: &mut Value) -> Result<Option<String>, Diagnostics> {
    let role_name = spec.role_name();
    let Some(role) = finders::find_role(c, &role_name).await? else {
        for name in [attr::TRUST_POLICY, attr::SECRETS_POLICY, attr::IOT_POLICY] {
            new.set(name, Value::Null);
        }
        return Ok(None);
    };
    let trust = role.assume_role_policy_document().map(document::decode_iam_document).unwrap_or_default();
    new.set(attr::TRUST_POLICY, Value::String(document::reconcile(&trust, &iam::pod_identity_trust_policy())));
    for (attribute, name, expected) in spec.inline_policies(Account::from(c)) {
        let found = finders::find_inline_policy(c, &role_name, name).await?;
        new.set(attribute, found.map(|doc| Value::String(document::reconcile(&doc, &expected))).unwrap_or(Value::Null));
    }
    // The role's tags stand for all the objects' (each apply writes the same set to every one).
    let found = tags_of(&role);
    new.set(attr::TAGS, tags_value(&configured_tags(&found, &c.default_tags, &spec.tags), was_tags_null));
    new.set(attr::TAGS_ALL, Value::string_map(&found));
    Ok(Some(role.arn().to_string()))
}

pub async fn delete(c: &AwsClients, spec: &Spec) -> Diagnostics {
    finders::delete_role_and_inline_policies(c, &spec.role_name(), &[SECRETS_POLICY_NAME, IOT_POLICY_NAME]).await
}
