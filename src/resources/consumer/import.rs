//! Import by consumer_id: the arguments are recovered from the thing (management account) and
//! the policy document (topic prefix, client ID); the newest ACTIVE certificate on the thing
//! is the current one, the others enter their grace period.
//!
//! The old hand-written modules made no thing (or one without our attribute), only the policy
//! `<id>-maestro-agent-policy` on certificates from CreateKeysAndCertificate. Such a consumer
//! imports with no `management_account_id` (none is recorded; the configuration's is written by the next
//! apply), or with the ID `<consumer_id>,<management account ID>` to state it; its certificates
//! are the policy's targets, and the next apply creates the thing or gives it the attribute.

use super::model::{attr, Attachments, Previous, Spec, DEFAULT_GRACE_HOURS, STATUS_ACTIVE};
use super::policy::{recover_cloudevents_client_id, recover_topic_prefix};
use super::schema::consumer_id_validator;
use super::thing::ACCOUNT_ATTRIBUTE;
use crate::framework::{Diagnostic, Diagnostics, Value};
use crate::policy::agent_binding;
use crate::provider::AwsClients;
use crate::resources::aws::iot;
use crate::resources::rotation::now_secs;

pub async fn import(c: &AwsClients, import_id: &str) -> Result<Value, Diagnostics> {
    let (id, given_account) = match import_id.split_once(',') {
        Some((id, account)) => (id, Some(account.to_string())),
        None => (import_id, None),
    };
    if let Err(msg) = consumer_id_validator()(&Value::string(id)) {
        return Err(Diagnostic::error(
            "Invalid import ID",
            format!("The import ID is `<consumer_id>[,<management account ID>]`, and the consumer_id {msg}"),
        )
        .into());
    }
    if let Some(account) = given_account.as_deref().filter(|a| a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit())) {
        return Err(Diagnostic::error(
            "Invalid import ID",
            format!("The management account ID after the comma must be 12 digits, got {account:?}."),
        )
        .into());
    }
    let spec = Spec::named(id);
    let thing = spec.thing_name();
    let found = iot::find_thing(c, &thing).await?;
    let policy = iot::find_policy(c, &spec.policy_name()).await?;
    if found.is_none() && policy.is_none() {
        return Err(Diagnostic::error(
            "Nothing to import",
            format!(
                "Neither the IoT thing {thing} nor the policy {} exists in account {} ({}), so there is no consumer {id:?} to import.",
                spec.policy_name(),
                c.account_id,
                c.region
            ),
        )
        .into());
    }
    let recorded_account = found.as_ref().and_then(|t| t.attributes.get(ACCOUNT_ATTRIBUTE).cloned());
    let account_id = recorded_account.or(given_account);
    let found_tags = match &policy {
        Some(p) => iot::tags_of(c, &p.arn).await?,
        None => Default::default(),
    };
    let policy_document = policy.and_then(|p| p.document);
    let recovered = |f: fn(&str, &str) -> Option<String>| policy_document.as_deref().and_then(|doc| f(id, doc));
    let topic_prefix = recovered(recover_topic_prefix).unwrap_or_else(|| c.topic_prefix.clone());
    // A policy from before the client ID was configurable pins `<id>-work-agent` without
    // the `-client` the agent adds; it imports as the default, and the plan fixes the policy.
    let cloudevents_client_id =
        recovered(recover_cloudevents_client_id).unwrap_or_else(|| agent_binding::default_cloudevents_client_id(id));
    // The newest ACTIVE certificate on the thing is the current one; the others are in
    // their grace period from now on.
    let mut certs = Vec::new();
    let principals = match &found {
        Some(_) => iot::thing_principals(c, &thing).await?,
        None => iot::policy_targets(c, &spec.policy_name()).await?,
    };
    for arn in principals.into_iter().filter(|p| p.contains(":cert/")) {
        let cert_id = arn.rsplit('/').next().unwrap_or_default().to_string();
        if let Some(info) = iot::find_certificate(c, &cert_id).await? {
            certs.push((info.status == STATUS_ACTIVE, info.created, cert_id, arn));
        }
    }
    certs.sort();
    let current = certs.pop();
    let retire_after = now_secs() + DEFAULT_GRACE_HOURS * 3600;
    let previous: Vec<Previous> = certs
        .into_iter()
        .map(|(_, _, certificate_id, certificate_arn)| Previous { certificate_id, certificate_arn, retire_after: Some(retire_after) })
        .collect();
    let (cert_id, cert_arn) = current.map(|(_, _, id, arn)| (Some(id), Some(arn))).unwrap_or_default();
    Ok(Value::object([
        (attr::CONSUMER_ID, Value::string(id)),
        (attr::MANAGEMENT_ACCOUNT_ID, account_id.into()),
        (attr::TOPIC_PREFIX, Value::String(topic_prefix)),
        (attr::CLOUDEVENTS_CLIENT_ID, Value::String(cloudevents_client_id)),
        (attr::GRACE_PERIOD_HOURS, Value::from(DEFAULT_GRACE_HOURS)),
        (attr::CERTIFICATE_ID, cert_id.into()),
        (attr::CERTIFICATE_ARN, cert_arn.into()),
        (attr::CERTIFICATE_ATTACHMENTS, Attachments::NONE.value()),
        (attr::PREVIOUS_CERTIFICATES, Previous::value(&previous)),
        (
            attr::TAGS,
            crate::resources::common::tags_value(
                &crate::resources::common::configured_tags(&found_tags, &c.default_tags, &Default::default()),
                true,
            ),
        ),
        (attr::TAGS_ALL, Value::string_map(&found_tags)),
    ]))
}
