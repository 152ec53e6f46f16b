//! Custody of a key-bearing secret: the rules every write of a private key into Secrets
//! Manager goes through, and the proof by which a secret is known to be ours.
//!
//! Names of our secrets are predictable, so anyone who may call `CreateSecret` or
//! `PutResourcePolicy` in the account can prepare a secret for the provider to write a key
//! into. Two rules close that door:
//!
//! - **Custody before any key byte is sent**: the target has no resource policy (or exactly
//!   the one its owner's configuration declares, compared as a document: see [`same_policy`]),
//!   no replicas and the KMS key the configuration names (the AWS-managed `aws/secretsmanager`
//!   key when it names none). A policy can grant another principal `GetSecretValue`, a replica
//!   copies the key to a region someone else watches, a foreign customer-managed key lets its
//!   owner decrypt. Refresh applies the same rule to a live secret, so a policy put on it out
//!   of band stops the next plan instead of waiting for a rotation to write there.
//! - **A declared policy is the owner's to put** ([`SecretPolicy`]): `maestro_agent_key` and
//!   `maestro_server_identity` put it (PutResourcePolicy with BlockPublicPolicy, so AWS itself
//!   refuses one that opens the secret to the public or to every account) on the secret they
//!   create, and on an existing secret before a key is written into it; a resource that only
//!   writes into someone else's secret (`maestro_agent_identity`, the rotate action) is told
//!   the declared policy so that it accepts it, and never puts one.
//! - **Adoption on proof, not on a description**: every version the provider writes that holds
//!   a key gets, as its `ClientRequestToken` (so its version ID), an HMAC over the secret's
//!   name, the owning resource and the bundle. Keyed with the bundle's own key it is a *proof*:
//!   a secret holding one is a container this provider made for that resource and may take
//!   back (after a lost answer) once it passes the custody check. Whoever picks a key can make
//!   that proof for it, so a *key* is taken from a secret as the workload's (a key staged by
//!   the rotate action, a rotation cut short by a kill) only when its version is *vouched*
//!   for: keyed with the key state records, which only a reader of the secret holds. A
//!   description is text anyone can write; it proves nothing.

use super::secretsmanager::calls::{self as secrets, SecretInfo};
use crate::crypto::{CredentialBundle, SecretString};
use crate::framework::{AttributePath, Diagnostic, Diagnostics, Value};
use crate::provider::{aws_error, AwsClients};
use crate::resources::common::aws_failure;

mod policy_text;
mod proof;

use policy_text::granted_principals;
pub use policy_text::{policy_validator, same_policy};
pub use proof::{proof_token, proven_for, proves, vouched_token, voucher, vouches};

/// The AWS-managed key Secrets Manager uses when a secret names none.
const AWS_MANAGED_KEY: &str = "alias/aws/secretsmanager";

/// The resource policy a key-bearing secret may carry besides none: the one its owner's
/// configuration declares (`secret_resource_policy`, `certificate_secret_resource_policy`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SecretPolicy<'a> {
    /// The declared policy: accepted on the secret and, by its owner, put there before a key.
    pub declared: Option<&'a str>,
    /// The policy state records while an apply replaces it with `declared` (a changed
    /// configuration): accepted too, until it is replaced.
    pub replaced: Option<&'a str>,
    /// Set for the resource that owns the secret's policy: [`write_key`] then puts `declared`
    /// on the secret (or takes `replaced` off) before the key. Others only accept it.
    pub owner: bool,
    /// The owner's attribute that declares the policy, where AWS's refusal of it is pinned.
    pub attribute: &'static str,
}

impl<'a> SecretPolicy<'a> {
    /// No policy accepted: what every secret had before the option existed.
    pub const NONE: SecretPolicy<'static> = SecretPolicy { declared: None, replaced: None, owner: false, attribute: "" };

    /// The policy a resource that writes into the secret accepts but does not put.
    pub fn accepting(declared: Option<&'a str>) -> Self {
        SecretPolicy { declared, ..SecretPolicy::NONE }
    }

    /// The owner's policy, declared by `attribute`: `declared` goes on the secret, `replaced`
    /// is accepted until then.
    pub fn owned(declared: Option<&'a str>, replaced: Option<&'a str>, attribute: &'static str) -> Self {
        SecretPolicy { declared, replaced, owner: true, attribute }
    }

    fn accepts(&self, found: &str) -> bool {
        self.declared.into_iter().chain(self.replaced).any(|p| same_policy(p, found))
    }
}

/// What stands between a secret and custody, as sentences for a diagnostic.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Findings(Vec<String>);

impl Findings {
    pub fn is_clear(&self) -> bool {
        self.0.is_empty()
    }

    /// Judges what DescribeSecret and GetResourcePolicy said against the configured key and
    /// the policy the configuration declares (a found policy equal to it is no finding).
    pub fn of(info: &SecretInfo, resource_policy: Option<&str>, policy: SecretPolicy, configured_kms_key: Option<&str>) -> Findings {
        let mut found = Vec::new();
        if let Some(found_policy) = resource_policy.filter(|p| !p.trim().is_empty() && !policy.accepts(p)) {
            let principals = granted_principals(found_policy);
            let declared = policy.declared.is_some() || policy.replaced.is_some();
            found.push(match (declared, principals.is_empty()) {
                (false, true) => "it has a resource policy".to_string(),
                (false, false) => format!("its resource policy grants access to {}", principals.join(", ")),
                (true, true) => "it has a resource policy other than the one declared".to_string(),
                (true, false) => {
                    format!("it has a resource policy other than the one declared, granting access to {}", principals.join(", "))
                }
            });
        }
        if !info.replica_regions.is_empty() {
            found.push(format!("it is replicated to {}", info.replica_regions.join(", ")));
        }
        if let Some(primary) = &info.primary_region {
            found.push(format!("it is a replica of a secret in {primary}"));
        }
        if !same_kms_key(configured_kms_key, info.kms_key_id.as_deref()) {
            found.push(format!(
                "it is encrypted with KMS key {}, not {}",
                info.kms_key_id.as_deref().unwrap_or(AWS_MANAGED_KEY),
                configured_kms_key.unwrap_or("the AWS-managed key aws/secretsmanager (no kms key is configured)")
            ));
        }
        Findings(found)
    }

    /// The refusal, pinned to the attribute that names the secret.
    pub fn refusal(&self, info: &SecretInfo, attribute: &'static str, what_to_do: &str) -> Diagnostic {
        Diagnostic::error(
            "Secret is not in the provider's custody",
            format!(
                "Secret {} cannot hold a private key: {}. Only the workload's own role may read a key-bearing secret, so the provider writes no key there. {what_to_do}",
                info.name,
                self.0.join("; ")
            ),
        )
        .at(AttributePath::root(attribute))
    }
}

/// What to do about a secret that was refused before a key was written into it.
pub const BEFORE_WRITE: &str = "Remove the resource policy (aws secretsmanager delete-resource-policy), the replicas (remove-regions-from-replication) or the KMS key mismatch, or choose another secret name; nothing was written.";

/// What to do about a live secret found out of custody: the key in it may have been read.
pub const AFTER_WRITE: &str = "The key it holds may have been read by them: remove what was added (aws secretsmanager delete-resource-policy / remove-regions-from-replication / update-secret --kms-key-id), then rotate the key (change rotation_triggers). To destroy regardless, run destroy with -refresh=false.";

/// GetResourcePolicy: the secret's resource policy, if it has one.
pub async fn resource_policy(c: &AwsClients, secret_arn: &str) -> Result<Option<String>, Diagnostics> {
    match c.secretsmanager.get_resource_policy().secret_id(secret_arn).send().await {
        Ok(out) => Ok(out.resource_policy().map(str::to_string)),
        Err(e) if aws_error::is_not_found(&e) => Ok(None),
        Err(e) => Err(aws_failure("secretsmanager:GetResourcePolicy", secret_arn, &e)),
    }
}

/// The custody check for the secret `info` describes: DescribeSecret's facts plus one
/// GetResourcePolicy. `Err` with the refusal when anything stands in the way; otherwise the
/// policy found, which is then none or one `policy` accepts.
pub async fn check(
    c: &AwsClients,
    info: &SecretInfo,
    configured_kms_key: Option<&str>,
    policy: SecretPolicy<'_>,
    attribute: &'static str,
    what_to_do: &str,
) -> Result<Option<String>, Diagnostics> {
    let found = resource_policy(c, &info.arn).await?.filter(|p| !p.trim().is_empty());
    let findings = Findings::of(info, found.as_deref(), policy, configured_kms_key);
    if findings.is_clear() {
        return Ok(found);
    }
    tracing::warn!(secret = %info.name, findings = ?findings.0, "refusing a key-bearing secret that is not in our custody");
    Err(findings.refusal(info, attribute, what_to_do).into())
}

/// Brings the resource policy of a secret that passed the custody check (`found` is what
/// [`check`] returned) to what its owner declares: PutResourcePolicy when it is not there yet
/// (or another accepted one is), DeleteResourcePolicy when none is declared any more. Does
/// nothing for a resource that does not own the policy.
pub async fn put_declared(c: &AwsClients, info: &SecretInfo, found: Option<&str>, policy: SecretPolicy<'_>) -> Result<(), Diagnostics> {
    if !policy.owner {
        return Ok(());
    }
    match (policy.declared, found) {
        (Some(declared), Some(found)) if same_policy(declared, found) => Ok(()),
        (Some(declared), _) => put_policy(c, &info.arn, declared, policy.attribute).await,
        (None, Some(_)) => delete_policy(c, &info.arn).await,
        (None, None) => Ok(()),
    }
}

/// The owner's policy change on a live key-bearing secret, with no key written: the secret is
/// judged first (a policy that is neither the one state records nor the declared one, or a
/// replica, stops the apply as it stops a plan: the key may have been read), then its policy
/// is put or deleted. The KMS key is not judged here: the same apply puts it back.
pub async fn align_policy(c: &AwsClients, info: &SecretInfo, policy: SecretPolicy<'_>, attribute: &'static str) -> Result<(), Diagnostics> {
    let found = check(c, info, info.kms_key_id.as_deref(), policy, attribute, AFTER_WRITE).await?;
    put_declared(c, info, found.as_deref(), policy).await
}

/// Writes `bundle` into the existing secret `info` (described just before) as a new version
/// with `stages` (empty: AWSCURRENT), once the secret passes the custody check; the owner of
/// the secret's policy puts the declared one there first (see [`put_declared`]). The version
/// ID is the bundle's proof, so a retry of the same write finds its version. Returns it.
/// With a `voucher` (the key state records) the version is vouched for by it, else it
/// carries its own proof.
#[allow(clippy::too_many_arguments)]
pub async fn write_key(
    c: &AwsClients,
    info: &SecretInfo,
    bundle: &CredentialBundle,
    owner: &str,
    voucher: Option<&SecretString>,
    stages: &[&str],
    configured_kms_key: Option<&str>,
    policy: SecretPolicy<'_>,
    attribute: &'static str,
) -> Result<String, Diagnostics> {
    let found = check(c, info, configured_kms_key, policy, attribute, BEFORE_WRITE).await?;
    put_declared(c, info, found.as_deref(), policy).await?;
    let token = match voucher {
        Some(v) => vouched_token(v, bundle, &info.name, owner),
        None => proof_token(bundle, &info.name, owner),
    };
    // The same bundle written before (a current bundle overwritten out of band and put back,
    // say) is that version again: versions are immutable, and a PutSecretValue with its token
    // would be a no-op that leaves the labels where they are. The label moves to it instead.
    if let Some(existing) = info.versions.keys().find(|v| v.eq_ignore_ascii_case(&token)) {
        let stage = stages.first().copied().unwrap_or(secrets::AWSCURRENT);
        if !info.has_stage(existing, stage) {
            secrets::move_stage(c, &info.arn, stage, existing, info.version_with(stage)).await?;
        }
        return Ok(existing.clone());
    }
    secrets::put(c, &info.arn, &bundle.to_secret_string(), stages, Some(token)).await
}

/// PutResourcePolicy of the declared policy, with BlockPublicPolicy: AWS refuses a policy that
/// allows broad access to the secret (a wildcard principal, say), so a declared policy can
/// only let in the principals the user names. A refusal is pinned to the attribute that
/// declares the policy. (The emulator, moto, ignores BlockPublicPolicy.)
pub async fn put_policy(c: &AwsClients, secret_arn: &str, policy: &str, policy_attribute: &'static str) -> Result<(), Diagnostics> {
    tracing::info!(secret = secret_arn, "putting the declared resource policy on the secret");
    match c.secretsmanager.put_resource_policy().secret_id(secret_arn).resource_policy(policy).block_public_policy(true).send().await {
        Ok(_) => Ok(()),
        Err(e) => Err(Diagnostic::error(
            "secretsmanager:PutResourcePolicy failed",
            format!(
                "secretsmanager:PutResourcePolicy for {secret_arn} refused the declared {policy_attribute}: {}",
                aws_error::describe(&e)
            ),
        )
        .at(AttributePath::root(policy_attribute))
        .into()),
    }
}

/// DeleteResourcePolicy (a declared policy removed from the configuration).
pub async fn delete_policy(c: &AwsClients, secret_arn: &str) -> Result<(), Diagnostics> {
    tracing::info!(secret = secret_arn, "deleting the resource policy no longer declared");
    match c.secretsmanager.delete_resource_policy().secret_id(secret_arn).send().await {
        Ok(_) => Ok(()),
        Err(e) if aws_error::is_not_found(&e) => Ok(()),
        Err(e) => Err(aws_failure("secretsmanager:DeleteResourcePolicy", secret_arn, &e)),
    }
}

/// Refresh of a key-bearing secret's resource policy into state: the declared policy found
/// stays as state records it (the configuration's text, not AWS's rendering of it); none
/// found clears it, so the plan puts it back. Any other policy never gets here: [`check`]
/// refused it.
pub fn refreshed_policy(recorded: &Value, found: Option<&str>) -> Value {
    match found {
        Some(_) => recorded.clone(),
        None => Value::Null,
    }
}

/// Whether the key a secret names (`found`, DescribeSecret's KmsKeyId: none for the AWS
/// managed key, else a key ID or alias, as an ARN or not) is the configured one. Key IDs and
/// alias names are compared as such, with or without their ARN prefix. A customer key named
/// by alias on one side and by key ID on the other cannot be told apart without
/// kms:DescribeKey, so that pair passes; the AWS-managed key never stands in for a customer
/// key, nor the other way round.
fn same_kms_key(configured: Option<&str>, found: Option<&str>) -> bool {
    let normal = |k: &str| -> String {
        // arn:<partition>:kms:<region>:<account>:key/<id> or :alias/<name>
        let tail = match k.strip_prefix("arn:") {
            Some(rest) => rest.splitn(5, ':').nth(4).unwrap_or(k),
            None => k,
        };
        if tail.starts_with("alias/") || tail.starts_with("key/") {
            tail.to_string()
        } else {
            format!("key/{tail}")
        }
    };
    match (configured.map(normal), found.map(normal)) {
        (None, None) => true,
        (Some(a), Some(b)) => a == b || a.starts_with("alias/") != b.starts_with("alias/"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::policy_text::tests::DECLARED;
    use super::*;
    use serde_json::Value as Json;

    fn info() -> SecretInfo {
        SecretInfo { arn: "arn:aws:secretsmanager:us-east-1:111111111111:secret:s-AbCdEf".into(), name: "s".into(), ..Default::default() }
    }

    #[test]
    fn a_plain_secret_under_the_configured_key_is_in_custody() {
        assert!(Findings::of(&info(), None, SecretPolicy::NONE, None).is_clear());
        assert!(Findings::of(&info(), Some("  "), SecretPolicy::NONE, None).is_clear());
        let cmk = SecretInfo { kms_key_id: Some("arn:aws:kms:us-east-1:111111111111:key/1234abcd".into()), ..info() };
        assert!(Findings::of(&cmk, None, SecretPolicy::NONE, Some("1234abcd")).is_clear());
        assert!(Findings::of(&cmk, None, SecretPolicy::NONE, Some("arn:aws:kms:us-east-1:111111111111:key/1234abcd")).is_clear());
        let alias = SecretInfo { kms_key_id: Some("arn:aws:kms:us-east-1:111111111111:alias/agents".into()), ..info() };
        assert!(Findings::of(&alias, None, SecretPolicy::NONE, Some("alias/agents")).is_clear());
        assert!(!Findings::of(&alias, None, SecretPolicy::NONE, Some("alias/others")).is_clear());
        // An alias against a key ID cannot be compared without KMS.
        assert!(Findings::of(&alias, None, SecretPolicy::NONE, Some("arn:aws:kms:us-east-1:111111111111:key/1234abcd")).is_clear());
    }

    #[test]
    fn a_policy_a_replica_or_a_foreign_key_is_refused_naming_what_was_found() {
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::999999999999:root"]},"Action":"secretsmanager:GetSecretValue","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}"#;
        let f = Findings::of(&info(), Some(policy), SecretPolicy::NONE, None);
        assert!(!f.is_clear());
        let d = f.refusal(&info(), "secret_name", BEFORE_WRITE);
        assert!(d.detail.contains("arn:aws:iam::999999999999:root"), "{}", d.detail);
        assert!(!d.detail.contains("Deny"));
        assert!(d.summary.contains("not in the provider's custody"));

        let replicated = SecretInfo { replica_regions: vec!["eu-west-1".into()], ..info() };
        assert!(Findings::of(&replicated, None, SecretPolicy::NONE, None)
            .refusal(&info(), "secret_name", BEFORE_WRITE)
            .detail
            .contains("eu-west-1"));
        let replica = SecretInfo { primary_region: Some("us-west-2".into()), ..info() };
        assert!(!Findings::of(&replica, None, SecretPolicy::NONE, None).is_clear());

        let foreign = SecretInfo { kms_key_id: Some("arn:aws:kms:us-east-1:999999999999:key/evil".into()), ..info() };
        let f = Findings::of(&foreign, None, SecretPolicy::NONE, None);
        assert!(f.refusal(&info(), "secret_name", BEFORE_WRITE).detail.contains("key/evil"));
        assert!(!Findings::of(&foreign, None, SecretPolicy::NONE, Some("arn:aws:kms:us-east-1:111111111111:key/ours")).is_clear());
        // A configured key on a secret still under the AWS-managed one is a mismatch too.
        assert!(!Findings::of(&info(), None, SecretPolicy::NONE, Some("alias/agents")).is_clear());
    }

    #[test]
    fn custody_accepts_the_declared_policy_and_refuses_any_other_naming_its_principals() {
        let declared = SecretPolicy::owned(Some(DECLARED), None, "secret_resource_policy");
        let rendered = serde_json::to_string(&serde_json::from_str::<Json>(DECLARED).unwrap()).unwrap();
        assert!(Findings::of(&info(), Some(&rendered), declared, None).is_clear());
        assert!(Findings::of(&info(), None, declared, None).is_clear(), "no policy is always in custody");
        assert!(Findings::of(&info(), Some(&rendered), SecretPolicy::accepting(Some(DECLARED)), None).is_clear());
        // Unset: exactly as before, no policy accepted.
        assert!(!Findings::of(&info(), Some(&rendered), SecretPolicy::NONE, None).is_clear());
        // While the configuration replaces the recorded policy, both are accepted.
        let other = DECLARED.replace("role/agent", "role/reader");
        let replacing = SecretPolicy::owned(Some(&other), Some(DECLARED), "secret_resource_policy");
        assert!(Findings::of(&info(), Some(DECLARED), replacing, None).is_clear());
        assert!(Findings::of(&info(), Some(&other), replacing, None).is_clear());
        // Anything else is refused, naming whom it lets in.
        let foreign = DECLARED.replace("123456789012:role/agent", "999999999999:root");
        let f = Findings::of(&info(), Some(&foreign), declared, None);
        assert!(!f.is_clear());
        let d = f.refusal(&info(), "secret_name", AFTER_WRITE);
        assert!(d.detail.contains("other than the one declared") && d.detail.contains("arn:aws:iam::999999999999:root"), "{}", d.detail);
        assert!(!Findings::of(&info(), Some(&other), declared, None).is_clear());
        // The declared policy does not excuse a replica or a foreign key.
        let replicated = SecretInfo { replica_regions: vec!["eu-west-1".into()], ..info() };
        assert!(!Findings::of(&replicated, Some(DECLARED), declared, None).is_clear());
    }

    #[test]
    fn refresh_keeps_the_declared_text_and_clears_a_policy_found_missing() {
        let recorded = Value::string(DECLARED);
        assert_eq!(refreshed_policy(&recorded, Some("{\"Statement\":[]}")), recorded);
        assert_eq!(refreshed_policy(&recorded, None), Value::Null);
        assert_eq!(refreshed_policy(&Value::Null, None), Value::Null);
    }
}
