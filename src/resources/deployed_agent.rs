//! The deployed agent chart's one agent per management account and region, enforced at plan
//! (the chart facts themselves are pure and live in `provider::charts`; this is the part that
//! asks AWS, so it lives with the resources).

use crate::framework::{Diagnostics, Value};
use crate::provider::charts::{one_deployed_agent_per_account, DEPLOYED_AGENT_CERT_SECRET};
use crate::provider::AwsClients;

/// Refuses, at plan, an agent `cluster_id` that would use the deployed agent chart's fixed
/// credential secret (`secret_name`) when another cluster already does: planned by this
/// provider configuration (the claims), or owning the secret in AWS (the description
/// `maestro_agent_key` writes; read-only DescribeSecret). Returns whether it refused.
pub async fn refuse_second_deployed_agent(c: &AwsClients, planned: &Value, secret_attr: &str, diags: &mut Diagnostics) -> bool {
    let (Some(cluster_id), Some(DEPLOYED_AGENT_CERT_SECRET)) = (planned.get("cluster_id").as_str(), planned.get(secret_attr).as_str())
    else {
        return false;
    };
    if let Some(owner) = c.deployed_agent_claims.claim(cluster_id) {
        diags.push(one_deployed_agent_per_account(
            cluster_id,
            &format!("cluster {owner}"),
            "is planned with them in this configuration",
            secret_attr,
        ));
        return true;
    }
    match crate::resources::aws::secretsmanager::describe(c, DEPLOYED_AGENT_CERT_SECRET).await {
        Ok(Some(info)) => match super::agent_key::model::cluster_id_of(&info) {
            Some(owner) if owner != cluster_id => {
                let how = format!("already holds them in account {} ({})", c.account_id, c.region);
                diags.push(one_deployed_agent_per_account(cluster_id, &format!("cluster {owner}"), &how, secret_attr));
                true
            }
            _ => false,
        },
        Ok(None) => false,
        Err(d) => {
            diags.extend(d);
            true
        }
    }
}
