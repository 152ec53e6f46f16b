//! Finders and deleters for eks objects (see the module above).

use crate::framework::{AttributePath, Diagnostic, Diagnostics};
use crate::provider::aws_error::{has_code, has_code_and_message, is_not_found};
use crate::provider::{retry, AwsClients};
use crate::resources::common::aws_failure;
use aws_sdk_eks::types::{PodIdentityAssociation, PodIdentityAssociationSummary};
use std::collections::{BTreeMap, HashMap};

/// A Pod Identity association to create: the role a service account's pods receive.
pub struct AssociationRequest<'a> {
    pub cluster: &'a str,
    pub namespace: &'a str,
    pub service_account: &'a str,
    pub role_arn: String,
    /// Derived from the request's content, so a retried create is the same request to EKS.
    pub token: String,
    pub tags: BTreeMap<String, String>,
}

/// Real EKS says this while a just-created role has not reached it yet.
fn is_role_propagation<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> bool {
    has_code_and_message(e, "InvalidParameterException", "does not exist")
}

/// An association's (ID, ARN), as state records it.
pub fn recorded(a: &PodIdentityAssociation) -> (String, String) {
    (a.association_id().unwrap_or_default().to_string(), a.association_arn().unwrap_or_default().to_string())
}

/// Creates the association, waiting out IAM propagation; adopts an existing association for
/// the same service account when it already binds our role (a re-create after the role was
/// deleted out of band, or a create whose answer was lost). Another role's association is an
/// error pinned to `service_account`.
pub async fn create_association(c: &AwsClients, r: &AssociationRequest<'_>) -> Result<(String, String), Diagnostics> {
    let tags: HashMap<String, String> = r.tags.clone().into_iter().collect();
    let created = retry::until_consistent("eks:CreatePodIdentityAssociation", retry::IAM_PROPAGATION, is_role_propagation, || {
        c.eks
            .create_pod_identity_association()
            .cluster_name(r.cluster)
            .namespace(r.namespace)
            .service_account(r.service_account)
            .role_arn(&r.role_arn)
            .client_request_token(&r.token)
            .set_tags((!tags.is_empty()).then(|| tags.clone()))
            .send()
    })
    .await;
    let object = format!("{}/{} on EKS cluster {}", r.namespace, r.service_account, r.cluster);
    match created {
        Ok(out) => Ok(out.association().map(recorded).unwrap_or_default()),
        Err(e) if has_code(&e, "ResourceInUseException") => adopt_association(c, r, &object).await,
        Err(e) => Err(aws_failure("eks:CreatePodIdentityAssociation", &object, &e)),
    }
}

async fn adopt_association(c: &AwsClients, r: &AssociationRequest<'_>, object: &str) -> Result<(String, String), Diagnostics> {
    for summary in list_associations(c, r.cluster, Some((r.namespace, r.service_account))).await? {
        let id = summary.association_id().unwrap_or_default();
        let Some(a) = find_association(c, r.cluster, id).await? else { continue };
        if a.role_arn() == Some(r.role_arn.as_str()) {
            tracing::info!(association_id = id, "adopting the existing association for our role");
            return Ok(recorded(&a));
        }
        return Err(Diagnostic::error(
            "Service account already associated",
            format!(
                "EKS cluster {} already has Pod Identity association {id} for {}/{}, bound to role {}. A service account can have only one association: remove it, or choose another namespace/service_account.",
                r.cluster,
                r.namespace,
                r.service_account,
                a.role_arn().unwrap_or("?")
            ),
        )
        .at(AttributePath::root(crate::resources::model::attr::SERVICE_ACCOUNT))
        .into());
    }
    Err(Diagnostic::error(
        "Pod Identity association conflict",
        format!("EKS reported an existing association for {object}, but none could be found."),
    )
    .into())
}

/// Untags, then tags, an association.
pub async fn update_association_tags(
    c: &AwsClients,
    arn: &str,
    upsert: &BTreeMap<String, String>,
    remove: &[String],
) -> Result<(), Diagnostics> {
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

/// DescribePodIdentityAssociation; `None` when there is no such association on the cluster.
pub async fn find_association(c: &AwsClients, cluster: &str, id: &str) -> Result<Option<PodIdentityAssociation>, Diagnostics> {
    match c.eks.describe_pod_identity_association().cluster_name(cluster).association_id(id).send().await {
        Ok(out) => Ok(out.association),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(aws_failure("eks:DescribePodIdentityAssociation", &format!("{id} on EKS cluster {cluster}"), &e)),
    }
}

/// ListPodIdentityAssociations of a cluster, every page (its paginator, 100 a page, EKS's
/// largest), optionally only those of one service account (`(namespace, service_account)`).
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
        .into_paginator()
        .page_size(EKS_PAGE_SIZE)
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| aws_failure("eks:ListPodIdentityAssociations", cluster, &e))
}

/// ListClusters of the account, every page (its paginator, 100 a page).
pub async fn list_clusters(c: &AwsClients) -> Result<Vec<String>, Diagnostics> {
    let listed = c.eks.list_clusters().into_paginator().page_size(EKS_PAGE_SIZE).items().send().try_collect().await;
    listed.map_err(|e| aws_failure("eks:ListClusters", "the account", &e))
}

/// The largest page EKS's list calls allow (maxResults, 1 to 100).
const EKS_PAGE_SIZE: i32 = 100;

/// DeletePodIdentityAssociation; an association already gone is fine.
pub async fn delete_association(c: &AwsClients, cluster: &str, id: &str) -> Result<(), Diagnostics> {
    match c.eks.delete_pod_identity_association().cluster_name(cluster).association_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(aws_failure("eks:DeletePodIdentityAssociation", id, &e)),
    }
}
