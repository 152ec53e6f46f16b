//! The typed view of `maestro_consumer`'s arguments and state: [`Spec`] for the arguments,
//! and one type per group of state attributes ([`Derived`], [`Certificate`], [`Attachments`],
//! [`Previous`]) so that every attribute name is written once, in [`attr`], and a renamed
//! attribute breaks the build rather than a test.

use crate::crypto::{CryptoError, Csr};
use crate::framework::{AttributePath, Diagnostic, Diagnostics, Value};
use crate::policy::agent_binding::AgentBinding;
use crate::policy::consumer_iot;
use crate::provider::AwsClients;
use crate::resources::common::{certificate_fingerprint, json_text, opt_text, set_all, text};

pub use crate::resources::rotation::{grace_secs, Previous, DEFAULT_GRACE_HOURS};
pub const STATUS_ACTIVE: &str = "ACTIVE";
/// Thing attribute naming the management account (read back on import and refresh). Spelled
/// like the resource's argument but not derived from it: things made by earlier versions carry
/// this key, so renaming the argument must not rename it.
pub const THING_ACCOUNT_ATTRIBUTE: &str = "management_account_id";

/// Attribute names, shared by the schema and every reader and writer of state.
pub mod attr {
    pub const CONSUMER_ID: &str = "consumer_id";
    pub const TAGS: &str = "tags";
    pub const TAGS_ALL: &str = "tags_all";
    pub const CSR_PEM: &str = "csr_pem";
    pub const MANAGEMENT_ACCOUNT_ID: &str = "management_account_id";
    /// Version 0's name of `management_account_id`.
    pub const ACCOUNT_ID_V0: &str = "account_id";
    pub const TOPIC_PREFIX: &str = "topic_prefix";
    pub const CLOUDEVENTS_CLIENT_ID: &str = "cloudevents_client_id";
    pub use crate::resources::rotation::attr::{GRACE_PERIOD_HOURS, PREVIOUS_CERTIFICATES};
    pub const ID: &str = "id";
    pub const THING_NAME: &str = "thing_name";
    pub const THING_ARN: &str = "thing_arn";
    pub const POLICY_NAME: &str = "policy_name";
    pub const POLICY_ARN: &str = "policy_arn";
    pub const POLICY_DOCUMENT: &str = "policy_document";
    pub const CLIENT_ID: &str = "client_id";
    pub const SOURCE_EVENTS_TOPIC: &str = "source_events_topic";
    pub const AGENT_EVENTS_TOPIC: &str = "agent_events_topic";
    pub const ENDPOINT: &str = "endpoint";
    pub const CERTIFICATE_ID: &str = "certificate_id";
    pub const CERTIFICATE_ARN: &str = "certificate_arn";
    pub const CERTIFICATE_PEM: &str = "certificate_pem";
    pub const CERTIFICATE_FINGERPRINT: &str = "certificate_public_key_fingerprint";
    pub const CERTIFICATE_STATUS: &str = "certificate_status";
    pub const CERTIFICATE_ATTACHMENTS: &str = "certificate_attachments";
    /// Inside `certificate_attachments`.
    pub const POLICY: &str = "policy";
    pub const THING: &str = "thing";
}

/// Why a `csr_pem` is refused, as the validator and the apply say it.
pub fn csr_refusal(e: &CryptoError) -> String {
    format!("must be a PEM certificate signing request that AWS IoT accepts: {e}")
}

/// The configured CSR, parsed and verified once for the apply that sends it to IoT Core. The
/// validator refused a bad one already; this stands for the case it could not see (unknown
/// at validate time).
pub fn configured_csr(v: &Value) -> Result<Csr, Diagnostics> {
    Csr::parse(&text(v, attr::CSR_PEM)).map_err(|e| {
        Diagnostic::error(format!("Invalid {}", attr::CSR_PEM), format!("{} {}", attr::CSR_PEM, csr_refusal(&e)))
            .at(AttributePath::root(attr::CSR_PEM))
            .into()
    })
}

/// The key of the CSR state records (empty when there is none: an import records no CSR).
pub fn recorded_csr_key(v: &Value) -> Option<Vec<u8>> {
    Csr::parse(&text(v, attr::CSR_PEM)).ok().map(|csr| csr.spki_der().to_vec())
}

/// The arguments and everything derived from them, once known.
#[derive(Clone, Debug)]
pub struct Spec {
    pub consumer_id: String,
    pub management_account_id: String,
    pub topic_prefix: String,
    pub cloudevents_client_id: String,
    pub tags: std::collections::BTreeMap<String, String>,
}

impl Spec {
    pub fn from_value(v: &Value) -> Spec {
        Spec {
            consumer_id: text(v, attr::CONSUMER_ID),
            management_account_id: text(v, attr::MANAGEMENT_ACCOUNT_ID),
            topic_prefix: text(v, attr::TOPIC_PREFIX),
            cloudevents_client_id: text(v, attr::CLOUDEVENTS_CLIENT_ID),
            tags: v.get(attr::TAGS).string_map_entries(),
        }
    }

    /// What import knows before it has looked at AWS: the names only.
    pub fn named(consumer_id: &str) -> Spec {
        Spec {
            consumer_id: consumer_id.to_string(),
            management_account_id: String::new(),
            topic_prefix: String::new(),
            cloudevents_client_id: String::new(),
            tags: Default::default(),
        }
    }

    /// The broker is this (regional) account's IoT Core.
    pub fn binding(&self, c: &AwsClients) -> AgentBinding {
        AgentBinding {
            cluster_id: self.consumer_id.clone(),
            topic_prefix: self.topic_prefix.clone(),
            partition: c.partition.clone(),
            broker_region: c.region.clone(),
            broker_account_id: c.account_id.clone(),
            cloudevents_client_id: self.cloudevents_client_id.clone(),
        }
    }

    /// The policy's tags: the provider's `default_tags` merged with `tags`.
    pub fn tags_all(&self, c: &AwsClients) -> std::collections::BTreeMap<String, String> {
        crate::resources::common::merge_tags(&c.default_tags, &self.tags)
    }

    pub fn thing_name(&self) -> String {
        consumer_iot::agent_thing_name(&self.consumer_id)
    }

    pub fn policy_name(&self) -> String {
        consumer_iot::agent_iot_policy_name(&self.consumer_id)
    }

    pub fn policy(&self, c: &AwsClients) -> Result<serde_json::Value, consumer_iot::IotPolicyError> {
        consumer_iot::agent_iot_policy_document(&self.binding(c))
    }

    /// Every computed attribute that follows from the arguments alone.
    pub fn derived(&self, c: &AwsClients) -> Derived {
        let b = self.binding(c);
        Derived {
            id: self.consumer_id.clone(),
            thing_name: self.thing_name(),
            policy_name: self.policy_name(),
            client_id: b.client_id(),
            source_events_topic: b.source_events_topic(),
            agent_events_topic: b.agent_events_topic(),
            policy_document: self.policy(c).ok(),
        }
    }

    pub fn thing_arn(&self, c: &AwsClients) -> String {
        self.binding(c).iot_arn("thing", &self.thing_name())
    }

    pub fn policy_arn(&self, c: &AwsClients) -> String {
        self.binding(c).iot_arn("policy", &self.policy_name())
    }
}

/// The computed attributes that follow from the arguments alone, known at plan time.
pub struct Derived {
    pub id: String,
    pub thing_name: String,
    pub policy_name: String,
    pub client_id: String,
    pub source_events_topic: String,
    pub agent_events_topic: String,
    /// `None` when the document would be too large (reported at plan time).
    pub policy_document: Option<serde_json::Value>,
}

impl Derived {
    pub fn write(&self, v: &mut Value) {
        set_all(
            v,
            vec![
                (attr::ID, Value::string(&self.id)),
                (attr::THING_NAME, Value::string(&self.thing_name)),
                (attr::POLICY_NAME, Value::string(&self.policy_name)),
                (attr::CLIENT_ID, Value::string(&self.client_id)),
                (attr::SOURCE_EVENTS_TOPIC, Value::string(&self.source_events_topic)),
                (attr::AGENT_EVENTS_TOPIC, Value::string(&self.agent_events_topic)),
            ],
        );
        if let Some(doc) = &self.policy_document {
            v.set(attr::POLICY_DOCUMENT, json_text(doc));
        }
    }
}

/// The current certificate: `certificate_id`, `_arn`, `_pem`, `_public_key_fingerprint` and
/// `_status`, always written together.
#[derive(Clone, Debug)]
pub struct Certificate {
    pub id: String,
    pub arn: String,
    pub pem: String,
    pub status: String,
}

impl Certificate {
    /// The current certificate's ID and ARN, if state records one.
    pub fn recorded(v: &Value) -> Option<(String, String)> {
        opt_text(v, attr::CERTIFICATE_ID).map(|id| (id, text(v, attr::CERTIFICATE_ARN)))
    }

    pub fn fingerprint(v: &Value) -> Option<String> {
        opt_text(v, attr::CERTIFICATE_FINGERPRINT)
    }

    pub fn status(v: &Value) -> String {
        text(v, attr::CERTIFICATE_STATUS)
    }

    pub fn set_status(v: &mut Value, status: &str) {
        v.set(attr::CERTIFICATE_STATUS, Value::string(status));
    }

    pub fn write(&self, v: &mut Value) {
        set_all(
            v,
            vec![
                (attr::CERTIFICATE_ID, Value::string(&self.id)),
                (attr::CERTIFICATE_ARN, Value::string(&self.arn)),
                (attr::CERTIFICATE_PEM, Value::string(&self.pem)),
                (attr::CERTIFICATE_FINGERPRINT, certificate_fingerprint(&self.pem).into()),
                (attr::CERTIFICATE_STATUS, Value::string(&self.status)),
            ],
        );
    }

    /// What read found for the recorded certificate: its status and PEM (the fingerprint only
    /// when the PEM is a certificate).
    pub fn refresh(v: &mut Value, status: String, pem: String) {
        v.set(attr::CERTIFICATE_STATUS, Value::String(status));
        if let Some(fp) = certificate_fingerprint(&pem) {
            v.set(attr::CERTIFICATE_FINGERPRINT, Value::String(fp));
        }
        v.set(attr::CERTIFICATE_PEM, Value::String(pem));
    }

    /// No current certificate (before create, or deleted out of band).
    pub fn clear(v: &mut Value) {
        for name in
            [attr::CERTIFICATE_ID, attr::CERTIFICATE_ARN, attr::CERTIFICATE_PEM, attr::CERTIFICATE_FINGERPRINT, attr::CERTIFICATE_STATUS]
        {
            v.set(name, Value::Null);
        }
    }

    /// A certificate the apply will issue, for a key whose fingerprint may be known.
    pub fn mark_unknown(v: &mut Value, fingerprint: Value) {
        for name in [attr::CERTIFICATE_ID, attr::CERTIFICATE_ARN, attr::CERTIFICATE_PEM] {
            v.set(name, Value::Unknown);
        }
        v.set(attr::CERTIFICATE_FINGERPRINT, fingerprint);
    }

    /// What only the apply could know: the issued certificate, from `from` into `to`.
    pub fn copy_issued(from: &Value, to: &mut Value) {
        for name in [attr::CERTIFICATE_ID, attr::CERTIFICATE_ARN, attr::CERTIFICATE_PEM, attr::CERTIFICATE_FINGERPRINT] {
            to.set(name, from.get(name).clone());
        }
    }
}

/// `certificate_attachments`: whether our policy and our thing are attached to the current
/// certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Attachments {
    pub policy: bool,
    pub thing: bool,
}

impl Attachments {
    pub const NONE: Attachments = Attachments { policy: false, thing: false };
    pub const BOTH: Attachments = Attachments { policy: true, thing: true };

    pub fn read(v: &Value) -> Attachments {
        let a = v.get(attr::CERTIFICATE_ATTACHMENTS);
        Attachments { policy: a.get(attr::POLICY).as_bool().unwrap_or(false), thing: a.get(attr::THING).as_bool().unwrap_or(false) }
    }

    pub fn value(self) -> Value {
        Value::object([(attr::POLICY, Value::Bool(self.policy)), (attr::THING, Value::Bool(self.thing))])
    }

    pub fn write(self, v: &mut Value) {
        v.set(attr::CERTIFICATE_ATTACHMENTS, self.value());
    }
}
