//! Finders and deleters for iot objects (see the module above): things, policies and
//! certificates. Deletes detach what they must first, and treat "already gone" as done.

use crate::framework::Diagnostics;
use crate::provider::aws_error::{has_code, has_code_and_message, is_not_found};
use crate::provider::{retry, AwsClients};
use crate::resources::common::aws_failure;
use aws_sdk_iot::types::CertificateStatus;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::collections::HashMap;
use std::time::Duration;

/// DetachThingPrincipal is asynchronous in AWS ("it might take several seconds for the
/// detachment to propagate"): until then DeleteCertificate and DeleteThing still see the
/// attachment. This bounds how long we wait for it.
const DETACH_PROPAGATION: Duration = Duration::from_secs(60);

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

/// The principals (certificate ARNs) attached to a thing, every page; none when it is gone.
pub async fn thing_principals(c: &AwsClients, thing: &str) -> Result<Vec<String>, Diagnostics> {
    let mut principals = Vec::new();
    let mut token = None;
    loop {
        let listed = c.iot.list_thing_principals().thing_name(thing).set_next_token(token).send().await;
        let Some(out) = found(listed, "iot:ListThingPrincipals", thing)? else { return Ok(principals) };
        principals.extend(out.principals().iter().cloned());
        token = out.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        if token.is_none() {
            return Ok(principals);
        }
    }
}

/// The names of the policies attached to a certificate; `None` when the certificate is gone.
pub async fn attached_policies(c: &AwsClients, cert_arn: &str) -> Result<Option<Vec<String>>, Diagnostics> {
    let found = found(c.iot.list_attached_policies().target(cert_arn).send().await, "iot:ListAttachedPolicies", cert_arn)?;
    Ok(found.map(|out| out.policies().iter().map(|p| p.policy_name().unwrap_or_default().to_string()).collect()))
}

/// The things a certificate is attached to; `None` when the certificate is gone.
pub async fn principal_things(c: &AwsClients, cert_arn: &str) -> Result<Option<Vec<String>>, Diagnostics> {
    let found = found(c.iot.list_principal_things().principal(cert_arn).send().await, "iot:ListPrincipalThings", cert_arn)?;
    Ok(found.map(|out| out.things().to_vec()))
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
    let listed = found(c.iot.list_targets_for_policy().policy_name(name).send().await, "iot:ListTargetsForPolicy", name)?;
    let Some(targets) = listed.map(|out| out.targets().to_vec()) else { return Ok(()) };
    for target in targets {
        detach_policy(c, name, &target).await?;
    }
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

/// The `iot:Data-ATS` endpoint host of the account and region.
pub async fn data_ats_endpoint(c: &AwsClients) -> Result<String, Diagnostics> {
    let out = c.iot.describe_endpoint().endpoint_type("iot:Data-ATS").send().await.map_err(|e| {
        aws_failure("iot:DescribeEndpoint", &format!("the iot:Data-ATS endpoint of account {} in {}", c.account_id, c.region), &e)
    })?;
    Ok(out.endpoint_address().unwrap_or_default().to_string())
}

/// An answer in which "not found" means there is nothing: `Ok(None)`.
fn found<T, E, R>(answer: Result<T, SdkError<E, R>>, action: &str, object: &str) -> Result<Option<T>, Diagnostics>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(aws_failure(action, object, &e)),
    }
}

/// A delete's or a detach's answer: "not found" means already done.
fn done<T, E, R>(answer: Result<T, SdkError<E, R>>, action: &str, object: &str) -> Result<(), Diagnostics>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
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
