//! The EKS Pod Identity association handing the role to the server's service account.

use super::model::{association_of, Account, Spec};
use crate::framework::{Diagnostics, Value};
use crate::provider::AwsClients;
use crate::resources::aws::eks;

/// Derived from the request, so a retried create is the same request to EKS.
fn client_request_token(spec: &Spec) -> String {
    let token =
        crate::resources::aws::secretsmanager::derived_token(&[&spec.name, &spec.eks_cluster_name, &spec.namespace, &spec.service_account]);
    format!("maestro-server-{token}")
}

pub async fn create(c: &AwsClients, spec: &Spec) -> Result<(String, String), Diagnostics> {
    let a = Account::from(c);
    let request = eks::AssociationRequest {
        cluster: &spec.eks_cluster_name,
        namespace: &spec.namespace,
        service_account: &spec.service_account,
        role_arn: spec.role_arn(a),
        token: client_request_token(spec),
        tags: spec.tags_all(a),
    };
    eks::create_association(c, &request).await
}

/// Whether the recorded association still exists and binds `role_arn`.
pub async fn still_ours(c: &AwsClients, spec: &Spec, state: &Value, role_arn: Option<&str>) -> Result<bool, Diagnostics> {
    let Some((id, _)) = association_of(state) else { return Ok(false) };
    let found = eks::find_association(c, &spec.eks_cluster_name, &id).await?;
    Ok(found.is_some_and(|a| role_arn.is_some() && a.role_arn() == role_arn))
}

pub async fn delete(c: &AwsClients, spec: &Spec, state: &Value) -> Result<(), Diagnostics> {
    match association_of(state) {
        Some((id, _)) => eks::delete_association(c, &spec.eks_cluster_name, &id).await,
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_tokens_are_stable_and_within_eks_limits() {
        let spec = Spec { name: "r".repeat(49), eks_cluster_name: "c".repeat(100), ..Default::default() };
        assert_eq!(client_request_token(&spec), client_request_token(&spec.clone()));
        assert!(client_request_token(&spec).len() <= 64);
    }
}
