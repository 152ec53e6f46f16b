"""The whole certificate flow through all three resources, both ways users run it:

- one configuration with two aliased providers, where one apply does everything;
- two teams with two configurations (two workspaces, two states), where only `csr_pem` travels
  from management to regional and `certificate_pem` + the endpoint travel back. There the
  regional team also runs the Maestro server (`maestro_server_identity`) and serves a second
  management team the same way; on the wire ONE server, started from that resource's secrets,
  exchanges work and status with both teams' agents.

Checked in AWS: the key in the management secret is the one whose CSR the regional account
signed, the current bundle is always coherent (also in the middle of a rotation), the IoT
policy and the agent's IAM policy grant the same four (action, resource) pairs, and destroy
leaves nothing behind in either account.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness import aws_inspect
from harness import credentials as creds
from harness import csi_mount, hcl, wire_flow
from harness import policy_documents as docs
from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, REGIONAL_ACCOUNT_ID

pytestmark = pytest.mark.acceptance

KEY = "maestro_agent_key.k"
CONSUMER = "maestro_consumer.c"
IDENTITY = "maestro_agent_identity.x"
SERVER = "maestro_server_identity.server"


def key_block(cluster_id: str, generation: str) -> str:
    return hcl.resource("maestro_agent_key", "k", {"cluster_id": cluster_id, "rotation_triggers": {"generation": generation}},
                        provider="maestro.management")


def consumer_block(cluster_id: str, csr: Any, grace_hours: int, label: str = "c", **extra: Any) -> str:
    return hcl.resource("maestro_consumer", label, {
        "consumer_id": cluster_id, "csr_pem": csr, "management_account_id": MANAGEMENT_ACCOUNT_ID,
        "certificate_grace_period_hours": grace_hours, **extra}, provider="maestro.regional")


def server_block(name: str, eks: str, broker_ca_pem: str) -> str:
    """The Maestro server's identity in the regional account; its secrets keep the names the
    deployed server chart mounts."""
    return hcl.resource("maestro_server_identity", "server", {
        "name": name, "eks_cluster_name": eks, "broker_ca_pem": broker_ca_pem,
        "force_delete_without_recovery": True}, provider="maestro.regional")


def identity_block(cluster_id: str, eks: str, certificate: Any, endpoint: Any, broker_ca_pem: str | None = None) -> str:
    arguments: dict[str, Any] = {
        "cluster_id": cluster_id, "regional_account_id": REGIONAL_ACCOUNT_ID, "eks_cluster_name": eks,
        "mqtt_cert_secret_name": hcl.Raw("maestro_agent_key.k.secret_name"), "broker_endpoint": endpoint,
        "broker_ca_pem": broker_ca_pem}
    if certificate is not None:
        arguments["certificate_pem"] = certificate
    return hcl.resource("maestro_agent_identity", "x", arguments, provider="maestro.management")


def one_config(cluster_id: str, eks: str, generation: str = "1", grace_hours: int = 24) -> str:
    return "\n".join([
        key_block(cluster_id, generation),
        consumer_block(cluster_id, hcl.Raw("maestro_agent_key.k.csr_pem"), grace_hours),
        identity_block(cluster_id, eks, hcl.Raw("maestro_consumer.c.certificate_pem"), hcl.Raw("maestro_consumer.c.endpoint")),
    ])


def iot_certificates(regional) -> dict[str, str]:
    """Certificate ID → status, for every certificate in the regional account."""
    iot = regional.client("iot")
    return {c["certificateId"]: c["status"] for c in aws_inspect.every_item(iot, "list_certificates", "certificates")}


def assert_flow_coherent(management, regional, key: dict[str, Any], consumer: dict[str, Any], identity: dict[str, Any],
                         guard, ca_pem: str | None = None) -> creds.Bundle:
    """The facts that make the agent work, checked in both accounts."""
    current = creds.assert_current_coherent(management, key["secret_arn"], guard=guard)
    assert current is not None and current.certificate == consumer["certificate_pem"] == identity["certificate_pem"]
    # The key in the secret is the one whose CSR the regional account signed.
    assert current.key_fingerprint == key["public_key_fingerprint"] == consumer["certificate_public_key_fingerprint"]
    assert creds.csr_fingerprint(key["csr_pem"]) == current.key_fingerprint
    described = regional.client("iot").describe_certificate(certificateId=consumer["certificate_id"])["certificateDescription"]
    assert described["status"] == "ACTIVE"
    assert creds.certificate_fingerprint(described["certificatePem"]) == current.key_fingerprint
    creds.assert_bundle_shape(current, complete=True, ca_pem=ca_pem)
    # One source for both policies: the IoT policy grants exactly what the agent's IAM policy does.
    iot_doc = json.loads(consumer["policy_document"])
    iam_doc = json.loads(identity["iot_policy"])
    assert docs.grants(iot_doc) == docs.grants(iam_doc), docs.describe_difference(iot_doc, iam_doc)
    config = json.loads(management.secretsmanager.get_secret_value(SecretId=identity["config_secret_arn"])["SecretString"])
    assert f'brokerHost: "{consumer["endpoint"]}:8883"' in config["config"]
    assert f'sourceEvents: "{consumer["source_events_topic"]}"' in config["config"]
    assert f'agentEvents: "{consumer["agent_events_topic"]}"' in config["config"]
    return current


def assert_nothing_left(management, regional, cluster_id: str, certificate_ids: set[str]) -> None:
    iot = regional.client("iot")
    things = {t["thingName"] for t in aws_inspect.every_item(iot, "list_things", "things")}
    policies = {p["policyName"] for p in aws_inspect.every_item(iot, "list_policies", "policies")}
    assert f"{cluster_id}-maestro-agent" not in things
    assert f"{cluster_id}-maestro-agent-policy" not in policies
    left = certificate_ids & set(iot_certificates(regional))
    assert not left, f"certificates left in the regional account: {left}"
    for name in (f"{cluster_id}/maestro/agent-mqtt-cert", f"{cluster_id}/maestro/agent-config"):
        assert creds.deletion_scheduled(management, name) is not None, f"{name} not scheduled for deletion"
    assert f"{cluster_id}-maestro-agent" not in {r["RoleName"] for r in aws_inspect.every_item(management.iam, "list_roles", "Roles")}


def test_one_configuration_does_everything_in_one_apply_and_rotates_without_a_gap(
        make_workspace, provider_preamble, management, regional, make_eks_cluster, leak_guard):
    cluster_id = "flow-one"
    eks = make_eks_cluster("flow-one-eks")
    ws = make_workspace()
    ws.set_config(provider_preamble + one_config(cluster_id, eks))
    ws.init()
    ws.apply()
    ws.assert_plan_empty()
    key, consumer, identity = ws.state_resource(KEY), ws.state_resource(CONSUMER), ws.state_resource(IDENTITY)
    first = assert_flow_coherent(management, regional, key, consumer, identity, leak_guard)
    issued = {consumer["certificate_id"]}

    # Rotation in one apply: new key staged, new certificate issued, new bundle promoted; the
    # old certificate stays ACTIVE for the grace period.
    ws.set_config(provider_preamble + one_config(cluster_id, eks, generation="2"))
    ws.assert_plan_changes({KEY: "update", CONSUMER: "update", IDENTITY: "update"})
    ws.apply()
    ws.assert_plan_empty()
    key, consumer, identity = ws.state_resource(KEY), ws.state_resource(CONSUMER), ws.state_resource(IDENTITY)
    second = assert_flow_coherent(management, regional, key, consumer, identity, leak_guard)
    issued.add(consumer["certificate_id"])
    assert second.key_fingerprint != first.key_fingerprint
    previous = creds.read_bundle(management, key["secret_arn"], "AWSPREVIOUS", guard=leak_guard)
    assert previous.certificate == first.certificate and previous.is_coherent()
    old_ids = [p["certificate_id"] for p in consumer["previous_certificates"]]
    assert len(old_ids) == 1 and iot_certificates(regional)[old_ids[0]] == "ACTIVE"

    # Grace over (set to 0): a later apply deactivates and deletes the old certificate.
    ws.set_config(provider_preamble + one_config(cluster_id, eks, generation="2", grace_hours=0))
    ws.apply()
    ws.assert_plan_empty()
    assert old_ids[0] not in iot_certificates(regional)
    assert ws.state_resource(CONSUMER)["previous_certificates"] == []

    ws.destroy()
    assert_nothing_left(management, regional, cluster_id, issued)


def registration_block(cluster_id: str, consumer_label: str, maestro_api_url: str) -> str:
    """The regional team registers each consumer with Maestro (the emulator's REST API), without
    which the server sends its agent no work."""
    return (f'resource "maestro_consumer_registration" "{consumer_label}" {{\n  provider = maestro.regional\n'
            f'  name     = maestro_consumer.{consumer_label}.consumer_id\n'
            f'  maestro_api {{\n    url = "{maestro_api_url}"\n  }}\n}}\n')


def test_two_teams_exchange_only_public_material(make_workspace, provider_preamble, management, regional,
                                                 make_eks_cluster, leak_guard, iot_data, maestro_wire, tmp_path):
    """Management team A (rotating) and management team B each own their agent's key and
    identity; the regional team owns the server and both consumers."""
    cluster_id, other_id = "flow-two", "flow-two-b"
    eks, other_eks = make_eks_cluster("flow-two-eks"), make_eks_cluster("flow-two-b-eks")
    regional_eks = aws_inspect.create_eks_cluster(regional, "flow-two-regional-eks")["name"]
    mgmt, other_mgmt = make_workspace("management"), make_workspace("management-b")
    region = make_workspace("regional")

    def management_config(cluster: str, eks_name: str, generation: str, certificate: str | None,
                          endpoint: str | None) -> str:
        return provider_preamble + key_block(cluster, generation) + "\n" + \
            identity_block(cluster, eks_name, certificate, endpoint, iot_data.ca_pem) + \
            'output "csr_pem" {\n  value = maestro_agent_key.k.csr_pem\n}\n'

    def regional_config(csr: str, other_csr: str, grace_hours: int = 24) -> str:
        prefix = hcl.Raw("maestro_server_identity.server.topic_prefix")
        return provider_preamble + server_block(cluster_id, regional_eks, iot_data.ca_pem) + "\n" + \
            consumer_block(cluster_id, csr, grace_hours, topic_prefix=prefix) + "\n" + \
            consumer_block(other_id, other_csr, 24, label="c_b", topic_prefix=prefix) + \
            registration_block(cluster_id, "c", iot_data.maestro_api_url) + \
            registration_block(other_id, "c_b", iot_data.maestro_api_url) + \
            'output "teams" {\n  value = {\n' + \
            f'    "{cluster_id}" = {{ certificate_pem = maestro_consumer.c.certificate_pem, endpoint = maestro_consumer.c.endpoint }}\n' + \
            f'    "{other_id}" = {{ certificate_pem = maestro_consumer.c_b.certificate_pem, endpoint = maestro_consumer.c_b.endpoint }}\n' + \
            '  }\n}\n'

    def outputs(ws) -> dict[str, Any]:
        return {k: v["value"] for k, v in json.loads(ws.run("output", "-json").stdout).items()}

    # Management teams: key and identity; no certificate yet, so the plan warns.
    mgmt.set_config(management_config(cluster_id, eks, "1", None, None))
    mgmt.init()
    applied = mgmt.apply()
    assert "The agent has no certificate yet" in applied.output
    csr = outputs(mgmt)["csr_pem"]
    assert "PRIVATE KEY" not in csr
    other_mgmt.set_config(management_config(other_id, other_eks, "1", None, None))
    other_mgmt.init()
    other_mgmt.apply()
    other_csr = outputs(other_mgmt)["csr_pem"]

    # Regional team: the server's identity, and a consumer from each CSR alone.
    region.set_config(regional_config(csr, other_csr))
    region.init()
    region.apply()
    region.assert_plan_empty()
    teams = outputs(region)["teams"]
    assert set(teams) == {cluster_id, other_id}
    assert all(set(handed) == {"certificate_pem", "endpoint"} for handed in teams.values()), teams
    handed_back, other_handed_back = teams[cluster_id], teams[other_id]

    # Management teams again: the certificate completes each bundle.
    mgmt.set_config(management_config(cluster_id, eks, "1", handed_back["certificate_pem"], handed_back["endpoint"]))
    mgmt.apply()
    mgmt.assert_plan_empty()
    other_mgmt.set_config(management_config(other_id, other_eks, "1", other_handed_back["certificate_pem"],
                                            other_handed_back["endpoint"]))
    other_mgmt.apply()
    other_mgmt.assert_plan_empty()
    region.assert_plan_empty()
    key, identity, consumer = mgmt.state_resource(KEY), mgmt.state_resource(IDENTITY), region.state_resource(CONSUMER)
    first = assert_flow_coherent(management, regional, key, consumer, identity, leak_guard, iot_data.ca_pem)
    other = (other_mgmt.state_resource(KEY), region.state_resource("maestro_consumer.c_b"),
             other_mgmt.state_resource(IDENTITY))
    assert_flow_coherent(management, regional, *other, leak_guard, iot_data.ca_pem)
    issued = {consumer["certificate_id"], other[1]["certificate_id"]}

    # Rotation across teams: management stages a key (current bundle untouched), regional
    # issues, management promotes. The current bundle is checked coherent at every step.
    mgmt.set_config(management_config(cluster_id, eks, "2", handed_back["certificate_pem"], handed_back["endpoint"]))
    mgmt.apply()
    during = creds.assert_current_coherent(management, key["secret_arn"], guard=leak_guard)
    assert during.certificate == first.certificate
    new_csr = outputs(mgmt)["csr_pem"]
    assert new_csr != csr
    region.set_config(regional_config(new_csr, other_csr))
    region.apply()
    during = creds.assert_current_coherent(management, key["secret_arn"], guard=leak_guard)
    assert during.certificate == first.certificate, "the regional apply changed the management secret"
    handed_back = outputs(region)["teams"][cluster_id]
    assert outputs(region)["teams"][other_id] == other_handed_back, "team A's rotation changed team B's certificate"
    mgmt.set_config(management_config(cluster_id, eks, "2", handed_back["certificate_pem"], handed_back["endpoint"]))
    mgmt.apply()
    mgmt.assert_plan_empty()
    key, identity, consumer = mgmt.state_resource(KEY), mgmt.state_resource(IDENTITY), region.state_resource(CONSUMER)
    second = assert_flow_coherent(management, regional, key, consumer, identity, leak_guard, iot_data.ca_pem)
    issued.add(consumer["certificate_id"])
    assert second.key_fingerprint != first.key_fingerprint

    # The server's bundle pairs its key with the certificate the regional IoT Core issued for it.
    server = region.state_resource(SERVER)
    server_bundle = creds.assert_current_coherent(regional, server["certificate_secret_arn"], guard=leak_guard)
    assert server_bundle is not None and server_bundle.certificate == server["certificate_pem"]
    assert server_bundle.key_fingerprint == server["public_key_fingerprint"]
    issued.add(server["certificate_id"])

    # On the wire, with only what the three applies wrote: ONE server from its CSI mount of the
    # regional secrets, and both agents from theirs; each agent receives only its own work, and
    # both statuses reach the server through its shared subscription.
    mounts = tmp_path / "mounts"
    agents = []
    for cluster, ws in ((cluster_id, mgmt), (other_id, other_mgmt)):
        files = csi_mount.mount_agent_secrets(management, ws.state_resource(KEY)["secret_arn"],
                                              ws.state_resource(IDENTITY)["config_secret_arn"], mounts / cluster,
                                              guard=leak_guard)
        agents.append(wire_flow.AgentMount(cluster, files))
    leak_guard.extra_trees.append(tmp_path / "wire")
    seen = wire_flow.exchange_with_server(maestro_wire, iot_data, regional, server, agents, mounts / "server",
                                          tmp_path / "wire", guard=leak_guard)
    assert seen["server"]["subscribed"]["topics"] == [server["agent_events_topic"]]
    assert server["agent_events_topic"].startswith("$share/statussubscribers/")
    assert seen["agents"][cluster_id]["connected"]["clientId"] == consumer["client_id"] == f"{cluster_id}-work-agent-client"
    assert seen["agents"][other_id]["connected"]["clientId"] == f"{other_id}-work-agent-client"

    # Nothing secret ever crossed: no state holds a private key (the leak guard scans every
    # workspace after the test), the regional state does not even name an agent's secret, and
    # no management state names the server's.
    assert "agent-mqtt-cert" not in json.dumps(region.show_state())
    for ws in (mgmt, other_mgmt):
        assert server["certificate_secret_name"] not in json.dumps(ws.show_state())

    mgmt.destroy()
    other_mgmt.destroy()
    region.destroy()
    assert_nothing_left(management, regional, cluster_id, issued)
    assert_nothing_left(management, regional, other_id, issued)
    assert f"{cluster_id}-maestro-server-policy" not in {
        p["policyName"] for p in aws_inspect.every_item(regional.client("iot"), "list_policies", "policies")}
