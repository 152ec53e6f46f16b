//! Refuses, at plan, a resource planned in the very account it names as the *other* one: a
//! `maestro_consumer` (regional) whose provider acts in its own `management_account_id`, or a
//! `maestro_agent_identity` (management) whose provider acts in its own `regional_account_id`.
//! That is what swapped `provider` arguments (or swapped credentials in the provider blocks)
//! look like, and applying it would have IoT Core issue the agent's certificate in the
//! management account and the agent's key and bundle written to the regional account's Secrets
//! Manager. Checked in `modify_plan`, where the provider's account (sts:GetCallerIdentity) is
//! known, so the refusal comes before any key is generated or anything is written.
//!
//! Only a certainty is refused: the account the resource itself names as the other one. A
//! resource with no such attribute (`maestro_agent_key`, `maestro_server_identity`) is not
//! guessed at; `allowed_account_ids` on each provider block covers swapped credentials there.

use crate::framework::{AttributePath, Diagnostic, Diagnostics, Value};
use crate::provider::AwsClients;

/// One of the two accounts of a Maestro deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Regional,
    Management,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Regional => "regional",
            Side::Management => "management",
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Regional => Side::Management,
            Side::Management => Side::Regional,
        }
    }

    /// What the account is for, completing "the <side> account, ...".
    fn role(self) -> &'static str {
        match self {
            Side::Regional => "whose IoT Core is the MQTT broker and issues the agents' certificates",
            Side::Management => "the agent runs in, whose Secrets Manager holds the agent's key",
        }
    }

    /// The resources configured with this account's provider block.
    fn resources(self) -> &'static str {
        match self {
            Side::Regional => "maestro_consumer and maestro_server_identity",
            Side::Management => "maestro_agent_key and maestro_agent_identity",
        }
    }
}

/// Where a resource belongs, and the attribute in which it names the other account.
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    pub resource: &'static str,
    pub home: Side,
    /// A string attribute holding the other side's account ID.
    pub attribute: &'static str,
    /// What an apply in the wrong account would have done, completing "an apply would have ...".
    pub harm: &'static str,
}

/// The error for `planned` when the provider acts in `acting_account` (as `caller_arn`) and
/// that is the account the resource's own attribute names as the other side's. `None` while
/// the attribute is unknown or unset, or the provider's account is not known.
pub fn check(place: &Placement, planned: &Value, acting_account: &str, caller_arn: &str) -> Option<Diagnostic> {
    let named = planned.get(place.attribute).as_str()?;
    if acting_account.is_empty() || named != acting_account {
        return None;
    }
    let (home, other) = (place.home, place.home.other());
    let caller = if caller_arn.is_empty() { String::new() } else { format!(" (as {caller_arn})") };
    Some(
        Diagnostic::error(
            "Wrong AWS account: swapped providers?",
            format!(
                "{resource} belongs in the {home} account, the one {home_role}, but the provider block it is planned with acts in account {acting_account}{caller}, and {attribute} = {named:?} says that is the {other} account, the one {other_role}; one account cannot be both. \
                 Refused at plan, so nothing was generated or written in either account; an apply would have {harm}.\n\n\
                 Give {resource} the {home} account's provider block (for example provider = maestro.{home}) and {other_resources} the {other} account's (provider = maestro.{other}). \
                 If the `provider` arguments are right, the provider blocks' credentials are swapped: check each block's assume_role.role_arn, and set allowed_account_ids in each block to its own account, so that such a swap is refused as soon as the provider is configured. \
                 If {attribute} is what is wrong, set it to the {other} account's ID.",
                resource = place.resource,
                home = home.name(),
                home_role = home.role(),
                other = other.name(),
                other_role = other.role(),
                attribute = place.attribute,
                harm = place.harm,
                other_resources = other.resources(),
            ),
        )
        .at(AttributePath::root(place.attribute)),
    )
}

/// [`check`] with the configured client's account; pushes the error and returns true when the
/// plan is refused, so `modify_plan` stops before planning anything in the wrong account.
pub fn refuse(place: &Placement, planned: &Value, client: &AwsClients, diags: &mut Diagnostics) -> bool {
    match check(place, planned, &client.account_id, &client.caller_arn) {
        Some(error) => {
            tracing::warn!(resource = place.resource, account = %client.account_id, "refused: planned in the account it names as the other one");
            diags.push(error);
            true
        }
        None => false,
    }
}

/// A KMS key given by ARN (key ARN or alias ARN) for a secret the provider writes in its own
/// account and region. KMS keys are regional, so a key of another region cannot encrypt the
/// secret: an error at plan, before any key is generated. A key of another account is one
/// Secrets Manager accepts (by ARN only), but only that account's key policy can let the
/// provider and the agent use it: a warning naming both accounts. Aliases, key IDs and unknown
/// values carry no account or region and are left alone.
pub fn kms_key_location(planned: &Value, attribute: &str, acting_account: &str, region: &str) -> Option<Diagnostic> {
    let named = planned.get(attribute).as_str()?;
    let parts: Vec<&str> = named.splitn(6, ':').collect();
    let [_, _, "kms", key_region, key_account, _] = parts.as_slice() else { return None };
    let path = AttributePath::root(attribute);
    if !region.is_empty() && *key_region != region {
        return Some(
            Diagnostic::error(
                "KMS key in another region",
                format!(
                    "{attribute} = {named:?} is a key of region {key_region}, but the secret it encrypts is written in region {region}, where the provider acts. \
                     KMS keys are regional and Secrets Manager encrypts a secret only with a key of its own region: use a key of {region} (for a multi-Region key, the ARN of its replica in {region})."
                ),
            )
            .at(path),
        );
    }
    if !acting_account.is_empty() && *key_account != acting_account {
        return Some(
            Diagnostic::warning(
                "KMS key of another account",
                format!(
                    "{attribute} = {named:?} is a key of account {key_account}, but the secret it encrypts is written in account {acting_account}, where the provider acts. \
                     Secrets Manager accepts a key of another account, but only if the key policy in account {key_account} allows the provider's role (kms:GenerateDataKey, kms:Decrypt) and the agent's role (kms:Decrypt) to use it through Secrets Manager. \
                     If account {key_account} is a typo, use the key of account {acting_account}."
                ),
            )
            .at(path),
        );
    }
    None
}

/// [`kms_key_location`] with the configured client's account and region.
pub fn check_kms_key(planned: &Value, attribute: &str, client: &AwsClients, diags: &mut Diagnostics) {
    if let Some(d) = kms_key_location(planned, attribute, &client.account_id, &client.region) {
        diags.push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGIONAL: &str = "123456789012";
    const MANAGEMENT: &str = "987654321098";

    const CONSUMER: Placement = Placement {
        resource: "maestro_consumer",
        home: Side::Regional,
        attribute: "management_account_id",
        harm: "had IoT Core issue the agent's certificate in the management account",
    };
    const IDENTITY: Placement = Placement {
        resource: "maestro_agent_identity",
        home: Side::Management,
        attribute: "regional_account_id",
        harm: "written the agent's credential bundle to the regional account",
    };

    fn planned(attribute: &str, value: Value) -> Value {
        Value::object([(attribute, value)])
    }

    fn detail(d: &Diagnostic) -> String {
        d.detail.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn a_consumer_planned_in_its_own_management_account_is_refused_at_the_attribute() {
        let p = planned("management_account_id", Value::string(MANAGEMENT));
        let caller = format!("arn:aws:sts::{MANAGEMENT}:assumed-role/maestro-management/s");
        let error = check(&CONSUMER, &p, MANAGEMENT, &caller).expect("refused");
        assert_eq!(error.severity, crate::framework::diagnostics::Severity::Error);
        assert!(error.summary.contains("swapped providers?"), "{}", error.summary);
        assert_eq!(error.attribute.as_ref().unwrap().to_string(), "management_account_id");
        let text = detail(&error);
        for needed in [
            "maestro_consumer belongs in the regional account",
            &format!("acts in account {MANAGEMENT} (as {caller})"),
            &format!("management_account_id = \"{MANAGEMENT}\" says that is the management account"),
            "nothing was generated or written",
            "provider = maestro.regional",
            "maestro_agent_key and maestro_agent_identity the management account's (provider = maestro.management)",
            "allowed_account_ids",
            "IoT Core issue the agent's certificate in the management account",
        ] {
            assert!(text.contains(needed), "missing {needed:?} in: {text}");
        }
    }

    #[test]
    fn an_agent_identity_planned_in_its_own_regional_account_is_refused_at_the_attribute() {
        let p = planned("regional_account_id", Value::string(REGIONAL));
        let error = check(&IDENTITY, &p, REGIONAL, "").expect("refused");
        assert!(error.summary.contains("swapped providers?"));
        assert_eq!(error.attribute.as_ref().unwrap().to_string(), "regional_account_id");
        let text = detail(&error);
        for needed in [
            "maestro_agent_identity belongs in the management account",
            &format!("acts in account {REGIONAL}, and regional_account_id = \"{REGIONAL}\" says that is the regional account"),
            "provider = maestro.management",
            "maestro_consumer and maestro_server_identity the regional account's (provider = maestro.regional)",
        ] {
            assert!(text.contains(needed), "missing {needed:?} in: {text}");
        }
    }

    #[test]
    fn the_right_account_passes() {
        assert_eq!(check(&CONSUMER, &planned("management_account_id", Value::string(MANAGEMENT)), REGIONAL, "arn"), None);
        assert_eq!(check(&IDENTITY, &planned("regional_account_id", Value::string(REGIONAL)), MANAGEMENT, "arn"), None);
    }

    #[test]
    fn nothing_is_refused_on_what_is_not_known() {
        // Unknown until apply (the final plan checks again), unset, or no account reported.
        assert_eq!(check(&CONSUMER, &planned("management_account_id", Value::Unknown), MANAGEMENT, ""), None);
        assert_eq!(check(&CONSUMER, &planned("management_account_id", Value::Null), MANAGEMENT, ""), None);
        assert_eq!(check(&CONSUMER, &Value::object([("other", Value::string(MANAGEMENT))]), MANAGEMENT, ""), None);
        assert_eq!(check(&CONSUMER, &planned("management_account_id", Value::string("")), "", ""), None);
    }

    const KEY: &str = "arn:aws:kms:us-east-1:987654321098:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn a_kms_key_of_another_region_is_refused_and_of_another_account_warned_with_both_accounts() {
        let other_region = KEY.replace("us-east-1", "eu-west-1");
        let error =
            kms_key_location(&planned("kms_key_arn", Value::string(&other_region)), "kms_key_arn", MANAGEMENT, "us-east-1").unwrap();
        assert_eq!(error.severity, crate::framework::diagnostics::Severity::Error);
        assert_eq!(error.attribute.as_ref().unwrap().to_string(), "kms_key_arn");
        assert!(
            detail(&error).contains("a key of region eu-west-1, but the secret it encrypts is written in region us-east-1"),
            "{}",
            error.detail
        );

        let alias_elsewhere = "arn:aws:kms:us-east-1:111122223333:alias/maestro";
        let warning =
            kms_key_location(&planned("kms_key_id", Value::string(alias_elsewhere)), "kms_key_id", MANAGEMENT, "us-east-1").unwrap();
        assert_eq!(warning.severity, crate::framework::diagnostics::Severity::Warning);
        let text = detail(&warning);
        assert!(
            text.contains(&format!("a key of account 111122223333, but the secret it encrypts is written in account {MANAGEMENT}")),
            "{text}"
        );
    }

    #[test]
    fn a_kms_key_of_the_providers_account_and_region_or_without_an_arn_passes() {
        for fine in [
            Value::string(KEY),
            Value::string("alias/maestro"),
            Value::string("1234abcd-12ab-34cd-56ef-1234567890ab"),
            Value::Unknown,
            Value::Null,
        ] {
            assert_eq!(kms_key_location(&planned("kms_key_arn", fine), "kms_key_arn", MANAGEMENT, "us-east-1"), None);
        }
    }
}
