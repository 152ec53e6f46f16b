//! CreateSecret, or taking back a secret of ours whose create answer was lost: a key-bearing
//! secret only on proof and after the custody check, any other only on its exact description.

use super::calls::{delete, describe, put, restore, tags, update_kms_key, update_tags, Deletion, SecretInfo, DEFAULT_RECOVERY_WINDOW_DAYS};
use crate::crypto::{CredentialBundle, SecretString};
use crate::framework::{AttributePath, Diagnostic, Diagnostics};
use crate::provider::{aws_error, AwsClients};
use crate::resources::aws::custody;
use crate::resources::common::aws_failure;
use std::collections::BTreeMap;

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
