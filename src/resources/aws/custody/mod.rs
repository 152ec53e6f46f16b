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

use super::secretsmanager::{self as secrets, SecretInfo};
use crate::crypto::{CredentialBundle, SecretString};
use crate::framework::schema::Validator;
use crate::framework::{AttributePath, Diagnostic, Diagnostics, Value};
use crate::policy::document;
use crate::provider::{aws_error, AwsClients};
use crate::resources::common::aws_failure;
use serde_json::Value as Json;

/// The AWS-managed key Secrets Manager uses when a secret names none.
const AWS_MANAGED_KEY: &str = "alias/aws/secretsmanager";

/// Domain separation, so a proof can never equal a token made for another purpose, and a
/// version vouched for by a key never equals that key's own proof.
const PROOF_CONTEXT: &[u8] = b"terraform-provider-maestro custody proof v1";
const VOUCH_CONTEXT: &[u8] = b"terraform-provider-maestro custody vouch v1";

/// The version ID (a `ClientRequestToken`) that proves `bundle` was written by this provider
/// into `secret_name` for `owner` (the agent's cluster ID, the server's name): an HMAC keyed
/// with the bundle's own private key. UUID-shaped, as Secrets Manager wants 32 to 64
/// characters. It depends on every byte written, so a retry of the same write finds its own
/// version and nothing else can reuse the token.
///
/// Whoever chooses a key can make this proof for it, so it proves only that a secret is a
/// container this provider may write to (after [`check`]), never that a key in it may be
/// taken as the workload's: that takes [`vouched_token`].
pub fn proof_token(bundle: &CredentialBundle, secret_name: &str, owner: &str) -> String {
    keyed_token(PROOF_CONTEXT, bundle.private_key.expose(), bundle, secret_name, owner)
}

/// The version ID of `bundle` when it is written while `voucher`, the key state records for
/// the resource, is in the secret: an HMAC keyed with that key. Only a reader of the secret
/// can make it, and a reader of a key-bearing secret holds its key already; so a key staged
/// with this token (a rotation, the rotate action) may be taken as the workload's next key.
pub fn vouched_token(voucher: &SecretString, bundle: &CredentialBundle, secret_name: &str, owner: &str) -> String {
    keyed_token(VOUCH_CONTEXT, voucher.expose(), bundle, secret_name, owner)
}

fn keyed_token(context: &[u8], key_pem: &str, bundle: &CredentialBundle, secret_name: &str, owner: &str) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, key_pem.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    for part in [
        context,
        secret_name.as_bytes(),
        owner.as_bytes(),
        bundle.private_key.expose().as_bytes(),
        bundle.certificate.as_deref().unwrap_or_default().as_bytes(),
        bundle.ca_cert.as_deref().unwrap_or_default().as_bytes(),
    ] {
        // Length-prefixed, so no two different splits of the same bytes collide.
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let tag = ctx.sign();
    let h: String = tag.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Whether version `version_id`, holding `value`, carries the proof for `secret_name` and
/// `owner`. A value that is not one of our bundles proves nothing.
pub fn proves(version_id: &str, value: &str, secret_name: &str, owner: &str) -> bool {
    CredentialBundle::parse(value).is_ok_and(|bundle| proof_token(&bundle, secret_name, owner).eq_ignore_ascii_case(version_id))
}

/// Whether version `version_id`, holding `value`, was vouched for by `voucher`.
pub fn vouches(voucher: &SecretString, version_id: &str, value: &str, secret_name: &str, owner: &str) -> bool {
    CredentialBundle::parse(value).is_ok_and(|bundle| vouched_token(voucher, &bundle, secret_name, owner).eq_ignore_ascii_case(version_id))
}

/// Whether any version of the secret `info` describes carries the proof for `owner`. Reads at
/// most one value per version that has a staging label (the unlabelled ones are history that
/// Secrets Manager may drop at any time).
pub async fn proven_for(c: &AwsClients, info: &SecretInfo, owner: &str) -> Result<bool, Diagnostics> {
    for (version, stages) in &info.versions {
        if stages.is_empty() {
            continue;
        }
        if let Some(value) = secrets::get_version(c, &info.arn, version).await? {
            if proves(version, value.expose(), &info.name, owner) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The private key the resource's state records (by its public key `fingerprint`), read from
/// the labelled version of the secret that holds it, current first. `None` when no version
/// holds it: then nothing in the secret can be vouched for.
pub async fn voucher(c: &AwsClients, info: &SecretInfo, fingerprint: &str) -> Result<Option<SecretString>, Diagnostics> {
    let mut labelled: Vec<(&String, &Vec<String>)> = info.versions.iter().filter(|(_, stages)| !stages.is_empty()).collect();
    labelled.sort_by_key(|(_, stages)| !stages.iter().any(|s| s == secrets::AWSCURRENT));
    for (version, _) in labelled {
        let Some(value) = secrets::get_version(c, &info.arn, version).await? else { continue };
        let Ok(bundle) = CredentialBundle::parse(value.expose()) else { continue };
        let Ok(key) = crate::crypto::keys::GeneratedKey::from_pkcs8_pem(bundle.private_key.expose()) else { continue };
        if key.fingerprint() == fingerprint {
            return Ok(Some(bundle.private_key));
        }
    }
    Ok(None)
}

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

/// The principals an Allow statement of the policy names, for the diagnostic.
fn granted_principals(policy: &str) -> Vec<String> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(policy) else { return Vec::new() };
    let statements = match &doc["Statement"] {
        serde_json::Value::Array(list) => list.clone(),
        one @ serde_json::Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for s in statements.iter().filter(|s| s["Effect"].as_str() == Some("Allow")) {
        collect_principals(&s["Principal"], &mut out);
    }
    out.sort();
    out.dedup();
    out
}

fn collect_principals(p: &serde_json::Value, out: &mut Vec<String>) {
    match p {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(list) => list.iter().for_each(|v| collect_principals(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_principals(v, out)),
        _ => {}
    }
}

/// The most characters Secrets Manager takes in a resource policy.
pub const MAX_POLICY_CHARS: usize = 20_480;

/// Validates a declared resource policy at validate time: a JSON object with a `Statement`
/// that is an object or a non-empty list of objects, at most [`MAX_POLICY_CHARS`]. What it
/// grants is AWS's to judge (BlockPublicPolicy, see [`put_policy`]).
pub fn policy_validator() -> Validator {
    std::sync::Arc::new(|v: &Value| match v {
        Value::String(s) => policy_shape(s),
        _ => Ok(()),
    })
}

fn policy_shape(text: &str) -> Result<(), String> {
    let chars = text.chars().count();
    if chars > MAX_POLICY_CHARS {
        return Err(format!("must be at most {MAX_POLICY_CHARS} characters (a Secrets Manager resource policy), got {chars}"));
    }
    let doc: Json = serde_json::from_str(text)
        .map_err(|e| format!("must be a JSON IAM policy document (use jsonencode or aws_iam_policy_document): {e}"))?;
    let Some(object) = doc.as_object() else {
        return Err("must be a JSON IAM policy document: an object with Version and Statement".into());
    };
    match object.get("Statement") {
        Some(Json::Object(_)) => Ok(()),
        Some(Json::Array(list)) if !list.is_empty() && list.iter().all(Json::is_object) => Ok(()),
        Some(_) => Err("must be a JSON IAM policy document: its Statement must be a statement object or a non-empty list of them".into()),
        None => Err("must be a JSON IAM policy document: it has no Statement".into()),
    }
}

/// Whether two resource policies say the same thing, as AWS may render a policy it was given:
/// compared as parsed JSON by [`document::equivalent`] (key order ignored, a single
/// `Statement` object equal to a one-element list and statements a set, a single string equal
/// to a one-element list for `Action`, `NotAction`, `Resource` and `NotResource`, lists of
/// strings in any order), and besides, for what a resource policy has that an identity policy
/// has not: a single string equal to a one-element list for every member of `Principal` and
/// `NotPrincipal` and for every `Condition` value (condition values compared as text), and an
/// account's root principal equal to its bare account ID. Text that is not JSON equals only
/// the same text.
pub fn same_policy(a: &str, b: &str) -> bool {
    match (serde_json::from_str::<Json>(a), serde_json::from_str::<Json>(b)) {
        (Ok(x), Ok(y)) => document::equivalent(&resource_policy_form(&x), &resource_policy_form(&y)),
        _ => a.trim() == b.trim(),
    }
}

/// The principal and condition forms [`same_policy`] equates, written one way: lists of
/// strings (which [`document::normalize`] then sorts).
fn resource_policy_form(doc: &Json) -> Json {
    let mut doc = doc.clone();
    match doc.get_mut("Statement") {
        Some(Json::Array(statements)) => statements.iter_mut().for_each(statement_form),
        Some(one @ Json::Object(_)) => statement_form(one),
        _ => {}
    }
    doc
}

fn statement_form(statement: &mut Json) {
    let Json::Object(map) = statement else { return };
    for (name, value) in map.iter_mut() {
        match (name.as_str(), value) {
            ("Principal" | "NotPrincipal", Json::Object(kinds)) => {
                for ids in kinds.values_mut() {
                    *ids = strings(ids, |s| account_root(s).unwrap_or(s).to_string());
                }
            }
            ("Condition", Json::Object(operators)) => {
                for keys in operators.values_mut() {
                    if let Json::Object(keys) = keys {
                        for values in keys.values_mut() {
                            *values = strings(values, str::to_string);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// A scalar or a list of scalars as a list of strings (each mapped by `f`); anything else as
/// it is.
fn strings(v: &Json, f: impl Fn(&str) -> String) -> Json {
    let items = match v {
        Json::Array(list) => list.as_slice(),
        one => std::slice::from_ref(one),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Json::String(s) => out.push(Json::String(f(s))),
            Json::Bool(_) | Json::Number(_) => out.push(Json::String(f(&item.to_string()))),
            _ => return v.clone(),
        }
    }
    Json::Array(out)
}

/// `arn:<partition>:iam::<account>:root` → `<account>`: IAM takes both for the account.
fn account_root(principal: &str) -> Option<&str> {
    let mut parts = principal.strip_prefix("arn:")?.splitn(5, ':');
    let (_partition, service, region, account, resource) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (service == "iam" && region.is_empty() && resource == "root" && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        .then_some(account)
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
    use super::*;
    use crate::crypto::keys::{self, KeyAlgorithm};
    use crate::crypto::{SecretString, AMAZON_ROOT_CA_1};

    fn bundle() -> CredentialBundle {
        let key = keys::generate(KeyAlgorithm::EcdsaP256).unwrap();
        CredentialBundle::key_only(SecretString::new(key.private_key_pem().expose().to_string()), AMAZON_ROOT_CA_1)
    }

    #[test]
    fn the_proof_binds_the_key_the_secret_the_owner_and_the_bundle() {
        let b = bundle();
        let token = proof_token(&b, "mc-1/maestro/agent-mqtt-cert", "mc-1");
        assert_eq!(token.len(), 36);
        assert_eq!(token.matches('-').count(), 4);
        let json = b.to_secret_string();
        assert!(proves(&token, json.expose(), "mc-1/maestro/agent-mqtt-cert", "mc-1"));
        assert!(proves(&token.to_uppercase(), json.expose(), "mc-1/maestro/agent-mqtt-cert", "mc-1"));
        // Another owner, another secret, another key, another bundle: no proof.
        assert!(!proves(&token, json.expose(), "mc-1/maestro/agent-mqtt-cert", "mc-2"));
        assert!(!proves(&token, json.expose(), "maestro/agent-cert", "mc-1"));
        assert!(!proves(&token, bundle().to_secret_string().expose(), "mc-1/maestro/agent-mqtt-cert", "mc-1"));
        let with_cert = CredentialBundle { certificate: Some("CERT".into()), ..CredentialBundle::parse(json.expose()).unwrap() };
        assert_ne!(proof_token(&with_cert, "mc-1/maestro/agent-mqtt-cert", "mc-1"), token);
        // Not a bundle at all.
        assert!(!proves(&token, "{}", "mc-1/maestro/agent-mqtt-cert", "mc-1"));
        // The separators keep ("ab", "c") and ("a", "bc") apart.
        assert_ne!(proof_token(&b, "ab", "c"), proof_token(&b, "a", "bc"));
    }

    #[test]
    fn only_the_recorded_key_can_vouch_for_a_staged_key() {
        let (current, staged) = (bundle(), bundle());
        let voucher = SecretString::new(current.private_key.expose().to_string());
        let token = vouched_token(&voucher, &staged, "s", "mc-1");
        let json = staged.to_secret_string();
        assert!(vouches(&voucher, &token, json.expose(), "s", "mc-1"));
        // Its own proof is not a vouch, nor the other way round: a planter who picks the key
        // can make the first, never the second.
        assert!(!vouches(&voucher, &proof_token(&staged, "s", "mc-1"), json.expose(), "s", "mc-1"));
        assert!(!proves(&token, json.expose(), "s", "mc-1"));
        let planter = SecretString::new(bundle().private_key.expose().to_string());
        assert!(!vouches(&planter, &token, json.expose(), "s", "mc-1"));
        assert!(!vouches(&voucher, &token, json.expose(), "s", "mc-2"));
        // A key vouching for itself still differs from its own proof.
        assert_ne!(
            vouched_token(&SecretString::new(staged.private_key.expose().to_string()), &staged, "s", "mc-1"),
            proof_token(&staged, "s", "mc-1")
        );
    }

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
    fn principals_are_read_from_every_allow_statement_shape() {
        let one = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}"#;
        assert_eq!(granted_principals(one), vec!["*"]);
        let many = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:a","Service":["x.amazonaws.com"]}}]}"#;
        assert_eq!(granted_principals(many), vec!["arn:a", "x.amazonaws.com"]);
        assert!(granted_principals("not json").is_empty());
    }

    const DECLARED: &str = r#"{
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AgentRole",
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::123456789012:role/agent"]},
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalAccount": ["123456789012"]}}
        }]
    }"#;

    #[test]
    fn a_policy_equals_what_aws_may_render_of_it() {
        // Key order, a single Statement object, single strings for one-element lists, values
        // of a list in another order, a bare account ID for its root, condition values as text.
        let rendered = r#"{"Statement":{"Condition":{"StringEquals":{"aws:PrincipalAccount":"123456789012"}},"Resource":["*"],"Action":"secretsmanager:GetSecretValue","Principal":{"AWS":"arn:aws:iam::123456789012:role/agent"},"Effect":"Allow","Sid":"AgentRole"},"Version":"2012-10-17"}"#;
        assert!(same_policy(DECLARED, rendered));
        assert!(same_policy(rendered, DECLARED));
        let two = |a: &str, b: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":["{a}","{b}"]}},"Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"*"}}]}}"#
            )
        };
        assert!(same_policy(
            &two("arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:role/x"),
            &two("arn:aws:iam::123456789012:role/x", "123456789012")
        ));
        let statements = |first: &str, second: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{first},{second}]}}"#);
        let (allow, deny) = (
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/agent"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}"#,
            r#"{"Effect":"Deny","Principal":"*","Action":"secretsmanager:PutResourcePolicy","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false}}}"#,
        );
        assert!(same_policy(&statements(allow, deny), &statements(deny, &allow.replace("\"Resource\":\"*\"", "\"Resource\":[\"*\"]"))));
        assert!(same_policy(&statements(allow, deny), &statements(allow, &deny.replace("false", "\"false\""))));
    }

    #[test]
    fn a_policy_that_grants_anything_else_differs() {
        let changed = |from: &str, to: &str| {
            let other = DECLARED.replace(from, to);
            assert_ne!(other, DECLARED, "{from} not in the policy");
            assert!(!same_policy(DECLARED, &other), "{from} -> {to} compared equal");
        };
        changed("role/agent", "role/other");
        changed("123456789012:role", "999999999999:role");
        changed("\"Allow\"", "\"Deny\"");
        changed("secretsmanager:GetSecretValue\"]", "secretsmanager:GetSecretValue\", \"secretsmanager:PutSecretValue\"]");
        changed("\"Resource\": \"*\"", "\"NotResource\": \"*\"");
        changed("\"aws:PrincipalAccount\": [\"123456789012\"]", "\"aws:PrincipalAccount\": [\"123456789012\", \"999999999999\"]");
        changed("\"Sid\": \"AgentRole\",", "");
        changed("\"Version\": \"2012-10-17\",", "");
        changed("{\"AWS\": [\"arn:aws:iam::123456789012:role/agent\"]}", "\"*\"");
        // A second statement, even a copy with another Sid, is another policy.
        let doc: Json = serde_json::from_str(DECLARED).unwrap();
        let mut extra = doc.clone();
        let mut copy = doc["Statement"][0].clone();
        copy["Sid"] = Json::String("Another".into());
        extra["Statement"].as_array_mut().unwrap().push(copy);
        assert!(!same_policy(DECLARED, &extra.to_string()));
        // Not JSON: equal only to itself.
        assert!(same_policy("not json", " not json "));
        assert!(!same_policy("not json", DECLARED));
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

    #[test]
    fn a_declared_policy_is_validated_as_a_policy_document() {
        assert_eq!(policy_shape(DECLARED), Ok(()));
        assert_eq!(policy_shape(r#"{"Statement":{"Effect":"Allow"}}"#), Ok(()));
        for bad in [
            "",
            "not json",
            "[]",
            "\"text\"",
            r#"{"Version":"2012-10-17"}"#,
            r#"{"Statement":[]}"#,
            r#"{"Statement":"Allow"}"#,
            r#"{"Statement":[{}, 1]}"#,
        ] {
            let e = policy_shape(bad).expect_err(bad);
            assert!(e.contains("policy"), "{bad}: {e}");
        }
        let huge = format!(r#"{{"Statement":{{"Sid":"{}"}}}}"#, "x".repeat(MAX_POLICY_CHARS));
        assert!(policy_shape(&huge).unwrap_err().contains("at most"));
        assert_eq!(policy_validator()(&Value::Null), Ok(()));
    }
}
