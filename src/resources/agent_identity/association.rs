//! The EKS Pod Identity association that hands the role to the agent's service account.
//! Lookups and deletes go through the shared finders in `resources::aws::eks`.

use super::model::{Association, Spec};
use crate::framework::Diagnostics;
use crate::provider::AwsClients;
use crate::resources::aws::eks;
use aws_sdk_eks::types::PodIdentityAssociation;
use std::collections::BTreeMap;

/// Deterministic, so a retried create is the same request to EKS (max 64 characters).
pub(super) fn client_request_token(spec: &Spec) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&spec.cluster_id, &spec.eks_cluster_name, &spec.namespace, &spec.service_account).hash(&mut h);
    format!("maestro-agent-{:016x}", h.finish())
}

pub(super) fn recorded(a: &PodIdentityAssociation) -> Association {
    let (id, arn) = eks::recorded(a);
    Association { id, arn }
}

/// Creates the association (see `eks::create_association`).
pub async fn create(c: &AwsClients, spec: &Spec) -> Result<Association, Diagnostics> {
    let request = eks::AssociationRequest {
        cluster: &spec.eks_cluster_name,
        namespace: &spec.namespace,
        service_account: &spec.service_account,
        role_arn: spec.role_arn(c.into()),
        token: client_request_token(spec),
        tags: spec.tags_all(c.into()),
    };
    let (id, arn) = eks::create_association(c, &request).await?;
    Ok(Association { id, arn })
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
    eks::update_association_tags(c, arn, upsert, remove).await
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
