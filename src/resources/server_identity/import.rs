//! Import by the server's `name` — also the objects the old modules made, whose key sits in
//! their state: the certificate is the one our policy is attached to whose PEM the
//! certificate secret's current bundle holds. Optional `,<certificate_secret_name>,<config_secret_name>`
//! after the name for secrets not at the default names.

use super::model::{attr, STATUS_ACTIVE};
use crate::crypto::keys::{self, GeneratedKey};
use crate::crypto::CredentialBundle;
use crate::framework::{Diagnostic, Diagnostics, Value};
use crate::policy::server_binding::{self as server, Subscription, DEFAULT_CERT_SECRET_NAME, DEFAULT_CONFIG_SECRET_NAME};
use crate::provider::AwsClients;
use crate::resources::aws::secretsmanager::{self as secrets, AWSCURRENT, DEFAULT_RECOVERY_WINDOW_DAYS};
use crate::resources::aws::{eks, iam, iot};
use crate::resources::rotation::{self, Previous, DEFAULT_GRACE_HOURS};

fn cannot(detail: String) -> Diagnostics {
    Diagnostic::error("Cannot import", detail).into()
}

pub async fn import(c: &AwsClients, id: &str) -> Result<Value, Diagnostics> {
    let mut parts = id.split(',');
    let name = parts.next().unwrap_or_default().to_string();
    server::check_server_name(&name)
        .map_err(|e| cannot(format!("the import ID is `<name>[,<certificate_secret_name>,<config_secret_name>]`; the name {e}")))?;
    let cert_secret = parts.next().unwrap_or(DEFAULT_CERT_SECRET_NAME).to_string();
    let config_secret = parts.next().unwrap_or(DEFAULT_CONFIG_SECRET_NAME).to_string();
    let policy_name = server::server_policy_name(&name);
    let policy = iot::find_policy(c, &policy_name)
        .await?
        .ok_or_else(|| cannot(format!("No IoT policy {policy_name} exists in account {}.", c.account_id)))?;
    let document = policy.document.unwrap_or_default();
    let topic_prefix = server::granted_topic_prefix(&document).ok_or_else(|| {
        cannot(format!(
            "IoT policy {policy_name} grants no iot:Publish on `topic/<prefix>/*/sourceevents`, so its topic prefix is unknown."
        ))
    })?;
    let (client_id_prefix, subscription) = server::granted_client_prefix_and_subscription(&document);

    // The bundle the server reads, in memory only: its certificate says which one is current.
    let info = secrets::describe(c, &cert_secret)
        .await?
        .filter(|i| !i.scheduled_for_deletion)
        .ok_or_else(|| cannot(format!("No secret {cert_secret} exists in account {} (give its name after the server's: `{name},<certificate_secret_name>,<config_secret_name>`).", c.account_id)))?;
    let (version, value) =
        secrets::get_stage(c, &info.arn, AWSCURRENT).await?.ok_or_else(|| cannot(format!("Secret {cert_secret} has no current value.")))?;
    let bundle = CredentialBundle::parse(value.expose()).map_err(|e| cannot(format!("secret {cert_secret}: {e}")))?;
    let key = GeneratedKey::from_pkcs8_pem(bundle.private_key.expose()).map_err(|e| cannot(format!("secret {cert_secret}: {e}")))?;
    let current_pem = bundle.certificate.clone().unwrap_or_default();

    // Every certificate our policy is attached to: the bundle's is current, other ACTIVE ones
    // are previous, retired after a grace period from now.
    let targets = iot::policy_targets(c, &policy_name).await?;
    let mut current = None;
    let mut previous = Vec::new();
    let retire_after = rotation::now_secs() + DEFAULT_GRACE_HOURS * 3600;
    for arn in &targets {
        let Some(cert_id) = arn.rsplit('/').next() else { continue };
        let Some(found) = iot::find_certificate(c, cert_id).await? else { continue };
        if found.pem.trim() == current_pem.trim() && keys::cert_matches_key(&found.pem, &key) {
            current = Some((cert_id.to_string(), arn.clone(), found));
        } else if found.status == STATUS_ACTIVE {
            previous.push(Previous { certificate_id: cert_id.to_string(), certificate_arn: arn.clone(), retire_after: Some(retire_after) });
        }
    }
    let (cert_id, cert_arn, cert) = current.ok_or_else(|| {
        cannot(format!("No certificate attached to {policy_name} is the one secret {cert_secret} holds with its key; the server's current bundle and policy disagree."))
    })?;

    let role_arn = format!("arn:{}:iam::{}:role/{}", c.partition, c.account_id, server::server_role_name(&name));
    let role = iam::find_role(c, &server::server_role_name(&name)).await?;
    let mut association = None;
    'clusters: for cluster in eks::list_clusters(c).await? {
        for summary in eks::list_associations(c, &cluster, None).await? {
            let Some(a) = eks::find_association(c, &cluster, summary.association_id().unwrap_or_default()).await? else { continue };
            if a.role_arn() == Some(role_arn.as_str()) {
                association = Some((cluster.clone(), a));
                break 'clusters;
            }
        }
    }
    let (eks_cluster_name, a) = association
        .ok_or_else(|| cannot(format!("No EKS Pod Identity association binds role {role_arn}, so the server's EKS cluster is unknown.")))?;
    let config = secrets::describe(c, &config_secret).await?.filter(|i| !i.scheduled_for_deletion);
    let created_at = secrets::version_created(c, &info.arn, &version).await?.unwrap_or_else(rotation::now_rfc3339);
    let (association_id, association_arn) = eks::recorded(&a);
    let found_tags = role.as_ref().map(iam::tags_of).unwrap_or_default();
    let (subscription_type, group) = match subscription {
        Some(Subscription::Broadcast) => ("broadcast", server::DEFAULT_SHARED_GROUP.to_string()),
        Some(Subscription::Shared { group }) => ("shared", group),
        None => ("shared", server::DEFAULT_SHARED_GROUP.to_string()),
    };
    let mut state = Value::object([
        (attr::NAME, Value::string(&name)),
        (attr::EKS_CLUSTER_NAME, Value::string(&eks_cluster_name)),
        (attr::NAMESPACE, Value::string(a.namespace().unwrap_or(server::DEFAULT_NAMESPACE))),
        (attr::SERVICE_ACCOUNT, Value::string(a.service_account().unwrap_or(server::DEFAULT_SERVICE_ACCOUNT))),
        (attr::TOPIC_PREFIX, Value::string(&topic_prefix)),
        (attr::CLIENT_ID_PREFIX, Value::string(client_id_prefix.as_deref().unwrap_or(server::DEFAULT_CLIENT_ID_PREFIX))),
        (attr::SUBSCRIPTION_TYPE, Value::string(subscription_type)),
        (attr::SHARED_SUBSCRIPTION_GROUP, Value::string(group)),
        (attr::CERTIFICATE_SECRET_NAME, Value::string(&info.name)),
        (attr::CONFIG_SECRET_NAME, Value::string(&config_secret)),
        (attr::DB_CREDENTIALS_SECRET_ARN, Value::Null),
        (attr::KMS_KEY_ARN, info.kms_key_id.clone().filter(|k| k.starts_with("arn:")).into()),
        (attr::BROKER_CA_PEM, bundle.ca_cert.clone().filter(|ca| ca.trim() != crate::crypto::AMAZON_ROOT_CA_1.trim()).into()),
        (attr::ALGORITHM, Value::string(key.algorithm().as_str())),
        (attr::CERTIFICATE_GRACE_PERIOD_HOURS, Value::from(DEFAULT_GRACE_HOURS)),
        (attr::RECOVERY_WINDOW_IN_DAYS, Value::from(DEFAULT_RECOVERY_WINDOW_DAYS)),
        (attr::FORCE_DELETE_WITHOUT_RECOVERY, Value::Bool(false)),
        (
            attr::TAGS,
            crate::resources::common::tags_value(
                &crate::resources::common::configured_tags(&found_tags, &c.default_tags, &Default::default()),
                true,
            ),
        ),
        (attr::TAGS_ALL, Value::string_map(&found_tags)),
        (attr::CERTIFICATE_ID, Value::string(&cert_id)),
        (attr::CERTIFICATE_ARN, Value::string(&cert_arn)),
        (attr::CERTIFICATE_PEM, Value::string(&cert.pem)),
        (attr::CERTIFICATE_STATUS, Value::string(&cert.status)),
        (attr::PUBLIC_KEY_FINGERPRINT, Value::string(key.fingerprint())),
        (attr::KEY_CREATED_AT, Value::string(created_at)),
        (attr::CREDENTIAL_VERSION_ID, Value::string(&version)),
        (attr::CERTIFICATE_SECRET_ARN, Value::string(&info.arn)),
        (attr::CONFIG_SECRET_ARN, config.map(|i| i.arn).into()),
        (attr::ASSOCIATION_ID, Value::string(association_id)),
        (attr::ASSOCIATION_ARN, Value::string(association_arn)),
        (attr::POLICY_ATTACHED, Value::Bool(true)),
    ]);
    Previous::write_list(&mut state, &previous);
    // The database secret, if the role reads one: the secrets policy's resource that is
    // neither of ours.
    if let Some(doc) = iam::find_inline_policy(c, &server::server_role_name(&name), super::model::SECRETS_POLICY_NAME).await? {
        let ours = |r: &str| r.contains(&format!(":secret:{}-", info.name)) || r.contains(&format!(":secret:{config_secret}-"));
        let db = serde_json::from_str::<serde_json::Value>(&doc).ok().and_then(|d| {
            crate::policy::consumer_iot::granted_pairs(&crate::policy::document::normalize(&d))
                .into_iter()
                .find(|(action, r)| action == "secretsmanager:GetSecretValue" && !ours(r))
                .map(|(_, r)| r)
        });
        state.set(attr::DB_CREDENTIALS_SECRET_ARN, db.into());
    }
    Ok(state)
}
