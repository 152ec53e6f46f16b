//! Finders and deleters for eks objects (see the module above).

use crate::framework::Diagnostics;
use crate::provider::aws_error::is_not_found;
use crate::provider::AwsClients;
use crate::resources::common::aws_failure;
use aws_sdk_eks::types::{PodIdentityAssociation, PodIdentityAssociationSummary};

/// DescribePodIdentityAssociation; `None` when there is no such association on the cluster.
pub async fn find_association(c: &AwsClients, cluster: &str, id: &str) -> Result<Option<PodIdentityAssociation>, Diagnostics> {
    match c.eks.describe_pod_identity_association().cluster_name(cluster).association_id(id).send().await {
        Ok(out) => Ok(out.association),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(aws_failure("eks:DescribePodIdentityAssociation", &format!("{id} on EKS cluster {cluster}"), &e)),
    }
}

/// ListPodIdentityAssociations of a cluster, optionally only those of one service account
/// (`(namespace, service_account)`).
pub async fn list_associations(
    c: &AwsClients,
    cluster: &str,
    service_account: Option<(&str, &str)>,
) -> Result<Vec<PodIdentityAssociationSummary>, Diagnostics> {
    let (namespace, service_account) = service_account.unzip();
    c.eks
        .list_pod_identity_associations()
        .cluster_name(cluster)
        .set_namespace(namespace.map(str::to_string))
        .set_service_account(service_account.map(str::to_string))
        .send()
        .await
        .map(|out| out.associations().to_vec())
        .map_err(|e| aws_failure("eks:ListPodIdentityAssociations", cluster, &e))
}

/// ListClusters of the account.
pub async fn list_clusters(c: &AwsClients) -> Result<Vec<String>, Diagnostics> {
    c.eks.list_clusters().send().await.map(|out| out.clusters().to_vec()).map_err(|e| aws_failure("eks:ListClusters", "the account", &e))
}

/// DeletePodIdentityAssociation; an association already gone is fine.
pub async fn delete_association(c: &AwsClients, cluster: &str, id: &str) -> Result<(), Diagnostics> {
    match c.eks.delete_pod_identity_association().cluster_name(cluster).association_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(aws_failure("eks:DeletePodIdentityAssociation", id, &e)),
    }
}
