//! The Secrets Manager calls themselves: describe, read, put, stage, delete, restore, tag.

use crate::crypto::SecretString;
use crate::framework::Diagnostics;
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
