"""Deployable as written: for each chart choice (`agent_chart`/`server_chart` in the provider
block), examples/charts/<choice>/ applies against the emulator, and the server and its agent
start from exactly what the chosen charts mount — the SecretProviderClass objects the provider
outputs (and, for the deployed charts, the ones those charts render, from harness/charts.py),
the Kubernetes Secret the External Secrets Operator objects it outputs keep for upstream's agent
chart — and exchange work and status over MQTT. Changing one chart fact (a secret name, the
namespace) makes the mount or the Pod Identity binding fail.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness import aws_inspect, charts, csi_mount, settings, wire, wire_flow
from harness.aws_accounts import REGION

pytestmark = pytest.mark.acceptance

CHARTS_DIR = settings.REPO_ROOT / "examples" / "charts"
CHOICES = ("rosa-regional-platform", "maestro", "custom")
DB_SECRET = "maestro/db-credentials"


def _outputs(ws) -> dict[str, Any]:
    return {name: item["value"] for name, item in json.loads(ws.run("output", "-json").stdout).items()}


def _manifest(manifests: dict[str, str], key: str) -> dict[str, Any]:
    assert key in manifests, f"no {key} in {sorted(manifests)}"
    return json.loads(manifests[key])


def _apply_example(choice: str, make_workspace, emulator_url: str, make_eks_cluster, regional, iot_data,
                   cluster_id: str) -> tuple[Any, dict[str, Any], str]:
    eks = make_eks_cluster(f"{cluster_id}-eks")
    regional_eks = aws_inspect.create_eks_cluster(regional, f"{cluster_id}-regional-eks")["name"]
    ws = make_workspace(f"charts-{choice}")
    for source in sorted((CHARTS_DIR / choice).iterdir()):
        if source.suffix == ".tf":
            shutil.copy2(source, ws.root / source.name)
    (ws.root / "emulator.auto.tfvars.json").write_text(json.dumps({
        "aws_endpoint": emulator_url, "cluster_id": cluster_id, "eks_cluster_name": eks,
        "regional_eks_cluster_name": regional_eks, "server_name": f"{cluster_id}-server",
        "broker_ca_pem": iot_data.ca_pem}), encoding="utf-8")
    ws.init()
    ws.apply()
    ws.assert_plan_empty()
    return ws, _outputs(ws), eks


def _assert_pod_identity_binds(management, eks: str, namespace: str, service_account: str) -> None:
    """The chart's pods (namespace, service account) get the agent's role: else the CSI driver
    and ESO get no credentials and the pod never starts."""
    bound = aws_inspect.associations_for(management, eks, namespace, service_account)
    assert len(bound) == 1, (f"no Pod Identity association for {namespace}/{service_account} on {eks}: "
                             f"{[(a.namespace, a.service_account) for a in aws_inspect.associations(management, eks)]}")


def _start_and_exchange(binary: Path, iot_data, server_files: Path, outputs: dict[str, Any], agent_files: Path,
                        workdir: Path, consumer: str, cloudevents_client_id: str | None = None,
                        consumer_name: str | None = None) -> dict[str, Any]:
    command = wire_flow.server_command(outputs["server_flags"])
    assert command.config_file == f"{charts.DEPLOYED_MOUNT_PATH}/config.yaml", command
    # The chart examples leave registration out (examples/complete has it): registered here
    # directly with the emulator's Maestro API, as the server sends work only to registered consumers.
    wire_flow.register_consumers(iot_data, [consumer])
    with wire.start_server(binary, server_files, iot_data.address, workdir / "server",
                           client_id=command.client_id, source_id=command.source_id,
                           maestro_api_url=iot_data.maestro_api_url) as server:
        server.wait_for("connected")
        subscribed = server.wait_for("subscribed")
        assert subscribed["granted"] and subscribed["topics"] == [outputs["server"]["agent_events_topic"]], subscribed
        with wire.start_agent(binary, agent_files, iot_data.address, workdir / "agent",
                              cloudevents_client_id=cloudevents_client_id, consumer_name=consumer_name) as agent:
            connected = agent.wait_for("connected")
            assert connected["clientId"] == outputs["agent"]["client_id"], connected
            assert agent.wait_for("subscribed")["granted"]
            wire_flow.wait_for_resync_requests(server, [consumer])
            return wire_flow.exchange(server, agent, consumer)


def _cleanup(ws, management, regional, outputs: dict[str, Any]) -> None:
    ws.destroy()
    # Destroy keeps a recovery window; the fixed names must be free for the session's next test.
    for account, names in ((regional, (outputs["server"]["certificate_secret"], outputs["server"]["config_secret"], DB_SECRET)),
                           (management, (outputs["agent"]["credential_secret"], outputs["agent"]["config_secret"]))):
        for name in names:
            try:
                account.secretsmanager.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
            except account.secretsmanager.exceptions.ResourceNotFoundException:
                pass


def _mount_server(regional, outputs: dict[str, Any], target: Path, guard) -> Path:
    spc = _manifest(outputs["server_manifests"], f"SecretProviderClass/{charts.DEPLOYED_SERVER_SPC_NAME}")
    return csi_mount.mount_secret_provider_class(regional, spc, target, guard=guard, who="server", region=REGION)


def test_deployed_charts_example_mounts_what_the_charts_mount_and_starts_maestro(
        make_workspace, emulator_url, management, regional, make_eks_cluster, leak_guard, iot_data, maestro_wire,
        tmp_path):
    cluster_id = "charts-deployed"
    ws, out, eks = _apply_example("rosa-regional-platform", make_workspace, emulator_url, make_eks_cluster,
                                  regional, iot_data, cluster_id)
    try:
        agent = out["agent"]
        assert (agent["credential_secret"], agent["config_secret"]) == tuple(o.object_name for o in charts.DEPLOYED_AGENT_OBJECTS)
        _assert_pod_identity_binds(management, eks, charts.DEPLOYED_AGENT_NAMESPACE, charts.DEPLOYED_AGENT_SERVICE_ACCOUNT)
        # Helm values: only what the chart reads, everything it requires.
        paths = charts.leaf_paths(out["agent_helm_values"])
        assert charts.DEPLOYED_AGENT_REQUIRED <= paths <= charts.DEPLOYED_AGENT_VALUE_PATHS - charts.DEPLOYED_AGENT_IGNORED, paths
        # The provider's SecretProviderClasses are the ones the charts render.
        agent_spc = _manifest(out["agent_manifests"], f"SecretProviderClass/{charts.DEPLOYED_AGENT_SPC_NAME}")
        chart_agent_spc = charts.chart_secret_provider_class(charts.DEPLOYED_AGENT_SPC_NAME, charts.DEPLOYED_AGENT_NAMESPACE,
                                                             REGION, charts.DEPLOYED_AGENT_OBJECTS)
        assert csi_mount.secret_provider_class_objects(agent_spc, REGION) == \
            csi_mount.secret_provider_class_objects(chart_agent_spc, REGION)
        assert agent_spc["metadata"]["namespace"] == charts.DEPLOYED_AGENT_NAMESPACE
        server_spc = _manifest(out["server_manifests"], f"SecretProviderClass/{charts.DEPLOYED_SERVER_SPC_NAME}")
        assert dict(csi_mount.secret_provider_class_objects(server_spc, REGION)) == \
            {o.object_name: o.aliases for o in charts.DEPLOYED_SERVER_OBJECTS}
        # The chart mounts the database secret too: the role may read it, and (once the team
        # stores the credentials there) the whole mount succeeds.
        assert f":secret:{DB_SECRET}-??????" in out["server"]["secrets_policy"], out["server"]["secrets_policy"]
        regional.secretsmanager.create_secret(Name=DB_SECRET, SecretString=json.dumps(
            {"username": "maestro", "password": "not-a-real-password", "host": "db", "port": "5432", "database": "maestro"}))
        chart_server_spc = charts.chart_secret_provider_class(charts.DEPLOYED_SERVER_SPC_NAME, "maestro-server", REGION,
                                                              charts.DEPLOYED_SERVER_OBJECTS)
        server_files = csi_mount.mount_secret_provider_class(regional, chart_server_spc, tmp_path / "mounts" / "server",
                                                             guard=leak_guard, who="server", region=REGION)
        agent_files = csi_mount.mount_secret_provider_class(management, chart_agent_spc, tmp_path / "mounts" / "agent",
                                                            guard=leak_guard, who="agent", region=REGION)
        leak_guard.extra_trees.append(tmp_path / "wire")
        seen = _start_and_exchange(maestro_wire, iot_data, server_files, out, agent_files, tmp_path / "wire",
                                   cluster_id)
        assert seen["work"]["clustername"] == cluster_id

        # One chart fact changed, and the mount or the binding fails: a secret name ...
        renamed = (charts.MountedObject(f"{cluster_id}/maestro/agent-mqtt-cert", charts.DEPLOYED_AGENT_OBJECTS[0].aliases),
                   charts.DEPLOYED_AGENT_OBJECTS[1])
        with pytest.raises(AssertionError, match="does not exist"):
            csi_mount.mount_secret_provider_class(
                management, charts.chart_secret_provider_class("x", charts.DEPLOYED_AGENT_NAMESPACE, REGION, renamed),
                tmp_path / "mounts" / "renamed", who="agent")
        # ... or the namespace the chart is installed in (seed 001's `maestro`).
        with pytest.raises(AssertionError, match="no Pod Identity association"):
            _assert_pod_identity_binds(management, eks, "maestro", charts.DEPLOYED_AGENT_SERVICE_ACCOUNT)
    finally:
        _cleanup(ws, management, regional, out)


def test_a_second_deployed_chart_agent_in_the_account_is_refused_at_plan(
        make_workspace, emulator_url, management, regional, make_eks_cluster, iot_data):
    """The deployed agent chart's fixed names allow one agent per management account and region:
    a second cluster, in another configuration, is refused at plan with the way out."""
    ws, out, _ = _apply_example("rosa-regional-platform", make_workspace, emulator_url, make_eks_cluster,
                                regional, iot_data, "charts-first")
    try:
        second = make_workspace("charts-second")
        for source in sorted((CHARTS_DIR / "rosa-regional-platform").iterdir()):
            if source.suffix == ".tf":
                shutil.copy2(source, second.root / source.name)
        (second.root / "emulator.auto.tfvars.json").write_text(json.dumps({
            "aws_endpoint": emulator_url, "cluster_id": "charts-second", "eks_cluster_name": make_eks_cluster("charts-second-eks"),
            "server_name": "charts-second-server", "broker_ca_pem": iot_data.ca_pem}), encoding="utf-8")
        second.init()
        result = second.run("plan", "-no-color", expect_exit=None)
        text = " ".join((result.stdout + result.stderr).replace("│", " ").split())  # unwrapped diagnostics
        assert result.exit_code != 0, text
        assert "One deployed-chart agent per management account and region" in text, text
        assert "cluster charts-first already holds them" in text and 'agent_chart = "maestro"' in text, text
    finally:
        _cleanup(ws, management, regional, out)


def test_upstream_agent_chart_example_syncs_its_secret_and_starts_an_agent(
        make_workspace, emulator_url, management, regional, make_eks_cluster, leak_guard, iot_data, maestro_wire,
        tmp_path):
    cluster_id = "charts-upstream"
    ws, out, eks = _apply_example("maestro", make_workspace, emulator_url, make_eks_cluster, regional, iot_data,
                                  cluster_id)
    try:
        values = out["agent_helm_values"]
        assert charts.leaf_paths(values) <= charts.UPSTREAM_AGENT_VALUE_PATHS
        _assert_pod_identity_binds(management, eks, out["agent"]["namespace"], charts.UPSTREAM_AGENT_SERVICE_ACCOUNT)
        assert values["serviceAccount"]["name"] == charts.UPSTREAM_AGENT_SERVICE_ACCOUNT
        # The Kubernetes Secret the chart mounts, kept by the output's ExternalSecret, with the
        # keys the chart's values name as files under /secrets/mqtt-certs.
        external = _manifest(out["agent_manifests"], f"ExternalSecret/{charts.UPSTREAM_CERTS_SECRET}")
        assert external["spec"]["target"]["name"] == charts.UPSTREAM_CERTS_SECRET
        assert sorted(d["secretKey"] for d in external["spec"]["data"]) == sorted(charts.UPSTREAM_CERTS_KEYS)
        store = _manifest(out["agent_manifests"], f"SecretStore/{external['spec']['secretStoreRef']['name']}")
        assert store["spec"]["provider"]["aws"] == {"service": "SecretsManager", "region": REGION}
        for key in ("rootCert", "clientCert", "clientKey"):
            path = values["messageBroker"]["mqtt"][key]
            assert path.rsplit("/", 1) == [charts.UPSTREAM_CERTS_MOUNT_PATH, path.rsplit("/", 1)[1]] and \
                path.rsplit("/", 1)[1] in charts.UPSTREAM_CERTS_KEYS, path
        agent_files = csi_mount.sync_external_secret(management, external, tmp_path / "mounts" / "agent",
                                                     guard=leak_guard, who="agent")
        # The chart renders config.yaml itself from the values (mounted at /secrets/mqtt/).
        (agent_files / "config.yaml").write_text(charts.render_upstream_agent_config(values), encoding="utf-8")
        server_files = _mount_server(regional, out, tmp_path / "mounts" / "server", leak_guard)
        leak_guard.extra_trees.append(tmp_path / "wire")
        seen = _start_and_exchange(maestro_wire, iot_data, server_files, out, agent_files, tmp_path / "wire", cluster_id,
                                   cloudevents_client_id=values["cloudeventsClientId"], consumer_name=values["consumerName"])
        assert seen["status"]["clustername"] == cluster_id

        # One chart fact changed: an ExternalSecret reading another secret name fails the sync.
        wrong = json.loads(json.dumps(external))
        for item in wrong["spec"]["data"]:
            item["remoteRef"]["key"] = "maestro/agent-cert"
        with pytest.raises(AssertionError, match="does not exist"):
            csi_mount.sync_external_secret(management, wrong, tmp_path / "mounts" / "wrong")
    finally:
        _cleanup(ws, management, regional, out)


def test_custom_charts_example_mounts_the_provider_secret_provider_classes_and_starts_maestro(
        make_workspace, emulator_url, management, regional, make_eks_cluster, leak_guard, iot_data, maestro_wire,
        tmp_path):
    cluster_id = "charts-custom"
    ws, out, eks = _apply_example("custom", make_workspace, emulator_url, make_eks_cluster, regional, iot_data,
                                  cluster_id)
    try:
        agent = out["agent"]
        assert (agent["credential_secret"], agent["namespace"]) == (f"{cluster_id}/maestro/agent-mqtt-cert", "maestro")
        # Values for no published chart: the example has none to output.
        assert "agent_helm_values" not in out and "server_helm_values" not in out
        _assert_pod_identity_binds(management, eks, agent["namespace"], agent["service_account"])
        spc = _manifest(out["agent_manifests"], f"SecretProviderClass/{charts.DEPLOYED_AGENT_SPC_NAME}")
        assert spc["metadata"]["namespace"] == agent["namespace"]
        # The YAML output holds the same objects as the map.
        assert out["agent_manifests_yaml"].count("kind: \"SecretProviderClass\"") == 1
        agent_files = csi_mount.mount_secret_provider_class(management, spc, tmp_path / "mounts" / "agent",
                                                            guard=leak_guard, who="agent", region=REGION)
        server_files = _mount_server(regional, out, tmp_path / "mounts" / "server", leak_guard)
        leak_guard.extra_trees.append(tmp_path / "wire")
        seen = _start_and_exchange(maestro_wire, iot_data, server_files, out, agent_files, tmp_path / "wire", cluster_id)
        assert seen["work"]["clustername"] == cluster_id
        # One fact changed: a SecretProviderClass for another region finds nothing to mount.
        with pytest.raises(AssertionError, match="region"):
            csi_mount.mount_secret_provider_class(management, spc, tmp_path / "mounts" / "other", region="eu-west-1")
    finally:
        _cleanup(ws, management, regional, out)


def test_two_deployed_chart_agents_in_one_configuration_are_refused_at_plan(make_workspace, emulator_url, iot_data):
    """The provider plans every resource of one provider block in one process: a second cluster
    claiming the deployed chart's names there is refused before anything is written."""
    ws = make_workspace("charts-two-in-one")
    shutil.copy2(CHARTS_DIR / "rosa-regional-platform" / "main.tf", ws.root / "main.tf")
    (ws.root / "other.tf").write_text(
        'resource "maestro_agent_key" "other" {\n  provider   = maestro.management\n  cluster_id = "charts-other"\n}\n',
        encoding="utf-8")
    (ws.root / "emulator.auto.tfvars.json").write_text(json.dumps({
        "aws_endpoint": emulator_url, "cluster_id": "charts-one", "broker_ca_pem": iot_data.ca_pem}), encoding="utf-8")
    ws.init()
    result = ws.run("plan", "-no-color", expect_exit=None)
    text = " ".join((result.stdout + result.stderr).replace("│", " ").split())  # unwrapped diagnostics
    assert result.exit_code == 1, text
    assert "One deployed-chart agent per management account and region" in text, text
    assert "is planned with them in this configuration" in text, text


def test_changing_the_chart_of_a_live_agent_is_a_plan_that_says_what_moves(
        make_workspace, emulator_url, management, regional, make_eks_cluster, iot_data):
    """From `custom` to the deployed chart: the key moves to maestro/agent-cert (replaced, so the
    consumer certifies a new CSR) and the identity's association moves to maestro-agent
    (replaced); the plan shows it before anything happens."""
    ws, out, _ = _apply_example("custom", make_workspace, emulator_url, make_eks_cluster, regional, iot_data,
                                "charts-switch")
    try:
        main = ws.root / "main.tf"
        main.write_text(main.read_text(encoding="utf-8").replace('agent_chart         = "custom"',
                                                                 'agent_chart         = "rosa-regional-platform"'),
                        encoding="utf-8")
        plan = ws.plan()
        actions = plan.actions()
        assert actions.get("maestro_agent_key.agent") == ["delete", "create"], actions
        assert actions.get("maestro_agent_identity.agent") == ["delete", "create"], actions
        # Each replacement names the attribute that forces it, with the value the chart mounts.
        key_change = plan.resource_change("maestro_agent_key.agent")
        assert key_change["change"]["after"]["secret_name"] == charts.DEPLOYED_AGENT_OBJECTS[0].object_name
        assert ["secret_name"] in key_change["change"].get("replace_paths", key_change.get("replace_paths", [])), key_change
        identity = plan.resource_change("maestro_agent_identity.agent")
        assert identity["change"]["after"]["namespace"] == charts.DEPLOYED_AGENT_NAMESPACE
        assert ["namespace"] in identity["change"].get("replace_paths", identity.get("replace_paths", [])), identity
        # Changing the choice back is no change at all.
        main.write_text(main.read_text(encoding="utf-8").replace('agent_chart         = "rosa-regional-platform"',
                                                                 'agent_chart         = "custom"'), encoding="utf-8")
        ws.assert_plan_empty()
    finally:
        _cleanup(ws, management, regional, out)
