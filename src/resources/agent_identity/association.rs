//! The EKS Pod Identity association that hands the role to the agent's service account.
//! Lookups and deletes go through the shared finders in `resources::aws::eks`.

use super::model::{Association, Spec};
use crate::framework::{AttributePath, Diagnostic, Diagnostics};
use crate::provider::aws_error::{has_code, has_code_and_message};
use crate::provider::{retry, AwsClients};
use crate::resources::aws::eks;
use crate::resources::common::aws_failure;
use aws_sdk_eks::types::PodIdentityAssociation;
use std::collections::{BTreeMap, HashMap};

/// Real EKS says this while a just-created role has not reached it yet.
fn is_role_propagation<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> bool {
    has_code_and_message(e, "InvalidParameterException", "does not exist")
}

/// Deterministic, so a retried create is the same request to EKS (max 64 characters).
pub(super) fn client_request_token(spec: &Spec) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&spec.cluster_id, &spec.eks_cluster_name, &spec.namespace, &spec.service_account).hash(&mut h);
    format!("maestro-agent-{:016x}", h.finish())
}

pub(super) fn recorded(a: &PodIdentityAssociation) -> Association {
    Association { id: a.association_id().unwrap_or_default().to_string(), arn: a.association_arn().unwrap_or_default().to_string() }
}

/// Creates the association, waiting out IAM propagation; adopts an existing association
/// for the same service account when it already points at our role (a re-create after the
/// role was deleted out of band).
pub async fn create(c: &AwsClients, spec: &Spec) -> Result<Association, Diagnostics> {
    let role_arn = spec.role_arn(c.into());
    let tags: HashMap<String, String> = spec.tags_all(c.into()).into_iter().collect();
    let created = retry::until_consistent("eks:CreatePodIdentityAssociation", retry::IAM_PROPAGATION, is_role_propagation, || {
        c.eks
            .create_pod_identity_association()
            .cluster_name(&spec.eks_cluster_name)
            .namespace(&spec.namespace)
            .service_account(&spec.service_account)
            .role_arn(&role_arn)
            .client_request_token(client_request_token(spec))
            .set_tags((!tags.is_empty()).then(|| tags.clone()))
            .send()
    })
    .await;
    let object = format!("{}/{} on EKS cluster {}", spec.namespace, spec.service_account, spec.eks_cluster_name);
    match created {
        Ok(out) => Ok(out.association().map(recorded).unwrap_or_default()),
        Err(e) if has_code(&e, "ResourceInUseException") => adopt(c, spec, &role_arn, &object).await,
        Err(e) => Err(aws_failure("eks:CreatePodIdentityAssociation", &object, &e)),
    }
}

/// The service account's existing association, when it binds our role; an error pinned to
/// `service_account` when it binds another.
async fn adopt(c: &AwsClients, spec: &Spec, role_arn: &str, object: &str) -> Result<Association, Diagnostics> {
    let cluster = &spec.eks_cluster_name;
    for summary in eks::list_associations(c, cluster, Some((&spec.namespace, &spec.service_account))).await? {
        let id = summary.association_id().unwrap_or_default();
        let Some(a) = eks::find_association(c, cluster, id).await? else { continue };
        if a.role_arn() == Some(role_arn) {
            tracing::info!(association_id = id, "adopting the existing association for our role");
            return Ok(recorded(&a));
        }
        return Err(Diagnostic::error(
            "Service account already associated",
            format!(
                "EKS cluster {cluster} already has Pod Identity association {id} for {}/{}, bound to role {}. A service account can have only one association: remove it, or choose another namespace/service_account.",
                spec.namespace,
                spec.service_account,
                a.role_arn().unwrap_or("?")
            ),
        )
        .at(AttributePath::root("service_account"))
        .into());
    }
    Err(Diagnostic::error(
        "Pod Identity association conflict",
        format!("EKS reported an existing association for {object}, but none could be found."),
    )
    .into())
}

/// Whether the recorded association still exists and still binds `role_arn`; one re-pointed
/// at another role out of band counts as gone, so the next apply creates ours.
pub async fn still_ours(c: &AwsClients, spec: &Spec, recorded: &Association, role_arn: &str) -> Result<bool, Diagnostics> {
    let found = eks::find_association(c, &spec.eks_cluster_name, &recorded.id).await?;
    Ok(found.is_some_and(|a| a.role_arn() == Some(role_arn)))
}

/// The association that binds `role_arn`, on any cluster of the account (import).
pub async fn find_by_role(c: &AwsClients, role_arn: &str) -> Result<Option<PodIdentityAssociation>, Diagnostics> {
    for cluster in eks::list_clusters(c).await? {
        for summary in eks::list_associations(c, &cluster, None).await? {
            let found = eks::find_association(c, &cluster, summary.association_id().unwrap_or_default()).await?;
            if let Some(a) = found.filter(|a| a.role_arn() == Some(role_arn)) {
                return Ok(Some(a));
            }
        }
    }
    Ok(None)
}

/// Untags, then tags, the association.
pub async fn update_tags(c: &AwsClients, arn: &str, upsert: &BTreeMap<String, String>, remove: &[String]) -> Result<(), Diagnostics> {
    if !remove.is_empty() {
        c.eks
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(remove.to_vec()))
            .send()
            .await
            .map_err(|e| aws_failure("eks:UntagResource", arn, &e))?;
    }
    if !upsert.is_empty() {
        c.eks
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(upsert.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| aws_failure("eks:TagResource", arn, &e))?;
    }
    Ok(())
}

pub async fn delete(c: &AwsClients, spec: &Spec, recorded: &Association) -> Result<(), Diagnostics> {
    eks::delete_association(c, &spec.eks_cluster_name, &recorded.id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Value;

    #[test]
    fn request_tokens_are_stable_and_short() {
        let spec = Spec::from_value(&Value::object([("cluster_id", Value::string("c".repeat(50)))]));
        assert_eq!(client_request_token(&spec), client_request_token(&spec.clone()));
        assert!(client_request_token(&spec).len() <= 64);
    }
}
