"""What the Maestro Helm charts read (the two agent charts and the deployed server chart),
recorded as data so the tests can check the provider's outputs against the charts instead of
against the provider itself.

Facts taken from the charts' sources (read 2026-12-01):

- **Deployed chart**: rosa-regional-platform `argocd/config/management-cluster/maestro-agent`
  (`values.yaml`, `templates/secretproviderclass.yaml`, `templates/deployment.yaml`). Its
  SecretProviderClass (AWS provider, `usePodIdentity: "true"`, region `global.region`, which its template `required`s)
  mounts two secrets by FIXED names, `maestro/agent-cert` and `maestro/agent-config`, at
  `/mnt/secrets-store`; the agent runs with `--workload-source-config=/mnt/secrets-store/config.yaml`
  and `--cloudevents-client-id=$(CONSUMER_NAME)-work-agent`, CONSUMER_NAME synced from the
  mounted `consumerName`.
- **Upstream chart**: openshift-online/maestro `charts/maestro-agent` (`values.yaml`,
  `templates/secret.yaml`, `templates/deployment.yaml`). It renders config.yaml itself from
  `messageBroker.mqtt.*` (topics fixed to `sources/maestro/consumers/<consumerName>/...`),
  mounts it at `/secrets/mqtt/`, mounts the Kubernetes secret `maestro-agent-certs` at
  `/secrets/mqtt-certs` when `rootCert` is set, and passes
  `--cloudevents-client-id={{ .Values.cloudeventsClientId }}`.
- **Deployed server chart**: rosa-regional-platform `argocd/config/regional-cluster/maestro-server`
  (`templates/secretproviderclass.yaml`). Its SecretProviderClass (AWS provider, Pod Identity)
  mounts three secrets by FIXED names at `/mnt/secrets-store`: `maestro/server-cert`
  (`certificate`, `privateKey`, `caCert` → `ca.crt`), `maestro/server-config` (`config` →
  `config.yaml`, which `--message-broker-config-file` names) and `maestro/db-credentials`
  (`username`, `password`, `host`, `port`, `database` → `db.user`, `db.password`, `db.host`,
  `db.port`, `db.name`). Of `maestro_server_identity`'s `server_flags` the chart passes only the
  broker type and the config file; the client ID and source ID are the ones the flags name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MountedObject:
    """One `objects` entry of a SecretProviderClass: a secret and its JSON keys → file names."""
    object_name: str
    aliases: tuple[tuple[str, str], ...]  # (jmesPath path, objectAlias)


DEPLOYED_MOUNT_PATH = "/mnt/secrets-store"
DEPLOYED_AGENT_OBJECTS = (
    MountedObject("maestro/agent-cert", (("certificate", "certificate"), ("privateKey", "privateKey"),
                                         ("caCert", "ca.crt"))),
    MountedObject("maestro/agent-config", (("config", "config.yaml"), ("consumerName", "consumerName"))),
)

DEPLOYED_SERVER_OBJECTS = (
    MountedObject("maestro/server-cert", (("certificate", "certificate"), ("privateKey", "privateKey"),
                                          ("caCert", "ca.crt"))),
    MountedObject("maestro/server-config", (("config", "config.yaml"),)),
    MountedObject("maestro/db-credentials", (("username", "db.user"), ("password", "db.password"),
                                             ("host", "db.host"), ("port", "db.port"), ("database", "db.name"))),
)
# The server's objects that hold its MQTT identity and config: what the wire needs (the
# database credentials are Maestro's own business and have no part in MQTT).
DEPLOYED_SERVER_MQTT_OBJECTS = DEPLOYED_SERVER_OBJECTS[:2]

# Every key path of the deployed chart's values.yaml (leaves), and the ones its templates
# `required`. A value the provider emits outside this layout would be silently ignored.
DEPLOYED_AGENT_VALUE_PATHS = frozenset({
    "global.region",
    "maestroAgent.image.registry", "maestroAgent.image.repository", "maestroAgent.image.tag",
    "maestroAgent.image.pullPolicy",
    "maestroAgent.deployment.replicas", "maestroAgent.deployment.requests.cpu",
    "maestroAgent.deployment.requests.memory", "maestroAgent.deployment.limits.cpu",
    "maestroAgent.deployment.limits.memory",
    "maestroAgent.maestro.serviceAccount", "maestroAgent.maestro.consumerName",
    "maestroAgent.maestro.healthCheckBindPort", "maestroAgent.maestro.glog_v",
    "maestroAgent.broker.type", "maestroAgent.broker.configFile", "maestroAgent.broker.endpoint",
    "maestroAgent.broker.topicPrefix",
    "maestroAgent.ascp.enabled", "maestroAgent.ascp.mqttCertSecretName",
    "maestroAgent.tracing.enabled", "maestroAgent.tracing.address", "maestroAgent.tracing.exporter",
    "maestroAgent.metrics.enabled", "maestroAgent.metrics.serviceMonitor.enabled",
})
DEPLOYED_AGENT_REQUIRED = frozenset({"global.region"})
# In values.yaml but read by no template: the chart mounts the broker, the topics, the
# consumer name and the certificates from its fixed secret names instead.
DEPLOYED_AGENT_IGNORED = frozenset({
    "maestroAgent.maestro.consumerName", "maestroAgent.ascp.mqttCertSecretName", "maestroAgent.broker.type",
    "maestroAgent.broker.configFile", "maestroAgent.broker.endpoint", "maestroAgent.broker.topicPrefix",
})

UPSTREAM_CERTS_MOUNT_PATH = "/secrets/mqtt-certs"
UPSTREAM_AGENT_VALUE_PATHS = frozenset({
    "environment", "installWorkCRDs", "consumerName", "cloudeventsClientId", "clientCertRefreshDuration",
    "podAnnotations", "priorityClassName", "serviceAccount.name", "serviceAccount.annotations",
    "image.registry", "image.repository", "image.tag", "image.pullPolicy", "logging.klogV",
    "messageBroker.type",
    "messageBroker.mqtt.port", "messageBroker.mqtt.host", "messageBroker.mqtt.user",
    "messageBroker.mqtt.password", "messageBroker.mqtt.rootCert", "messageBroker.mqtt.clientCert",
    "messageBroker.mqtt.clientKey",
})
# The upstream chart's own defaults for what the provider does not set (used when rendering).
UPSTREAM_DEFAULTS = {"messageBroker": {"mqtt": {"port": "1883", "host": "maestro-mqtt.maestro", "user": "maestro",
                                                "password": "", "rootCert": "", "clientCert": "", "clientKey": ""}}}


def leaf_paths(values: dict[str, Any], prefix: str = "") -> set[str]:
    """`a.b.c` for every non-object value in a nested values object."""
    paths: set[str] = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            paths |= leaf_paths(value, path + ".")
        else:
            paths.add(path)
    return paths


def lookup(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _merged(defaults: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    out = dict(defaults)
    for key, value in values.items():
        out[key] = _merged(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def render_upstream_agent_config(values: dict[str, Any]) -> str:
    """config.yaml as the upstream chart's `templates/secret.yaml` renders it for type mqtt:
    optional lines only when the value is non-empty, topics from consumerName."""
    v = _merged(UPSTREAM_DEFAULTS, values)
    mqtt = v["messageBroker"]["mqtt"]
    lines = [f"brokerHost: {mqtt['host']}:{mqtt['port']}"]
    for key, name in (("user", "username"), ("password", "password"), ("rootCert", "caFile"),
                      ("clientCert", "clientCertFile"), ("clientKey", "clientKeyFile")):
        if mqtt.get(key):
            lines.append(f"{name}: {mqtt[key]}")
    consumer = v["consumerName"]
    lines += ["topics:",
              f"  sourceEvents: sources/maestro/consumers/{consumer}/sourceevents",
              f"  agentEvents: sources/maestro/consumers/{consumer}/agentevents"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- chart facts the provider's choice must match

# Where each agent chart's pods run (the deployed chart: its ApplicationSet's destination, the
# folder name; upstream's: its values' service account, installed in the same namespace).
DEPLOYED_AGENT_NAMESPACE = "maestro-agent"
DEPLOYED_AGENT_SERVICE_ACCOUNT = "maestro-agent"
UPSTREAM_AGENT_SERVICE_ACCOUNT = "maestro-agent-sa"
# The Kubernetes Secret upstream's agent chart mounts at /secrets/mqtt-certs, and its keys.
UPSTREAM_CERTS_SECRET = "maestro-agent-certs"
UPSTREAM_CERTS_KEYS = ("certificate", "privateKey", "ca.crt")
DEPLOYED_AGENT_SPC_NAME = "maestro-agent-secrets"
DEPLOYED_SERVER_SPC_NAME = "maestro-server-secrets"


def chart_secret_provider_class(name: str, namespace: str, region: str,
                                objects: tuple[MountedObject, ...]) -> dict[str, Any]:
    """The SecretProviderClass a deployed chart renders (templates/secretproviderclass.yaml):
    AWS provider, Pod Identity, `global.region`, and its fixed objects with their jmesPath
    aliases, as the manifest the CSI driver reads."""
    lines = []
    for o in objects:
        lines += [f'- objectName: "{o.object_name}"', '  objectType: "secretsmanager"', "  jmesPath:"]
        for path, alias in o.aliases:
            lines += [f'    - path: "{path}"', f'      objectAlias: "{alias}"']
    return {"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"provider": "aws",
                     "parameters": {"usePodIdentity": "true", "region": region, "objects": "\n".join(lines) + "\n"}}}
