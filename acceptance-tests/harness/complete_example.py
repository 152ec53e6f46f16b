"""examples/complete/ applied against the emulator: the variables that point it there, the checks,
made through the AWS APIs of both accounts, that what it built works for the server and every
agent, and the exchange over MQTT between ONE server and all the agents, each started only from
the files its chart mounts from the secrets the example wrote.

Shared by the acceptance test (tests/test_examples.py) and the README's demo (demo.py), so the
demo shows exactly what the test proves. Private keys are read into this process's memory only,
to compare fingerprints and to mount them for the wire clients, and are registered with the
caller's leak scanner so a scan of the workspace and the clients' logs proves they reached no
state, plan, output or log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import credentials as creds
from . import charts, csi_mount, settings, wire_flow
from .aws_accounts import AwsAccount

EXAMPLE_DIR = settings.REPO_ROOT / "examples" / "complete"


def write_variables(workspace_root: Path, endpoint_url: str, management_clusters: Mapping[str, str],
                    regional_eks_cluster_name: str, server_name: str = "regional-01", key_generation: str = "1",
                    broker_ca_pem: str | None = None, maestro_api_url: str | None = None) -> Path:
    """An auto-loaded tfvars file, so apply, plan and the teardown destroy all see the same values.
    `management_clusters` maps each agent's cluster ID to its EKS cluster (management account);
    `broker_ca_pem` is the emulator broker's CA, so the server's and agents' `ca.crt` verify it;
    `maestro_api_url` is where the emulator plays Maestro's REST API (None: the example registers
    no consumer)."""
    path = workspace_root / "emulator.auto.tfvars.json"
    path.write_text(json.dumps({"aws_endpoint": endpoint_url, "management_clusters": dict(management_clusters),
                                "regional_eks_cluster_name": regional_eks_cluster_name, "server_name": server_name,
                                "key_generation": key_generation, "broker_ca_pem": broker_ca_pem,
                                "maestro_api_url": maestro_api_url}, indent=2),
                    encoding="utf-8")
    return path


def server_facts(outputs: dict[str, Any]) -> dict[str, Any]:
    """What `wire_flow.start_deployed_chart_server` needs, from the example's outputs, under the
    resource's attribute names."""
    return {"server_flags": outputs["server_flags"], "agent_events_topic": outputs["server"]["agent_events_topic"]}


def verify(management: AwsAccount, regional: AwsAccount, outputs: dict[str, Any], scanner: Any,
           broker_ca_pem: str | None = None) -> list[str]:
    """Checks the example's outputs against both accounts; returns a report (no secret in it).
    `scanner` has register_secret(value, label): a LeakScanner or the tests' leak guard."""
    report = verify_server(regional, outputs, scanner, broker_ca_pem)
    assert outputs["fingerprints_match"] is True, f"fingerprints differ: {outputs['fingerprints']}"
    assert set(outputs["agents"]) == set(outputs["fingerprints"]), outputs["agents"]
    for cluster_id in sorted(outputs["agents"]):
        report += verify_agent(management, regional, cluster_id, outputs, scanner, broker_ca_pem)
    return report


def verify_server(regional: AwsAccount, outputs: dict[str, Any], scanner: Any,
                  broker_ca_pem: str | None = None) -> list[str]:
    server = outputs["server"]
    # The current bundle pairs the server's key with its own certificate and the broker's CA.
    bundle = creds.assert_current_coherent(regional, server["certificate_secret"], guard=scanner)
    assert bundle is not None and bundle.certificate, f"{server['certificate_secret']} has no complete current bundle"
    creds.assert_bundle_shape(bundle, complete=True, ca_pem=broker_ca_pem)
    assert bundle.key_fingerprint == server["public_key_fingerprint"], \
        f"key in the secret {bundle.key_fingerprint} vs output {server['public_key_fingerprint']}"

    # IoT Core holds that certificate, ACTIVE, with the server's policy attached.
    iot = regional.client("iot")
    described = iot.describe_certificate(certificateId=server["certificate_id"])["certificateDescription"]
    assert described["status"] == "ACTIVE", described["status"]
    assert creds.certificate_fingerprint(described["certificatePem"]) == bundle.key_fingerprint
    attached = {p["policyName"] for p in iot.list_attached_policies(target=described["certificateArn"])["policies"]}
    assert server["policy_name"] in attached, f"{server['policy_name']} is not attached to the server's certificate: {attached}"

    # The config secret names the broker and the topics the policy grants, and the flags agree.
    config = json.loads(regional.secretsmanager.get_secret_value(SecretId=server["config_secret"])["SecretString"])
    assert set(config) == {"config"}, f"{server['config_secret']} keys {sorted(config)}"
    for expected in (f'brokerHost: "{server["endpoint"]}:8883"', f'sourceEvents: "{server["source_events_topic"]}"',
                     f'agentEvents: "{server["agent_events_topic"]}"'):
        assert expected in config["config"], f"{expected} not in the config secret:\n{config['config']}"
    command = wire_flow.server_command(outputs["server_flags"])
    assert command.source_id == server["source_id"], (command, server["source_id"])
    return [
        f"server certificate secret {server['certificate_secret']}: current version {bundle.version_id} "
        f"{sorted(bundle.stages)}, keys {sorted(bundle.raw)}",
        f"  the key in the secret and the IoT certificate {server['certificate_id'][:12]}… (ACTIVE, policy "
        f"{server['policy_name']}) share the public key {bundle.key_fingerprint}",
        f"server config secret {server['config_secret']}: brokerHost {server['endpoint']}:8883,",
        f"  topics {server['source_events_topic']} (publish) and {server['agent_events_topic']} (subscribe)",
        f"  server flags: {' '.join(outputs['server_flags'])}",
    ]


def verify_agent(management: AwsAccount, regional: AwsAccount, cluster_id: str, outputs: dict[str, Any],
                 scanner: Any, broker_ca_pem: str | None = None) -> list[str]:
    agent, fingerprints, server = outputs["agents"][cluster_id], outputs["fingerprints"][cluster_id], outputs["server"]
    secrets, mqtt = agent["secrets"], agent["mqtt"]

    # The current credential bundle pairs the key with its own certificate.
    bundle = creds.assert_current_coherent(management, secrets["credentials"], guard=scanner)
    assert bundle is not None and bundle.certificate, f"{secrets['credentials']} has no complete current bundle"
    creds.assert_bundle_shape(bundle, complete=True, ca_pem=broker_ca_pem)
    assert bundle.key_fingerprint == fingerprints["key"] == fingerprints["certificate"] == fingerprints["installed"], \
        f"key in the secret {bundle.key_fingerprint} vs outputs {fingerprints}"

    # The regional account holds that certificate, ACTIVE, on the consumer's thing.
    iot = regional.client("iot")
    thing = f"{cluster_id}-maestro-agent"
    certificates = []
    for principal in iot.list_thing_principals(thingName=thing)["principals"]:
        described = iot.describe_certificate(certificateId=principal.rsplit("/", 1)[-1])["certificateDescription"]
        certificates.append((described["status"], creds.certificate_fingerprint(described["certificatePem"])))
    assert ("ACTIVE", bundle.key_fingerprint) in certificates, f"no ACTIVE certificate for the key on {thing}: {certificates}"

    # The agent's topics are the server's, for this consumer, on the server's broker.
    prefix = server["topic_prefix"].rstrip("/")
    assert mqtt["endpoint"] == server["endpoint"], (mqtt, server["endpoint"])
    assert mqtt["source_topic"] == server["source_events_topic"].replace("/+/", f"/{cluster_id}/") \
        == f"{prefix}/{cluster_id}/sourceevents", (mqtt, server)
    assert mqtt["agent_topic"] == f"{prefix}/{cluster_id}/agentevents", (mqtt, server)

    # The config secret names the broker and the topics the IoT policy grants.
    config = json.loads(management.secretsmanager.get_secret_value(SecretId=secrets["config"])["SecretString"])
    assert config["consumerName"] == cluster_id
    for expected in (f'brokerHost: "{mqtt["endpoint"]}:8883"', f'sourceEvents: "{mqtt["source_topic"]}"',
                     f'agentEvents: "{mqtt["agent_topic"]}"'):
        assert expected in config["config"], f"{expected} not in the config secret:\n{config['config']}"

    return [
        f"agent {cluster_id}: credential secret {secrets['credentials']}: current version {bundle.version_id} "
        f"{sorted(bundle.stages)}, keys {sorted(bundle.raw)}",
        "  the key in the secret, maestro_agent_key, the IoT certificate and the installed certificate "
        f"share the public key {bundle.key_fingerprint}",
        f"  IoT thing {thing}: certificate ACTIVE for that key",
        f"  config secret {secrets['config']}: consumerName {config['consumerName']}, brokerHost {mqtt['endpoint']}:8883",
        f"  topics {mqtt['source_topic']} (subscribe) and {mqtt['agent_topic']} (publish), client ID {mqtt['client_id']}",
    ]


def mount_agent(management: AwsAccount, outputs: dict[str, Any], cluster_id: str, target: Path,
                scanner: Any) -> wire_flow.AgentMount:
    """What the agent chart the example names (`agent_chart = "maestro"`: upstream's) gives the
    agent's pod: the Kubernetes Secret maestro-agent-certs as the example's ExternalSecret output
    keeps it, and the config.yaml the chart renders from `upstream_helm_values`. Without those
    outputs (an older example), the agent's two secrets mounted as the deployed chart maps them."""
    manifests = (outputs.get("agent_manifests") or {}).get(cluster_id) or {}
    values = (outputs.get("upstream_helm_values") or {}).get(cluster_id)
    external = manifests.get(f"ExternalSecret/{charts.UPSTREAM_CERTS_SECRET}")
    if external is None or values is None:
        secrets = outputs["agents"][cluster_id]["secrets"]
        return wire_flow.AgentMount(cluster_id, csi_mount.mount_agent_secrets(
            management, secrets["credentials"], secrets["config"], target, guard=scanner))
    files = csi_mount.sync_external_secret(management, json.loads(external), target, guard=scanner, who="agent")
    (files / "config.yaml").write_text(charts.render_upstream_agent_config(values), encoding="utf-8")
    return wire_flow.AgentMount(cluster_id, files, cloudevents_client_id=values["cloudeventsClientId"],
                                consumer_name=values["consumerName"])


def refused_over_mqtt(binary: Path, data: wire_flow.IotData, management: AwsAccount, regional: AwsAccount,
                      outputs: dict[str, Any], mounts: Path, workdir: Path, scanner: Any) -> tuple[list[str], dict[str, Any]]:
    """As `exchange_over_mqtt`, before the example registered its consumers: the server and both
    agents connect and subscribe, but the server, asked for one work per agent, refuses each
    (Maestro's REST API lists no such consumer) and no agent receives any. Returns a report and
    what each side saw."""
    agents = [mount_agent(management, outputs, cluster_id, mounts / cluster_id, scanner)
              for cluster_id in sorted(outputs["agents"])]
    seen = wire_flow.exchange_with_server(binary, data, regional, server_facts(outputs), agents, mounts / "server",
                                          workdir, guard=scanner, registered=False)
    report = []
    for cluster_id in sorted(seen["agents"]):
        side = seen["agents"][cluster_id]
        assert "not registered" in side["refused"]["reason"], side["refused"]
        report += [f"agent {cluster_id} connected as {side['connected']['clientId']} and subscribed; the server "
                   f"sent it nothing: {side['refused']['reason']}"]
    return report, seen


def exchange_over_mqtt(binary: Path, data: wire_flow.IotData, management: AwsAccount, regional: AwsAccount,
                       outputs: dict[str, Any], mounts: Path, workdir: Path, scanner: Any) -> tuple[list[str], dict[str, Any]]:
    """ONE Maestro server transport (sdk-go's source client), from the deployed server chart's mount of the server's
    secrets, and every agent, from what its chart mounts (`mount_agent`): each agent receives one work meant for it
    and no other, and answers with a status that reaches the server through its shared
    subscription. `mounts` (the keys, by design) must lie outside every leak-scanned tree;
    `workdir` (the clients' logs) should be scanned. Returns a report and what each side saw."""
    agents = [mount_agent(management, outputs, cluster_id, mounts / cluster_id, scanner)
              for cluster_id in sorted(outputs["agents"])]
    seen = wire_flow.exchange_with_server(binary, data, regional, server_facts(outputs), agents, mounts / "server",
                                          workdir, guard=scanner)
    server = seen["server"]
    report = [
        f"server connected as {server['connected']['clientId']} with the certificate from "
        f"{outputs['server']['certificate_secret']}, subscribed to {server['subscribed']['topics'][0]}",
    ]
    for cluster_id in sorted(seen["agents"]):
        side = seen["agents"][cluster_id]
        expected = outputs["agents"][cluster_id]["mqtt"]["client_id"]
        assert side["connected"]["clientId"] == expected, (side["connected"], expected)
        report += [
            f"agent {cluster_id} (sdk-go's agent client) connected as {side['connected']['clientId']} with the "
            "certificate from its credential secret",
            f"  server published ManifestWork {side['work']['resourceid']} to {cluster_id}; only this agent received it",
            f"  agent reported it {' and '.join(side['status']['conditions'])}; the server received the status "
            "through the shared subscription",
            f"  server deleted the work; the agent confirmed and Maestro dropped its resource bundle "
            f"{side['deleted']['bundle'][:8]}…",
        ]
    return report, seen
