//! Import: the arguments are read back out of what this resource wrote — the role's inline
//! policies (regional account, region, topic prefix, secret names, client ID, KMS key), the
//! association (cluster, namespace, service account), the config secret (broker endpoint) and
//! the current credential bundle (certificate) — so that a plan right after import is clean.

use super::association;
use super::model::{attr, BROKER_REGION, CONFIG_SECRET_ARN, CREDENTIAL_VERSION_ID, IOT_POLICY_NAME, SECRETS_POLICY_NAME};
use super::schema::schema;
use crate::crypto::{AgentConfigSecret, CredentialBundle};
use crate::framework::{Diagnostic, Diagnostics, Value};
use crate::policy::agent_binding;
use crate::policy::{agent_config, document, iam, naming};
use crate::provider::AwsClients;
use crate::resources::aws::iam as iam_finders;
use crate::resources::aws::secretsmanager::{self as secrets, AWSCURRENT};
use crate::resources::common::{configured_tags, tags_value};

pub async fn import(c: &AwsClients, id: &str) -> Result<Value, Diagnostics> {
    let mut diags = Diagnostics::new();
    let cluster_id = Value::string(id);
    for v in &schema().block.find_attribute(attr::CLUSTER_ID).map(|a| a.validators.clone()).unwrap_or_default() {
        if let Err(msg) = v(&cluster_id) {
            diags.error("Invalid import ID", format!("The import ID is the agent's cluster_id, which {msg}"));
            return Err(diags);
        }
    }
    let role_name = agent_binding::agent_role_name(id);
    let Some(role) = iam_finders::find_role(c, &role_name).await? else {
        diags.error(
            "Nothing to import",
            format!("No IAM role {role_name} exists in account {}, so there is no agent identity {id:?} to import.", c.account_id),
        );
        return Err(diags);
    };
    let iot = iam_finders::find_inline_policy(c, &role_name, IOT_POLICY_NAME).await?.unwrap_or_default();
    let secrets = iam_finders::find_inline_policy(c, &role_name, SECRETS_POLICY_NAME).await?.unwrap_or_default();
    let recovered = recover_arguments(id, &iot, &secrets).ok_or_else(|| {
        Diagnostics::from(Diagnostic::error(
            "Cannot import",
            format!("Role {role_name} exists, but its inline policies {IOT_POLICY_NAME} and {SECRETS_POLICY_NAME} are missing or were not written by this provider, so the regional account, region, topic prefix and secret name cannot be recovered."),
        ))
    })?;
    let found = association::find_by_role(c, role.arn()).await?.ok_or_else(|| {
        Diagnostics::from(Diagnostic::error(
            "Cannot import",
            format!("No EKS Pod Identity association in account {} binds role {role_name}.", c.account_id),
        ))
    })?;
    let mut state = Value::object([
        (attr::CLUSTER_ID, Value::string(id)),
        (attr::REGIONAL_ACCOUNT_ID, Value::String(recovered.regional_account_id.clone())),
        (BROKER_REGION, Value::String(recovered.region.clone())),
        (attr::TOPIC_PREFIX, Value::String(recovered.topic_prefix.clone())),
        (attr::MQTT_CERT_SECRET_NAME, Value::String(recovered.secret_name.clone())),
        (attr::CONFIG_SECRET_NAME, Value::String(recovered.config_secret_name.clone())),
        (attr::CLOUDEVENTS_CLIENT_ID, Value::String(recovered.cloudevents_client_id.clone())),
        (attr::KMS_KEY_ARN, recovered.kms_key_arn.clone().into()),
        (attr::RECOVERY_WINDOW_IN_DAYS, Value::from(secrets::DEFAULT_RECOVERY_WINDOW_DAYS)),
        (attr::EKS_CLUSTER_NAME, found.cluster_name().map(str::to_string).into()),
        (attr::NAMESPACE, found.namespace().map(str::to_string).into()),
        (attr::SERVICE_ACCOUNT, found.service_account().map(str::to_string).into()),
    ]);
    association::recorded(&found).write(&mut state);
    // Left null when only default tags are present, as a configuration without `tags` has it.
    state.set(
        attr::TAGS,
        tags_value(&configured_tags(&crate::resources::aws::iam::tags_of(&role), &c.default_tags, &Default::default()), true),
    );
    import_secrets(c, &recovered, &mut state).await?;
    Ok(state)
}

/// The broker endpoint from the config secret, and the certificate from the current
/// credential bundle when it is complete and coherent.
async fn import_secrets(c: &AwsClients, recovered: &Recovered, state: &mut Value) -> Result<(), Diagnostics> {
    if let Some(info) = secrets::describe(c, &recovered.config_secret_name).await?.filter(|i| !i.scheduled_for_deletion) {
        if let Some((_, value)) = secrets::get_stage(c, &info.arn, AWSCURRENT).await? {
            let endpoint = AgentConfigSecret::parse(value.expose()).ok().and_then(|cfg| agent_config::parse_broker_endpoint(&cfg.config));
            if let Some(endpoint) = endpoint {
                state.set(attr::BROKER_ENDPOINT, Value::String(endpoint));
                state.set(CONFIG_SECRET_ARN, Value::String(info.arn));
            }
        }
    }
    if let Some((version, value)) = secrets::get_stage(c, &recovered.secret_name, AWSCURRENT).await? {
        if let Ok(bundle) = CredentialBundle::parse(value.expose()) {
            if bundle.is_coherent().unwrap_or(false) {
                state.set(attr::CERTIFICATE_PEM, bundle.certificate.clone().into());
                state.set(CREDENTIAL_VERSION_ID, Value::String(version));
            }
        }
    }
    Ok(())
}

struct Recovered {
    regional_account_id: String,
    region: String,
    topic_prefix: String,
    secret_name: String,
    config_secret_name: String,
    cloudevents_client_id: String,
    kms_key_arn: Option<String>,
}

/// Reads the arguments back out of the documents this resource writes (for import).
fn recover_arguments(cluster_id: &str, iot_policy: &str, secrets_policy: &str) -> Option<Recovered> {
    let iot: serde_json::Value = serde_json::from_str(iot_policy).ok()?;
    let secrets: serde_json::Value = serde_json::from_str(secrets_policy).ok()?;
    let resources = |doc: &serde_json::Value| -> Vec<String> {
        let norm = document::normalize(doc);
        norm["Statement"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["Resource"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect()
    };
    let publish_suffix = format!("/{cluster_id}/agentevents");
    let topic = resources(&iot).into_iter().find(|r| r.ends_with(&publish_suffix) && r.contains(":topic/"))?;
    // arn:PARTITION:iot:REGION:ACCOUNT:topic/<prefix>/<cluster_id>/agentevents
    let parts: Vec<&str> = topic.splitn(6, ':').collect();
    let prefix = parts.get(5)?.strip_prefix("topic/")?.strip_suffix(&publish_suffix)?;
    // In document order (IAM keeps it; normalizing would sort): credential secret first.
    let raw_resources: Vec<String> = match &secrets["Statement"][0]["Resource"] {
        serde_json::Value::String(r) => vec![r.clone()],
        serde_json::Value::Array(rs) => rs.iter().filter_map(|r| r.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    let secret_names: Vec<String> =
        raw_resources.iter().filter_map(|arn| Some(arn.splitn(7, ':').nth(6)?.strip_suffix("-??????")?.to_string())).collect();
    let secret_name = secret_names.first()?.clone();
    // Roles written before the config secret existed name only the credential secret.
    let config_secret_name = secret_names.get(1).cloned().unwrap_or_else(|| agent_binding::default_config_secret_name(cluster_id));
    // The Connect grant pins `<cloudevents_client_id>-client`; a role written before that
    // pinned `<cluster_id>-work-agent`, which imports as the default (and the plan fixes it).
    let cloudevents_client_id = resources(&iot)
        .iter()
        .find_map(|r| r.splitn(6, ':').nth(5)?.strip_prefix("client/")?.strip_suffix(naming::AGENT_CLIENT_ID_SUFFIX).map(str::to_string))
        .filter(|id| naming::check_cloudevents_client_id(id).is_ok())
        .unwrap_or_else(|| agent_binding::default_cloudevents_client_id(cluster_id));
    Some(Recovered {
        region: parts.get(3)?.to_string(),
        regional_account_id: parts.get(4)?.to_string(),
        topic_prefix: prefix.to_string(),
        secret_name,
        config_secret_name,
        cloudevents_client_id,
        kms_key_arn: iam::decrypt_key_arn(&secrets),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::agent_binding::AgentBinding;

    #[test]
    fn arguments_are_recovered_from_our_own_documents() {
        let b = AgentBinding {
            cluster_id: "mc-1".into(),
            topic_prefix: "custom/prefix/consumers".into(),
            partition: "aws".into(),
            broker_region: "eu-west-1".into(),
            broker_account_id: "123456789012".into(),
            cloudevents_client_id: "mc-1-custom".into(),
        };
        let iot = iam::agent_iot_policy(&b).to_string();
        let key = "arn:aws:kms:us-east-1:987654321098:key/k";
        let kms = iam::KmsDecrypt::through_secrets_manager(key, "aws", "us-east-1");
        let secrets =
            iam::secret_read_policy("Agent", &[iam::secret_arn_pattern("aws", "us-east-1", "987654321098", "mc-1/x/cert")], Some(&kms))
                .to_string();
        let r = recover_arguments("mc-1", &iot, &secrets).unwrap();
        assert_eq!((r.region.as_str(), r.regional_account_id.as_str()), ("eu-west-1", "123456789012"));
        assert_eq!(r.topic_prefix, "custom/prefix/consumers");
        assert_eq!(r.secret_name, "mc-1/x/cert");
        assert_eq!(r.cloudevents_client_id, "mc-1-custom");
        assert_eq!(r.kms_key_arn.as_deref(), Some(key));
        assert!(recover_arguments("other", &iot, &secrets).is_none());
    }
}
