//! Finders and deleters of things, policies and certificates, and the policy and tag calls.

use crate::crypto::keys;
use crate::framework::Diagnostics;
use crate::policy::document;
use crate::provider::aws_error::{has_code, has_code_and_message, is_not_found};
use crate::provider::{retry, AwsClients};
use crate::resources::common::aws_failure;
use aws_sdk_iot::types::CertificateStatus;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// DetachThingPrincipal is asynchronous in AWS ("it might take several seconds for the
/// detachment to propagate"): until then DeleteCertificate and DeleteThing still see the
/// attachment. This bounds how long we wait for it.
const DETACH_PROPAGATION: Duration = Duration::from_secs(60);

/// The largest page IoT's list calls allow (pageSize / maxResults, 1 to 250): fewer calls for
/// the same list. Every list is followed to its last page with the SDK's paginator, which also
/// stops when IoT answers the same token twice.
pub(super) const PAGE_SIZE: i32 = 250;

/// What DescribeThing says about a thing.
#[derive(Clone, Debug, Default)]
pub struct Thing {
    pub arn: String,
    pub attributes: HashMap<String, String>,
}

/// What GetPolicy says about a policy.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub arn: String,
    /// The default version's document (JSON text).
    pub document: Option<String>,
}

/// What DescribeCertificate says about a certificate.
#[derive(Clone, Debug, Default)]
pub struct Certificate {
    pub status: String,
    pub pem: String,
    /// Seconds since the epoch.
    pub created: i64,
}

/// DescribeThing; `None` when there is no such thing.
pub async fn find_thing(c: &AwsClients, name: &str) -> Result<Option<Thing>, Diagnostics> {
    let found = found(c.iot.describe_thing().thing_name(name).send().await, "iot:DescribeThing", name)?;
    Ok(found.map(|out| Thing {
        arn: out.thing_arn().unwrap_or_default().to_string(),
        attributes: out.attributes().cloned().unwrap_or_default(),
    }))
}

/// GetPolicy; `None` when there is no such policy.
pub async fn find_policy(c: &AwsClients, name: &str) -> Result<Option<Policy>, Diagnostics> {
    let found = found(c.iot.get_policy().policy_name(name).send().await, "iot:GetPolicy", name)?;
    Ok(found
        .map(|out| Policy { arn: out.policy_arn().unwrap_or_default().to_string(), document: out.policy_document().map(str::to_string) }))
}

/// DescribeCertificate; `None` when there is no such certificate.
pub async fn find_certificate(c: &AwsClients, id: &str) -> Result<Option<Certificate>, Diagnostics> {
    let found = found(c.iot.describe_certificate().certificate_id(id).send().await, "iot:DescribeCertificate", id)?;
    Ok(found.map(|out| {
        let d = out.certificate_description();
        Certificate {
            status: d.and_then(|d| d.status()).map(|s| s.as_str().to_string()).unwrap_or_default(),
            pem: d.and_then(|d| d.certificate_pem()).unwrap_or_default().to_string(),
            created: d.and_then(|d| d.creation_date()).map(|t| t.secs()).unwrap_or_default(),
        }
    }))
}

/// The principals (certificate ARNs) attached to a thing, every page (ListThingPrincipals'
/// paginator); none when it is gone.
pub async fn thing_principals(c: &AwsClients, thing: &str) -> Result<Vec<String>, Diagnostics> {
    let listed = c.iot.list_thing_principals().thing_name(thing).into_paginator().page_size(PAGE_SIZE).items().send().try_collect().await;
    Ok(found(listed, "iot:ListThingPrincipals", thing)?.unwrap_or_default())
}

/// The principals (certificate ARNs) a policy is attached to, every page; none when it is gone.
pub async fn policy_targets(c: &AwsClients, policy: &str) -> Result<Vec<String>, Diagnostics> {
    Ok(targets_of_policy(c, policy).await?.unwrap_or_default())
}

/// ListTargetsForPolicy, every page (its paginator); `None` when the policy is gone.
async fn targets_of_policy(c: &AwsClients, policy: &str) -> Result<Option<Vec<String>>, Diagnostics> {
    let listed =
        c.iot.list_targets_for_policy().policy_name(policy).into_paginator().page_size(PAGE_SIZE).items().send().try_collect().await;
    found(listed, "iot:ListTargetsForPolicy", policy)
}

/// The names of the policies attached to a certificate, every page; `None` when the
/// certificate is gone.
pub async fn attached_policies(c: &AwsClients, cert_arn: &str) -> Result<Option<Vec<String>>, Diagnostics> {
    let listed = c.iot.list_attached_policies().target(cert_arn).into_paginator().page_size(PAGE_SIZE).items().send().try_collect().await;
    let found = found(listed, "iot:ListAttachedPolicies", cert_arn)?;
    Ok(found.map(|policies| policies.iter().map(|p| p.policy_name().unwrap_or_default().to_string()).collect()))
}

/// The things a certificate is attached to, every page; `None` when the certificate is gone.
pub async fn principal_things(c: &AwsClients, cert_arn: &str) -> Result<Option<Vec<String>>, Diagnostics> {
    let listed = c.iot.list_principal_things().principal(cert_arn).into_paginator().page_size(PAGE_SIZE).items().send().try_collect().await;
    found(listed, "iot:ListPrincipalThings", cert_arn)
}

/// UpdateCertificate to ACTIVE (one deactivated out of band; a REVOKED certificate cannot be
/// reactivated, and IoT's error says so).
pub async fn activate_certificate(c: &AwsClients, id: &str) -> Result<(), Diagnostics> {
    c.iot
        .update_certificate()
        .certificate_id(id)
        .new_status(CertificateStatus::Active)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_failure("iot:UpdateCertificate", id, &e))
}

/// AttachPolicy of `policy` to a certificate.
pub async fn attach_policy(c: &AwsClients, policy: &str, target: &str) -> Result<(), Diagnostics> {
    c.iot
        .attach_policy()
        .policy_name(policy)
        .target(target)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_failure("iot:AttachPolicy", &format!("{policy} to {target}"), &e))
}

/// DetachPolicy; already detached (or gone) is done.
pub async fn detach_policy(c: &AwsClients, policy: &str, target: &str) -> Result<(), Diagnostics> {
    done(c.iot.detach_policy().policy_name(policy).target(target).send().await, "iot:DetachPolicy", &format!("{policy} from {target}"))
}

/// DetachThingPrincipal; already detached (or gone) is done.
pub async fn detach_thing_principal(c: &AwsClients, thing: &str, principal: &str) -> Result<(), Diagnostics> {
    let sent = c.iot.detach_thing_principal().thing_name(thing).principal(principal).send().await;
    done(sent, "iot:DetachThingPrincipal", &format!("{principal} from {thing}"))
}

/// Detaches every policy and thing from a certificate, deactivates and deletes it. A
/// certificate already gone is fine.
pub async fn retire_certificate(c: &AwsClients, id: &str, arn: &str) -> Result<(), Diagnostics> {
    tracing::info!(certificate_id = id, "retiring certificate");
    let Some(policies) = attached_policies(c, arn).await? else { return Ok(()) };
    for name in policies {
        detach_policy(c, &name, arn).await?;
    }
    let Some(things) = principal_things(c, arn).await? else { return Ok(()) };
    for thing in things {
        detach_thing_principal(c, &thing, arn).await?;
    }
    let deactivated = c.iot.update_certificate().certificate_id(id).new_status(CertificateStatus::Inactive).send().await;
    if found(deactivated, "iot:UpdateCertificate", id)?.is_none() {
        return Ok(());
    }
    let deleted = retry::until_consistent("iot:DeleteCertificate", DETACH_PROPAGATION, is_delete_conflict, || {
        c.iot.delete_certificate().certificate_id(id).send()
    })
    .await;
    done(deleted, "iot:DeleteCertificate", id)
}

/// Detaches a policy from everything (someone may have attached it elsewhere; it is ours, and
/// DeletePolicy needs it free), deletes its non-default versions (DeletePolicy refuses while
/// there are any), then the policy. Gone is done.
pub async fn delete_policy(c: &AwsClients, name: &str) -> Result<(), Diagnostics> {
    let Some(targets) = targets_of_policy(c, name).await? else { return Ok(()) };
    for target in targets {
        detach_policy(c, name, &target).await?;
    }
    // ListPolicyVersions has no pages: a policy has at most five versions.
    let listed = found(c.iot.list_policy_versions().policy_name(name).send().await, "iot:ListPolicyVersions", name)?;
    let Some(out) = listed else { return Ok(()) };
    for v in out.policy_versions().iter().filter(|v| !v.is_default_version()) {
        delete_policy_version(c, name, v.version_id().unwrap_or_default()).await?;
    }
    let deleted = retry::until_consistent("iot:DeletePolicy", DETACH_PROPAGATION, is_delete_conflict, || {
        c.iot.delete_policy().policy_name(name).send()
    })
    .await;
    done(deleted, "iot:DeletePolicy", name)
}

/// DeletePolicyVersion; a version already gone is done.
pub async fn delete_policy_version(c: &AwsClients, name: &str, version: &str) -> Result<(), Diagnostics> {
    let sent = c.iot.delete_policy_version().policy_name(name).policy_version_id(version).send().await;
    done(sent, "iot:DeletePolicyVersion", &format!("{name} version {version}"))
}

/// Detaches every principal from a thing (they are only detached, never deleted: the caller
/// retires its own certificates first), then deletes it. Gone is done.
pub async fn delete_thing(c: &AwsClients, name: &str) -> Result<(), Diagnostics> {
    for principal in thing_principals(c, name).await? {
        detach_thing_principal(c, name, &principal).await?;
    }
    let deleted = retry::until_consistent("iot:DeleteThing", DETACH_PROPAGATION, is_thing_still_attached, || {
        c.iot.delete_thing().thing_name(name).send()
    })
    .await;
    done(deleted, "iot:DeleteThing", name)
}
/// Whether every principal (a certificate ARN) certifies the key `spki`: attachments that an
/// unfinished create of ours made, since only our CSR carries that key.
pub async fn all_certify_key(c: &AwsClients, principals: &[String], spki: &[u8]) -> Result<bool, Diagnostics> {
    for principal in principals {
        let Some(id) = principal.rsplit_once(":cert/").map(|(_, id)| id) else { return Ok(false) };
        let Some(cert) = find_certificate(c, id).await? else { return Ok(false) };
        if keys::cert_public_key_spki(&cert.pem).ok().as_deref() != Some(spki) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// ListPolicies, every page (its paginator): the names of the account's IoT policies in this
/// region.
pub async fn list_policy_names(c: &AwsClients) -> Result<Vec<String>, Diagnostics> {
    let listed = c.iot.list_policies().into_paginator().page_size(PAGE_SIZE).items().send().try_collect().await;
    let policies = listed.map_err(|e| aws_failure("iot:ListPolicies", "the account", &e))?;
    Ok(policies.iter().filter_map(|p| p.policy_name().map(str::to_string)).collect())
}

/// AWS keeps at most five versions of an IoT policy.
const MAX_POLICY_VERSIONS: usize = 5;

/// CreatePolicy; a policy of that name that grants exactly `doc` and is attached to nothing
/// (or, with `key_spki`, only to certificates of that key, which an unfinished create of ours
/// attached) is adopted. `Ok(Err(why))` when one exists that is not ours to adopt, for the
/// caller to explain.
pub async fn create_policy(
    c: &AwsClients,
    name: &str,
    doc: &serde_json::Value,
    tags: &BTreeMap<String, String>,
    key_spki: Option<&[u8]>,
) -> Result<Result<String, &'static str>, Diagnostics> {
    let created = c.iot.create_policy().policy_name(name).policy_document(doc.to_string()).set_tags(iot_tags(tags)).send().await;
    let e = match created {
        Ok(out) => return Ok(Ok(out.policy_arn().unwrap_or_default().to_string())),
        Err(e) if has_code(&e, "ResourceAlreadyExistsException") => e,
        Err(e) => return Err(aws_failure("iot:CreatePolicy", name, &e)),
    };
    // Gone again between the two calls: report the refusal we had.
    let Some(found) = find_policy(c, name).await? else { return Err(aws_failure("iot:CreatePolicy", name, &e)) };
    let same = found
        .document
        .as_deref()
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .is_some_and(|d| document::equivalent(&d, doc));
    let Some(targets) = targets_of_policy(c, name).await? else { return Err(aws_failure("iot:CreatePolicy", name, &e)) };
    let targets_ours = match key_spki {
        _ if targets.is_empty() => true,
        Some(spki) => all_certify_key(c, &targets, spki).await?,
        None => false,
    };
    if !same || !targets_ours {
        return Ok(Err(if same { "is attached to other principals" } else { "grants something else" }));
    }
    tracing::info!(policy = %name, "adopting an identical, unattached policy");
    update_tags(c, &found.arn, &tags_of(c, &found.arn).await?, tags).await?;
    Ok(Ok(found.arn))
}

fn iot_tags(tags: &BTreeMap<String, String>) -> Option<Vec<aws_sdk_iot::types::Tag>> {
    (!tags.is_empty()).then(|| tags.iter().filter_map(|(k, v)| aws_sdk_iot::types::Tag::builder().key(k).value(v).build().ok()).collect())
}

/// ListTagsForResource, every page (its paginator): the tags of an IoT policy (the taggable IoT
/// object this provider makes; things are not taggable, they have attributes); none when the
/// policy is gone.
pub async fn tags_of(c: &AwsClients, arn: &str) -> Result<BTreeMap<String, String>, Diagnostics> {
    let listed = c.iot.list_tags_for_resource().resource_arn(arn).into_paginator().items().send().try_collect().await;
    let tags = found(listed, "iot:ListTagsForResource", arn)?.unwrap_or_default();
    Ok(tags.iter().map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string())).collect())
}

/// Brings an IoT policy's tags from `old` to `new` (UntagResource, then TagResource).
pub async fn update_tags(
    c: &AwsClients,
    arn: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Result<(), Diagnostics> {
    let (upsert, remove) = crate::resources::common::tag_changes(old, new);
    if !remove.is_empty() {
        c.iot
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(remove))
            .send()
            .await
            .map_err(|e| aws_failure("iot:UntagResource", arn, &e))?;
    }
    if let Some(tags) = iot_tags(&upsert) {
        c.iot.tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await.map_err(|e| aws_failure("iot:TagResource", arn, &e))?;
    }
    Ok(())
}

/// Writes `doc` as the policy's new default version, first deleting the oldest non-default
/// version when the policy already has the five AWS allows.
pub async fn put_policy_version(c: &AwsClients, name: &str, doc: &serde_json::Value) -> Result<(), Diagnostics> {
    // ListPolicyVersions has no pages: a policy has at most five versions.
    let listed =
        c.iot.list_policy_versions().policy_name(name).send().await.map_err(|e| aws_failure("iot:ListPolicyVersions", name, &e))?;
    let mut old: Vec<_> = listed.policy_versions().iter().filter(|v| !v.is_default_version()).collect();
    if listed.policy_versions().len() >= MAX_POLICY_VERSIONS {
        old.sort_by_key(|v| (v.create_date().map(|d| d.secs()), v.version_id().and_then(|id| id.parse::<u64>().ok())));
        if let Some(oldest) = old.first().and_then(|v| v.version_id()) {
            delete_policy_version(c, name, oldest).await?;
        }
    }
    c.iot
        .create_policy_version()
        .policy_name(name)
        .policy_document(doc.to_string())
        .set_as_default(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_failure("iot:CreatePolicyVersion", name, &e))
}

/// The `iot:Data-ATS` endpoint host of the account and region.
pub async fn data_ats_endpoint(c: &AwsClients) -> Result<String, Diagnostics> {
    let host = c
        .iot_data_endpoint
        .get_or_try_init(|| async {
            let out = c.iot.describe_endpoint().endpoint_type("iot:Data-ATS").send().await.map_err(|e| {
                aws_failure("iot:DescribeEndpoint", &format!("the iot:Data-ATS endpoint of account {} in {}", c.account_id, c.region), &e)
            })?;
            Ok::<_, Diagnostics>(out.endpoint_address().unwrap_or_default().to_string())
        })
        .await?;
    Ok(host.clone())
}

/// An answer in which "not found" means there is nothing: `Ok(None)`.
fn found<T, E>(
    answer: Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>,
    action: &str,
    object: &str,
) -> Result<Option<T>, Diagnostics>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(aws_failure(action, object, &e)),
    }
}

/// A delete's or a detach's answer: "not found" means already done.
fn done<T, E>(answer: Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>, action: &str, object: &str) -> Result<(), Diagnostics>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    found(answer, action, object).map(|_| ())
}

fn is_delete_conflict<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    has_code(e, "DeleteConflictException")
}

/// DeleteThing's answer while a principal is still attached (also during detach propagation).
fn is_thing_still_attached<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    has_code_and_message(e, "InvalidRequestException", "attached")
}
