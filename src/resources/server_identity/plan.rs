//! Planning, without an AWS client: defaults, every value that follows from the arguments,
//! warnings where the deployed chart cannot follow the configuration, and what the next apply
//! does to the key, the certificates and the objects read found missing. Pure functions of
//! the prior state, the configuration, the provider's [`Account`] and the clock.

use super::model::{attr, Account, Spec, ARGUMENTS, KEY_ATTRIBUTES, STATUS_ACTIVE};
use crate::framework::{AttributePath, Diagnostic, Diagnostics, Value};
use crate::policy::server_binding::{DEFAULT_CERT_SECRET_NAME, DEFAULT_CLIENT_ID_PREFIX, DEFAULT_CONFIG_SECRET_NAME};
use crate::provider::charts::{ServerChart, DEPLOYED_DB_SECRET};
use crate::resources::common::{opt_text, set_all};
use crate::resources::rotation::{self, grace_secs, Previous};
use std::time::SystemTime;

/// Maestro's own `--source-id` default, which the deployed server chart does not override.
const MAESTRO_DEFAULT_SOURCE_ID: &str = "maestro";

/// Inputs the plan takes from the provider: its account, topic prefix and the IoT endpoint.
pub struct Context<'a> {
    pub account: Account<'a>,
    pub topic_prefix: &'a str,
    pub endpoint: Option<String>,
}

pub fn plan(cx: Option<Context>, config: &Value, prior: &Value, p: &mut Value, now: SystemTime, diags: &mut Diagnostics) {
    let Some(cx) = cx else { return };
    if config.get(attr::TOPIC_PREFIX).is_null() {
        p.set(attr::TOPIC_PREFIX, Value::string(cx.topic_prefix));
    }
    if let Some(host) = &cx.endpoint {
        p.set(attr::ENDPOINT, Value::string(host));
    }
    if p.attributes_known(ARGUMENTS) {
        let spec = Spec::from_value(p);
        set_all(p, spec.derived(cx.account));
        match cx.account.server_chart {
            Some(ServerChart::Custom) => {}
            Some(ServerChart::Deployed) => {
                chart_warnings(&spec, diags);
                deployed_chart_checks(&spec, diags);
            }
            None => {
                chart_warnings(&spec, diags);
                diags.push(Diagnostic::warning(
                    "No server_chart in the provider block",
                    format!("The provider block sets no server_chart, so this server identity behaves as with server_chart = \"custom\": it writes {:?} and {:?} and grants read on the database secret only when db_credentials_secret_arn is set. The deployed server chart also mounts maestro/db-credentials, and its pods do not start when the role cannot read it. Set server_chart in the provider block to the chart you install: \"rosa-regional-platform\" (the deployed chart) or \"custom\" (your own, mounting kubernetes_manifests); see the chart guide.", spec.certificate_secret_name, spec.config_secret_name),
                ));
            }
        }
    }
    if !prior.is_null() {
        // Objects read found gone, or renamed, are made again by the next apply.
        let changed = |names: &[&str]| names.iter().any(|n| prior.get(n) != p.get(n));
        let remade = [
            (&[attr::ASSOCIATION_ID, attr::ASSOCIATION_ARN][..], changed(&[attr::NAMESPACE, attr::SERVICE_ACCOUNT])),
            (&[attr::CONFIG_SECRET_ARN][..], changed(&[attr::CONFIG_SECRET_NAME])),
            (&[attr::CERTIFICATE_SECRET_ARN][..], changed(&[attr::CERTIFICATE_SECRET_NAME])),
        ];
        for (names, renamed) in remade {
            if renamed || names.iter().any(|n| prior.get(n).is_null()) {
                for name in names {
                    p.set(name, Value::Unknown);
                }
            }
        }
    }
    plan_key(prior, p, now);
}

/// The key and certificates: a new pair when rotation is due, the current certificate ACTIVE
/// after every apply, and the previous ones with their deadlines.
fn plan_key(prior: &Value, p: &mut Value, now: SystemTime) {
    p.set(attr::CERTIFICATE_STATUS, Value::string(STATUS_ACTIVE));
    p.set(attr::POLICY_ATTACHED, Value::Bool(true));
    if prior.is_null() {
        Previous::write_list(p, &[]);
        return;
    }
    let rotate = rotation_planned(prior, p, now);
    if rotate {
        for name in KEY_ATTRIBUTES {
            p.set(name, Value::Unknown);
        }
    }
    let Some(new_grace) = grace_secs(p) else {
        Previous::mark_unknown(p);
        return;
    };
    let old_grace = grace_secs(prior).unwrap_or(new_grace);
    let replaced = opt_text(prior, attr::CERTIFICATE_ID).zip(opt_text(prior, attr::CERTIFICATE_ARN)).filter(|_| rotate);
    let now_secs = now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default();
    Previous::write_list(p, &rotation::planned_previous(&Previous::list(prior), old_grace, new_grace, replaced, now_secs));
}

/// Whether the plan makes a new key and certificate: a new algorithm, changed triggers, the
/// key reaching `rotate_after_days`, or no usable current pair (read found the certificate
/// gone or not ACTIVE-able, or the secret no longer serving our bundle).
pub fn rotation_planned(prior: &Value, planned: &Value, now: SystemTime) -> bool {
    prior.get(attr::ALGORITHM) != planned.get(attr::ALGORITHM)
        || prior.get(attr::ROTATION_TRIGGERS) != planned.get(attr::ROTATION_TRIGGERS)
        || prior.get(attr::CERTIFICATE_SECRET_NAME) != planned.get(attr::CERTIFICATE_SECRET_NAME)
        || prior.get(attr::CERTIFICATE_ID).is_null()
        || prior.get(attr::CREDENTIAL_VERSION_ID).is_null()
        || prior.get(attr::CERTIFICATE_STATUS).as_str() == Some("REVOKED")
        || match (planned.get(attr::ROTATE_AFTER_DAYS).as_i64(), prior.get(attr::KEY_CREATED_AT).as_str()) {
            (Some(days), Some(created)) => rotation::rotation_due(created, days, now),
            _ => false,
        }
}

/// What the deployed server chart needs that no value can change: the database secret it
/// mounts by a fixed name (a different one configured would fail the whole mount), and its
/// two replicas sharing one MQTT client ID.
fn deployed_chart_checks(spec: &Spec, diags: &mut Diagnostics) {
    if let Some(name) = spec.db_credentials_secret_name().filter(|n| n != DEPLOYED_DB_SECRET) {
        diags.push(
            Diagnostic::error(
                "The deployed server chart mounts another database secret",
                format!("server_chart = \"rosa-regional-platform\" mounts the database secret {DEPLOYED_DB_SECRET:?} by that fixed name, and its pods do not start when the role cannot read every secret of the mount; db_credentials_secret_arn names {name:?}, which the chart never mounts, so the role would read the wrong one. Store the credentials as {DEPLOYED_DB_SECRET:?} and leave db_credentials_secret_arn unset (the role is then granted read on it), or run the server with server_chart = \"custom\" and a chart mounting kubernetes_manifests."),
            )
            .at(AttributePath::root(attr::DB_CREDENTIALS_SECRET_ARN)),
        );
    }
    diags.push(Diagnostic::warning(
        "The deployed server chart's replicas share one client ID",
        format!("server_chart = \"rosa-regional-platform\" runs 2 replicas and passes no --client-id, so both connect to IoT Core as `{}` and each connection drops the other's. Run one replica (maestroServer.deployment.replicas = 1), or a chart that passes --client-id={}-$(POD_NAME), which this identity's policy already allows.", spec.client_id_prefix, spec.client_id_prefix),
    ));
}

/// The deployed server chart hard-codes its SecretProviderClass object names and passes no
/// `--client-id` or `--source-id`; say so where the configuration needs what it cannot do.
fn chart_warnings(spec: &Spec, diags: &mut Diagnostics) {
    let chart = "The deployed server chart (rosa-regional-platform regional-cluster/maestro-server)";
    for (attribute, value, default) in [
        (attr::CERTIFICATE_SECRET_NAME, &spec.certificate_secret_name, DEFAULT_CERT_SECRET_NAME),
        (attr::CONFIG_SECRET_NAME, &spec.config_secret_name, DEFAULT_CONFIG_SECRET_NAME),
    ] {
        if value != default {
            diags.push(
                Diagnostic::warning(
                    "The deployed server chart cannot mount this secret",
                    format!("{chart} mounts the secret {default:?} by that fixed name, so with {attribute} = {value:?} only a chart that takes the name (or your own SecretProviderClass) finds it."),
                )
                .at(AttributePath::root(attribute)),
            );
        }
    }
    let source_id = crate::policy::naming::source_id_of_prefix(&spec.topic_prefix).unwrap_or_default();
    if source_id != MAESTRO_DEFAULT_SOURCE_ID {
        diags.push(
            Diagnostic::warning(
                "The deployed server chart cannot pass this source ID",
                format!("{chart} passes no --source-id, so the server runs with Maestro's default `maestro` and refuses to subscribe to topics whose source level is {source_id:?}. Add `--source-id={source_id}` (see server_flags) to the server's command."),
            )
            .at(AttributePath::root(attr::TOPIC_PREFIX)),
        );
    }
    if spec.client_id_prefix != DEFAULT_CLIENT_ID_PREFIX {
        diags.push(
            Diagnostic::warning(
                "The deployed server chart cannot pass this client ID",
                format!("{chart} passes no --client-id, so the server connects as Maestro's default `maestro`, which this policy does not allow with client_id_prefix = {:?}. Add the `--client-id` of server_flags to the server's command.", spec.client_id_prefix),
            )
            .at(AttributePath::root(attr::CLIENT_ID_PREFIX)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    const NOW: u64 = 1_767_225_600;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn account(tags: &BTreeMap<String, String>) -> Account<'_> {
        Account { partition: "aws", region: "us-east-1", account_id: "123456789012", default_tags: tags, server_chart: None }
    }

    fn config() -> Value {
        Value::object([
            (attr::NAME, Value::string("regional-01")),
            (attr::EKS_CLUSTER_NAME, Value::string("regional")),
            (attr::NAMESPACE, Value::string("maestro-server")),
            (attr::SERVICE_ACCOUNT, Value::string("maestro-server")),
            (attr::TOPIC_PREFIX, Value::Null),
            (attr::CLIENT_ID_PREFIX, Value::string("maestro")),
            (attr::SUBSCRIPTION_TYPE, Value::string("shared")),
            (attr::SHARED_SUBSCRIPTION_GROUP, Value::string("statussubscribers")),
            (attr::CERTIFICATE_SECRET_NAME, Value::string(DEFAULT_CERT_SECRET_NAME)),
            (attr::CONFIG_SECRET_NAME, Value::string(DEFAULT_CONFIG_SECRET_NAME)),
            (attr::DB_CREDENTIALS_SECRET_ARN, Value::Null),
            (attr::KMS_KEY_ARN, Value::Null),
            (attr::TAGS, Value::Null),
            (attr::ALGORITHM, Value::string("ECDSA_P256")),
            (attr::CERTIFICATE_GRACE_PERIOD_HOURS, Value::from(24i64)),
        ])
    }

    fn applied() -> Value {
        let mut v = config();
        v.set(attr::TOPIC_PREFIX, Value::string("sources/maestro/consumers"));
        for (k, val) in [
            (attr::CERTIFICATE_ID, "cur"),
            (attr::CERTIFICATE_ARN, "arn:cur"),
            (attr::CREDENTIAL_VERSION_ID, "v1"),
            (attr::CERTIFICATE_STATUS, "ACTIVE"),
            (attr::KEY_CREATED_AT, "2026-01-01T00:00:00Z"),
            (attr::ASSOCIATION_ID, "a-1"),
            (attr::ASSOCIATION_ARN, "arn:a-1"),
            (attr::CONFIG_SECRET_ARN, "arn:config"),
            (attr::CERTIFICATE_SECRET_ARN, "arn:cert"),
        ] {
            v.set(k, Value::string(val));
        }
        Previous::write_list(&mut v, &[]);
        v
    }

    fn run(prior: &Value, planned: Value) -> (Value, Diagnostics) {
        let tags = BTreeMap::new();
        let account = Account { server_chart: Some(ServerChart::Custom), ..account(&tags) };
        let cx = Context { account, topic_prefix: "sources/maestro/consumers", endpoint: Some("x-ats.iot".into()) };
        let mut p = planned;
        let mut diags = Diagnostics::new();
        plan(Some(cx), &config(), prior, &mut p, at(NOW), &mut diags);
        (p, diags)
    }

    #[test]
    fn a_create_plan_shows_every_derived_value() {
        let (p, diags) = run(&Value::Null, config());
        assert!(diags.0.is_empty(), "{diags:?}");
        assert_eq!(p.get(attr::TOPIC_PREFIX), &Value::string("sources/maestro/consumers"));
        assert_eq!(p.get(attr::SOURCE_ID), &Value::string("maestro"));
        assert_eq!(p.get(attr::ROLE_ARN), &Value::string("arn:aws:iam::123456789012:role/regional-01-maestro-server"));
        let config_yaml = p.get(attr::SERVER_CONFIG).as_str().unwrap().to_string();
        assert!(config_yaml.contains("brokerHost: \"x-ats.iot:8883\""), "{config_yaml}");
        assert!(config_yaml.contains("agentEvents: \"$share/statussubscribers/sources/maestro/consumers/+/agentevents\""), "{config_yaml}");
        assert_eq!(
            p.get(attr::HELM_VALUES).get("maestroServer").get("externalSecrets").get("mqttCertSecretName"),
            &Value::string("maestro/server-cert")
        );
    }

    #[test]
    fn nothing_changes_without_a_reason_and_a_trigger_rotates_with_grace() {
        let prior = applied();
        let (same, _) = run(&prior, prior.clone());
        assert_eq!(same.get(attr::CERTIFICATE_ID), &Value::string("cur"));
        assert_eq!(Previous::planned(&same), Some(vec![]));
        let mut triggered = prior.clone();
        triggered.set(attr::ROTATION_TRIGGERS, Value::object([("n", Value::string("2"))]));
        let (p, _) = run(&prior, triggered);
        assert!(KEY_ATTRIBUTES.iter().all(|a| p.get(a).is_unknown()));
        let previous = Previous::planned(&p).unwrap();
        assert_eq!(previous.len(), 1);
        assert_eq!(previous[0].certificate_id, "cur");
        assert_eq!(previous[0].retire_after, None, "the deadline is set when the apply replaces it");
    }

    #[test]
    fn age_lost_objects_and_a_broken_bundle_are_planned() {
        let prior = applied();
        let mut aged = prior.clone();
        aged.set(attr::ROTATE_AFTER_DAYS, Value::from(30i64));
        assert!(rotation_planned(&prior, &aged, at(NOW + 31 * 86_400)));
        assert!(!rotation_planned(&prior, &aged, at(NOW - 86_400)));
        let mut no_bundle = prior.clone();
        no_bundle.set(attr::CREDENTIAL_VERSION_ID, Value::Null);
        assert!(rotation_planned(&no_bundle, &prior, at(NOW)));
        let mut gone = prior.clone();
        gone.set(attr::ASSOCIATION_ID, Value::Null);
        let (p, _) = run(&gone, prior.clone());
        assert!(p.get(attr::ASSOCIATION_ID).is_unknown());
    }

    #[test]
    fn the_deployed_chart_warnings_name_the_attribute() {
        let mut custom = config();
        custom.set(attr::CERTIFICATE_SECRET_NAME, Value::string("other/cert"));
        custom.set(attr::CLIENT_ID_PREFIX, Value::string("mq"));
        custom.set(attr::TOPIC_PREFIX, Value::string("sources/blue/consumers"));
        let tags = BTreeMap::new();
        let cx = Context { account: account(&tags), topic_prefix: "sources/maestro/consumers", endpoint: None };
        let mut diags = Diagnostics::new();
        let mut p = custom.clone();
        plan(Some(cx), &custom, &Value::Null, &mut p, at(NOW), &mut diags);
        let mut at_: Vec<String> = diags.0.iter().filter_map(|d| d.attribute.as_ref().map(|a| a.to_string())).collect();
        at_.sort();
        assert_eq!(at_, vec![attr::CERTIFICATE_SECRET_NAME, attr::CLIENT_ID_PREFIX, attr::TOPIC_PREFIX]);
        // Unset: the one warning saying which names are used and to set server_chart.
        assert_eq!(diags.0.iter().filter(|d| d.summary.contains("No server_chart")).count(), 1);
    }

    fn planned_with(chart: Option<ServerChart>, config: &Value) -> (Value, Diagnostics) {
        let tags = BTreeMap::new();
        let account = Account { server_chart: chart, ..account(&tags) };
        let cx = Context { account, topic_prefix: "sources/maestro/consumers", endpoint: None };
        let mut diags = Diagnostics::new();
        let mut p = config.clone();
        plan(Some(cx), config, &Value::Null, &mut p, at(NOW), &mut diags);
        (p, diags)
    }

    #[test]
    fn the_deployed_chart_gets_read_on_its_database_secret_and_a_replica_warning() {
        let (p, diags) = planned_with(Some(ServerChart::Deployed), &config());
        let policy = p.get(attr::SECRETS_POLICY).as_str().unwrap().to_string();
        assert!(policy.contains(":secret:maestro/db-credentials-??????"), "{policy}");
        assert!(diags.0.iter().any(|d| d.summary.contains("share one client ID") && d.detail.contains("--client-id=maestro-$(POD_NAME)")));
        assert!(!diags.has_errors());
        let spc = p.get("kubernetes_manifests").get("SecretProviderClass/maestro-server-secrets").as_str().unwrap().to_string();
        assert!(spc.contains("maestro/db-credentials") && spc.contains("db.password"), "{spc}");
        // Custom: nothing the deployed chart needs, no warning about it.
        let (p, diags) = planned_with(Some(ServerChart::Custom), &config());
        assert!(!p.get(attr::SECRETS_POLICY).as_str().unwrap().contains("db-credentials"));
        assert!(diags.0.is_empty(), "{:?}", diags.0);
    }

    #[test]
    fn the_deployed_chart_refuses_a_database_secret_it_does_not_mount() {
        let mut c = config();
        c.set(attr::DB_CREDENTIALS_SECRET_ARN, Value::string("arn:aws:secretsmanager:us-east-1:123456789012:secret:rds/maestro-AbC123"));
        let (_, diags) = planned_with(Some(ServerChart::Deployed), &c);
        let error = diags.0.iter().find(|d| d.summary.contains("another database secret")).expect("refused");
        assert_eq!(error.attribute.as_ref().unwrap().to_string(), attr::DB_CREDENTIALS_SECRET_ARN);
        assert!(error.detail.contains("\"rds/maestro\""), "{}", error.detail);
    }
}
