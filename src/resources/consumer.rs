//! `maestro_consumer` (regional account): one Maestro consumer's side of the IoT broker — the
//! IoT thing, the least-privilege IoT policy and the agent's certificate, issued from the
//! agent's CSR so that no private key ever reaches this account. All names, topics and the
//! policy document come from `crate::policy`, the same source `maestro_agent_identity` uses.
//!
//! Tags: AWS IoT policies are taggable, but the emulator the acceptance tests run against
//! (moto 5.2.5) implements no IoT tagging API at all, so `tags` would be untestable here; the
//! resource leaves them out rather than offer an argument no test proves.

use super::common::{aws_failure, certificate_fingerprint, json_text, opt_text, set_all, text};
use crate::crypto::keys;
use crate::framework::schema::{Attribute, Block, Schema, Validator};
use crate::framework::{validators, Applied, AttributePath, Diagnostic, Diagnostics, Plan, Resource, Type, Value};
use crate::policy::agent_binding::{self, AgentBinding};
use crate::policy::{consumer_iot, document, naming};
use crate::provider::{aws_error, retry, AwsClients};
use async_trait::async_trait;
use aws_sdk_iot::types::{AttributePayload, CertificateStatus};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Thing attribute naming the management account (read back on import and refresh).
const ACCOUNT_ATTRIBUTE: &str = "management_account_id";
/// Thing attribute that marks things this provider created, so a leftover thing from an
/// interrupted create can be told apart from someone else's.
const MANAGED_BY_ATTRIBUTE: &str = "managed_by";
const MANAGED_BY: &str = "terraform-provider-maestro";
const STATUS_ACTIVE: &str = "ACTIVE";
const DEFAULT_GRACE_HOURS: i64 = 24;
/// AWS keeps at most five versions of an IoT policy.
const MAX_POLICY_VERSIONS: usize = 5;
/// DetachThingPrincipal is asynchronous in AWS ("it might take several seconds for the
/// detachment to propagate"): until then DeleteCertificate and DeleteThing still see the
/// attachment. This bounds how long we wait for it.
const DETACH_PROPAGATION: Duration = Duration::from_secs(60);

/// Resource state attributes that hold the current certificate.
const CERT_ATTRIBUTES: &[&str] = &["certificate_id", "certificate_arn", "certificate_pem"];

#[derive(Default)]
pub struct Consumer {
    /// The `iot:Data-ATS` host per (account, region): it never changes, and modify_plan asks
    /// for it on every plan of every consumer.
    endpoints: Mutex<HashMap<(String, String), String>>,
}

fn consumer_id_validator() -> Validator {
    validators::rule(naming::check_consumer_name)
}

/// The `--cloudevents-client-id` whose MQTT form (`<id>-client`) the IoT policy pins.
pub(crate) fn cloudevents_client_id_attribute(whose: &str) -> Attribute {
    Attribute::string("cloudevents_client_id")
        .optional()
        .computed()
        .validate(validators::rule(naming::check_cloudevents_client_id))
        .description(&format!(
            "The agent's `--cloudevents-client-id` flag. Defaults to `<{whose}>-work-agent`, which both agent charts pass (the deployed chart hard-codes it). The agent's MQTT transport connects to IoT Core as `<cloudevents_client_id>-client`, and that exact client ID is the only one the policy allows."
        ))
}

/// Checks the CSR the way IoT will (signature, key type), so that CreateCertificateFromCsr —
/// which is not idempotent — is only ever called with input it accepts.
fn csr_validator() -> Validator {
    Arc::new(|v: &Value| match v.as_str() {
        Some(pem) => {
            keys::inspect_csr(pem).map(|_| ()).map_err(|e| format!("must be a PEM certificate signing request that AWS IoT accepts: {e}"))
        }
        None => Ok(()),
    })
}

fn non_negative_integer() -> Validator {
    Arc::new(|v: &Value| match v {
        Value::Number(n) if n.as_i64().is_some_and(|h| h >= 0) => Ok(()),
        Value::Number(n) => Err(format!("must be a whole number of hours, 0 or more, got {n}")),
        _ => Ok(()),
    })
}

fn previous_type() -> Type {
    Type::object([("certificate_id", Type::String), ("certificate_arn", Type::String), ("retire_after", Type::String)])
}

fn attachments_type() -> Type {
    Type::object([("policy", Type::Bool), ("thing", Type::Bool)])
}

fn schema() -> Schema {
    Schema::new(
        Block::new(
            "A Maestro consumer in the regional account: the agent's IoT thing, a least-privilege IoT Core policy, and the agent's client certificate issued by IoT Core from the agent's certificate signing request (the private key never leaves the management account). Configure it with the regional-account provider.",
        )
        .attribute(
            Attribute::string("consumer_id")
                .required()
                .force_new()
                .validate(consumer_id_validator())
                .description("Maestro consumer name, which is the agent's cluster ID. Names the thing `<consumer_id>-maestro-agent` and the policy `<consumer_id>-maestro-agent-policy`."),
        )
        .attribute(
            Attribute::string("csr_pem")
                .required()
                .validate(csr_validator())
                .description("The agent's PEM certificate signing request, usually `maestro_agent_key.csr_pem` (ECDSA P-256/P-384 or RSA 2048/3072). A CSR for a different public key issues a new certificate; a new CSR for the same key changes nothing in AWS."),
        )
        .attribute(
            Attribute::string("account_id")
                .required()
                .validate(validators::digits(12))
                .description("AWS account ID of the management account the agent runs in; recorded as the thing attribute `management_account_id`."),
        )
        .attribute(
            Attribute::string("topic_prefix")
                .optional()
                .computed()
                .validate(validators::rule(naming::check_topic_prefix))
                .description("MQTT topic prefix. Defaults to the provider's `topic_prefix`."),
        )
        .attribute(cloudevents_client_id_attribute("consumer_id"))
        .attribute(
            Attribute::number("certificate_grace_period_hours")
                .default(DEFAULT_GRACE_HOURS)
                .validate(non_negative_integer())
                .description("Hours a certificate replaced by a new CSR key stays ACTIVE, so the agent can switch over without a gap. An apply after that deactivates and deletes it; 0 retires it in the same apply that issues the new one."),
        )
        .attribute(Attribute::string("id").computed().description("Same as `consumer_id`."))
        .attribute(Attribute::string("thing_name").computed().description("Name of the agent's IoT thing: `<consumer_id>-maestro-agent`."))
        .attribute(Attribute::string("thing_arn").computed().keep_state_for_unknown().description("ARN of the agent's IoT thing."))
        .attribute(Attribute::string("policy_name").computed().description("Name of the agent's IoT policy: `<consumer_id>-maestro-agent-policy`."))
        .attribute(Attribute::string("policy_arn").computed().keep_state_for_unknown().description("ARN of the agent's IoT policy."))
        .attribute(
            Attribute::string("policy_document")
                .computed()
                .description("The IoT policy's default version, as AWS holds it (JSON): connect as `client_id`, subscribe to and receive `source_events_topic`, publish `agent_events_topic`."),
        )
        .attribute(Attribute::string("client_id").computed().description("MQTT client ID IoT Core sees from the agent, and the only one the policy lets connect: `<cloudevents_client_id>-client` (`<consumer_id>-work-agent-client` by default)."))
        .attribute(Attribute::string("source_events_topic").computed().description("Topic the Maestro server publishes work to and the agent subscribes to."))
        .attribute(Attribute::string("agent_events_topic").computed().description("Topic the agent publishes status to."))
        .attribute(
            Attribute::string("endpoint")
                .computed()
                .keep_state_for_unknown()
                .description("Host name of the regional account's IoT Core ATS data endpoint (`iot:Data-ATS`); the agent connects to it on port 8883."),
        )
        .attribute(Attribute::string("certificate_id").computed().keep_state_for_unknown().description("ID of the agent's current certificate."))
        .attribute(Attribute::string("certificate_arn").computed().keep_state_for_unknown().description("ARN of the agent's current certificate."))
        .attribute(
            Attribute::string("certificate_pem")
                .computed()
                .keep_state_for_unknown()
                .description("The agent's current certificate (PEM, public). Goes to `maestro_agent_identity` to complete the agent's credential secret."),
        )
        .attribute(
            Attribute::string("certificate_public_key_fingerprint")
                .computed()
                .keep_state_for_unknown()
                .description("Lowercase hex SHA-256 of the current certificate's public key (SubjectPublicKeyInfo DER), the same form as `maestro_agent_key.public_key_fingerprint`."),
        )
        .attribute(
            Attribute::string("certificate_status")
                .computed()
                .keep_state_for_unknown()
                .description("Status of the current certificate in IoT Core; `ACTIVE` after every apply, so a certificate deactivated out of band shows up as a change."),
        )
        .attribute(
            Attribute::new("certificate_attachments", attachments_type())
                .computed()
                .keep_state_for_unknown()
                .description("Whether the policy (`policy`) and the thing (`thing`) are attached to the current certificate; both true after every apply, so a detachment made out of band shows up as a change."),
        )
        .attribute(
            Attribute::new("previous_certificates", Type::list(previous_type()))
                .computed()
                .keep_state_for_unknown()
                .description("Certificates replaced by a new CSR key that are still ACTIVE during their grace period: `certificate_id`, `certificate_arn`, and `retire_after` (RFC 3339, UTC), after which an apply deactivates and deletes them."),
        ),
    )
}

/// The arguments and everything derived from them, once known.
#[derive(Clone, Debug)]
struct Spec {
    consumer_id: String,
    account_id: String,
    topic_prefix: String,
    cloudevents_client_id: String,
}

impl Spec {
    fn from_value(v: &Value) -> Spec {
        Spec {
            consumer_id: text(v, "consumer_id"),
            account_id: text(v, "account_id"),
            topic_prefix: text(v, "topic_prefix"),
            cloudevents_client_id: text(v, "cloudevents_client_id"),
        }
    }

    /// The broker is this (regional) account's IoT Core.
    fn binding(&self, c: &AwsClients) -> AgentBinding {
        AgentBinding {
            cluster_id: self.consumer_id.clone(),
            topic_prefix: self.topic_prefix.clone(),
            partition: c.partition.clone(),
            broker_region: c.region.clone(),
            broker_account_id: c.account_id.clone(),
            cloudevents_client_id: self.cloudevents_client_id.clone(),
        }
    }

    fn thing_name(&self) -> String {
        consumer_iot::agent_thing_name(&self.consumer_id)
    }

    fn policy_name(&self) -> String {
        consumer_iot::agent_iot_policy_name(&self.consumer_id)
    }

    fn policy(&self, c: &AwsClients) -> Result<serde_json::Value, consumer_iot::IotPolicyError> {
        consumer_iot::agent_iot_policy_document(&self.binding(c))
    }

    fn thing_attributes(&self) -> AttributePayload {
        AttributePayload::builder()
            .attributes(ACCOUNT_ATTRIBUTE, &self.account_id)
            .attributes(MANAGED_BY_ATTRIBUTE, MANAGED_BY)
            .merge(true)
            .build()
    }

    /// Every computed attribute that follows from the arguments alone.
    fn derived(&self, c: &AwsClients) -> Vec<(&'static str, Value)> {
        let b = self.binding(c);
        let mut out = vec![
            ("id", Value::string(&self.consumer_id)),
            ("thing_name", Value::string(self.thing_name())),
            ("policy_name", Value::string(self.policy_name())),
            ("client_id", Value::string(b.client_id())),
            ("source_events_topic", Value::string(b.source_events_topic())),
            ("agent_events_topic", Value::string(b.agent_events_topic())),
        ];
        if let Ok(doc) = self.policy(c) {
            out.push(("policy_document", json_text(&doc)));
        }
        out
    }

    fn thing_arn(&self, c: &AwsClients) -> String {
        self.binding(c).iot_arn("thing", &self.thing_name())
    }

    fn policy_arn(&self, c: &AwsClients) -> String {
        self.binding(c).iot_arn("policy", &self.policy_name())
    }
}

fn attachments(policy: bool, thing: bool) -> Value {
    Value::object([("policy", Value::Bool(policy)), ("thing", Value::Bool(thing))])
}

/// A certificate replaced by rotation and still in its grace period.
#[derive(Clone, Debug, PartialEq)]
struct Previous {
    certificate_id: String,
    certificate_arn: String,
    /// Seconds since the epoch; `None` while planned but not yet applied.
    retire_after: Option<i64>,
}

impl Previous {
    fn to_value(&self) -> Value {
        Value::object([
            ("certificate_id", Value::string(&self.certificate_id)),
            ("certificate_arn", Value::string(&self.certificate_arn)),
            ("retire_after", self.retire_after.map(|t| Value::String(rfc3339(t))).unwrap_or(Value::Unknown)),
        ])
    }
}

fn previous_list(v: &Value) -> Vec<Previous> {
    v.get("previous_certificates")
        .as_list()
        .unwrap_or_default()
        .iter()
        .map(|e| Previous {
            certificate_id: text(e, "certificate_id"),
            certificate_arn: text(e, "certificate_arn"),
            retire_after: e.get("retire_after").as_str().and_then(parse_rfc3339),
        })
        .collect()
}

fn previous_value(list: &[Previous]) -> Value {
    Value::List(list.iter().map(Previous::to_value).collect())
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

fn rfc3339(secs: i64) -> String {
    DateTime::from_secs(secs).fmt(Format::DateTime).unwrap_or_default()
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    DateTime::from_str(s, Format::DateTime).ok().map(|d| d.secs())
}

fn grace_secs(v: &Value) -> Option<i64> {
    v.get("certificate_grace_period_hours").as_i64().map(|h| h.max(0) * 3600)
}

/// The previous certificates that survive into a new state: each retires `grace` after it was
/// replaced, so a changed grace period moves every deadline with it; those already due are
/// left out (the apply then retires them).
fn surviving_previous(prior: &[Previous], old_grace: i64, new_grace: i64, now: i64) -> Vec<Previous> {
    prior
        .iter()
        .filter_map(|p| {
            let retire_after = p.retire_after? - old_grace + new_grace;
            (retire_after > now).then(|| Previous { retire_after: Some(retire_after), ..p.clone() })
        })
        .collect()
}

fn is_throttling<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> bool {
    matches!(aws_error::code(e), Some("ThrottlingException" | "TooManyRequestsException" | "Throttling" | "RequestLimitExceeded"))
}

fn is_delete_conflict<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> bool {
    aws_error::code(e) == Some("DeleteConflictException")
}

/// DeleteThing's answer while a principal is still attached (also during detach propagation).
fn is_thing_still_attached<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> bool {
    aws_error::code(e) == Some("InvalidRequestException") && aws_error::message(e).is_some_and(|m| m.contains("attached"))
}

struct Issued {
    id: String,
    arn: String,
    pem: String,
}

struct CertInfo {
    status: String,
    pem: String,
    created: i64,
}

impl Consumer {
    async fn endpoint(&self, c: &AwsClients) -> Result<String, Diagnostics> {
        let key = (c.account_id.clone(), c.region.clone());
        if let Some(host) = self.endpoints.lock().expect("endpoint cache").get(&key) {
            return Ok(host.clone());
        }
        let out = c.iot.describe_endpoint().endpoint_type("iot:Data-ATS").send().await.map_err(|e| {
            aws_failure("iot:DescribeEndpoint", &format!("the iot:Data-ATS endpoint of account {} in {}", c.account_id, c.region), &e)
        })?;
        let host = out.endpoint_address().unwrap_or_default().to_string();
        self.endpoints.lock().expect("endpoint cache").insert(key, host.clone());
        Ok(host)
    }

    /// Creates the thing, or adopts a thing of that name that this provider made and that
    /// carries no certificate (left by an interrupted create). Anything else is someone
    /// else's, or has certificates nobody tracks: refuse and point at import.
    async fn create_thing(&self, c: &AwsClients, spec: &Spec) -> Result<String, Diagnostics> {
        let name = spec.thing_name();
        // Look first: CreateThing succeeds silently when a thing with the same attributes
        // exists, which would hide certificates still attached to it.
        match c.iot.describe_thing().thing_name(&name).send().await {
            Ok(found) => {
                let ours = found.attributes().and_then(|a| a.get(MANAGED_BY_ATTRIBUTE)).map(String::as_str) == Some(MANAGED_BY);
                let principals = self.thing_principals(c, &name).await?;
                if !ours || !principals.is_empty() {
                    return Err(already_exists(
                        "IoT thing",
                        &name,
                        c,
                        spec,
                        if ours { "has certificates attached" } else { "was not created by this provider" },
                    ));
                }
                tracing::info!(thing = %name, "adopting the thing left by an interrupted create");
                c.iot
                    .update_thing()
                    .thing_name(&name)
                    .attribute_payload(spec.thing_attributes())
                    .send()
                    .await
                    .map_err(|e| aws_failure("iot:UpdateThing", &name, &e))?;
                Ok(found.thing_arn().unwrap_or_default().to_string())
            }
            Err(e) if aws_error::is_not_found(&e) => {
                let out = c
                    .iot
                    .create_thing()
                    .thing_name(&name)
                    .attribute_payload(spec.thing_attributes())
                    .send()
                    .await
                    .map_err(|e| aws_failure("iot:CreateThing", &name, &e))?;
                Ok(out.thing_arn().unwrap_or_default().to_string())
            }
            Err(e) => Err(aws_failure("iot:DescribeThing", &name, &e)),
        }
    }

    /// Creates the policy, or adopts one of that name that grants exactly our document and is
    /// attached to nothing (a create retried after its response was lost).
    async fn create_policy(&self, c: &AwsClients, spec: &Spec, doc: &serde_json::Value) -> Result<String, Diagnostics> {
        let name = spec.policy_name();
        match c.iot.create_policy().policy_name(&name).policy_document(doc.to_string()).send().await {
            Ok(out) => Ok(out.policy_arn().unwrap_or_default().to_string()),
            Err(e) if aws_error::code(&e) == Some("ResourceAlreadyExistsException") => {
                let found = c.iot.get_policy().policy_name(&name).send().await.map_err(|e| aws_failure("iot:GetPolicy", &name, &e))?;
                let same = found
                    .policy_document()
                    .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                    .is_some_and(|d| document::equivalent(&d, doc));
                let targets = c
                    .iot
                    .list_targets_for_policy()
                    .policy_name(&name)
                    .send()
                    .await
                    .map_err(|e| aws_failure("iot:ListTargetsForPolicy", &name, &e))?;
                if !same || !targets.targets().is_empty() {
                    return Err(already_exists(
                        "IoT policy",
                        &name,
                        c,
                        spec,
                        if same { "is attached to other principals" } else { "grants something else" },
                    ));
                }
                tracing::info!(policy = %name, "adopting an identical, unattached policy");
                Ok(found.policy_arn().unwrap_or_default().to_string())
            }
            Err(e) => Err(aws_failure("iot:CreatePolicy", &name, &e)),
        }
    }

    /// Writes `doc` as the new default version, first deleting the oldest non-default version
    /// when the policy already has the five AWS allows.
    async fn put_policy_version(&self, c: &AwsClients, spec: &Spec, doc: &serde_json::Value) -> Result<(), Diagnostics> {
        let name = spec.policy_name();
        let listed =
            c.iot.list_policy_versions().policy_name(&name).send().await.map_err(|e| aws_failure("iot:ListPolicyVersions", &name, &e))?;
        let mut old: Vec<_> = listed.policy_versions().iter().filter(|v| !v.is_default_version()).collect();
        if listed.policy_versions().len() >= MAX_POLICY_VERSIONS {
            old.sort_by_key(|v| (v.create_date().map(|d| d.secs()), v.version_id().and_then(|id| id.parse::<u64>().ok())));
            if let Some(oldest) = old.first().and_then(|v| v.version_id()) {
                c.iot
                    .delete_policy_version()
                    .policy_name(&name)
                    .policy_version_id(oldest)
                    .send()
                    .await
                    .map_err(|e| aws_failure("iot:DeletePolicyVersion", &format!("{name} version {oldest}"), &e))?;
            }
        }
        c.iot
            .create_policy_version()
            .policy_name(&name)
            .policy_document(doc.to_string())
            .set_as_default(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_failure("iot:CreatePolicyVersion", &name, &e))
    }

    /// CreateCertificateFromCsr, which is not idempotent. The SDK's automatic retry is off for
    /// this one call: it would resend after a timeout or a 5xx, when IoT may already have
    /// issued a certificate, and leave an ACTIVE one nobody records. Instead, throttling (a
    /// request IoT refused) is retried here, and after an ambiguous failure the certificate
    /// IoT may have issued is looked for and, if found, adopted.
    async fn issue_certificate(&self, c: &AwsClients, csr_pem: &str, consumer_id: &str) -> Result<Issued, Diagnostics> {
        let started = now_secs();
        let spki = keys::csr_public_key_spki(csr_pem).unwrap_or_default();
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=6 {
            let sent = c
                .iot
                .create_certificate_from_csr()
                .certificate_signing_request(csr_pem)
                .set_as_active(true)
                .customize()
                .config_override(aws_sdk_iot::config::Builder::default().retry_config(aws_sdk_iot::config::retry::RetryConfig::disabled()))
                .send()
                .await;
            let e = match sent {
                Ok(out) => {
                    return Ok(Issued {
                        id: out.certificate_id().unwrap_or_default().to_string(),
                        arn: out.certificate_arn().unwrap_or_default().to_string(),
                        pem: out.certificate_pem().unwrap_or_default().to_string(),
                    })
                }
                Err(e) => e,
            };
            if is_throttling(&e) && attempt < 6 && !crate::framework::cancel::is_stopped() {
                tracing::debug!(attempt, "CreateCertificateFromCsr throttled; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
                continue;
            }
            let status = e.raw_response().map(|r| r.status().as_u16());
            // A 4xx answer means IoT refused the request; anything else may have issued one.
            let refused = e.as_service_error().is_some() && status.is_some_and(|s| (400..500).contains(&s));
            if !refused {
                tracing::warn!(consumer_id, "CreateCertificateFromCsr failed ambiguously; looking for a certificate it may have issued");
                if let Some(found) = self.find_issued_since(c, started - 300, &spki).await {
                    return Ok(found);
                }
            }
            return Err(aws_failure("iot:CreateCertificateFromCsr", &format!("consumer {consumer_id}"), &e));
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// An ACTIVE certificate for `spki`, created after `since` and attached to nothing: the one
    /// a CreateCertificateFromCsr whose answer was lost issued.
    async fn find_issued_since(&self, c: &AwsClients, since: i64, spki: &[u8]) -> Option<Issued> {
        let listed = c.iot.list_certificates().ascending_order(false).page_size(250).send().await.ok()?;
        for cert in listed.certificates() {
            let recent = cert.creation_date().is_some_and(|d| d.secs() >= since);
            if !recent || cert.status() != Some(&CertificateStatus::Active) {
                continue;
            }
            let (Some(id), Some(arn)) = (cert.certificate_id(), cert.certificate_arn()) else { continue };
            let described = c.iot.describe_certificate().certificate_id(id).send().await.ok()?;
            let pem = described.certificate_description().and_then(|d| d.certificate_pem()).unwrap_or_default();
            if keys::cert_public_key_spki(pem).ok().as_deref() != Some(spki) {
                continue;
            }
            let things = c.iot.list_principal_things().principal(arn).send().await.ok()?;
            let policies = c.iot.list_attached_policies().target(arn).send().await.ok()?;
            if things.things().is_empty() && policies.policies().is_empty() {
                tracing::info!(certificate_id = id, "adopting the certificate issued by the failed request");
                return Some(Issued { id: id.to_string(), arn: arn.to_string(), pem: pem.to_string() });
            }
        }
        None
    }

    async fn describe_certificate(&self, c: &AwsClients, id: &str) -> Result<Option<CertInfo>, Diagnostics> {
        match c.iot.describe_certificate().certificate_id(id).send().await {
            Ok(out) => {
                let d = out.certificate_description();
                Ok(Some(CertInfo {
                    status: d.and_then(|d| d.status()).map(|s| s.as_str().to_string()).unwrap_or_default(),
                    pem: d.and_then(|d| d.certificate_pem()).unwrap_or_default().to_string(),
                    created: d.and_then(|d| d.creation_date()).map(|t| t.secs()).unwrap_or_default(),
                }))
            }
            Err(e) if aws_error::is_not_found(&e) => Ok(None),
            Err(e) => Err(aws_failure("iot:DescribeCertificate", id, &e)),
        }
    }

    async fn thing_principals(&self, c: &AwsClients, thing: &str) -> Result<Vec<String>, Diagnostics> {
        let mut found = Vec::new();
        let mut token = None;
        loop {
            match c.iot.list_thing_principals().thing_name(thing).set_next_token(token).send().await {
                Ok(out) => {
                    found.extend(out.principals().iter().cloned());
                    token = out.next_token().filter(|t| !t.is_empty()).map(str::to_string);
                    if token.is_none() {
                        return Ok(found);
                    }
                }
                Err(e) if aws_error::is_not_found(&e) => return Ok(found),
                Err(e) => return Err(aws_failure("iot:ListThingPrincipals", thing, &e)),
            }
        }
    }

    /// Which of our policy and thing are attached to a certificate.
    async fn attachments_of(&self, c: &AwsClients, spec: &Spec, cert_arn: &str) -> Result<(bool, bool), Diagnostics> {
        let policies = c
            .iot
            .list_attached_policies()
            .target(cert_arn)
            .send()
            .await
            .map_err(|e| aws_failure("iot:ListAttachedPolicies", cert_arn, &e))?;
        let things = c
            .iot
            .list_principal_things()
            .principal(cert_arn)
            .send()
            .await
            .map_err(|e| aws_failure("iot:ListPrincipalThings", cert_arn, &e))?;
        let policy = policies.policies().iter().any(|p| p.policy_name() == Some(spec.policy_name().as_str()));
        let thing = things.things().iter().any(|t| *t == spec.thing_name());
        Ok((policy, thing))
    }

    async fn attach_policy(&self, c: &AwsClients, spec: &Spec, cert_arn: &str) -> Result<(), Diagnostics> {
        c.iot
            .attach_policy()
            .policy_name(spec.policy_name())
            .target(cert_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_failure("iot:AttachPolicy", &format!("{} to {cert_arn}", spec.policy_name()), &e))
    }

    async fn attach_thing(&self, c: &AwsClients, spec: &Spec, cert_arn: &str) -> Result<(), Diagnostics> {
        c.iot
            .attach_thing_principal()
            .thing_name(spec.thing_name())
            .principal(cert_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_failure("iot:AttachThingPrincipal", &format!("{cert_arn} to {}", spec.thing_name()), &e))
    }

    /// Detaches everything from a certificate of ours, deactivates and deletes it. A
    /// certificate already gone is fine.
    async fn retire_certificate(&self, c: &AwsClients, id: &str, arn: &str) -> Result<(), Diagnostics> {
        tracing::info!(certificate_id = id, "retiring certificate");
        match c.iot.list_attached_policies().target(arn).send().await {
            Ok(out) => {
                for p in out.policies() {
                    let name = p.policy_name().unwrap_or_default();
                    match c.iot.detach_policy().policy_name(name).target(arn).send().await {
                        Ok(_) => {}
                        Err(e) if aws_error::is_not_found(&e) => {}
                        Err(e) => return Err(aws_failure("iot:DetachPolicy", &format!("{name} from {arn}"), &e)),
                    }
                }
            }
            Err(e) if aws_error::is_not_found(&e) => return Ok(()),
            Err(e) => return Err(aws_failure("iot:ListAttachedPolicies", arn, &e)),
        }
        match c.iot.list_principal_things().principal(arn).send().await {
            Ok(out) => {
                for thing in out.things() {
                    match c.iot.detach_thing_principal().thing_name(thing).principal(arn).send().await {
                        Ok(_) => {}
                        Err(e) if aws_error::is_not_found(&e) => {}
                        Err(e) => return Err(aws_failure("iot:DetachThingPrincipal", &format!("{arn} from {thing}"), &e)),
                    }
                }
            }
            Err(e) if aws_error::is_not_found(&e) => return Ok(()),
            Err(e) => return Err(aws_failure("iot:ListPrincipalThings", arn, &e)),
        }
        match c.iot.update_certificate().certificate_id(id).new_status(CertificateStatus::Inactive).send().await {
            Ok(_) => {}
            Err(e) if aws_error::is_not_found(&e) => return Ok(()),
            Err(e) => return Err(aws_failure("iot:UpdateCertificate", id, &e)),
        }
        let deleted = retry::until_consistent("iot:DeleteCertificate", DETACH_PROPAGATION, is_delete_conflict, || {
            c.iot.delete_certificate().certificate_id(id).send()
        })
        .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if aws_error::is_not_found(&e) => Ok(()),
            Err(e) => Err(aws_failure("iot:DeleteCertificate", id, &e)),
        }
    }

    async fn delete_policy(&self, c: &AwsClients, name: &str) -> Result<(), Diagnostics> {
        // Someone may have attached it elsewhere; it is ours, and DeletePolicy needs it free.
        match c.iot.list_targets_for_policy().policy_name(name).send().await {
            Ok(out) => {
                for target in out.targets() {
                    match c.iot.detach_policy().policy_name(name).target(target).send().await {
                        Ok(_) => {}
                        Err(e) if aws_error::is_not_found(&e) => {}
                        Err(e) => return Err(aws_failure("iot:DetachPolicy", &format!("{name} from {target}"), &e)),
                    }
                }
            }
            Err(e) if aws_error::is_not_found(&e) => return Ok(()),
            Err(e) => return Err(aws_failure("iot:ListTargetsForPolicy", name, &e)),
        }
        match c.iot.list_policy_versions().policy_name(name).send().await {
            Ok(out) => {
                for v in out.policy_versions().iter().filter(|v| !v.is_default_version()) {
                    let version = v.version_id().unwrap_or_default();
                    match c.iot.delete_policy_version().policy_name(name).policy_version_id(version).send().await {
                        Ok(_) => {}
                        Err(e) if aws_error::is_not_found(&e) => {}
                        Err(e) => return Err(aws_failure("iot:DeletePolicyVersion", &format!("{name} version {version}"), &e)),
                    }
                }
            }
            Err(e) if aws_error::is_not_found(&e) => return Ok(()),
            Err(e) => return Err(aws_failure("iot:ListPolicyVersions", name, &e)),
        }
        let deleted = retry::until_consistent("iot:DeletePolicy", DETACH_PROPAGATION, is_delete_conflict, || {
            c.iot.delete_policy().policy_name(name).send()
        })
        .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if aws_error::is_not_found(&e) => Ok(()),
            Err(e) => Err(aws_failure("iot:DeletePolicy", name, &e)),
        }
    }

    async fn delete_thing(&self, c: &AwsClients, name: &str) -> Result<(), Diagnostics> {
        // Certificates still attached are not ours (ours were retired first); they are only
        // detached, never deleted.
        for principal in self.thing_principals(c, name).await? {
            match c.iot.detach_thing_principal().thing_name(name).principal(&principal).send().await {
                Ok(_) => {}
                Err(e) if aws_error::is_not_found(&e) => {}
                Err(e) => return Err(aws_failure("iot:DetachThingPrincipal", &format!("{principal} from {name}"), &e)),
            }
        }
        let deleted = retry::until_consistent("iot:DeleteThing", DETACH_PROPAGATION, is_thing_still_attached, || {
            c.iot.delete_thing().thing_name(name).send()
        })
        .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if aws_error::is_not_found(&e) => Ok(()),
            Err(e) => Err(aws_failure("iot:DeleteThing", name, &e)),
        }
    }

    /// Issues a certificate and records it in `state` at once, then attaches policy and thing,
    /// recording each attachment as it succeeds.
    async fn issue_and_attach(&self, c: &AwsClients, spec: &Spec, csr: &str, state: &mut Value) -> Result<(), Diagnostics> {
        let issued = self.issue_certificate(c, csr, &spec.consumer_id).await?;
        state.set("certificate_id", Value::string(&issued.id));
        state.set("certificate_arn", Value::string(&issued.arn));
        state.set("certificate_pem", Value::string(&issued.pem));
        state.set("certificate_public_key_fingerprint", certificate_fingerprint(&issued.pem).into());
        state.set("certificate_status", Value::string(STATUS_ACTIVE));
        state.set("certificate_attachments", attachments(false, false));
        let csr_fp = keys::csr_public_key_spki(csr).ok().map(|s| keys::public_key_fingerprint(&s));
        if certificate_fingerprint(&issued.pem) != csr_fp {
            return Err(Diagnostic::error(
                "Certificate does not match the CSR",
                format!("IoT Core issued certificate {} for a public key other than the CSR's; it is recorded and will be retired on replacement.", issued.id),
            )
            .into());
        }
        self.repair_attachments(c, spec, state).await
    }

    async fn repair_attachments(&self, c: &AwsClients, spec: &Spec, state: &mut Value) -> Result<(), Diagnostics> {
        let arn = text(state, "certificate_arn");
        let current = state.get("certificate_attachments").clone();
        let mut policy = current.get("policy").as_bool().unwrap_or(false);
        let mut thing = current.get("thing").as_bool().unwrap_or(false);
        if !policy {
            self.attach_policy(c, spec, &arn).await?;
            policy = true;
            state.set("certificate_attachments", attachments(policy, thing));
        }
        if !thing {
            self.attach_thing(c, spec, &arn).await?;
            thing = true;
            state.set("certificate_attachments", attachments(policy, thing));
        }
        Ok(())
    }

    /// The update proper: brings AWS to `planned`, keeping `state` true to what exists after
    /// each step so that a failure part-way records it.
    async fn converge(&self, c: &AwsClients, prior: &Value, planned: &Value, state: &mut Value) -> Result<(), Diagnostics> {
        let spec = Spec::from_value(planned);
        let doc = spec.policy(c).map_err(|e| Diagnostics::from(Diagnostic::error("Invalid IoT policy", e.to_string())))?;
        // The thing.
        if prior.get("thing_arn").is_null() {
            let arn = self.create_thing(c, &spec).await?;
            state.set("thing_arn", Value::String(arn));
            state.set("account_id", Value::string(&spec.account_id));
        } else if text(prior, "account_id") != spec.account_id {
            c.iot
                .update_thing()
                .thing_name(spec.thing_name())
                .attribute_payload(spec.thing_attributes())
                .send()
                .await
                .map_err(|e| aws_failure("iot:UpdateThing", &spec.thing_name(), &e))?;
            state.set("account_id", Value::string(&spec.account_id));
        }
        // The policy.
        if prior.get("policy_arn").is_null() {
            let arn = self.create_policy(c, &spec, &doc).await?;
            state.set("policy_arn", Value::String(arn));
            state.set("policy_document", json_text(&doc));
            state.set("topic_prefix", Value::string(&spec.topic_prefix));
        } else if prior.get("policy_document") != &json_text(&doc) {
            self.put_policy_version(c, &spec, &doc).await?;
            state.set("policy_document", json_text(&doc));
            state.set("topic_prefix", Value::string(&spec.topic_prefix));
        }
        // The certificate.
        let csr = text(planned, "csr_pem");
        let new_fp = keys::csr_public_key_spki(&csr).ok().map(|s| keys::public_key_fingerprint(&s));
        let reissue = prior.get("certificate_id").is_null() || opt_text(prior, "certificate_public_key_fingerprint") != new_fp;
        let grace = grace_secs(planned).unwrap_or(DEFAULT_GRACE_HOURS * 3600);
        let mut retire_now = Vec::new();
        if reissue {
            let old = opt_text(prior, "certificate_id").map(|id| (id, text(prior, "certificate_arn")));
            // Recorded before the new certificate exists: if issuing fails, the old one is
            // still the current one in state.
            self.issue_and_attach(c, &spec, &csr, state).await.inspect_err(|_| {
                if let Some((id, arn)) = &old {
                    if opt_text(state, "certificate_id").as_deref() != Some(id.as_str()) {
                        let mut list = previous_list(state);
                        list.push(Previous {
                            certificate_id: id.clone(),
                            certificate_arn: arn.clone(),
                            retire_after: Some(now_secs() + grace),
                        });
                        state.set("previous_certificates", previous_value(&list));
                    }
                }
            })?;
            if let Some((id, arn)) = old {
                if grace > 0 {
                    let mut list = previous_list(state);
                    list.push(Previous { certificate_id: id, certificate_arn: arn, retire_after: Some(now_secs() + grace) });
                    state.set("previous_certificates", previous_value(&list));
                } else {
                    retire_now.push((id, arn));
                }
            }
        } else {
            if text(prior, "certificate_status") != STATUS_ACTIVE {
                // Deactivated out of band while the configuration still names its key: put it
                // back, as aws_iot_certificate's `active = true` would. (A REVOKED certificate
                // cannot be reactivated; IoT's error says so.)
                let id = text(prior, "certificate_id");
                c.iot
                    .update_certificate()
                    .certificate_id(&id)
                    .new_status(CertificateStatus::Active)
                    .send()
                    .await
                    .map_err(|e| aws_failure("iot:UpdateCertificate", &id, &e))?;
                state.set("certificate_status", Value::string(STATUS_ACTIVE));
            }
            self.repair_attachments(c, &spec, state).await?;
        }
        state.set("csr_pem", Value::String(csr));
        // Previous certificates past their grace period (or all of them with grace 0).
        let keep: Vec<String> = match planned.get("previous_certificates") {
            Value::List(items) => items.iter().map(|e| text(e, "certificate_id")).collect(),
            _ => surviving_previous(&previous_list(prior), grace_secs(prior).unwrap_or(grace), grace, now_secs())
                .into_iter()
                .map(|p| p.certificate_id)
                .collect(),
        };
        let prior_ids: Vec<String> = previous_list(prior).into_iter().map(|p| p.certificate_id).collect();
        let mut due: Vec<(String, String)> = previous_list(state)
            .into_iter()
            .filter(|p| !keep.contains(&p.certificate_id) && prior_ids.contains(&p.certificate_id))
            .map(|p| (p.certificate_id, p.certificate_arn))
            .collect();
        due.extend(retire_now);
        for (id, arn) in due {
            self.retire_certificate(c, &id, &arn).await?;
            let list: Vec<Previous> = previous_list(state).into_iter().filter(|p| p.certificate_id != id).collect();
            state.set("previous_certificates", previous_value(&list));
        }
        Ok(())
    }
}

fn already_exists(what: &str, name: &str, c: &AwsClients, spec: &Spec, why: &str) -> Diagnostics {
    Diagnostic::error(
        format!("{what} already exists"),
        format!(
            "{what} {name} already exists in account {} and {why}, so this resource will not take it over. If it is this consumer's, import it: `tofu import <address> {}` (or an import block with id = \"{}\"); otherwise remove it or choose another consumer_id.",
            c.account_id, spec.consumer_id, spec.consumer_id
        ),
    )
    .at(AttributePath::root("consumer_id"))
    .into()
}

/// The topic prefix recorded in one of our policy documents (import).
fn recover_topic_prefix(consumer_id: &str, policy_document: &str) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_str(policy_document).ok()?;
    let suffix = format!("/{consumer_id}/agentevents");
    consumer_iot::granted_pairs(&document::normalize(&doc)).into_iter().find_map(|(action, resource)| {
        // arn:PARTITION:iot:REGION:ACCOUNT:topic/<prefix>/<consumer_id>/agentevents
        let topic = resource.splitn(6, ':').nth(5)?.strip_prefix("topic/")?.strip_suffix(&suffix)?.to_string();
        (action == "iot:Publish").then_some(topic)
    })
}

/// The `--cloudevents-client-id` recorded in one of our policy documents (import): the client
/// the Connect statement pins, less the `-client` the agent's transport adds.
fn recover_cloudevents_client_id(_consumer_id: &str, policy_document: &str) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_str(policy_document).ok()?;
    consumer_iot::granted_pairs(&document::normalize(&doc)).into_iter().find_map(|(action, resource)| {
        let client = resource.splitn(6, ':').nth(5)?.strip_prefix("client/")?;
        let id = client.strip_suffix(naming::AGENT_CLIENT_ID_SUFFIX)?;
        (action == "iot:Connect" && naming::check_cloudevents_client_id(id).is_ok()).then(|| id.to_string())
    })
}

#[async_trait]
impl Resource<AwsClients> for Consumer {
    fn type_name(&self) -> &'static str {
        "maestro_consumer"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn identity_attribute(&self) -> Option<(&'static str, &'static str)> {
        Some(("consumer_id", "Maestro consumer name."))
    }

    async fn modify_plan(&self, client: Option<&AwsClients>, plan: &mut Plan<'_>, diags: &mut Diagnostics) {
        let Some(c) = client else { return };
        let prior = plan.prior;
        let p = &mut plan.planned;
        if plan.config.get("topic_prefix").is_null() {
            p.set("topic_prefix", Value::string(&c.topic_prefix));
        }
        if plan.config.get("cloudevents_client_id").is_null() {
            let id = p.get("consumer_id").as_str().map(|id| Value::string(agent_binding::default_cloudevents_client_id(id)));
            p.set("cloudevents_client_id", id.unwrap_or(Value::Unknown));
        }
        // Known at plan time, so configurations can use it before the first apply.
        match self.endpoint(c).await {
            Ok(host) => p.set("endpoint", Value::String(host)),
            Err(d) => diags.extend(d),
        }
        if let Some(id) = p.get("consumer_id").as_str() {
            if let Err(e) = consumer_iot::check_names(id) {
                diags.push(Diagnostic::error("Invalid consumer_id", e.to_string()).at(AttributePath::root("consumer_id")));
            }
        }
        if p.attributes_known(&["consumer_id", "topic_prefix", "cloudevents_client_id"]) {
            let spec = Spec::from_value(p);
            if let Err(e) = spec.policy(c) {
                diags.push(Diagnostic::error("IoT policy too large", e.to_string()).at(AttributePath::root("topic_prefix")));
            }
            set_all(p, spec.derived(c));
            p.set("thing_arn", Value::String(spec.thing_arn(c)));
            p.set("policy_arn", Value::String(spec.policy_arn(c)));
        }
        // A certificate is issued only for a public key other than the current certificate's:
        // CSR text alone says nothing (ECDSA CSRs differ on every signing, and an imported
        // consumer has no CSR in state).
        let fingerprint = match p.get("csr_pem").as_str().map(keys::inspect_csr) {
            Some(Ok(info)) => Value::String(info.fingerprint()),
            Some(Err(_)) => return, // reported by the validator, pinned to csr_pem
            None => Value::Unknown,
        };
        let prior_fp = prior.get("certificate_public_key_fingerprint");
        let reissue = prior.is_null() || prior.get("certificate_id").is_null() || fingerprint.is_unknown() || &fingerprint != prior_fp;
        if reissue {
            for name in CERT_ATTRIBUTES {
                p.set(name, Value::Unknown);
            }
            p.set("certificate_public_key_fingerprint", fingerprint.clone());
        }
        p.set("certificate_status", Value::string(STATUS_ACTIVE));
        p.set("certificate_attachments", attachments(true, true));
        // Previous certificates: deadlines follow the grace period; due ones drop out of the
        // plan (the apply retires them); a replaced certificate joins with its deadline set
        // at apply time.
        let (Some(new_grace), false) = (grace_secs(p), fingerprint.is_unknown() && !prior.is_null()) else {
            p.set("previous_certificates", Value::Unknown);
            return;
        };
        let old_grace = grace_secs(prior).unwrap_or(new_grace);
        let mut list = surviving_previous(&previous_list(prior), old_grace, new_grace, now_secs());
        if reissue && new_grace > 0 {
            if let Some(id) = opt_text(prior, "certificate_id") {
                list.push(Previous { certificate_id: id, certificate_arn: text(prior, "certificate_arn"), retire_after: None });
            }
        }
        p.set("previous_certificates", previous_value(&list));
    }

    async fn create(&self, c: &AwsClients, planned: &Value) -> Applied {
        let spec = Spec::from_value(planned);
        let doc = match spec.policy(c) {
            Ok(doc) => doc,
            Err(e) => return Applied::failed(Value::Null, Diagnostic::error("Invalid IoT policy", e.to_string()).into()),
        };
        let mut state = planned.clone();
        for name in [
            "thing_arn",
            "policy_arn",
            "certificate_id",
            "certificate_arn",
            "certificate_pem",
            "certificate_public_key_fingerprint",
            "certificate_status",
        ] {
            state.set(name, Value::Null);
        }
        state.set("certificate_attachments", attachments(false, false));
        state.set("previous_certificates", Value::List(vec![]));
        tracing::info!(consumer_id = %spec.consumer_id, "creating the consumer's thing, policy and certificate");
        match self.create_thing(c, &spec).await {
            Ok(arn) => state.set("thing_arn", Value::String(arn)),
            Err(d) => return Applied::failed(Value::Null, d),
        }
        // From here on something exists: failures return the partial state, which Terraform
        // records as tainted, so the next apply deletes it (certificate included) and starts
        // again instead of leaking it.
        match self.create_policy(c, &spec, &doc).await {
            Ok(arn) => state.set("policy_arn", Value::String(arn)),
            Err(d) => return Applied::failed(state, d),
        }
        if let Err(d) = self.issue_and_attach(c, &spec, &text(planned, "csr_pem"), &mut state).await {
            return Applied::failed(state, d);
        }
        Applied::ok(state)
    }

    async fn read(&self, c: &AwsClients, state: &Value) -> Result<Option<Value>, Diagnostics> {
        let spec = Spec::from_value(state);
        let mut new = state.clone();
        set_all(&mut new, spec.derived(c));
        if new.get("endpoint").is_null() {
            new.set("endpoint", Value::String(self.endpoint(c).await?));
        }
        let thing = spec.thing_name();
        match c.iot.describe_thing().thing_name(&thing).send().await {
            Ok(out) => {
                new.set("thing_arn", out.thing_arn().map(str::to_string).into());
                if let Some(account) = out.attributes().and_then(|a| a.get(ACCOUNT_ATTRIBUTE)) {
                    new.set("account_id", Value::string(account));
                }
            }
            Err(e) if aws_error::is_not_found(&e) => new.set("thing_arn", Value::Null),
            Err(e) => return Err(aws_failure("iot:DescribeThing", &thing, &e)),
        }
        let policy = spec.policy_name();
        match c.iot.get_policy().policy_name(&policy).send().await {
            Ok(out) => {
                new.set("policy_arn", out.policy_arn().map(str::to_string).into());
                let actual = out.policy_document().unwrap_or_default();
                let reported = match spec.policy(c) {
                    Ok(expected) => document::reconcile(actual, &expected),
                    Err(_) => actual.to_string(),
                };
                new.set("policy_document", Value::String(reported));
            }
            Err(e) if aws_error::is_not_found(&e) => {
                new.set("policy_arn", Value::Null);
                new.set("policy_document", Value::Null);
            }
            Err(e) => return Err(aws_failure("iot:GetPolicy", &policy, &e)),
        }
        let mut have_cert = false;
        if let Some(id) = opt_text(state, "certificate_id") {
            match self.describe_certificate(c, &id).await? {
                Some(info) => {
                    have_cert = true;
                    new.set("certificate_status", Value::String(info.status));
                    if let Some(fp) = certificate_fingerprint(&info.pem) {
                        new.set("certificate_public_key_fingerprint", Value::String(fp));
                    }
                    new.set("certificate_pem", Value::String(info.pem));
                    let (policy_attached, thing_attached) = self.attachments_of(c, &spec, &text(state, "certificate_arn")).await?;
                    new.set("certificate_attachments", attachments(policy_attached, thing_attached));
                }
                None => {
                    // Deleted out of band: the plan issues a new one from csr_pem.
                    for name in CERT_ATTRIBUTES.iter().chain(&["certificate_public_key_fingerprint", "certificate_status"]) {
                        new.set(name, Value::Null);
                    }
                    new.set("certificate_attachments", attachments(false, false));
                }
            }
        }
        let mut previous = Vec::new();
        for p in previous_list(state) {
            if self.describe_certificate(c, &p.certificate_id).await?.is_some() {
                previous.push(p);
            }
        }
        new.set("previous_certificates", previous_value(&previous));
        // Gone only when nothing at all is left: while a certificate exists, the resource must
        // stay in state so that it is retired rather than forgotten.
        if new.get("thing_arn").is_null() && new.get("policy_arn").is_null() && !have_cert && previous.is_empty() {
            return Ok(None);
        }
        Ok(Some(new))
    }

    async fn update(&self, c: &AwsClients, prior: &Value, planned: &Value) -> Applied {
        let mut state = prior.clone();
        // Arguments that touch nothing in AWS by themselves.
        state.set("certificate_grace_period_hours", planned.get("certificate_grace_period_hours").clone());
        state.set("endpoint", planned.get("endpoint").clone());
        if let Err(d) = self.converge(c, prior, planned, &mut state).await {
            return Applied::failed(state, d);
        }
        // Everything now matches the plan; fill in what the plan could not know.
        let mut out = planned.clone();
        for name in CERT_ATTRIBUTES.iter().chain(&["certificate_public_key_fingerprint"]) {
            out.set(name, state.get(name).clone());
        }
        let applied = previous_list(&state);
        let list = match planned.get("previous_certificates") {
            Value::List(items) => items
                .iter()
                .map(|e| {
                    let id = text(e, "certificate_id");
                    let mut v = e.clone();
                    if v.get("retire_after").is_unknown() {
                        let found = applied.iter().find(|p| p.certificate_id == id).and_then(|p| p.retire_after).unwrap_or_else(now_secs);
                        v.set("retire_after", Value::String(rfc3339(found)));
                    }
                    v
                })
                .collect(),
            _ => applied.iter().map(Previous::to_value).collect(),
        };
        out.set("previous_certificates", Value::List(list));
        Applied::ok(out)
    }

    async fn delete(&self, c: &AwsClients, state: &Value) -> Diagnostics {
        let spec = Spec::from_value(state);
        let mut certs: Vec<(String, String)> = previous_list(state).into_iter().map(|p| (p.certificate_id, p.certificate_arn)).collect();
        if let Some(id) = opt_text(state, "certificate_id") {
            certs.push((id, text(state, "certificate_arn")));
        }
        for (id, arn) in certs {
            if let Err(d) = self.retire_certificate(c, &id, &arn).await {
                return d;
            }
        }
        if let Err(d) = self.delete_policy(c, &spec.policy_name()).await {
            return d;
        }
        if let Err(d) = self.delete_thing(c, &spec.thing_name()).await {
            return d;
        }
        Diagnostics::new()
    }

    async fn import(&self, c: &AwsClients, id: &str) -> Result<Value, Diagnostics> {
        if let Err(msg) = consumer_id_validator()(&Value::string(id)) {
            return Err(Diagnostic::error("Invalid import ID", format!("The import ID is the consumer_id, which {msg}")).into());
        }
        let spec = Spec {
            consumer_id: id.to_string(),
            account_id: String::new(),
            topic_prefix: String::new(),
            cloudevents_client_id: String::new(),
        };
        let thing = spec.thing_name();
        let found = match c.iot.describe_thing().thing_name(&thing).send().await {
            Ok(out) => out,
            Err(e) if aws_error::is_not_found(&e) => {
                return Err(Diagnostic::error(
                    "Nothing to import",
                    format!(
                        "No IoT thing {thing} exists in account {} ({}), so there is no consumer {id:?} to import.",
                        c.account_id, c.region
                    ),
                )
                .into())
            }
            Err(e) => return Err(aws_failure("iot:DescribeThing", &thing, &e)),
        };
        let Some(account_id) = found.attributes().and_then(|a| a.get(ACCOUNT_ATTRIBUTE)).cloned() else {
            return Err(Diagnostic::error(
                "Cannot import",
                format!("IoT thing {thing} has no `{ACCOUNT_ATTRIBUTE}` attribute, so it was not created by this provider and the management account cannot be recovered."),
            )
            .into());
        };
        let policy_document = match c.iot.get_policy().policy_name(spec.policy_name()).send().await {
            Ok(out) => out.policy_document().map(str::to_string),
            Err(e) if aws_error::is_not_found(&e) => None,
            Err(e) => return Err(aws_failure("iot:GetPolicy", &spec.policy_name(), &e)),
        };
        let recovered = |f: fn(&str, &str) -> Option<String>| policy_document.as_deref().and_then(|doc| f(id, doc));
        let topic_prefix = recovered(recover_topic_prefix).unwrap_or_else(|| c.topic_prefix.clone());
        // A policy from before the client ID was configurable pins `<id>-work-agent` without
        // the `-client` the agent adds; it imports as the default, and the plan fixes the policy.
        let cloudevents_client_id =
            recovered(recover_cloudevents_client_id).unwrap_or_else(|| agent_binding::default_cloudevents_client_id(id));
        // The newest ACTIVE certificate on the thing is the current one; the others are in
        // their grace period from now on.
        let mut certs = Vec::new();
        for arn in self.thing_principals(c, &thing).await?.into_iter().filter(|p| p.contains(":cert/")) {
            let cert_id = arn.rsplit('/').next().unwrap_or_default().to_string();
            if let Some(info) = self.describe_certificate(c, &cert_id).await? {
                certs.push((info.status == STATUS_ACTIVE, info.created, cert_id, arn));
            }
        }
        certs.sort();
        let current = certs.pop();
        let retire_after = now_secs() + DEFAULT_GRACE_HOURS * 3600;
        let previous: Vec<Previous> = certs
            .into_iter()
            .map(|(_, _, certificate_id, certificate_arn)| Previous { certificate_id, certificate_arn, retire_after: Some(retire_after) })
            .collect();
        let (cert_id, cert_arn) = current.map(|(_, _, id, arn)| (Some(id), Some(arn))).unwrap_or_default();
        Ok(Value::object([
            ("consumer_id", Value::string(id)),
            ("account_id", Value::String(account_id)),
            ("topic_prefix", Value::String(topic_prefix)),
            ("cloudevents_client_id", Value::String(cloudevents_client_id)),
            ("certificate_grace_period_hours", Value::from(DEFAULT_GRACE_HOURS)),
            ("certificate_id", cert_id.into()),
            ("certificate_arn", cert_arn.into()),
            ("certificate_attachments", attachments(false, false)),
            ("previous_certificates", previous_value(&previous)),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_changes_move_deadlines_and_drop_due_certificates() {
        let p = |id: &str, t: i64| Previous { certificate_id: id.into(), certificate_arn: format!("arn:{id}"), retire_after: Some(t) };
        let prior = vec![p("a", 1_000 + 24 * 3600), p("b", 500 + 24 * 3600)];
        // Same grace: nothing moves.
        assert_eq!(surviving_previous(&prior, 24 * 3600, 24 * 3600, 2_000), prior);
        // Grace 0: both were replaced in the past, so both are due now.
        assert!(surviving_previous(&prior, 24 * 3600, 0, 2_000).is_empty());
        // Grace shortened to 1h (replaced at 1000 and 500): only the one still inside survives.
        let kept = surviving_previous(&prior, 24 * 3600, 3600, 4_200);
        assert_eq!(kept, vec![p("a", 1_000 + 3600)]);
    }

    #[test]
    fn rfc3339_round_trips_whole_seconds() {
        let t = 1_767_225_600; // 2026-01-01T00:00:00Z
        assert_eq!(rfc3339(t), "2026-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn topic_prefix_is_recovered_from_our_document() {
        let b = AgentBinding {
            cluster_id: "mc-1".into(),
            topic_prefix: "fleet/blue/consumers".into(),
            partition: "aws".into(),
            broker_region: "us-east-1".into(),
            broker_account_id: "123456789012".into(),
            cloudevents_client_id: "mc-1-agent".into(),
        };
        let doc = consumer_iot::agent_iot_policy_document(&b).unwrap().to_string();
        assert_eq!(recover_topic_prefix("mc-1", &doc).as_deref(), Some("fleet/blue/consumers"));
        assert_eq!(recover_topic_prefix("other", &doc), None);
        assert_eq!(recover_cloudevents_client_id("mc-1", &doc).as_deref(), Some("mc-1-agent"));
        // The document written before the fix pinned `<id>-work-agent`: no flag to recover.
        let old = doc.replace("client/mc-1-agent-client", "client/mc-1-work-agent");
        assert_eq!(recover_cloudevents_client_id("mc-1", &old), None);
    }

    #[test]
    fn bad_csrs_are_rejected_at_validate_time_naming_the_attribute() {
        let s = schema();
        let config = Value::object([
            ("consumer_id", Value::string("mc-1")),
            ("csr_pem", Value::string("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")),
            ("account_id", Value::string("987654321098")),
            ("certificate_grace_period_hours", Value::from(-1i64)),
        ]);
        let mut diags = Diagnostics::new();
        crate::framework::schema::validate_block(&s.block, &config, &AttributePath::default(), &mut diags);
        let at: Vec<String> = diags.0.iter().map(|d| d.attribute.as_ref().unwrap().to_string()).collect();
        assert_eq!(at, vec!["csr_pem", "certificate_grace_period_hours"]);
        let key = keys::generate(keys::KeyAlgorithm::EcdsaP256).unwrap();
        let good = keys::csr_pem(&key, "mc-1-work-agent").unwrap();
        assert!(csr_validator()(&Value::string(good)).is_ok());
    }
}
