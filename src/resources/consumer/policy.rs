//! The agent's least-privilege IoT policy: created (or adopted when a create's answer was
//! lost), a changed document written as a new default version within AWS's five, read back
//! as AWS holds it, and its arguments recovered from it on import.

use super::model::{attr, Spec};
use super::thing::already_exists;
use crate::framework::{Diagnostic, Diagnostics, Value};
use crate::policy::{consumer_iot, document, naming};
use crate::provider::AwsClients;
use crate::resources::aws::iot;
use crate::resources::common::{configured_tags, json_text, tags_value, text};

/// Creates the policy, or adopts one of that name that grants exactly our document and is
/// attached to nothing but certificates of the CSR's key (left by an unfinished create).
pub async fn create(c: &AwsClients, spec: &Spec, doc: &serde_json::Value, key_spki: &[u8]) -> Result<String, Diagnostics> {
    let name = spec.policy_name();
    iot::create_policy(c, &name, doc, &spec.tags_all(c), Some(key_spki))
        .await?
        .map_err(|why| already_exists("IoT policy", &name, c, spec, why))
}

async fn put_version(c: &AwsClients, spec: &Spec, doc: &serde_json::Value) -> Result<(), Diagnostics> {
    iot::put_policy_version(c, &spec.policy_name(), doc).await
}

/// Update: creates the policy if state has none, else writes a changed document.
pub async fn converge(c: &AwsClients, prior: &Value, spec: &Spec, doc: &serde_json::Value, state: &mut Value) -> Result<(), Diagnostics> {
    let tags = spec.tags_all(c);
    if !prior.get(attr::POLICY_ARN).is_null() && prior.get(attr::TAGS_ALL).string_map_entries() != tags {
        iot::update_tags(c, &text(prior, attr::POLICY_ARN), &prior.get(attr::TAGS_ALL).string_map_entries(), &tags).await?;
    }
    state.set(attr::TAGS, Value::string_map(&spec.tags));
    state.set(attr::TAGS_ALL, Value::string_map(&tags));
    if prior.get(attr::POLICY_ARN).is_null() {
        let spki = super::model::recorded_csr_key(prior).unwrap_or_default();
        state.set(attr::POLICY_ARN, Value::String(create(c, spec, doc, &spki).await?));
    } else if prior.get(attr::POLICY_DOCUMENT) != &json_text(doc) {
        put_version(c, spec, doc).await?;
    } else {
        return Ok(());
    }
    state.set(attr::POLICY_DOCUMENT, json_text(doc));
    state.set(attr::TOPIC_PREFIX, Value::string(&spec.topic_prefix));
    Ok(())
}

/// Refresh: the policy's ARN and default document (null when gone), the document in our
/// form when it is equivalent to what we would write, so no spurious diff shows.
pub async fn read(c: &AwsClients, spec: &Spec, was_tags_null: bool, new: &mut Value) -> Result<(), Diagnostics> {
    match iot::find_policy(c, &spec.policy_name()).await? {
        Some(found) => {
            let tags = iot::tags_of(c, &found.arn).await?;
            new.set(attr::TAGS, tags_value(&configured_tags(&tags, &c.default_tags, &spec.tags), was_tags_null));
            new.set(attr::TAGS_ALL, Value::string_map(&tags));
            new.set(attr::POLICY_ARN, Value::String(found.arn));
            let actual = found.document.unwrap_or_default();
            let reported = match spec.policy(c) {
                Ok(expected) => document::reconcile(&actual, &expected),
                Err(_) => actual,
            };
            new.set(attr::POLICY_DOCUMENT, Value::String(reported));
        }
        None => {
            new.set(attr::POLICY_ARN, Value::Null);
            new.set(attr::POLICY_DOCUMENT, Value::Null);
        }
    }
    Ok(())
}

pub fn invalid(e: consumer_iot::IotPolicyError) -> Diagnostics {
    Diagnostic::error("Invalid IoT policy", e.to_string()).into()
}

/// The topic prefix recorded in one of our policy documents (import).
pub fn recover_topic_prefix(consumer_id: &str, policy_document: &str) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_str(policy_document).ok()?;
    let suffix = format!("/{consumer_id}/agentevents");
    consumer_iot::granted_pairs(&document::normalize(&doc)).into_iter().find_map(|(action, resource)| {
        // arn:PARTITION:iot:REGION:ACCOUNT:topic/<prefix>/<consumer_id>/agentevents
        let topic = resource.splitn(6, ':').nth(5)?.strip_prefix("topic/")?.strip_suffix(&suffix)?.to_string();
        (action == "iot:Publish").then_some(topic)
    })
}

/// The `--cloudevents-client-id` recorded in one of our policy documents (import): the client
/// the Connect statement pins, less the `-client` the agent's transport adds.
pub fn recover_cloudevents_client_id(_consumer_id: &str, policy_document: &str) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_str(policy_document).ok()?;
    consumer_iot::granted_pairs(&document::normalize(&doc)).into_iter().find_map(|(action, resource)| {
        let client = resource.splitn(6, ':').nth(5)?.strip_prefix("client/")?;
        let id = client.strip_suffix(naming::AGENT_CLIENT_ID_SUFFIX)?;
        (action == "iot:Connect" && naming::check_cloudevents_client_id(id).is_ok()).then(|| id.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::agent_binding::AgentBinding;

    #[test]
    fn topic_prefix_is_recovered_from_our_document() {
        let b = AgentBinding {
            cluster_id: "mc-1".into(),
            topic_prefix: "fleet/blue/consumers".into(),
            partition: "aws".into(),
            broker_region: "us-east-1".into(),
            broker_account_id: "123456789012".into(),
            cloudevents_client_id: "mc-1-agent".into(),
        };
        let doc = consumer_iot::agent_iot_policy_document(&b).unwrap().to_string();
        assert_eq!(recover_topic_prefix("mc-1", &doc).as_deref(), Some("fleet/blue/consumers"));
        assert_eq!(recover_topic_prefix("other", &doc), None);
        assert_eq!(recover_cloudevents_client_id("mc-1", &doc).as_deref(), Some("mc-1-agent"));
        // The document written before the fix pinned `<id>-work-agent`: no flag to recover.
        let old = doc.replace("client/mc-1-agent-client", "client/mc-1-work-agent");
        assert_eq!(recover_cloudevents_client_id("mc-1", &old), None);
    }
}
