//! The server's IoT policy, `<name>-maestro-server-policy`, on its certificate.

use super::model::{attr, Account, Spec};
use crate::framework::{AttributePath, Diagnostic, Diagnostics, Value};
use crate::policy::document;
use crate::provider::AwsClients;
use crate::resources::aws::iot;
use crate::resources::common::json_text;

fn expected(c: &AwsClients, spec: &Spec) -> serde_json::Value {
    spec.binding(Account::from(c)).iot_policy_document()
}

/// Creates the policy, adopting our own after a lost answer or, with `unfinished_key`, one
/// that an unfinished create attached to that key's certificate.
pub async fn create(c: &AwsClients, spec: &Spec, unfinished_key: Option<&[u8]>) -> Result<(), Diagnostics> {
    let name = spec.policy_name();
    iot::create_policy(c, &name, &expected(c, spec), &spec.tags_all(Account::from(c)), unfinished_key).await?.map(|_| ()).map_err(|why| {
        Diagnostic::error(
            "IoT policy already exists",
            format!("IoT policy {name} already exists in account {} and {why}. If it is this server's (the old module's), import it: `tofu import <address> {}`.", c.account_id, spec.name),
        )
        .at(AttributePath::root(attr::NAME))
        .into()
    })
}

/// Update: the policy created when read found it gone, or its changed document written as the
/// new default version.
pub async fn converge(c: &AwsClients, prior: &Value, spec: &Spec) -> Result<(), Diagnostics> {
    let doc = expected(c, spec);
    if prior.get(attr::POLICY_DOCUMENT).is_null() {
        return create(c, spec, None).await;
    }
    let (old, new) = (prior.get(attr::TAGS_ALL).string_map_entries(), spec.tags_all(Account::from(c)));
    if old != new {
        iot::update_tags(c, &spec.binding(Account::from(c)).iot_arn("policy", &spec.policy_name()), &old, &new).await?;
    }
    if prior.get(attr::POLICY_DOCUMENT) != &json_text(&doc) {
        iot::put_policy_version(c, &spec.policy_name(), &doc).await
    } else {
        Ok(())
    }
}

/// Refresh: the default document as AWS holds it (in our form when equivalent), null when gone.
pub async fn read(c: &AwsClients, spec: &Spec, new: &mut Value) -> Result<(), Diagnostics> {
    let found = iot::find_policy(c, &spec.policy_name()).await?;
    let doc = found.map(|p| document::reconcile(&p.document.unwrap_or_default(), &expected(c, spec)));
    new.set(attr::POLICY_DOCUMENT, doc.map(Value::String).unwrap_or(Value::Null));
    Ok(())
}
