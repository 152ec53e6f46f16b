//! Planning, without an AWS client: the defaults that depend on other arguments or on the
//! provider, every value that follows from the arguments, and what the next apply will change
//! in the association and the secrets. Pure functions of the prior state, the configuration and
//! the provider's [`Account`], so each rule is unit-tested below.

use super::model::{Account, Association, Secrets, Spec, AGENT_CONFIG, ARGUMENTS, BROKER_REGION};
use crate::framework::{AttributePath, Diagnostic, Diagnostics, Value};
use crate::policy::agent_binding;
use crate::provider::charts::AgentChart;
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
    if a.agent_chart.is_none() {
        unset_chart_warning(p, diags);
    }
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
    } else if let (Some(id), Some(cluster), false) =
        (config.get("cloudevents_client_id").as_str(), cluster_id.as_str(), a.agent_chart.is_some_and(|c| c != AgentChart::Deployed))
    {
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
    let chart = a.chart();
    let names = [
        ("mqtt_cert_secret_name", AgentChart::cert_secret_name as fn(AgentChart, &str) -> String),
        ("config_secret_name", AgentChart::config_secret_name),
    ];
    for (attr, default) in names {
        if config.get(attr).is_null() {
            p.set(attr, cluster_id.as_str().map(|id| Value::string(default(chart, id))).unwrap_or(Value::Unknown));
        }
    }
    for (attr, default) in [("namespace", chart.namespace()), ("service_account", chart.service_account())] {
        if config.get(attr).is_null() {
            p.set(attr, Value::string(default));
        }
    }
}

/// Without `agent_chart` the names are seed 001's, which no published chart mounts: say which
/// names are used and how to name the chart installed.
fn unset_chart_warning(p: &Value, diags: &mut Diagnostics) {
    let shown = |attr: &str| p.get(attr).as_str().map(|s| format!("{s:?}")).unwrap_or_else(|| "(known after apply)".into());
    diags.push(Diagnostic::warning(
        "No agent_chart in the provider block",
        format!(
            "The provider block sets no agent_chart, so this agent uses the names of agent_chart = \"custom\" (seed 001's): credential secret {}, config secret {}, Pod Identity association for namespace {} and service account {}. Neither published agent chart mounts these. Set agent_chart in the provider block to the chart you install: \"rosa-regional-platform\" (the deployed chart), \"maestro\" (upstream's) or \"custom\" (your own, mounting kubernetes_manifests); see the chart guide.",
            shown("mqtt_cert_secret_name"),
            shown("config_secret_name"),
            shown("namespace"),
            shown("service_account"),
        ),
    ));
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
            agent_chart: None,
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

    /// A create plan with the provider's `agent_chart`, from a configuration without the
    /// chart-dependent arguments (as Terraform hands it: unset optional attributes null).
    fn planned_for(chart: Option<AgentChart>, extra: &[(&str, Value)]) -> (Value, Diagnostics) {
        let tags = BTreeMap::new();
        let mut config = with_cert_and_endpoint("CERT-A");
        config.set("namespace", Value::Null);
        config.set("service_account", Value::Null);
        for (k, x) in extra {
            config.set(k, x.clone());
        }
        let mut p = config.clone();
        let mut diags = Diagnostics::new();
        plan(Some(Account { agent_chart: chart, ..account(&tags) }), &config, &Value::Null, &mut p, &mut diags);
        (p, diags)
    }

    fn manifest(p: &Value, key: &str) -> serde_json::Value {
        serde_json::from_str(p.get("kubernetes_manifests").get(key).as_str().unwrap_or_else(|| panic!("no {key}"))).unwrap()
    }

    #[test]
    fn the_deployed_chart_gets_its_fixed_names_namespace_and_only_values_it_reads() {
        let (p, diags) = planned_for(Some(AgentChart::Deployed), &[]);
        assert!(diags.0.iter().all(|d| !d.summary.contains("agent_chart")), "{:?}", diags.0);
        assert_eq!(p.get("mqtt_cert_secret_name"), &Value::string("maestro/agent-cert"));
        assert_eq!(p.get("config_secret_name"), &Value::string("maestro/agent-config"));
        assert_eq!((p.get("namespace"), p.get("service_account")), (&Value::string("maestro-agent"), &Value::string("maestro-agent")));
        let policy = p.get("secrets_policy").as_str().unwrap().to_string();
        assert!(policy.contains(":secret:maestro/agent-cert-??????") && policy.contains(":secret:maestro/agent-config-??????"), "{policy}");
        assert!(p.get("helm_values").get("maestroAgent").get("broker").is_null());
        assert_eq!(p.get("helm_values").get("global").get("region"), &Value::string("us-east-1"));
        assert!(p.get("upstream_helm_values").is_null());
        assert!(p.get(AGENT_CONFIG).as_str().unwrap().contains("clientCertFile: \"/mnt/secrets-store/certificate\""));
        let spc = manifest(&p, "SecretProviderClass/maestro-agent-secrets");
        assert_eq!(spc["metadata"]["namespace"], "maestro-agent");
        assert_eq!(spc["spec"]["secretObjects"][0]["secretName"], "maestro-agent-env");
    }

    #[test]
    fn upstreams_chart_gets_its_service_account_cert_paths_and_the_objects_that_sync_its_secret() {
        let (p, _) = planned_for(Some(AgentChart::Upstream), &[]);
        assert_eq!(p.get("mqtt_cert_secret_name"), &Value::string("mc-1/maestro/agent-mqtt-cert"));
        assert_eq!(p.get("service_account"), &Value::string("maestro-agent-sa"));
        assert!(p.get("helm_values").is_null());
        assert_eq!(p.get("upstream_helm_values").get("serviceAccount").get("name"), &Value::string("maestro-agent-sa"));
        assert!(p.get(AGENT_CONFIG).as_str().unwrap().contains("caFile: \"/secrets/mqtt-certs/ca.crt\""));
        let external = manifest(&p, "ExternalSecret/maestro-agent-certs");
        assert_eq!(external["spec"]["target"]["name"], "maestro-agent-certs");
        assert_eq!(
            external["spec"]["data"][2]["remoteRef"],
            serde_json::json!({"key": "mc-1/maestro/agent-mqtt-cert", "property": "caCert"})
        );
        assert_eq!(external["spec"]["data"][2]["secretKey"], "ca.crt");
        assert_eq!(manifest(&p, "SecretStore/maestro-agent-certs-store")["spec"]["provider"]["aws"]["region"], "us-east-1");
        assert!(p.get("kubernetes_manifests_yaml").as_str().unwrap().contains("kind: \"ExternalSecret\""));
    }

    #[test]
    fn unset_keeps_seed_001s_names_with_one_warning_and_explicit_values_win() {
        let (p, diags) = planned_for(None, &[]);
        assert_eq!(p.get("mqtt_cert_secret_name"), &Value::string("mc-1/maestro/agent-mqtt-cert"));
        assert_eq!(p.get("namespace"), &Value::string("maestro"));
        assert!(!p.get("helm_values").is_null() && !p.get("upstream_helm_values").is_null());
        let warnings: Vec<_> = diags.0.iter().filter(|d| d.summary.contains("agent_chart")).collect();
        assert_eq!(warnings.len(), 1, "{:?}", diags.0);
        assert!(warnings[0].detail.contains("\"mc-1/maestro/agent-mqtt-cert\"") && warnings[0].detail.contains("namespace \"maestro\""));
        let (p, _) = planned_for(
            Some(AgentChart::Deployed),
            &[("namespace", Value::string("agents")), ("mqtt_cert_secret_name", Value::string("x/cert"))],
        );
        assert_eq!((p.get("namespace"), p.get("mqtt_cert_secret_name")), (&Value::string("agents"), &Value::string("x/cert")));
        // Explicit custom: neither published chart's values.
        let (p, diags) = planned_for(Some(AgentChart::Custom), &[]);
        assert!(p.get("helm_values").is_null() && p.get("upstream_helm_values").is_null());
        assert!(diags.0.iter().all(|d| !d.summary.contains("agent_chart")));
    }

    #[test]
    fn changing_the_chart_on_a_live_agent_replaces_what_moves() {
        let prior = applied(&config(&[(ENDPOINT.0, Value::string(ENDPOINT.1)), ("certificate_pem", Value::string("CERT-A"))]));
        let (p, _) = planned_for(Some(AgentChart::Deployed), &[]);
        let schema = super::super::schema::schema();
        let moved: Vec<String> = crate::framework::plan::replacement_paths(&schema, &prior, &p).iter().map(|a| a.to_string()).collect();
        // The association moves (replacement); the names change in place: the role's grants follow.
        assert_eq!(moved, vec!["namespace"]);
        assert_ne!(p.get("secrets_policy"), prior.get("secrets_policy"));
    }
}
