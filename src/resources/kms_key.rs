//! One KMS story for every resource that writes a secret: the key is named the way Secrets
//! Manager takes it (`kms_key_id`: alias name, key ID, key ARN or alias ARN) and resolved at
//! plan through kms:DescribeKey, so that
//!
//! - a key that does not exist, or is not enabled, is refused at plan at the attribute, before
//!   any private key is generated (Secrets Manager would refuse it only at apply, with
//!   EncryptionFailure, after the key was made);
//! - the identities' role policies show the key's own ARN at plan: IAM grants `kms:Decrypt`
//!   on the key ARN only (an alias ARN in a policy's Resource authorises nothing).
//!
//! A key of another region is refused from the ARN alone (KMS keys are regional); a key of
//! another account is a warning (account_guard). Without kms:DescribeKey the lookup falls
//! back to those offline checks with a warning, so a role without that permission is not locked
//! out.

use crate::framework::{AttributePath, Diagnostic, Diagnostics, Value};
use crate::provider::AwsClients;
use crate::resources::account_guard;
use crate::resources::aws::kms::{find_key, KeyLookupError, DESCRIBE_KEY};

/// The AWS-managed key Secrets Manager uses when no key is given: nothing to check.
fn is_aws_managed_secrets_key(reference: &str) -> bool {
    reference == "alias/aws/secretsmanager" || reference.ends_with(":alias/aws/secretsmanager")
}

/// A bare key ID (`1234abcd-...` or `mrk-...`): not an alias, not an ARN.
fn is_key_id(reference: &str) -> bool {
    !reference.starts_with("alias/") && !reference.starts_with("arn:")
}

/// The attributes one resource names its key with.
#[derive(Clone, Copy)]
pub struct KmsAttributes {
    /// What the user gives: alias name, key ID, key ARN or alias ARN.
    pub reference: &'static str,
    /// Where the resolved key ARN goes, for the resources whose role policy grants the key
    /// (Optional+Computed: it may also be given directly, as before `reference` existed).
    pub key_arn: Option<&'static str>,
}

/// Validate time: the key is named once, by `reference` or by `key_arn`.
pub fn refuse_both(config: &Value, attrs: KmsAttributes, diags: &mut Diagnostics) {
    let Some(key_arn) = attrs.key_arn else { return };
    if !config.get(attrs.reference).is_null() && !config.get(key_arn).is_null() {
        diags.push(
            Diagnostic::error(
                "KMS key given twice",
                format!(
                    "Set {reference} or {key_arn}, not both. {reference} takes any form (alias name, key ID, key ARN or alias ARN) and is resolved to the key ARN at plan through {DESCRIBE_KEY}; {key_arn} takes a key ARN as it is, without that lookup.",
                    reference = attrs.reference,
                ),
            )
            .at(AttributePath::root(attrs.reference)),
        );
    }
}

/// Plan time: resolves and checks the configured key, and plans `key_arn`.
pub async fn plan(c: &AwsClients, config: &Value, planned: &mut Value, attrs: KmsAttributes, diags: &mut Diagnostics) {
    let reference = match config.get(attrs.reference) {
        Value::Unknown => {
            if let Some(key_arn) = attrs.key_arn {
                planned.set(key_arn, Value::Unknown);
            }
            return;
        }
        Value::Null => {
            // No reference: `key_arn` is what the configuration says, checked offline as it
            // always was (a resolved ARN of a removed reference does not linger).
            if let Some(key_arn) = attrs.key_arn {
                planned.set(key_arn, config.get(key_arn).clone());
                account_guard::check_kms_key(planned, key_arn, c, diags);
            }
            return;
        }
        v => match v.as_str() {
            Some(s) => s.to_string(),
            None => return,
        },
    };
    if is_aws_managed_secrets_key(&reference) {
        if let Some(key_arn) = attrs.key_arn {
            planned.set(key_arn, Value::Null);
        }
        return;
    }
    // A region the ARN alone shows to be wrong is refused without asking KMS.
    let mut offline = Diagnostics::new();
    account_guard::check_kms_key(planned, attrs.reference, c, &mut offline);
    let refused = offline.has_errors();
    diags.extend(offline);
    if refused {
        return;
    }
    let path = AttributePath::root(attrs.reference);
    let resolved = match find_key(c, &reference).await {
        Ok(Some(key)) => {
            if !key.is_enabled() {
                diags.push(
                    Diagnostic::error(
                        "KMS key not enabled",
                        format!(
                            "{attribute} names KMS key {arn}, whose state is {state}: Secrets Manager cannot encrypt a secret with it, and the agent could not decrypt one. Enable the key (or cancel its deletion), or name an enabled key.",
                            attribute = attrs.reference,
                            arn = key.arn,
                            state = key.state,
                        ),
                    )
                    .at(path),
                );
                return;
            }
            Some(key.arn)
        }
        Ok(None) => {
            // An ARN is looked up in the account it names; anything else in the provider's.
            let account = reference.split(':').nth(4).filter(|a| !a.is_empty()).unwrap_or(&c.account_id);
            diags.push(
                Diagnostic::error(
                    "KMS key not found",
                    format!(
                        "{attribute} = {reference:?}: {DESCRIBE_KEY} found no such key or alias for account {account} in region {region}, where the secret is written. \
                         An alias name or key ID names a key of the provider's own account and region; a key of another account must be given as its key ARN or alias ARN, and its key policy must let the provider's role describe and use it. \
                         Check the name, or create the key (or alias) first.",
                        attribute = attrs.reference,
                        region = c.region,
                    ),
                )
                .at(path),
            );
            return;
        }
        Err(KeyLookupError::Denied(answer)) => {
            diags.push(
                Diagnostic::warning(
                    "KMS key not checked",
                    format!(
                        "{answer}\n\nWithout {DESCRIBE_KEY} the provider cannot check at plan that the key exists and is enabled; it checked only the account and region an ARN shows. \
                         Allow {DESCRIBE_KEY} on the key to the provider's role to have it checked (and resolved to its key ARN) at plan."
                    ),
                )
                .at(path.clone()),
            );
            offline_key_arn(&reference, &c.partition, &c.region, &c.account_id)
        }
        Err(KeyLookupError::Failed(d)) => {
            diags.extend(d);
            return;
        }
    };
    let Some(key_arn) = attrs.key_arn else { return };
    match resolved {
        Some(arn) => planned.set(key_arn, Value::string(arn)),
        None => diags.push(
            Diagnostic::error(
                "KMS alias not resolved",
                format!(
                    "{attribute} names an alias, and the role's kms:Decrypt grant needs the key ARN it points to, which only {DESCRIBE_KEY} can tell. Allow {DESCRIBE_KEY} on the key to the provider's role, or give the key ARN (in {attribute} or {key_arn}).",
                    attribute = attrs.reference,
                ),
            )
            .at(path),
        ),
    }
}

/// The key ARN a reference shows without asking KMS: a key ARN itself, or a key ID of the
/// provider's account and region. `None` for an alias, whose key only KMS knows.
fn offline_key_arn(reference: &str, partition: &str, region: &str, account: &str) -> Option<String> {
    if reference.starts_with("arn:") {
        let resource = reference.splitn(6, ':').nth(5).unwrap_or_default();
        return resource.starts_with("key/").then(|| reference.to_string());
    }
    is_key_id(reference).then(|| format!("arn:{partition}:kms:{region}:{account}:key/{reference}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aws_managed_key_is_recognised_by_alias_name_and_alias_arn() {
        assert!(is_aws_managed_secrets_key("alias/aws/secretsmanager"));
        assert!(is_aws_managed_secrets_key("arn:aws:kms:us-east-1:111122223333:alias/aws/secretsmanager"));
        assert!(!is_aws_managed_secrets_key("alias/maestro"));
        assert!(!is_aws_managed_secrets_key("alias/aws/secretsmanager-copy"));
    }

    #[test]
    fn only_key_ids_are_key_ids() {
        assert!(is_key_id("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(is_key_id("mrk-1234abcd12ab34cd56ef1234567890ab"));
        assert!(!is_key_id("alias/maestro"));
        assert!(!is_key_id("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"));
    }

    #[test]
    fn without_kms_only_key_arns_and_key_ids_give_a_key_arn() {
        let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let offline = |reference| offline_key_arn(reference, "aws", "us-east-1", "987654321098");
        assert_eq!(offline(key).as_deref(), Some(key));
        assert_eq!(
            offline("1234abcd-12ab-34cd-56ef-1234567890ab").as_deref(),
            Some("arn:aws:kms:us-east-1:987654321098:key/1234abcd-12ab-34cd-56ef-1234567890ab")
        );
        assert_eq!(offline("alias/maestro"), None);
        assert_eq!(offline("arn:aws:kms:us-east-1:111122223333:alias/maestro"), None);
    }

    #[test]
    fn both_attributes_set_is_refused_at_the_reference() {
        let attrs = KmsAttributes { reference: "kms_key_id", key_arn: Some("kms_key_arn") };
        let both = Value::object([("kms_key_id", Value::string("alias/x")), ("kms_key_arn", Value::string("arn:aws:kms:r:1:key/k"))]);
        let mut diags = Diagnostics::new();
        refuse_both(&both, attrs, &mut diags);
        assert!(diags.has_errors());
        let text = diags.to_string();
        assert!(text.contains("Set kms_key_id or kms_key_arn, not both"), "{text}");
        let one = Value::object([("kms_key_id", Value::string("alias/x")), ("kms_key_arn", Value::Null)]);
        let mut none = Diagnostics::new();
        refuse_both(&one, attrs, &mut none);
        assert!(!none.has_errors(), "{none}");
    }
}
