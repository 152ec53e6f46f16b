//! Planning, without an AWS client: the defaults that depend on other arguments or on the
//! provider, every value that follows from the arguments, and what the next apply will change
//! in the association and the secrets. Pure functions of the prior state, the configuration and
//! the provider's [`Account`], so each rule is unit-tested below.

use super::model::{Account, Association, Secrets, Spec, AGENT_CONFIG, ARGUMENTS, BROKER_REGION};
use crate::framework::{AttributePath, Diagnostic, Diagnostics, Value};
use crate::policy::agent_binding;
use crate::resources::common::{certificate_fingerprint, set_all};

/// The whole plan. Without an account (an unconfigured provider) only the warning is given.
pub fn plan(account: Option<Account>, config: &Value, prior: &Value, p: &mut Value, diags: &mut Diagnostics) {
    if config.get("certificate_pem").is_null() {
        diags.push(
            Diagnostic::warning(
                "The agent has no certificate yet",
                "certificate_pem is not set, so this resource does not complete or rotate the agent's credential secret: a new secret holds only the key staged by maestro_agent_key, and the agent cannot connect until a certificate is added; an imported secret keeps the bundle it holds. Set certificate_pem to the maestro_consumer's certificate_pem (in a two-teams setup, the regional team sends it) and apply again.",
            )
            .at(AttributePath::root("certificate_pem")),
        );
    }
    let Some(a) = account else { return };
    defaults(a, config, p, diags);
    // Everything derived is predictable once the arguments are known, so the plan shows
    // real values (role ARN, policies, Helm values) instead of "known after apply".
    if p.attributes_known(ARGUMENTS) {
        let spec = Spec::from_value(p);
        set_all(p, spec.derived(a));
    }
    // A deleted association (found by read) is re-created by the next apply.
    if !prior.is_null() && Association::is_missing(prior) {
        Association::mark_unknown(p);
    }
    secrets(prior, p).write(p);
}

/// Defaults that depend on other arguments or on the provider.
fn defaults(a: Account, config: &Value, p: &mut Value, diags: &mut Diagnostics) {
    let cluster_id = p.get("cluster_id").clone();
    if config.get(BROKER_REGION).is_null() {
        p.set(BROKER_REGION, Value::string(a.region));
    }
    if config.get("topic_prefix").is_null() {
        p.set("topic_prefix", Value::string(a.topic_prefix));
    }
    if config.get("cloudevents_client_id").is_null() {
        let id = cluster_id.as_str().map(|id| Value::string(agent_binding::default_cloudevents_client_id(id)));
        p.set("cloudevents_client_id", id.unwrap_or(Value::Unknown));
    } else if let (Some(id), Some(cluster)) = (config.get("cloudevents_client_id").as_str(), cluster_id.as_str()) {
        if id != agent_binding::default_cloudevents_client_id(cluster) {
            diags.push(
                Diagnostic::warning(
                    "The deployed agent chart cannot pass this client ID",
                    format!("The deployed agent chart (rosa-regional-platform) always starts the agent with --cloudevents-client-id=$(CONSUMER_NAME)-work-agent, so with cloudevents_client_id = {id:?} only a chart that takes it (upstream's, see upstream_helm_values) connects; maestro_consumer.cloudevents_client_id must be the same value."),
                )
                .at(AttributePath::root("cloudevents_client_id")),
            );
        }
    }
    let names = [
        ("mqtt_cert_secret_name", agent_binding::default_cert_secret_name as fn(&str) -> String),
        ("config_secret_name", agent_binding::default_config_secret_name),
    ];
    for (attr, default) in names {
        if config.get(attr).is_null() {
            p.set(attr, cluster_id.as_str().map(|id| Value::string(default(id))).unwrap_or(Value::Unknown));
        }
    }
}

/// The secrets' planned attributes: what changes when the certificate or the config changes,
/// or when read found them gone or overwritten.
pub fn secrets(prior: &Value, p: &Value) -> Secrets {
    let before = Secrets::of(prior);
    let cert = p.get("certificate_pem");
    let certificate_fingerprint = match cert {
        Value::String(pem) => certificate_fingerprint(pem).into(),
        Value::Null => Value::Null,
        _ => Value::Unknown,
    };
    let credential_version_id = match cert {
        Value::Null => Value::Null,
        // A new CA is a new bundle too, written next to the same key and certificate.
        Value::String(_)
            if prior.get("certificate_pem") == cert
                && prior.get("broker_ca_pem") == p.get("broker_ca_pem")
                && !before.credential_version_id.is_null() =>
        {
            before.credential_version_id.clone()
        }
        _ => Value::Unknown,
    };
    let agent_config = p.get(AGENT_CONFIG).clone();
    let config_secret_arn = match &agent_config {
        Value::Null => Value::Null,
        _ if before.config_secret_arn.is_null() || prior.get("config_secret_name") != p.get("config_secret_name") => Value::Unknown,
        _ => before.config_secret_arn.clone(),
    };
    Secrets { config_secret_arn, credential_version_id, certificate_fingerprint, agent_config }
}

#[cfg(test)]
mod tests {
    use super::super::model::{ASSOCIATION_ARN, ASSOCIATION_ID, CONFIG_SECRET_ARN, CREDENTIAL_VERSION_ID};
    use super::*;
    use crate::resources::common::tags_value;
    use std::collections::BTreeMap;

    const ACCOUNT_ID: &str = "987654321098";

    fn account(tags: &BTreeMap<String, String>) -> Account<'_> {
        Account {
            partition: "aws",
            region: "us-east-1",
            account_id: ACCOUNT_ID,
            topic_prefix: "sources/maestro/consumers",
            default_tags: tags,
        }
    }

    /// A configuration as Terraform hands it to the plan (schema defaults applied).
    fn config(extra: &[(&str, Value)]) -> Value {
        let mut v = Value::object([
            ("cluster_id", Value::string("mc-1")),
            ("regional_account_id", Value::string("123456789012")),
            ("eks_cluster_name", Value::string("management-01")),
            ("namespace", Value::string("maestro")),
            ("service_account", Value::string("maestro-agent")),
            ("tags", tags_value(&BTreeMap::new(), true)),
        ]);
        for (k, x) in extra {
            v.set(k, x.clone());
        }
        v
    }

    fn planned(prior: &Value, config: &Value) -> Value {
        let tags = BTreeMap::new();
        let mut p = config.clone();
        for name in [CREDENTIAL_VERSION_ID, CONFIG_SECRET_ARN, ASSOCIATION_ID, ASSOCIATION_ARN] {
            // Kept from state while unknown, as the schema asks (keep_state_for_unknown).
            p.set(name, prior.get(name).clone());
        }
        let mut diags = Diagnostics::new();
        plan(Some(account(&tags)), config, prior, &mut p, &mut diags);
        p
    }

    /// The state an apply of `config` left: every unknown filled in.
    fn applied(config: &Value) -> Value {
        let mut s = planned(&Value::Null, config);
        s.set(CREDENTIAL_VERSION_ID, if s.get("certificate_pem").is_null() { Value::Null } else { Value::string("v1") });
        s.set(CONFIG_SECRET_ARN, if s.get(AGENT_CONFIG).is_null() { Value::Null } else { Value::string("arn:config-1") });
        Association { id: "a-1".into(), arn: "arn:assoc-1".into() }.write(&mut s);
        s
    }

    const ENDPOINT: (&str, &str) = ("broker_endpoint", "abc-ats.iot.eu-west-1.amazonaws.com");

    fn with_cert_and_endpoint(cert: &str) -> Value {
        config(&[("certificate_pem", Value::string(cert)), (ENDPOINT.0, Value::string(ENDPOINT.1))])
    }

    #[test]
    fn unchanged_certificate_keeps_the_credential_version() {
        let prior = applied(&with_cert_and_endpoint("CERT-A"));
        let p = planned(&prior, &with_cert_and_endpoint("CERT-A"));
        assert_eq!(p.get(CREDENTIAL_VERSION_ID), &Value::string("v1"));
        assert_eq!(p.get(CONFIG_SECRET_ARN), &Value::string("arn:config-1"));
        assert_eq!(Association::of(&p), Association::of(&prior));
    }

    #[test]
    fn a_new_certificate_or_broker_ca_makes_a_new_credential_version() {
        let prior = applied(&with_cert_and_endpoint("CERT-A"));
        assert!(planned(&prior, &with_cert_and_endpoint("CERT-B")).get(CREDENTIAL_VERSION_ID).is_unknown());
        let mut new_ca = with_cert_and_endpoint("CERT-A");
        new_ca.set("broker_ca_pem", Value::string("CA-2"));
        assert!(planned(&prior, &new_ca).get(CREDENTIAL_VERSION_ID).is_unknown());
        // Certificate removed: no bundle of ours is current any more.
        assert!(planned(&prior, &config(&[(ENDPOINT.0, Value::string(ENDPOINT.1))])).get(CREDENTIAL_VERSION_ID).is_null());
    }

    #[test]
    fn a_renamed_config_secret_gets_a_new_arn() {
        let prior = applied(&with_cert_and_endpoint("CERT-A"));
        let mut renamed = with_cert_and_endpoint("CERT-A");
        renamed.set("config_secret_name", Value::string("mc-1/other/config"));
        let p = planned(&prior, &renamed);
        assert!(p.get(CONFIG_SECRET_ARN).is_unknown());
        assert_eq!(p.get(CREDENTIAL_VERSION_ID), &Value::string("v1"));
    }

    #[test]
    fn no_broker_endpoint_means_no_config_secret() {
        let prior = applied(&with_cert_and_endpoint("CERT-A"));
        let p = planned(&prior, &config(&[("certificate_pem", Value::string("CERT-A"))]));
        assert!(p.get(AGENT_CONFIG).is_null());
        assert!(p.get(CONFIG_SECRET_ARN).is_null());
        let created = planned(&Value::Null, &config(&[]));
        assert!(created.get(CONFIG_SECRET_ARN).is_null());
        assert!(created.get(CREDENTIAL_VERSION_ID).is_null());
    }

    #[test]
    fn a_deleted_association_is_re_created() {
        let mut prior = applied(&with_cert_and_endpoint("CERT-A"));
        Association::clear(&mut prior);
        let p = planned(&prior, &with_cert_and_endpoint("CERT-A"));
        assert!(p.get(ASSOCIATION_ID).is_unknown());
        assert!(p.get(ASSOCIATION_ARN).is_unknown());
    }

    #[test]
    fn create_plans_known_derived_values_and_unknown_secrets() {
        let p = planned(&Value::Null, &with_cert_and_endpoint("CERT-A"));
        assert_eq!(p.get("role_arn"), &Value::string(format!("arn:aws:iam::{ACCOUNT_ID}:role/mc-1-maestro-agent")));
        assert_eq!(p.get("mqtt_cert_secret_name"), &Value::string("mc-1/maestro/agent-mqtt-cert"));
        assert_eq!(p.get("cloudevents_client_id"), &Value::string("mc-1-work-agent"));
        assert!(p.get(AGENT_CONFIG).as_str().is_some_and(|c| c.contains(ENDPOINT.1)));
        assert!(p.get(CONFIG_SECRET_ARN).is_unknown());
        assert!(p.get(CREDENTIAL_VERSION_ID).is_unknown());
    }
}
