//! The agent's IoT thing: created (or adopted after an interrupted create), its account
//! attribute kept up to date, read back.

use super::model::{attr, Spec};
use crate::framework::{AttributePath, Diagnostic, Diagnostics, Value};
use crate::provider::AwsClients;
use crate::resources::aws::iot;
use crate::resources::common::{aws_failure, text};
use aws_sdk_iot::types::AttributePayload;

pub use super::model::THING_ACCOUNT_ATTRIBUTE as ACCOUNT_ATTRIBUTE;
/// Thing attribute that marks things this provider created, so a leftover thing from an
/// interrupted create can be told apart from someone else's.
const MANAGED_BY_ATTRIBUTE: &str = "managed_by";
const MANAGED_BY: &str = "terraform-provider-maestro";

fn thing_attributes(spec: &Spec) -> AttributePayload {
    AttributePayload::builder()
        .attributes(ACCOUNT_ATTRIBUTE, &spec.management_account_id)
        .attributes(MANAGED_BY_ATTRIBUTE, MANAGED_BY)
        .merge(true)
        .build()
}

/// Creates the thing, or adopts a thing of that name that this provider made and that
/// carries no certificate but ones of the CSR's key (left by an interrupted create). Anything
/// else is someone else's, or has certificates nobody tracks: refuse and point at import.
/// Returns the thing's ARN and whether it was adopted.
pub async fn create(c: &AwsClients, spec: &Spec, key_spki: &[u8]) -> Result<(String, bool), Diagnostics> {
    let name = spec.thing_name();
    // Look first: CreateThing succeeds silently when a thing with the same attributes
    // exists, which would hide certificates still attached to it.
    let Some(found) = iot::find_thing(c, &name).await? else {
        let out = c
            .iot
            .create_thing()
            .thing_name(&name)
            .attribute_payload(thing_attributes(spec))
            .send()
            .await
            .map_err(|e| aws_failure("iot:CreateThing", &name, &e))?;
        return Ok((out.thing_arn().unwrap_or_default().to_string(), false));
    };
    let ours = found.attributes.get(MANAGED_BY_ATTRIBUTE).map(String::as_str) == Some(MANAGED_BY);
    let principals = iot::thing_principals(c, &name).await?;
    if !ours || !iot::all_certify_key(c, &principals, key_spki).await? {
        let why = if ours { "has certificates of another key attached" } else { "was not created by this provider" };
        return Err(already_exists("IoT thing", &name, c, spec, why));
    }
    tracing::info!(thing = %name, "adopting the thing left by an interrupted create");
    update_attributes(c, spec).await?;
    Ok((found.arn, true))
}

async fn update_attributes(c: &AwsClients, spec: &Spec) -> Result<(), Diagnostics> {
    let name = spec.thing_name();
    c.iot
        .update_thing()
        .thing_name(&name)
        .attribute_payload(thing_attributes(spec))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_failure("iot:UpdateThing", &name, &e))
}

/// Update: creates the thing if state has none, else records a changed management account.
pub async fn converge(c: &AwsClients, prior: &Value, spec: &Spec, state: &mut Value) -> Result<(), Diagnostics> {
    if prior.get(attr::THING_ARN).is_null() {
        let spki = super::model::recorded_csr_key(prior).unwrap_or_default();
        state.set(attr::THING_ARN, Value::String(create(c, spec, &spki).await?.0));
    } else if text(prior, attr::MANAGEMENT_ACCOUNT_ID) != spec.management_account_id {
        update_attributes(c, spec).await?;
    } else {
        return Ok(());
    }
    state.set(attr::MANAGEMENT_ACCOUNT_ID, Value::string(&spec.management_account_id));
    Ok(())
}

/// Refresh: the thing's ARN (null when gone) and the management account it records.
pub async fn read(c: &AwsClients, spec: &Spec, new: &mut Value) -> Result<(), Diagnostics> {
    match iot::find_thing(c, &spec.thing_name()).await? {
        Some(thing) => {
            new.set(attr::THING_ARN, Value::String(thing.arn));
            // A thing without our attribute (the old modules' things): shown as no account,
            // so the plan writes the configured one and later imports can recover it.
            new.set(attr::MANAGEMENT_ACCOUNT_ID, thing.attributes.get(ACCOUNT_ATTRIBUTE).cloned().into());
        }
        None => new.set(attr::THING_ARN, Value::Null),
    }
    Ok(())
}

/// An object of ours by name that exists already and cannot be adopted, pinned to
/// `consumer_id` with the import command that takes it over.
pub fn already_exists(what: &str, name: &str, c: &AwsClients, spec: &Spec, why: &str) -> Diagnostics {
    Diagnostic::error(
        format!("{what} already exists"),
        format!(
            "{what} {name} already exists in account {} and {why}, so this resource will not take it over. If it is this consumer's, import it: `tofu import <address> {}` (or an import block with id = \"{}\"); otherwise remove it or choose another consumer_id.",
            c.account_id, spec.consumer_id, spec.consumer_id
        ),
    )
    .at(AttributePath::root(attr::CONSUMER_ID))
    .into()
}
