//! The Helm charts that run Maestro, chosen once in the provider block (`agent_chart`,
//! `server_chart`), and everything that follows from the choice: the secret names the chart
//! mounts, the namespace and service account its pods run as, where its config.yaml finds the
//! certificate files, and the Kubernetes objects the chart needs but does not render.
//!
//! Facts (read from the charts' sources 2026-12-07):
//! - rosa-regional-platform `argocd/config/management-cluster/maestro-agent`: SecretProviderClass
//!   `<fullname>-secrets` mounts `maestro/agent-cert` and `maestro/agent-config` by those fixed
//!   names at `/mnt/secrets-store`, syncs `consumerName` into the Secret `maestro-agent-env`;
//!   the ApplicationSet installs it in namespace `maestro-agent`, service account
//!   `maestroAgent.maestro.serviceAccount` (default `maestro-agent`).
//! - openshift-online/maestro `charts/maestro-agent`: renders config.yaml itself, reads the
//!   certificate files from the Kubernetes Secret `maestro-agent-certs` at `/secrets/mqtt-certs`;
//!   service account `serviceAccount.name` (default `maestro-agent-sa`).
//! - rosa-regional-platform `argocd/config/regional-cluster/maestro-server`: mounts
//!   `maestro/db-credentials`, `maestro/server-cert`, `maestro/server-config`; 2 replicas, no
//!   `--client-id`.

use crate::framework::{AttributePath, Diagnostic, Value};
use crate::policy::agent_binding;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::sync::Mutex;

pub const DEPLOYED: &str = "rosa-regional-platform";
pub const UPSTREAM: &str = "maestro";
pub const CUSTOM: &str = "custom";
pub const AGENT_CHARTS: &[&str] = &[DEPLOYED, UPSTREAM, CUSTOM];

/// Where the Secrets Store CSI driver mounts a SecretProviderClass in the deployed charts.
pub const CSI_MOUNT: &str = "/mnt/secrets-store";
/// Where upstream's agent chart mounts the Kubernetes Secret `maestro-agent-certs`.
pub const UPSTREAM_CERTS_DIR: &str = "/secrets/mqtt-certs";
/// The Kubernetes Secret upstream's agent chart reads the certificate files from.
pub const UPSTREAM_CERTS_SECRET: &str = "maestro-agent-certs";

/// The deployed agent chart's fixed secret names.
pub const DEPLOYED_AGENT_CERT_SECRET: &str = "maestro/agent-cert";
pub const DEPLOYED_AGENT_CONFIG_SECRET: &str = "maestro/agent-config";
/// The database secret the deployed server chart mounts by that fixed name.
pub const DEPLOYED_DB_SECRET: &str = "maestro/db-credentials";

/// The chart that runs the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentChart {
    /// rosa-regional-platform `argocd/config/management-cluster/maestro-agent`.
    Deployed,
    /// openshift-online/maestro `charts/maestro-agent`.
    Upstream,
    /// The user's own chart, with seed 001's names.
    Custom,
}

impl AgentChart {
    pub fn parse(s: &str) -> Option<AgentChart> {
        match s {
            DEPLOYED => Some(AgentChart::Deployed),
            UPSTREAM => Some(AgentChart::Upstream),
            CUSTOM => Some(AgentChart::Custom),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AgentChart::Deployed => DEPLOYED,
            AgentChart::Upstream => UPSTREAM,
            AgentChart::Custom => CUSTOM,
        }
    }

    /// The provider's choice; unset is `Custom` (seed 001's names, as before the choice existed).
    pub fn or_custom(chart: Option<AgentChart>) -> AgentChart {
        chart.unwrap_or(AgentChart::Custom)
    }

    pub fn cert_secret_name(self, cluster_id: &str) -> String {
        match self {
            AgentChart::Deployed => DEPLOYED_AGENT_CERT_SECRET.into(),
            _ => agent_binding::default_cert_secret_name(cluster_id),
        }
    }

    pub fn config_secret_name(self, cluster_id: &str) -> String {
        match self {
            AgentChart::Deployed => DEPLOYED_AGENT_CONFIG_SECRET.into(),
            _ => agent_binding::default_config_secret_name(cluster_id),
        }
    }

    /// The namespace the agent's pods run in: the deployed chart's ApplicationSet installs it
    /// in `maestro-agent`; upstream's chart goes where it is installed, and its docs use
    /// `maestro-agent` too; seed 001's module bound `maestro`.
    pub fn namespace(self) -> &'static str {
        match self {
            AgentChart::Deployed | AgentChart::Upstream => "maestro-agent",
            AgentChart::Custom => agent_binding::DEFAULT_NAMESPACE,
        }
    }

    pub fn service_account(self) -> &'static str {
        match self {
            AgentChart::Upstream => "maestro-agent-sa",
            _ => agent_binding::DEFAULT_SERVICE_ACCOUNT,
        }
    }

    /// The directory config.yaml's `clientCertFile`, `clientKeyFile` and `caFile` are in.
    pub fn certs_dir(self) -> &'static str {
        match self {
            AgentChart::Upstream => UPSTREAM_CERTS_DIR,
            _ => CSI_MOUNT,
        }
    }
}

/// The chart that runs the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerChart {
    /// rosa-regional-platform `argocd/config/regional-cluster/maestro-server`.
    Deployed,
    /// The user's own chart.
    Custom,
}

impl ServerChart {
    pub fn parse(s: &str) -> Option<ServerChart> {
        match s {
            DEPLOYED => Some(ServerChart::Deployed),
            CUSTOM => Some(ServerChart::Custom),
            _ => None,
        }
    }
}

/// `server_chart`'s validator: upstream's server chart is named, and refused with why.
pub fn server_chart_validator() -> crate::framework::schema::Validator {
    std::sync::Arc::new(|v: &Value| {
        match v.as_str() {
        None | Some(DEPLOYED) | Some(CUSTOM) => Ok(()),
        Some(UPSTREAM) => Err("upstream's server chart (openshift-online/maestro charts/maestro-server) reads its MQTT certificate from the Kubernetes Secret maestro-server-certs (client.crt, client.key, ca.crt) and renders its own config.yaml, which this provider does not produce yet; set \"custom\" and mount the provider's secrets with maestro_server_identity.kubernetes_manifests".into()),
        Some(other) => Err(format!("must be one of {DEPLOYED}, {CUSTOM}, got {other:?}")),
    }
    })
}

/// One `objects` entry of a SecretProviderClass: a Secrets Manager secret and its JSON keys
/// mapped to file names (jmesPath path → objectAlias).
pub struct MountedSecret<'a> {
    pub name: &'a str,
    pub keys: &'a [(&'a str, &'a str)],
}

/// The credential bundle's keys as both the deployed charts map them.
pub const CERT_KEYS: &[(&str, &str)] = &[("certificate", "certificate"), ("privateKey", "privateKey"), ("caCert", "ca.crt")];
pub const AGENT_CONFIG_KEYS: &[(&str, &str)] = &[("config", "config.yaml"), ("consumerName", "consumerName")];
pub const SERVER_CONFIG_KEYS: &[(&str, &str)] = &[("config", "config.yaml")];
pub const DB_KEYS: &[(&str, &str)] =
    &[("username", "db.user"), ("password", "db.password"), ("host", "db.host"), ("port", "db.port"), ("database", "db.name")];

/// The `objects` parameter: a YAML list, as the AWS provider of the CSI driver parses it.
fn objects_yaml(secrets: &[MountedSecret]) -> String {
    let q = crate::policy::agent_config::yaml_quote;
    let mut out = String::new();
    for s in secrets {
        out.push_str(&format!("- objectName: {}\n  objectType: \"secretsmanager\"\n  jmesPath:\n", q(s.name)));
        for (path, alias) in s.keys {
            out.push_str(&format!("    - path: {}\n      objectAlias: {}\n", q(path), q(alias)));
        }
    }
    out
}

/// A SecretProviderClass (AWS provider, EKS Pod Identity) mounting `secrets`; `sync` adds
/// `secretObjects` (Kubernetes Secret name, [(objectAlias, key)]).
pub fn secret_provider_class(
    name: &str,
    namespace: &str,
    region: &str,
    secrets: &[MountedSecret],
    sync: Option<(&str, &[(&str, &str)])>,
) -> Json {
    let mut spec = json!({
        "provider": "aws",
        "parameters": {"usePodIdentity": "true", "region": region, "objects": objects_yaml(secrets)},
    });
    if let Some((secret, data)) = sync {
        let data: Vec<Json> = data.iter().map(|(object, key)| json!({"objectName": object, "key": key})).collect();
        spec["secretObjects"] = json!([{"secretName": secret, "type": "Opaque", "data": data}]);
    }
    json!({
        "apiVersion": "secrets-store.csi.x-k8s.io/v1",
        "kind": "SecretProviderClass",
        "metadata": {"name": name, "namespace": namespace, "labels": managed_labels()},
        "spec": spec,
    })
}

fn managed_labels() -> Json {
    json!({"app.kubernetes.io/managed-by": "terraform-provider-maestro"})
}

/// External Secrets Operator objects that keep the Kubernetes Secret `target` in step with the
/// credential secret without any pod mounting it: a SecretStore authenticated as the ESO
/// controller (its EKS Pod Identity, the default credential chain) and an ExternalSecret
/// mapping the bundle's keys to the Secret's keys.
pub fn external_secret_objects(namespace: &str, region: &str, cert_secret: &str, target: &str) -> [Json; 2] {
    let store = format!("{target}-store");
    let data: Vec<Json> = CERT_KEYS
        .iter()
        .map(|(property, key)| json!({"secretKey": key, "remoteRef": {"key": cert_secret, "property": property}}))
        .collect();
    [
        json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "SecretStore",
            "metadata": {"name": store, "namespace": namespace, "labels": managed_labels()},
            "spec": {"provider": {"aws": {"service": "SecretsManager", "region": region}}},
        }),
        json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "ExternalSecret",
            "metadata": {"name": target, "namespace": namespace, "labels": managed_labels()},
            "spec": {
                "refreshInterval": "5m",
                "secretStoreRef": {"kind": "SecretStore", "name": store},
                "target": {"name": target, "creationPolicy": "Owner"},
                "data": data,
            },
        }),
    ]
}

/// The objects as a map (`<Kind>/<name>` → JSON) and as one multi-document YAML; each
/// identity's model names the two attributes that carry them.
pub fn manifest_outputs(objects: &[Json]) -> (Value, Value) {
    let mut map = BTreeMap::new();
    let mut yaml = String::new();
    for o in objects {
        let key = format!("{}/{}", o["kind"].as_str().unwrap_or_default(), o["metadata"]["name"].as_str().unwrap_or_default());
        map.insert(key, o.to_string());
        yaml.push_str("---\n");
        yaml.push_str(&to_yaml(o, 0));
    }
    (Value::string_map(&map), Value::string(yaml))
}

/// YAML block style for a JSON document: every string double-quoted (nothing re-typed),
/// multi-line strings as literal blocks.
fn to_yaml(v: &Json, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    match v {
        Json::Object(map) => {
            for (k, x) in map {
                match x {
                    Json::Object(m) if !m.is_empty() => out.push_str(&format!("{pad}{k}:\n{}", to_yaml(x, indent + 2))),
                    Json::Array(a) if !a.is_empty() => out.push_str(&format!("{pad}{k}:\n{}", to_yaml(x, indent))),
                    _ => out.push_str(&format!("{pad}{k}: {}\n", scalar(x, indent + 2))),
                }
            }
        }
        Json::Array(items) => {
            for x in items {
                let body = to_yaml(x, indent + 2);
                out.push_str(&format!("{pad}- {}", body.trim_start()));
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other, indent))),
    }
    out
}

fn scalar(v: &Json, indent: usize) -> String {
    match v {
        Json::String(s) if s.contains('\n') => {
            let pad = " ".repeat(indent);
            let body: String = s.lines().map(|l| format!("\n{pad}{l}")).collect();
            format!("|{}{body}", if s.ends_with('\n') { "" } else { "-" })
        }
        Json::String(s) => crate::policy::agent_config::yaml_quote(s),
        Json::Object(_) => "{}".into(),
        Json::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

/// The deployed agent chart mounts fixed names, so one management account and region holds
/// one such agent. Plans of one provider configuration run in one process: the first cluster
/// that claims the names is remembered here, and any other is refused.
#[derive(Default)]
pub struct DeployedAgentClaims(Mutex<Option<String>>);

impl DeployedAgentClaims {
    /// Records `cluster_id` as the agent using the deployed chart's names; returns the cluster
    /// that claimed them first when it is another.
    pub fn claim(&self, cluster_id: &str) -> Option<String> {
        let mut owner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let owner = owner.get_or_insert_with(|| cluster_id.to_string());
        (owner != cluster_id).then(|| owner.clone())
    }
}

/// Why a second agent cannot use the deployed agent chart's names, and the way out.
pub fn one_deployed_agent_per_account(cluster_id: &str, owner: &str, how: &str, at: &str) -> Diagnostic {
    Diagnostic::error(
        "One deployed-chart agent per management account and region",
        format!("agent_chart = \"{DEPLOYED}\" mounts the secrets {DEPLOYED_AGENT_CERT_SECRET} and {DEPLOYED_AGENT_CONFIG_SECRET} by those fixed names, so one management account and region holds one such agent, and {owner} {how}. Cluster {cluster_id} cannot use them too: its key would overwrite that agent's. Run {cluster_id}'s agent with another chart: agent_chart = \"{UPSTREAM}\", or \"{CUSTOM}\" with a chart of your own mounting the SecretProviderClass in maestro_agent_identity.kubernetes_manifests (each cluster its own names), in a provider block of its own."),
    )
    .at(AttributePath::root(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_agent_default_follows_from_the_choice() {
        let d = AgentChart::Deployed;
        assert_eq!((d.cert_secret_name("mc"), d.config_secret_name("mc")), ("maestro/agent-cert".into(), "maestro/agent-config".into()));
        assert_eq!((d.namespace(), d.service_account(), d.certs_dir()), ("maestro-agent", "maestro-agent", "/mnt/secrets-store"));
        let u = AgentChart::Upstream;
        assert_eq!(u.cert_secret_name("mc"), "mc/maestro/agent-mqtt-cert");
        assert_eq!((u.namespace(), u.service_account(), u.certs_dir()), ("maestro-agent", "maestro-agent-sa", "/secrets/mqtt-certs"));
        let c = AgentChart::or_custom(None);
        assert_eq!(c, AgentChart::Custom);
        assert_eq!(
            (c.cert_secret_name("mc"), c.config_secret_name("mc")),
            ("mc/maestro/agent-mqtt-cert".into(), "mc/maestro/agent-config".into())
        );
        assert_eq!((c.namespace(), c.service_account()), ("maestro", "maestro-agent"));
    }

    #[test]
    fn the_secret_provider_class_maps_keys_as_the_deployed_chart() {
        let spc = secret_provider_class(
            "maestro-agent-secrets",
            "maestro-agent",
            "us-east-1",
            &[MountedSecret { name: "maestro/agent-cert", keys: CERT_KEYS }],
            Some(("maestro-agent-env", &[("consumerName", "CONSUMER_NAME")])),
        );
        assert_eq!(spc["spec"]["parameters"]["usePodIdentity"], "true");
        let objects = spc["spec"]["parameters"]["objects"].as_str().unwrap();
        assert!(objects.starts_with("- objectName: \"maestro/agent-cert\"\n  objectType: \"secretsmanager\"\n  jmesPath:\n"), "{objects}");
        assert!(objects.ends_with("    - path: \"caCert\"\n      objectAlias: \"ca.crt\"\n"), "{objects}");
        assert_eq!(spc["spec"]["secretObjects"][0]["data"][0]["key"], "CONSUMER_NAME");
    }

    #[test]
    fn manifests_come_as_a_map_and_as_yaml() {
        let spc = secret_provider_class("x", "ns", "us-east-1", &[MountedSecret { name: "a/b", keys: CERT_KEYS }], None);
        let (map, yaml) = manifest_outputs(std::slice::from_ref(&spc));
        assert_eq!(map.get("SecretProviderClass/x").as_str().map(|s| serde_json::from_str::<Json>(s).unwrap()), Some(spc));
        let yaml = yaml.as_str().unwrap().to_string();
        assert!(yaml.starts_with("---\napiVersion: \"secrets-store.csi.x-k8s.io/v1\"\n"), "{yaml}");
        assert!(yaml.contains("    objects: |\n      - objectName: \"a/b\"\n"), "{yaml}");
    }

    #[test]
    fn a_second_cluster_claiming_the_deployed_names_is_refused() {
        let claims = DeployedAgentClaims::default();
        assert_eq!(claims.claim("mc-1"), None);
        assert_eq!(claims.claim("mc-1"), None);
        assert_eq!(claims.claim("mc-2").as_deref(), Some("mc-1"));
    }

    #[test]
    fn upstreams_server_chart_is_refused_with_why() {
        let v = server_chart_validator();
        assert!(v(&Value::string(DEPLOYED)).is_ok() && v(&Value::string(CUSTOM)).is_ok());
        assert!(v(&Value::string(UPSTREAM)).unwrap_err().contains("maestro-server-certs"));
        assert!(v(&Value::string("helm")).is_err());
    }
}
