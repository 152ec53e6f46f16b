//! The Secrets Manager calls the management-account resources share: `maestro_agent_key` owns
//! the credential secret and stages keys in it, `maestro_agent_identity` promotes complete
//! bundles in it and owns the config secret.
//!
//! Secret values only ever pass through here as [`SecretString`]s, and are never logged: the
//! SDK's own `Debug` for them is redacted, and our log lines name versions, never contents.

use super::custody;
use crate::crypto::{CredentialBundle, SecretString};
use crate::framework::{AttributePath, Diagnostic, Diagnostics};
use crate::provider::{aws_error, AwsClients};
use crate::resources::common::aws_failure;
use std::collections::BTreeMap;

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPENDING: &str = "AWSPENDING";
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// What DescribeSecret says about a secret, in the shape the resources need.
#[derive(Clone, Debug, Default)]
pub struct SecretInfo {
    pub arn: String,
    pub name: String,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Set when the secret is scheduled for deletion: it still exists, but cannot be read or
    /// written, and its name cannot be reused until it is restored.
    pub scheduled_for_deletion: bool,
    /// Version ID → staging labels.
    pub versions: BTreeMap<String, Vec<String>>,
    /// Regions this secret is replicated to (each replica holds every version).
    pub replica_regions: Vec<String>,
    /// Set when this secret is itself a replica of one in that region.
    pub primary_region: Option<String>,
}

impl SecretInfo {
    /// The version carrying `stage`, if any.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions.iter().find(|(_, stages)| stages.iter().any(|s| s == stage)).map(|(id, _)| id.as_str())
    }

    pub fn has_stage(&self, version_id: &str, stage: &str) -> bool {
        self.versions.get(version_id).is_some_and(|stages| stages.iter().any(|s| s == stage))
    }
}

/// DescribeSecret; `None` when there is no such secret.
pub async fn describe(c: &AwsClients, secret_id: &str) -> Result<Option<SecretInfo>, Diagnostics> {
    let out = match c.secretsmanager.describe_secret().secret_id(secret_id).send().await {
        Ok(out) => out,
        Err(e) if aws_error::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(aws_failure("secretsmanager:DescribeSecret", secret_id, &e)),
    };
    Ok(Some(SecretInfo {
        arn: out.arn().unwrap_or_default().to_string(),
        name: out.name().unwrap_or_default().to_string(),
        description: out.description().map(str::to_string),
        // The AWS-managed key is what "no key" means: AWS omits it, or names its alias after an
        // UpdateSecret back to it; either way it is reported as none.
        kms_key_id: out
            .kms_key_id()
            .filter(|k| *k != "alias/aws/secretsmanager" && !k.ends_with(":alias/aws/secretsmanager"))
            .map(str::to_string),
        tags: out.tags().iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())).collect(),
        scheduled_for_deletion: out.deleted_date().is_some(),
        versions: out.version_ids_to_stages().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default(),
        replica_regions: out.replication_status().iter().filter_map(|r| r.region().map(str::to_string)).collect(),
        // DescribeSecret of a primary secret may name its own region as PrimaryRegion.
        primary_region: out.primary_region().filter(|r| *r != c.region).map(str::to_string),
    }))
}

/// The value of one version; `None` when the version (or the secret) is gone.
pub async fn get_version(c: &AwsClients, secret_id: &str, version_id: &str) -> Result<Option<SecretString>, Diagnostics> {
    Ok(get_dated_version(c, secret_id, version_id).await?.map(|v| v.value))
}

/// One version's value and when Secrets Manager made it.
pub struct DatedVersion {
    pub value: SecretString,
    /// GetSecretValue's CreatedDate, in seconds since the epoch (0 when AWS gave none).
    pub created: i64,
}

/// As [`get_version`], with the version's creation time.
pub async fn get_dated_version(c: &AwsClients, secret_id: &str, version_id: &str) -> Result<Option<DatedVersion>, Diagnostics> {
    match c.secretsmanager.get_secret_value().secret_id(secret_id).version_id(version_id).send().await {
        Ok(out) => {
            let created = out.created_date().map_or(0, |d| d.secs());
            Ok(out.secret_string.map(|s| DatedVersion { value: SecretString::new(s), created }))
        }
        Err(e) if aws_error::is_not_found(&e) => Ok(None),
        Err(e) => Err(aws_failure("secretsmanager:GetSecretValue", &format!("{secret_id} version {version_id}"), &e)),
    }
}

/// When version `version_id` was made (RFC 3339), from ListSecretVersionIds followed page by
/// page; `None` when the secret has no such version.
pub async fn version_created(c: &AwsClients, secret_id: &str, version_id: &str) -> Result<Option<String>, Diagnostics> {
    let mut pages = c.secretsmanager.list_secret_version_ids().secret_id(secret_id).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_failure("secretsmanager:ListSecretVersionIds", secret_id, &e))?;
        if let Some(v) = page.versions().iter().find(|v| v.version_id() == Some(version_id)) {
            return Ok(v.created_date().and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok()));
        }
    }
    Ok(None)
}

/// The value with a staging label; `None` when no version carries it.
pub async fn get_stage(c: &AwsClients, secret_id: &str, stage: &str) -> Result<Option<(String, SecretString)>, Diagnostics> {
    match c.secretsmanager.get_secret_value().secret_id(secret_id).version_stage(stage).send().await {
        Ok(out) => {
            let version = out.version_id().unwrap_or_default().to_string();
            Ok(out.secret_string.map(|s| (version, SecretString::new(s))))
        }
        Err(e) if aws_error::is_not_found(&e) => Ok(None),
        Err(e) => Err(aws_failure("secretsmanager:GetSecretValue", &format!("{secret_id} ({stage})"), &e)),
    }
}

/// As [`get_stage`], for a refresh that needs only the value: a secret scheduled for deletion
/// (GetSecretValue's InvalidRequestException, whose only cause for this call is that) reads as
/// gone, so one call answers both "is it there" and "what does it hold" — no DescribeSecret.
pub async fn get_live_stage(c: &AwsClients, secret_id: &str, stage: &str) -> Result<Option<(String, SecretString)>, Diagnostics> {
    match c.secretsmanager.get_secret_value().secret_id(secret_id).version_stage(stage).send().await {
        Ok(out) => {
            let version = out.version_id().unwrap_or_default().to_string();
            Ok(out.secret_string.map(|s| (version, SecretString::new(s))))
        }
        Err(e) if aws_error::is_not_found(&e) || aws_error::code(&e) == Some("InvalidRequestException") => Ok(None),
        Err(e) => Err(aws_failure("secretsmanager:GetSecretValue", &format!("{secret_id} ({stage})"), &e)),
    }
}

/// PutSecretValue. `stages` empty means AWS's default (AWSCURRENT, which demotes the old
/// current version to AWSPREVIOUS). A `token` makes a retry of the same write a no-op instead
/// of a second version. Returns the version ID.
pub async fn put(
    c: &AwsClients,
    secret_id: &str,
    value: &SecretString,
    stages: &[&str],
    token: Option<String>,
) -> Result<String, Diagnostics> {
    let stages = (!stages.is_empty()).then(|| stages.iter().map(|s| s.to_string()).collect());
    c.secretsmanager
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(value.expose())
        .set_version_stages(stages)
        .set_client_request_token(token)
        .send()
        .await
        .map(|out| out.version_id().unwrap_or_default().to_string())
        .map_err(|e| aws_failure("secretsmanager:PutSecretValue", secret_id, &e))
}

/// Takes `stage` off `version_id` (a promoted key-only version loses AWSPENDING).
pub async fn remove_stage(c: &AwsClients, secret_id: &str, stage: &str, version_id: &str) -> Result<(), Diagnostics> {
    c.secretsmanager
        .update_secret_version_stage()
        .secret_id(secret_id)
        .version_stage(stage)
        .remove_from_version_id(version_id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_failure("secretsmanager:UpdateSecretVersionStage", &format!("{stage} of {secret_id}"), &e))
}

/// Moves `stage` to `version_id` from the version that has it, if any (for AWSCURRENT, AWS
/// then gives AWSPREVIOUS to the version it came from).
pub async fn move_stage(c: &AwsClients, secret_id: &str, stage: &str, version_id: &str, from: Option<&str>) -> Result<(), Diagnostics> {
    c.secretsmanager
        .update_secret_version_stage()
        .secret_id(secret_id)
        .version_stage(stage)
        .move_to_version_id(version_id)
        .set_remove_from_version_id(from.map(str::to_string))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_failure("secretsmanager:UpdateSecretVersionStage", &format!("{stage} of {secret_id}"), &e))
}

/// How a secret is deleted: scheduled with a recovery window unless force was asked for.
#[derive(Clone, Copy, Debug)]
pub struct Deletion {
    pub recovery_window_days: i64,
    pub force: bool,
}

/// Secrets Manager's own default recovery window is 30 days; ours is its shortest.
pub const DEFAULT_RECOVERY_WINDOW_DAYS: i64 = 7;

impl Deletion {
    /// From a resource's `recovery_window_in_days` and, where it has one,
    /// `force_delete_without_recovery`.
    pub fn from_state(state: &crate::framework::Value) -> Deletion {
        Deletion {
            recovery_window_days: state.get("recovery_window_in_days").as_i64().unwrap_or(DEFAULT_RECOVERY_WINDOW_DAYS),
            force: state.get("force_delete_without_recovery").as_bool().unwrap_or(false),
        }
    }
}

/// DeleteSecret; a secret already gone or already scheduled for deletion is fine.
pub async fn delete(c: &AwsClients, secret_id: &str, how: Deletion) -> Diagnostics {
    let req = c.secretsmanager.delete_secret().secret_id(secret_id);
    let req = if how.force { req.force_delete_without_recovery(true) } else { req.recovery_window_in_days(how.recovery_window_days) };
    match req.send().await {
        Ok(_) => Diagnostics::new(),
        Err(e) if aws_error::is_not_found(&e) => Diagnostics::new(),
        // A secret already pending deletion (a retry after the answer to our own DeleteSecret
        // was lost) is refused with InvalidRequestException ("... currently marked deleted"):
        // asked rather than read from the message, which AWS words in more than one way.
        Err(e) if aws_error::has_code(&e, "InvalidRequestException") => match describe(c, secret_id).await {
            Ok(Some(info)) if info.scheduled_for_deletion => Diagnostics::new(),
            Ok(None) => Diagnostics::new(),
            Ok(Some(_)) => aws_failure("secretsmanager:DeleteSecret", secret_id, &e),
            Err(d) => d,
        },
        Err(e) => aws_failure("secretsmanager:DeleteSecret", secret_id, &e),
    }
}

/// Undoes a scheduled deletion (a secret deleted out of band that the resource re-creates: its
/// name cannot be reused until the deletion is undone or completes).
pub async fn restore(c: &AwsClients, secret_id: &str) -> Result<(), Diagnostics> {
    c.secretsmanager
        .restore_secret()
        .secret_id(secret_id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_failure("secretsmanager:RestoreSecret", secret_id, &e))
}

/// UpdateSecret of the KMS key: Secrets Manager re-encrypts the current version with it.
/// `None` goes back to the account's AWS-managed key.
pub async fn update_kms_key(c: &AwsClients, secret_id: &str, kms_key_id: Option<&str>) -> Result<(), Diagnostics> {
    c.secretsmanager
        .update_secret()
        .secret_id(secret_id)
        .kms_key_id(kms_key_id.unwrap_or("alias/aws/secretsmanager"))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_failure("secretsmanager:UpdateSecret", secret_id, &e))
}

pub fn tags(map: &BTreeMap<String, String>) -> Option<Vec<aws_sdk_secretsmanager::types::Tag>> {
    (!map.is_empty()).then(|| map.iter().map(|(k, v)| aws_sdk_secretsmanager::types::Tag::builder().key(k).value(v).build()).collect())
}

/// Brings the secret's tags from `old` to `new`.
pub async fn update_tags(
    c: &AwsClients,
    secret_id: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Result<(), Diagnostics> {
    let (upsert, remove) = crate::resources::common::tag_changes(old, new);
    if !remove.is_empty() {
        c.secretsmanager
            .untag_resource()
            .secret_id(secret_id)
            .set_tag_keys(Some(remove))
            .send()
            .await
            .map_err(|e| aws_failure("secretsmanager:UntagResource", secret_id, &e))?;
    }
    if !upsert.is_empty() {
        c.secretsmanager
            .tag_resource()
            .secret_id(secret_id)
            .set_tags(tags(&upsert))
            .send()
            .await
            .map_err(|e| aws_failure("secretsmanager:TagResource", secret_id, &e))?;
    }
    Ok(())
}

/// A ClientRequestToken derived from what is being written, so re-running the same write (a
/// retried apply after a crash) finds the version it already made. UUID-shaped: Secrets Manager
/// wants 32 to 64 characters.
pub fn derived_token(parts: &[&str]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p.as_bytes());
        ctx.update(&[0]);
    }
    let d = ctx.finish();
    let h: String = d.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A secret to create (or to take back: see [`create_or_adopt`]).
pub struct NewSecret<'a> {
    pub name: &'a str,
    /// Written by this provider and naming whose secret it is. For a secret that holds no
    /// key, a secret with exactly this description is ours to adopt after a lost answer; a
    /// key-bearing one is adopted only on proof (`key`).
    pub description: String,
    pub value: &'a SecretString,
    pub kms_key_id: Option<&'a str>,
    pub tags: &'a BTreeMap<String, String>,
    /// The argument naming the secret, for the error when the name is taken.
    pub attribute: &'static str,
    /// The staging labels `value` takes in a secret that is adopted or restored; empty means
    /// AWSCURRENT. (A new secret's first version is always AWSCURRENT.)
    pub adopted_stages: &'a [&'a str],
    /// Set when `value` is a private key's bundle: the secret is then created with the key's
    /// proof as its version ID, and an existing one is written to only when a version of it
    /// carries the proof for `owner` and it passes the custody check.
    pub key: Option<KeyBearing<'a>>,
    /// The resource policy the owner declares for a key-bearing secret: put on it right after
    /// CreateSecret, and on a secret taken back before `value` is written (see
    /// [`create_or_adopt`]). [`custody::SecretPolicy::NONE`] for every other secret.
    pub policy: custody::SecretPolicy<'a>,
}

/// The key a [`NewSecret`] carries and the resource it is for.
pub struct KeyBearing<'a> {
    pub bundle: &'a CredentialBundle,
    /// The cluster ID of an agent, the name of a server.
    pub owner: &'a str,
}

/// What [`create_or_adopt`] wrote.
pub struct Written {
    pub arn: String,
    pub version: String,
    /// The secret existed (ours): the version carries `adopted_stages`.
    pub adopted: bool,
}

/// CreateSecret with `value` as its current version. A secret of that name that this
/// provider made for the same resource (a create whose answer was lost, retried) is taken back
/// and `value` takes `adopted_stages`: for a key-bearing secret only on proof and in custody
/// (see `custody`), and never when it is scheduled for deletion (it cannot be read for the
/// proof; the user restores it, or a resource that recorded its ARN does). Any other secret of
/// that name is an error pinned to `attribute`.
///
/// A declared resource policy (`policy`) is put right after CreateSecret, which cannot take
/// one, so the key is the new secret's first version before the policy is on it. That is the
/// order on purpose: custody asks that a key never sit in a secret whose policy is anything
/// but none or the declared one, and a secret this call has just created has none (no one can
/// put a policy on a secret before it exists), so the key is in custody from its first byte,
/// readable meanwhile only by principals whose own IAM policies grant it, as every secret
/// without the option is. The other order (an empty or placeholder secret, the policy, then
/// the key) leaves, when the apply is cut short in between, a secret with no version carrying
/// the proof, which no later apply may take back (adoption is on proof only); this order
/// leaves a proven secret that the next apply takes back, puts the policy on, and stages its
/// key in. A policy meant to narrow access further (a Deny for all but the workload) covers
/// the secret from the end of the create, not from its first version.
pub async fn create_or_adopt(c: &AwsClients, s: &NewSecret<'_>) -> Result<Written, Diagnostics> {
    let token = s.key.as_ref().map(|k| custody::proof_token(k.bundle, s.name, k.owner));
    let mut attempt = 0;
    loop {
        let created = c
            .secretsmanager
            .create_secret()
            .name(s.name)
            .description(&s.description)
            .secret_string(s.value.expose())
            .set_kms_key_id(s.kms_key_id.map(str::to_string))
            .set_tags(tags(s.tags))
            .set_client_request_token(token.clone())
            .send()
            .await;
        // A secret deleted without recovery frees its name a few seconds later: CreateSecret
        // still refuses the name while DescribeSecret no longer finds it.
        if let Err(e) = &created {
            if aws_error::has_code(e, "InvalidRequestException") && attempt < NAME_RELEASE_ATTEMPTS && describe(c, s.name).await?.is_none()
            {
                attempt += 1;
                if !crate::provider::retry::sleep_unless_stopped(crate::provider::retry::jittered(std::time::Duration::from_secs(2))).await
                {
                    return Err(aws_failure("secretsmanager:CreateSecret", s.name, e));
                }
                continue;
            }
        }
        return created_or_existing(c, s, created, token).await;
    }
}

/// How many times CreateSecret is sent again while a force-deleted secret's name is released.
const NAME_RELEASE_ATTEMPTS: u32 = 5;

async fn created_or_existing(
    c: &AwsClients,
    s: &NewSecret<'_>,
    created: Result<
        aws_sdk_secretsmanager::operation::create_secret::CreateSecretOutput,
        aws_sdk_secretsmanager::error::SdkError<aws_sdk_secretsmanager::operation::create_secret::CreateSecretError>,
    >,
    token: Option<String>,
) -> Result<Written, Diagnostics> {
    match created {
        Ok(out) => {
            let arn = out.arn().unwrap_or_default().to_string();
            // Right after the create, before anything else (see `create_or_adopt`). When AWS
            // refuses the policy (BlockPublicPolicy, a malformed document), the secret just made
            // (its ARN is from our own create) is deleted at once, so a configuration whose
            // policy can never be put leaves no key behind; should that fail too, the secret
            // holds the proof and no policy, and the next apply takes it back.
            if let (Some(declared), true) = (s.policy.declared, s.policy.owner) {
                if let Err(refused) = custody::put_policy(c, &arn, declared, s.policy.attribute).await {
                    let gone = delete(c, &arn, Deletion { recovery_window_days: DEFAULT_RECOVERY_WINDOW_DAYS, force: true }).await;
                    if gone.has_errors() {
                        tracing::warn!(secret = %s.name, "could not delete the secret whose declared policy was refused");
                    }
                    return Err(refused);
                }
            }
            Ok(Written { arn, version: out.version_id().unwrap_or_default().to_string(), adopted: false })
        }
        Err(e) if aws_error::has_code(&e, "ResourceExistsException") || aws_error::has_code(&e, "InvalidRequestException") => {
            let info = describe(c, s.name).await?.unwrap_or_default();
            let Some(key) = &s.key else {
                if info.scheduled_for_deletion {
                    tracing::info!(secret = %s.name, "restoring the secret, which was scheduled for deletion");
                    restore(c, &info.arn).await?;
                } else if info.description.as_deref() != Some(s.description.as_str()) {
                    return Err(name_taken(c, s, &info, "was not written by this provider for this resource").into());
                }
                return adopt(c, s, &info, None).await;
            };
            if info.scheduled_for_deletion {
                return Err(scheduled_for_deletion(
                    s.name,
                    "A secret scheduled for deletion cannot be read, so nothing proves it is this resource's, and the provider writes no key into it. If it is, restore it (aws secretsmanager restore-secret) and apply again; otherwise wait for the deletion, or choose another name.",
                )
                .at(AttributePath::root(s.attribute))
                .into());
            }
            if !custody::proven_for(c, &info, key.owner).await? {
                return Err(name_taken(c, s, &info, &format!("carries no proof that this provider wrote it for {}", key.owner)).into());
            }
            tracing::info!(secret = %s.name, "taking back the secret this provider created for the resource (proof found)");
            adopt(c, s, &info, token).await
        }
        Err(e) => Err(aws_failure("secretsmanager:CreateSecret", s.name, &e)),
    }
}

/// Brings an existing secret of ours to the configuration and writes `value` into it; a
/// key-bearing value only once the secret passes the custody check (a policy other than none
/// or the declared one refuses it) and the declared policy is on it.
async fn adopt(c: &AwsClients, s: &NewSecret<'_>, info: &SecretInfo, token: Option<String>) -> Result<Written, Diagnostics> {
    if s.kms_key_id.is_some() && info.kms_key_id.as_deref() != s.kms_key_id {
        update_kms_key(c, &info.arn, s.kms_key_id).await?;
    }
    update_tags(c, &info.arn, &info.tags, s.tags).await?;
    if s.key.is_some() {
        let now = describe(c, &info.arn).await?.unwrap_or_else(|| info.clone());
        let found = custody::check(c, &now, s.kms_key_id, s.policy, s.attribute, custody::BEFORE_WRITE).await?;
        custody::put_declared(c, &now, found.as_deref(), s.policy).await?;
    }
    let version = put(c, &info.arn, s.value, s.adopted_stages, token).await?;
    Ok(Written { arn: info.arn.clone(), version, adopted: true })
}

/// The error for a name taken by a secret that is not this resource's. It never advises an
/// import: importing a secret that is not provably this resource's would hand it its key.
fn name_taken(c: &AwsClients, s: &NewSecret<'_>, info: &SecretInfo, why: &str) -> Diagnostic {
    let described = info.description.as_deref().map(|d| format!(" Its description reads \"{d}\".")).unwrap_or_default();
    Diagnostic::error(
        "Secret already exists",
        format!(
            "Secret {} already exists in account {} and {why}.{described} Choose another {}, or delete that secret if it is abandoned.",
            s.name, c.account_id, s.attribute
        ),
    )
    .at(AttributePath::root(s.attribute))
}

/// The error for a secret that a resource expects but that is scheduled for deletion.
pub fn scheduled_for_deletion(name: &str, owner: &str) -> Diagnostic {
    Diagnostic::error(
        "Secret scheduled for deletion",
        format!("Secret {name} is scheduled for deletion, so it cannot be read or written. {owner}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_tokens_are_uuid_shaped_and_depend_on_every_part() {
        let t = derived_token(&["v1", "abc"]);
        assert_eq!(t.len(), 36);
        assert_eq!(t.matches('-').count(), 4);
        assert_eq!(t, derived_token(&["v1", "abc"]));
        assert_ne!(t, derived_token(&["v1", "abd"]));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(derived_token(&["ab", "c"]), derived_token(&["a", "bc"]));
    }

    #[test]
    fn version_lookup_by_stage() {
        let info = SecretInfo {
            versions: [("a".to_string(), vec![AWSPREVIOUS.to_string()]), ("b".to_string(), vec![AWSCURRENT.into(), AWSPENDING.into()])]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        assert_eq!(info.version_with(AWSCURRENT), Some("b"));
        assert_eq!(info.version_with(AWSPENDING), Some("b"));
        assert!(info.has_stage("a", AWSPREVIOUS));
        assert!(!info.has_stage("a", AWSCURRENT));
        assert_eq!(info.version_with("nope"), None);
    }
}
