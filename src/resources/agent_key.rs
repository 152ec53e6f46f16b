//! `maestro_agent_key` (management account): the agent's MQTT key pair, generated inside the
//! provider and written straight into the agent's credential secret. Only the public half
//! leaves: `csr_pem` goes to the regional account's `maestro_consumer`, which has IoT Core sign
//! it. This replaces CreateKeysAndCertificate in the regional account and the `cert.json`
//! carried between teams (seeds 000 and 001).
//!
//! The key is staged, never swapped in: on create it is the secret's first version (a bundle
//! with no certificate, so nothing can use it yet); on rotation it is a new AWSPENDING version
//! while the current bundle keeps serving. `maestro_agent_identity` promotes it to AWSCURRENT
//! once a certificate for it arrives, so a current bundle always pairs a key with its own
//! certificate.

use super::aws::secretsmanager::{self as secrets, SecretInfo, AWSCURRENT, AWSPENDING, DEFAULT_RECOVERY_WINDOW_DAYS};
use super::common::{configured_tags, merge_tags, opt_text, secret_name_validator, tag_attributes, tags_value, text};
use crate::crypto::keys::{self, GeneratedKey, KeyAlgorithm};
use crate::crypto::{CredentialBundle, AMAZON_ROOT_CA_1};
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::{validators, Applied, AttributePath, Diagnostic, Diagnostics, Plan, Resource, Value};
use crate::policy::{agent_binding, naming};
use crate::provider::{aws_error, AwsClients};
use async_trait::async_trait;
use aws_smithy_types::date_time::{DateTime, Format};
use std::collections::BTreeMap;
use std::time::SystemTime;

pub struct AgentKey;

const ALGORITHMS: &[&str] = &["ECDSA_P256", "ECDSA_P384", "RSA_2048", "RSA_3072"];
/// Attributes that describe the key itself; they change only when a new key is generated.
const KEY_ATTRIBUTES: &[&str] = &["csr_pem", "public_key_fingerprint", "key_version_id", "key_created_at"];
const DESCRIPTION_PREFIX: &str = "Maestro agent MQTT credentials for cluster ";

fn schema() -> Schema {
    let [tags, tags_all] = tag_attributes();
    Schema::new(
        Block::new(
            "The Maestro agent's MQTT key pair, generated inside the provider and stored only in the agent's credential secret in the management account. Exposes the public `csr_pem` for `maestro_consumer`; the private key never appears in state, plan or logs. Configure it with the management-account provider.",
        )
        .attribute(
            Attribute::string("cluster_id")
                .required()
                .force_new()
                .validate(validators::rule(naming::check_consumer_name))
                .description("Management cluster identifier (the Maestro consumer name). The CSR's common name is the agent's `--cloudevents-client-id`, `<cluster_id>-work-agent` (IoT Core ignores it)."),
        )
        .attribute(
            Attribute::string("secret_name")
                .optional()
                .computed()
                .force_new()
                .validate(secret_name_validator())
                .description("Name of the credential secret the key is written to. Defaults to `<cluster_id>/maestro/agent-mqtt-cert`, the name `maestro_agent_identity` expects."),
        )
        .attribute(
            Attribute::string("algorithm")
                .default("ECDSA_P256")
                .validate(validators::one_of(ALGORITHMS))
                .description("Key algorithm: `ECDSA_P256` (default), `ECDSA_P384`, `RSA_2048` or `RSA_3072`. Changing it rotates the key."),
        )
        .attribute(
            Attribute::string("kms_key_id")
                .optional()
                .description("KMS key (ID, ARN or alias) that encrypts the secret. Defaults to the account's `aws/secretsmanager` key."),
        )
        .attribute(
            Attribute::number("recovery_window_in_days")
                .default(DEFAULT_RECOVERY_WINDOW_DAYS)
                .validate(validators::int_range(7, 30))
                .description("Days Secrets Manager keeps the secret recoverable after destroy (7 to 30, default 7)."),
        )
        .attribute(
            Attribute::bool("force_delete_without_recovery")
                .default(false)
                .description("Delete the secret immediately on destroy, with no recovery window. Off by default: a destroyed key cannot be brought back."),
        )
        .attribute(
            Attribute::string_map("rotation_triggers")
                .optional()
                .description("Arbitrary values; adding, removing or changing any of them generates a new key, staged as the secret's AWSPENDING version until its certificate arrives."),
        )
        .attribute(
            Attribute::number("rotate_after_days")
                .optional()
                .validate(validators::int_range(1, 3650))
                .description("Generate a new key at the first plan after the current one is this many days old."),
        )
        .attribute(tags)
        .attribute(Attribute::string("id").computed().keep_state_for_unknown().description("Same as `secret_arn`."))
        .attribute(Attribute::string("secret_arn").computed().keep_state_for_unknown().description("ARN of the credential secret."))
        .attribute(
            Attribute::string("csr_pem")
                .computed()
                .keep_state_for_unknown()
                .description("PEM certificate signing request for the current key (public). Hand it to `maestro_consumer.csr_pem`."),
        )
        .attribute(
            Attribute::string("public_key_fingerprint")
                .computed()
                .keep_state_for_unknown()
                .description("Lowercase hex SHA-256 of the public key (SubjectPublicKeyInfo DER); equals `maestro_consumer.certificate_public_key_fingerprint` once the certificate is issued."),
        )
        .attribute(
            Attribute::string("key_version_id")
                .computed()
                .keep_state_for_unknown()
                .description("Secrets Manager version ID that holds the key as staged (before a certificate is added)."),
        )
        .attribute(Attribute::string("key_created_at").computed().keep_state_for_unknown().description("When the current key was generated (RFC 3339)."))
        .attribute(tags_all),
    )
}

/// The arguments, once known.
struct Spec {
    cluster_id: String,
    secret_name: String,
    algorithm: KeyAlgorithm,
    kms_key_id: Option<String>,
    tags: BTreeMap<String, String>,
}

impl Spec {
    fn from_value(v: &Value) -> Spec {
        Spec {
            cluster_id: text(v, "cluster_id"),
            secret_name: text(v, "secret_name"),
            algorithm: v.get("algorithm").as_str().and_then(|s| s.parse().ok()).unwrap_or(KeyAlgorithm::EcdsaP256),
            kms_key_id: opt_text(v, "kms_key_id"),
            tags: v.get("tags").string_map_entries(),
        }
    }

    fn description(&self) -> String {
        format!("{DESCRIPTION_PREFIX}{} (managed by terraform-provider-maestro)", self.cluster_id)
    }
}

pub fn now_rfc3339() -> String {
    DateTime::from(SystemTime::now()).fmt(Format::DateTime).unwrap_or_default()
}

/// True when a key generated at `created_at` is due for rotation after `days` days.
fn rotation_due(created_at: &str, days: i64, now: SystemTime) -> bool {
    let Ok(created) = DateTime::from_str(created_at, Format::DateTime) else { return false };
    let due = created.secs().saturating_add(days.saturating_mul(86_400));
    DateTime::from(now).secs() >= due
}

/// A new key and its CSR, made off the async runtime (RSA 3072 takes a noticeable moment).
async fn new_key(algorithm: KeyAlgorithm, cluster_id: &str) -> Result<(GeneratedKey, String), Diagnostics> {
    let common_name = agent_binding::default_cloudevents_client_id(cluster_id);
    let made = tokio::task::spawn_blocking(move || {
        let key = keys::generate(algorithm)?;
        let csr = keys::csr_pem(&key, &common_name)?;
        Ok::<_, crate::crypto::CryptoError>((key, csr))
    })
    .await;
    match made {
        Ok(Ok(pair)) => Ok(pair),
        Ok(Err(e)) => Err(Diagnostic::error("Key generation failed", e.to_string()).into()),
        Err(e) => Err(Diagnostic::error("Key generation failed", format!("the key generation task failed: {e}")).into()),
    }
}

/// The key's public facts, as state carries them.
fn set_key_attributes(state: &mut Value, key: &GeneratedKey, csr: String, version_id: String, created_at: String) {
    state.set("csr_pem", Value::String(csr));
    state.set("public_key_fingerprint", Value::String(key.fingerprint()));
    state.set("key_version_id", Value::String(version_id));
    state.set("key_created_at", Value::String(created_at));
}

impl AgentKey {
    /// Creates the secret holding a key-only bundle as its first version. A secret of that name
    /// scheduled for deletion (deleted out of band) is restored, and one this provider made for
    /// the same cluster is adopted (a create retried after its answer was lost); the new key is
    /// staged in either.
    async fn create_secret(
        &self,
        c: &AwsClients,
        spec: &Spec,
        bundle: &crate::crypto::SecretString,
    ) -> Result<(String, String), Diagnostics> {
        let tags_all = merge_tags(&c.default_tags, &spec.tags);
        let created = c
            .secretsmanager
            .create_secret()
            .name(&spec.secret_name)
            .description(spec.description())
            .secret_string(bundle.expose())
            .set_kms_key_id(spec.kms_key_id.clone())
            .set_tags(secrets::tags(&tags_all))
            .send()
            .await;
        match created {
            Ok(out) => Ok((out.arn().unwrap_or_default().to_string(), out.version_id().unwrap_or_default().to_string())),
            Err(e) if matches!(aws_error::code(&e), Some("ResourceExistsException") | Some("InvalidRequestException")) => {
                let info = secrets::describe(c, &spec.secret_name).await?.unwrap_or_default();
                // Ours for this cluster (a create whose answer was lost, retried): adopt it.
                let ours = info.description.as_deref() == Some(spec.description().as_str());
                if !info.scheduled_for_deletion && !ours {
                    return Err(Diagnostic::error(
                        "Secret already exists",
                        format!(
                            "Secret {} already exists in account {}. If it holds this agent's key, import it: `tofu import <address> {}`; otherwise choose another secret_name.",
                            spec.secret_name, c.account_id, spec.secret_name
                        ),
                    )
                    .at(AttributePath::root("secret_name"))
                    .into());
                }
                if info.scheduled_for_deletion {
                    tracing::info!(secret = %spec.secret_name, "restoring the credential secret, which was scheduled for deletion");
                    secrets::restore(c, &info.arn).await?;
                } else {
                    tracing::info!(secret = %spec.secret_name, "adopting the credential secret this provider created for the cluster");
                }
                self.align_settings(c, &info, spec).await?;
                // Whatever the restored secret serves stays current until the new key's
                // certificate is promoted by maestro_agent_identity.
                let version = secrets::put(c, &info.arn, bundle, &[AWSPENDING], None).await?;
                Ok((info.arn, version))
            }
            Err(e) => Err(super::common::aws_failure("secretsmanager:CreateSecret", &spec.secret_name, &e)),
        }
    }

    /// Brings the KMS key and tags of an existing secret to the configuration.
    async fn align_settings(&self, c: &AwsClients, info: &SecretInfo, spec: &Spec) -> Result<(), Diagnostics> {
        if spec.kms_key_id.is_some() && info.kms_key_id != spec.kms_key_id {
            c.secretsmanager
                .update_secret()
                .secret_id(&info.arn)
                .set_kms_key_id(spec.kms_key_id.clone())
                .send()
                .await
                .map_err(|e| super::common::aws_failure("secretsmanager:UpdateSecret", &info.name, &e))?;
        }
        secrets::update_tags(c, &info.arn, &info.tags, &merge_tags(&c.default_tags, &spec.tags)).await
    }

    /// Reads the key the secret holds (pending first, then current), for import.
    async fn find_key(&self, c: &AwsClients, secret_id: &str) -> Result<Option<(GeneratedKey, String)>, Diagnostics> {
        for stage in [AWSPENDING, AWSCURRENT] {
            let Some((version, value)) = secrets::get_stage(c, secret_id, stage).await? else { continue };
            let bundle = CredentialBundle::parse(value.expose())
                .map_err(|e| Diagnostics::from(Diagnostic::error("Cannot import", e.to_string())))?;
            let key = GeneratedKey::from_pkcs8_pem(bundle.private_key.expose())
                .map_err(|e| Diagnostics::from(Diagnostic::error("Cannot import", format!("the {stage} version of {secret_id}: {e}"))))?;
            return Ok(Some((key, version)));
        }
        Ok(None)
    }
}

#[async_trait]
impl Resource<AwsClients> for AgentKey {
    fn type_name(&self) -> &'static str {
        "maestro_agent_key"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    async fn modify_plan(&self, client: Option<&AwsClients>, plan: &mut Plan<'_>, _diags: &mut Diagnostics) {
        let p = &mut plan.planned;
        if plan.config.get("secret_name").is_null() {
            let name =
                p.get("cluster_id").as_str().map(|id| Value::string(agent_binding::default_cert_secret_name(id))).unwrap_or(Value::Unknown);
            p.set("secret_name", name);
        }
        if let Some(c) = client {
            if p.get("tags").is_wholly_known() {
                p.set("tags_all", Value::string_map(&merge_tags(&c.default_tags, &p.get("tags").string_map_entries())));
            }
        }
        if plan.prior.is_null() {
            return;
        }
        let rotate = plan.prior.get("algorithm") != p.get("algorithm")
            || plan.prior.get("rotation_triggers") != p.get("rotation_triggers")
            || plan.prior.get("csr_pem").is_null()
            || match (p.get("rotate_after_days").as_i64(), plan.prior.get("key_created_at").as_str()) {
                (Some(days), Some(created)) => rotation_due(created, days, SystemTime::now()),
                _ => false,
            };
        if rotate {
            for name in KEY_ATTRIBUTES {
                p.set(name, Value::Unknown);
            }
        }
    }

    async fn create(&self, c: &AwsClients, planned: &Value) -> Applied {
        let spec = Spec::from_value(planned);
        let mut state = planned.clone();
        let (key, csr) = match new_key(spec.algorithm, &spec.cluster_id).await {
            Ok(pair) => pair,
            Err(d) => return Applied::failed(Value::Null, d),
        };
        let bundle =
            CredentialBundle::key_only(crate::crypto::SecretString::new(key.private_key_pem().expose().to_string()), AMAZON_ROOT_CA_1);
        tracing::info!(secret = %spec.secret_name, algorithm = %spec.algorithm, fingerprint = %key.fingerprint(), "writing a new agent key");
        match self.create_secret(c, &spec, &bundle.to_secret_string()).await {
            Ok((arn, version)) => {
                state.set("id", Value::string(&arn));
                state.set("secret_arn", Value::String(arn));
                state.set("tags_all", Value::string_map(&merge_tags(&c.default_tags, &spec.tags)));
                set_key_attributes(&mut state, &key, csr, version, now_rfc3339());
                Applied::ok(state)
            }
            Err(d) => Applied::failed(Value::Null, d),
        }
    }

    async fn read(&self, c: &AwsClients, state: &Value) -> Result<Option<Value>, Diagnostics> {
        let id = opt_text(state, "secret_arn").unwrap_or_else(|| text(state, "secret_name"));
        let Some(info) = secrets::describe(c, &id).await? else { return Ok(None) };
        // Deleted out of band (scheduled): plan a create, which restores it and stages a new key.
        if info.scheduled_for_deletion {
            return Ok(None);
        }
        let mut new = state.clone();
        new.set("secret_name", Value::string(&info.name));
        new.set("secret_arn", Value::string(&info.arn));
        new.set("id", Value::string(&info.arn));
        if !state.get("kms_key_id").is_null() || info.kms_key_id.is_some() {
            new.set("kms_key_id", info.kms_key_id.clone().into());
        }
        new.set("tags", tags_value(&configured_tags(&info.tags, &c.default_tags), state.get("tags").is_null()));
        new.set("tags_all", Value::string_map(&info.tags));
        Ok(Some(new))
    }

    async fn update(&self, c: &AwsClients, prior: &Value, planned: &Value) -> Applied {
        let spec = Spec::from_value(planned);
        let arn = text(prior, "secret_arn");
        let mut state = planned.clone();
        let current = SecretInfo {
            arn: arn.clone(),
            name: spec.secret_name.clone(),
            kms_key_id: opt_text(prior, "kms_key_id"),
            tags: prior.get("tags_all").string_map_entries(),
            ..Default::default()
        };
        if let Err(d) = self.align_settings(c, &current, &spec).await {
            return Applied::failed(prior.clone(), d);
        }
        if planned.get("csr_pem").is_unknown() {
            let (key, csr) = match new_key(spec.algorithm, &spec.cluster_id).await {
                Ok(pair) => pair,
                Err(d) => return Applied::failed(prior.clone(), d),
            };
            let bundle =
                CredentialBundle::key_only(crate::crypto::SecretString::new(key.private_key_pem().expose().to_string()), AMAZON_ROOT_CA_1);
            tracing::info!(secret = %spec.secret_name, algorithm = %spec.algorithm, fingerprint = %key.fingerprint(), "staging a rotated agent key as AWSPENDING");
            match secrets::put(c, &arn, &bundle.to_secret_string(), &[AWSPENDING], None).await {
                Ok(version) => set_key_attributes(&mut state, &key, csr, version, now_rfc3339()),
                Err(d) => {
                    // Settings may have changed; the key did not. The next plan retries the rotation.
                    let mut partial = prior.clone();
                    for name in ["kms_key_id", "tags", "tags_all"] {
                        partial.set(name, planned.get(name).clone());
                    }
                    return Applied::failed(partial, d);
                }
            }
        }
        Applied::ok(state)
    }

    async fn delete(&self, c: &AwsClients, state: &Value) -> Diagnostics {
        let id = opt_text(state, "secret_arn").unwrap_or_else(|| text(state, "secret_name"));
        secrets::delete(c, &id, secrets::Deletion::from_state(state)).await
    }

    /// The import ID is the secret's name or ARN. The key is read back (in memory only) to
    /// recompute its CSR and fingerprint; the cluster ID comes from the default name or the
    /// description this provider writes.
    async fn import(&self, c: &AwsClients, id: &str) -> Result<Value, Diagnostics> {
        let Some(info) = secrets::describe(c, id).await? else {
            return Err(Diagnostic::error("Nothing to import", format!("No secret {id:?} exists in account {}.", c.account_id)).into());
        };
        if info.scheduled_for_deletion {
            return Err(
                secrets::scheduled_for_deletion(&info.name, "Restore it (aws secretsmanager restore-secret) before importing.").into()
            );
        }
        let cluster_id = cluster_id_of(&info).ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Cannot import",
                format!(
                    "Cannot tell which cluster secret {} belongs to: its name is not `<cluster_id>/maestro/agent-mqtt-cert` and its description was not written by this provider. Set its description to \"{DESCRIPTION_PREFIX}<cluster_id>\" and import again.",
                    info.name
                ),
            ))
        })?;
        let (key, version) = self.find_key(c, &info.arn).await?.ok_or_else(|| {
            Diagnostics::from(Diagnostic::error(
                "Cannot import",
                format!("Secret {} has no AWSPENDING or AWSCURRENT value holding a private key.", info.name),
            ))
        })?;
        let csr = keys::csr_pem(&key, &agent_binding::default_cloudevents_client_id(&cluster_id))
            .map_err(|e| Diagnostics::from(Diagnostic::error("Cannot import", e.to_string())))?;
        let created_at = c
            .secretsmanager
            .list_secret_version_ids()
            .secret_id(&info.arn)
            .send()
            .await
            .ok()
            .and_then(|out| {
                out.versions().iter().find(|v| v.version_id() == Some(version.as_str())).and_then(|v| v.created_date().cloned())
            })
            .and_then(|d| d.fmt(Format::DateTime).ok())
            .unwrap_or_else(now_rfc3339);
        let mut state = Value::object([
            ("cluster_id", Value::string(&cluster_id)),
            ("secret_name", Value::string(&info.name)),
            ("secret_arn", Value::string(&info.arn)),
            ("id", Value::string(&info.arn)),
            ("algorithm", Value::string(key.algorithm().as_str())),
            ("kms_key_id", info.kms_key_id.clone().into()),
            ("recovery_window_in_days", Value::from(DEFAULT_RECOVERY_WINDOW_DAYS)),
            ("force_delete_without_recovery", Value::Bool(false)),
            ("tags", tags_value(&configured_tags(&info.tags, &c.default_tags), true)),
            ("tags_all", Value::string_map(&info.tags)),
        ]);
        set_key_attributes(&mut state, &key, csr, version, created_at);
        Ok(state)
    }
}

/// The cluster a credential secret belongs to, from its default name or our description.
fn cluster_id_of(info: &SecretInfo) -> Option<String> {
    let from_name = info.name.strip_suffix("/maestro/agent-mqtt-cert").filter(|id| !id.is_empty() && !id.contains('/'));
    let from_description = info
        .description
        .as_deref()
        .and_then(|d| d.strip_prefix(DESCRIPTION_PREFIX))
        .and_then(|rest| rest.split_whitespace().next())
        .filter(|id| !id.is_empty());
    from_name.or(from_description).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::plan::plan_from_schema;

    fn at(secs: i64) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64)
    }

    #[test]
    fn rotation_is_due_only_after_the_configured_days() {
        let created = DateTime::from_secs(1_000_000).fmt(Format::DateTime).unwrap();
        assert!(!rotation_due(&created, 30, at(1_000_000 + 30 * 86_400 - 1)));
        assert!(rotation_due(&created, 30, at(1_000_000 + 30 * 86_400)));
        assert!(!rotation_due("not a time", 1, at(i64::MAX / 2)));
    }

    #[test]
    fn cluster_id_comes_from_the_default_name_or_our_description() {
        let named = SecretInfo { name: "mc-1/maestro/agent-mqtt-cert".into(), ..Default::default() };
        assert_eq!(cluster_id_of(&named).as_deref(), Some("mc-1"));
        let spec = Spec {
            cluster_id: "mc-2".into(),
            secret_name: String::new(),
            algorithm: KeyAlgorithm::EcdsaP256,
            kms_key_id: None,
            tags: BTreeMap::new(),
        };
        let described = SecretInfo { name: "custom".into(), description: Some(spec.description()), ..Default::default() };
        assert_eq!(cluster_id_of(&described).as_deref(), Some("mc-2"));
        assert_eq!(cluster_id_of(&SecretInfo { name: "a/b/maestro/agent-mqtt-cert".into(), ..Default::default() }), None);
        assert_eq!(cluster_id_of(&SecretInfo { name: "other".into(), ..Default::default() }), None);
    }

    #[tokio::test]
    async fn a_changed_trigger_or_algorithm_plans_a_new_key_and_a_tag_change_does_not() {
        let s = schema();
        let config =
            Value::object([("cluster_id", Value::string("mc-1")), ("rotation_triggers", Value::object([("n", Value::string("1"))]))])
                .conform(&s.value_type());
        let mut prior = plan_from_schema(&s, &Value::Null, &config, config.clone());
        for (k, v) in [
            ("secret_name", "mc-1/maestro/agent-mqtt-cert"),
            ("csr_pem", "CSR"),
            ("public_key_fingerprint", "ab"),
            ("key_version_id", "v1"),
        ] {
            prior.set(k, Value::string(v));
        }
        prior.set("key_created_at", Value::string(now_rfc3339()));
        let plan_for = |config: Value| {
            let prior = prior.clone();
            async move {
                let proposed = {
                    let mut p = prior.clone();
                    for (k, v) in config.as_map().unwrap() {
                        if !v.is_null() {
                            p.set(k, v.clone());
                        }
                    }
                    p
                };
                let planned = plan_from_schema(&s_clone(), &prior, &config, proposed);
                let mut plan = Plan { prior: &prior, config: &config, planned, requires_replace: vec![] };
                AgentKey.modify_plan(None, &mut plan, &mut Diagnostics::new()).await;
                plan.planned
            }
        };
        let mut tagged = config.clone();
        tagged.set("tags", Value::object([("team", Value::string("a"))]));
        assert_eq!(plan_for(tagged).await.get("csr_pem"), &Value::string("CSR"));
        let mut triggered = config.clone();
        triggered.set("rotation_triggers", Value::object([("n", Value::string("2"))]));
        let planned = plan_for(triggered).await;
        assert!(KEY_ATTRIBUTES.iter().all(|a| planned.get(a).is_unknown()));
        let mut algorithm = config.clone();
        algorithm.set("algorithm", Value::string("RSA_2048"));
        assert!(plan_for(algorithm).await.get("csr_pem").is_unknown());
    }

    fn s_clone() -> Schema {
        schema()
    }
}
