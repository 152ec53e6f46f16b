"""The wire proof: Maestro's own transport (sdk-go's source client as the server, its agent client
as the agents; harness/maestro_wire), configured only from what the provider wrote (the files each chart mounts from the secrets, the Helm values), exchange work and status
over the emulator's IoT Core data plane, which authorises every CONNECT, SUBSCRIBE, PUBLISH and
delivery by the IoT policies attached to the certificate, as IoT Core does.

Agent `wire-a` is deployed the way the rosa-regional-platform chart mounts it (secrets named
`maestro/agent-cert` and `maestro/agent-config`, client ID `$(CONSUMER_NAME)-work-agent` + the
transport's `-client`); agent `wire-b` the way upstream's chart does (config.yaml rendered from
`upstream_helm_values`, certificates from the Kubernetes secret, the provider's default secret
names). Each consumer is registered with Maestro (`maestro_consumer_registration` against the
emulator's Maestro REST API): the server, like Maestro's, sends work only to registered consumers
and keeps each work's resource bundle until the agent confirms its deletion, so the registration
cannot be destroyed while work exists. ONE server, `maestro_server_identity` in the regional
account, runs from the files the deployed server chart mounts from that resource's secrets (`maestro/server-cert`,
`maestro/server-config`) with the client ID and source ID of its `server_flags`, and receives
both agents' status through the shared subscription its config names
(`$share/statussubscribers/<prefix>/+/agentevents`). Every consumer takes the server's
`topic_prefix`. The broker's CA is the emulator's, as `broker_ca_pem` on both sides.

MQTT reason codes: 0x87 (135) Not authorized, below 0x80 success. A one-character change to
wire-a's IoT policy fails test_server_and_two_agents_exchange_work_only_with_their_own_consumer:
client ID `wire-a-work-agent-clienT` (sdk-go's agent gets CONNACK 135), topic
`.../wire-a/sourceeventz` (sdk-go's subscribe fails, no `subscribed` event), topic
`.../wire-a/agenteventz` (its resync request never reaches the server).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness import aws_inspect, charts, hcl, wire, wire_flow
from harness import credentials as creds
from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, REGIONAL_ACCOUNT_ID

pytestmark = pytest.mark.acceptance

NOT_AUTHORIZED = 0x87


SERVER = "maestro_server_identity.server"


def server_block(eks: str) -> str:
    """The Maestro server's identity in the regional account, trusting the emulator's broker.
    Its secrets keep the default names, the ones the deployed server chart mounts."""
    return hcl.resource("maestro_server_identity", "server", {
        "name": "wire", "eks_cluster_name": eks, "broker_ca_pem": hcl.Raw("var.broker_ca_pem"),
        "force_delete_without_recovery": True}, provider="maestro.regional")


def agent_blocks(name: str, eks: str, *, deployed_chart_names: bool, generation: str = "1", grace_hours: int = 24) -> str:
    """One agent of the server: key, consumer and identity, the broker CA being the emulator's."""
    key_args: dict[str, Any] = {"cluster_id": name, "rotation_triggers": {"generation": generation},
                                "force_delete_without_recovery": True}
    identity_args: dict[str, Any] = {
        "cluster_id": name, "regional_account_id": REGIONAL_ACCOUNT_ID, "eks_cluster_name": eks,
        "mqtt_cert_secret_name": hcl.Raw(f"maestro_agent_key.{name.replace('-', '_')}.secret_name"),
        "certificate_pem": hcl.Raw(f"maestro_consumer.{name.replace('-', '_')}.certificate_pem"),
        "broker_endpoint": hcl.Raw(f"maestro_consumer.{name.replace('-', '_')}.endpoint"),
        "broker_ca_pem": hcl.Raw("var.broker_ca_pem"),
        "topic_prefix": hcl.Raw(f"maestro_consumer.{name.replace('-', '_')}.topic_prefix"),
    }
    if deployed_chart_names:
        cert_object, config_object = (o.object_name for o in charts.DEPLOYED_AGENT_OBJECTS)
        key_args["secret_name"] = cert_object
        identity_args["config_secret_name"] = config_object
    label = name.replace("-", "_")
    return "\n".join([
        hcl.resource("maestro_agent_key", label, key_args, provider="maestro.management"),
        hcl.resource("maestro_consumer", label, {
            "consumer_id": name, "csr_pem": hcl.Raw(f"maestro_agent_key.{label}.csr_pem"),
            "management_account_id": MANAGEMENT_ACCOUNT_ID, "certificate_grace_period_hours": grace_hours,
            "topic_prefix": hcl.Raw("maestro_server_identity.server.topic_prefix")},
            provider="maestro.regional"),
        hcl.resource("maestro_agent_identity", label, identity_args, provider="maestro.management"),
        registration_block(name),
    ])


def registration_block(name: str) -> str:
    """The consumer registered with Maestro (the emulator's REST API): the server sends work
    only to registered consumers."""
    return (f'resource "maestro_consumer_registration" "{name.replace("-", "_")}" {{\n'
            f'  provider = maestro.regional\n  name     = "{name}"\n'
            '  maestro_api {\n    url = var.maestro_api_url\n  }\n}\n')


VARIABLES = 'variable "broker_ca_pem" {\n  type = string\n}\nvariable "maestro_api_url" {\n  type = string\n}\n'


@pytest.fixture
def wire_world(config_workspace, provider_preamble, make_eks_cluster, regional, management, iot_data, tmp_path,
               leak_guard):
    """The server's identity and two agents, applied with the real CLI in one configuration."""
    eks_a, eks_b = make_eks_cluster("wire-a-eks"), make_eks_cluster("wire-b-eks")
    eks_server = aws_inspect.create_eks_cluster(regional, "wire-regional-eks")["name"]
    config = lambda **a: VARIABLES + server_block(eks_server) + "\n" + \
        agent_blocks("wire-a", eks_a, deployed_chart_names=True, **a) + "\n" + \
        agent_blocks("wire-b", eks_b, deployed_chart_names=False)
    ws = config_workspace(config())
    ws.write_file("broker.auto.tfvars.json", json.dumps({"broker_ca_pem": iot_data.ca_pem,
                                                         "maestro_api_url": iot_data.maestro_api_url}))
    ws.apply()
    ws.assert_plan_empty()
    endpoint = ws.state_resource("maestro_consumer.wire_a")["endpoint"]
    assert ws.state_resource(SERVER)["endpoint"] == endpoint, "the server and the agents must use one broker"
    world = {"ws": ws, "config": config, "endpoint": endpoint, "mounts": tmp_path / "mounts",
             "logs": tmp_path / "wire-logs"}
    # What the server and agents print and log is scanned for the keys they hold, like tofu's.
    leak_guard.extra_trees.append(world["logs"])
    return world


def start_server(world, maestro_wire, iot_data, regional, leak_guard, tag: str) -> wire.WireClient:
    """The one server, from the deployed server chart's mount of maestro_server_identity's
    secrets (its key registered with the leak guard), connected and subscribed."""
    return wire_flow.start_deployed_chart_server(maestro_wire, iot_data, regional, world["ws"].state_resource(SERVER),
                                                 world["mounts"] / f"server-{tag}", world["logs"] / f"server-{tag}",
                                                 guard=leak_guard)


def mount_a(world, management, leak_guard, tag: str) -> Path:
    return wire_flow.mount_deployed_chart_agent(management, world["mounts"] / f"a-{tag}", guard=leak_guard)


def mount_b(world, management, leak_guard, tag: str) -> Path:
    b = world["ws"].state_resource("maestro_agent_identity.wire_b")
    return wire_flow.mount_upstream_chart_agent(management, b["mqtt_cert_secret_name"], b["upstream_helm_values"],
                                                world["mounts"] / f"b-{tag}", guard=leak_guard)


def probe(maestro_wire, iot_data, mount: Path, client_id: str, **kwargs: Any) -> dict[str, Any]:
    """The probe's events by kind (the last of each), plus every suback/puback keyed by topic."""
    events = wire.probe(maestro_wire, mount, iot_data.address, client_id, **kwargs)
    by_kind: dict[str, Any] = {e["event"]: e for e in events}
    by_kind["subacks"] = {e["filter"]: e["reasonCode"] for e in events if e["event"] == "suback"}
    by_kind["pubacks"] = {e["topic"]: e["reasonCode"] for e in events if e["event"] == "puback"}
    by_kind["messages"] = [e["topic"] for e in events if e["event"] == "message"]
    return by_kind


def accepted(reason_code: int | None) -> bool:
    """An MQTT acknowledgement that says success (None: none arrived, e.g. the broker hung up)."""
    return reason_code is not None and reason_code < 0x80


def assert_refused_by_broker(client: wire.WireClient) -> None:
    """sdk-go could not connect: its error carries the broker's CONNACK Not authorized."""
    refused = client.wait_for(lambda e: e["event"] in ("connect-error", "connected"))
    assert refused["event"] == "connect-error" and "not authorized" in refused["error"].lower(), refused
    assert client.wait_exit() == 4


def connects(maestro_wire, iot_data, mount: Path, log_dir: Path, *, server_client_id: str | None = None,
             consumer_name: str | None = None) -> bool:
    """Whether sdk-go's own client connects from `mount`: the agent client (as the mount's
    consumer's agent), or with `server_client_id` the source client under that ID. A refusal
    must be the broker's Not authorized, seen in sdk-go's error."""
    if server_client_id is None:
        client = wire.start_agent(maestro_wire, mount, iot_data.address, log_dir, consumer_name=consumer_name)
    else:
        client = wire.start_server(maestro_wire, mount, iot_data.address, log_dir, client_id=server_client_id,
                                   maestro_api_url=iot_data.maestro_api_url)
    with client:
        outcome = client.wait_for(lambda e: e["event"] in ("connect-error", "connected"))
    if outcome["event"] == "connected":
        return True
    assert "not authorized" in outcome["error"].lower(), outcome
    return False


def test_server_and_two_agents_exchange_work_only_with_their_own_consumer(
        wire_world, maestro_wire, iot_data, management, regional, leak_guard):
    world = wire_world
    a_mount = mount_a(world, management, leak_guard, "1")
    b_mount = mount_b(world, management, leak_guard, "1")
    b_values = world["ws"].state_resource("maestro_agent_identity.wire_b")["upstream_helm_values"]
    server_state = world["ws"].state_resource(SERVER)
    server_id = wire_flow.server_command(server_state["server_flags"]).client_id

    with start_server(world, maestro_wire, iot_data, regional, leak_guard, "1") as server, \
            wire.start_agent(maestro_wire, a_mount, iot_data.address, world["logs"] / "agent-a") as agent_a, \
            wire.start_agent(maestro_wire, b_mount, iot_data.address, world["logs"] / "agent-b",
                             cloudevents_client_id=b_values["cloudeventsClientId"],
                             consumer_name=b_values["consumerName"]) as agent_b:
        # One server, subscribed through the shared subscription its config names.
        subscribed = [e for e in server.events() if e["event"] == "subscribed"]
        assert [e["topics"] for e in subscribed] == \
            [["$share/statussubscribers/sources/maestro/consumers/+/agentevents"]], subscribed
        assert server_id == f"maestro-{wire_flow.SERVER_POD_NAME}"
        # sdk-go connects each agent as "<--cloudevents-client-id>-client" (the client ID read
        # from sdk-go's transport): the one client ID each consumer's IoT policy allows.
        connected_a = agent_a.wait_for("connected")
        assert (connected_a["agentId"], connected_a["clientId"]) == ("wire-a-work-agent", "wire-a-work-agent-client")
        assert world["ws"].state_resource("maestro_consumer.wire_a")["client_id"] == connected_a["clientId"]
        assert agent_b.wait_for("connected")["clientId"] == "wire-b-work-agent-client"
        for agent, consumer in ((agent_a, "wire-a"), (agent_b, "wire-b")):
            assert agent.wait_for("mqtt-connected")["brokerHost"] == f"{world['endpoint']}:8883"
            assert agent.wait_for("subscribed")["topics"] == [f"sources/maestro/consumers/{consumer}/sourceevents"]
        # Each agent's spec resync request reached the server through the shared subscription.
        wire_flow.wait_for_resync_requests(server, ["wire-a", "wire-b"])

        seen_a = wire_flow.exchange(server, agent_a, "wire-a")
        seen_b = wire_flow.exchange(server, agent_b, "wire-b")
        assert seen_a["work"]["source"] == seen_b["work"]["source"] == server_state["source_id"] == "maestro"
        # Neither agent ever saw the other's work, or any topic of the other consumer.
        wire_flow.assert_only_own_traffic(agent_a, "wire-a", [seen_a["work"]["resourceid"]])
        wire_flow.assert_only_own_traffic(agent_b, "wire-b", [seen_b["work"]["resourceid"]])
        # Both statuses reached the one server.
        assert {e["clustername"] for e in server.events() if e["event"] == "status"} == {"wire-a", "wire-b"}

        # While a work the server sent still targets wire-a, Maestro keeps its resource bundle and
        # refuses to delete the registration; once the agent confirmed the work's deletion, it goes.
        kept = wire_flow.exchange(server, agent_a, "wire-a", keep=True)
        registration_a = ["-target=maestro_consumer_registration.wire_a"]
        world["ws"].expect_error(["destroy", "-auto-approve", "-no-color", *registration_a], r"Consumer still has work")
        assert "maestro_consumer_registration.wire_a" in world["ws"].state_resources()
        wire_flow.delete_work(server, agent_a, "wire-a", kept["work"]["resourceid"])
        world["ws"].run("destroy", "-auto-approve", "-no-color", *registration_a)
        assert "maestro_consumer_registration.wire_a" not in world["ws"].state_resources()
        # Unregistered, wire-a gets no more work: the server refuses it and says why.
        assert "is not registered with Maestro" in wire_flow.refused(server, "wire-a")["reason"]

    # sdk-go's own clients, on agent A's mount, under a client ID its policy does not pin: the
    # agent as consumer B's agent, and a source client as "wire-a-work-agent" (without "-client").
    as_b = wire.start_agent(maestro_wire, a_mount, iot_data.address, world["logs"] / "agent-a-as-b",
                            cloudevents_client_id="wire-b-work-agent")
    assert_refused_by_broker(as_b)
    bare = wire.start_server(maestro_wire, a_mount, iot_data.address, world["logs"] / "server-on-a",
                             client_id="wire-a-work-agent", maestro_api_url=iot_data.maestro_api_url)
    assert_refused_by_broker(bare)

    # What an agent's certificate cannot do (the agents are stopped, so no session is taken over).
    a_topics = "sources/maestro/consumers/wire-a"
    b_topics = "sources/maestro/consumers/wire-b"
    for wrong_id in ("wire-b-work-agent-client", "wire-a-work-agent", "wire-a-work-agent-clientx", server_id):
        refused = probe(maestro_wire, iot_data, a_mount, wrong_id, listen_seconds=0)
        assert refused["connack"]["reasonCode"] == NOT_AUTHORIZED, (wrong_id, refused)
    own = probe(maestro_wire, iot_data, a_mount, "wire-a-work-agent-client",
                subscribe=[f"{b_topics}/sourceevents", "sources/maestro/consumers/+/sourceevents",
                           f"{a_topics}/sourceevents"],
                publish=[f"{a_topics}/sourceevents", f"{b_topics}/agentevents", f"{a_topics}/agentevents"],
                listen_seconds=1)
    assert accepted(own["connack"]["reasonCode"])
    assert own["subacks"][f"{b_topics}/sourceevents"] == NOT_AUTHORIZED
    assert own["subacks"]["sources/maestro/consumers/+/sourceevents"] == NOT_AUTHORIZED
    assert accepted(own["subacks"][f"{a_topics}/sourceevents"])
    assert own["pubacks"][f"{a_topics}/sourceevents"] == NOT_AUTHORIZED, "an agent must not publish work"
    assert own["pubacks"][f"{b_topics}/agentevents"] == NOT_AUTHORIZED
    assert accepted(own["pubacks"][f"{a_topics}/agentevents"])
    # Nor can the server's certificate pass for an agent.
    as_agent = probe(maestro_wire, iot_data, world["mounts"] / "server-1", "wire-a-work-agent-client", listen_seconds=0)
    assert as_agent["connack"]["reasonCode"] == NOT_AUTHORIZED, as_agent


def test_rotation_keeps_both_certificates_live_for_the_grace_period_then_only_the_new_one(
        wire_world, maestro_wire, iot_data, management, regional, leak_guard):
    world = wire_world
    ws, logs = world["ws"], world["logs"]
    old_mount = mount_a(world, management, leak_guard, "before")
    old_certificate = ws.state_resource("maestro_consumer.wire_a")["certificate_id"]

    ws.set_config(ws.root.joinpath("main.tf").read_text().split(VARIABLES)[0] + world["config"](generation="2"))
    ws.apply()
    ws.assert_plan_empty()
    new_mount = mount_a(world, management, leak_guard, "after")
    consumer = ws.state_resource("maestro_consumer.wire_a")
    assert consumer["certificate_id"] != old_certificate
    # Grace period: the agent still holding the old bundle and one holding the new both connect.
    assert connects(maestro_wire, iot_data, old_mount, logs / "old-grace")
    assert connects(maestro_wire, iot_data, new_mount, logs / "new-grace")
    with start_server(world, maestro_wire, iot_data, regional, leak_guard, "rotated") as server, \
            wire.start_agent(maestro_wire, new_mount, iot_data.address, world["logs"] / "agent-a-new") as agent:
        agent.wait_for("subscribed")
        wire_flow.wait_for_resync_requests(server, ["wire-a"])
        wire_flow.exchange(server, agent, "wire-a")

    # The retiring apply (grace 0): only the new certificate connects.
    ws.set_config(ws.root.joinpath("main.tf").read_text().split(VARIABLES)[0]
                  + world["config"](generation="2", grace_hours=0))
    ws.apply()
    ws.assert_plan_empty()
    assert not connects(maestro_wire, iot_data, old_mount, logs / "old-retired")
    assert connects(maestro_wire, iot_data, new_mount, logs / "new-retired")

    # Deactivated out of band: refused at once, and the next plan shows the drift.
    regional.client("iot").update_certificate(certificateId=consumer["certificate_id"], newStatus="INACTIVE")
    assert not connects(maestro_wire, iot_data, new_mount, logs / "new-inactive")
    plan = ws.plan()
    assert "maestro_consumer.wire_a" in plan.actions(), plan.describe()
    ws.apply()
    assert connects(maestro_wire, iot_data, new_mount, logs / "new-repaired"), "apply did not repair the drift"

    # After destroy nothing of this configuration connects, the server included.
    b_mount = mount_b(world, management, leak_guard, "final")
    server_id = wire_flow.server_command(ws.state_resource(SERVER)["server_flags"]).client_id
    ws.destroy()
    assert not connects(maestro_wire, iot_data, new_mount, logs / "a-destroyed")
    assert not connects(maestro_wire, iot_data, b_mount, logs / "b-destroyed", consumer_name="wire-b")
    assert not connects(maestro_wire, iot_data, world["mounts"] / "server-rotated", logs / "server-destroyed",
                        server_client_id=server_id)


def test_helm_values_are_in_the_layouts_the_charts_read(wire_world):
    ws = wire_world["ws"]
    for label in ("wire_a", "wire_b"):
        identity = ws.state_resource(f"maestro_agent_identity.{label}")
        deployed = charts.leaf_paths(identity["helm_values"])
        assert deployed <= charts.DEPLOYED_AGENT_VALUE_PATHS, deployed - charts.DEPLOYED_AGENT_VALUE_PATHS
        assert charts.DEPLOYED_AGENT_REQUIRED <= deployed
        upstream = charts.leaf_paths(identity["upstream_helm_values"])
        assert upstream <= charts.UPSTREAM_AGENT_VALUE_PATHS, upstream - charts.UPSTREAM_AGENT_VALUE_PATHS
        consumer = ws.state_resource(f"maestro_consumer.{label}")
        assert charts.lookup(identity["upstream_helm_values"], "messageBroker.mqtt.host") == consumer["endpoint"]
        assert not deployed & charts.DEPLOYED_AGENT_IGNORED, deployed & charts.DEPLOYED_AGENT_IGNORED
        # The chart's default client ID flag becomes exactly what the IoT policy pins.
        flag = charts.lookup(identity["upstream_helm_values"], "cloudeventsClientId")
        assert f"{flag}-client" == consumer["client_id"] == identity["client_id"]
    # Agent A's secrets carry the names the deployed chart's SecretProviderClass mounts.
    a = ws.state_resource("maestro_agent_identity.wire_a")
    assert (a["mqtt_cert_secret_name"], a["config_secret_name"]) == tuple(
        o.object_name for o in charts.DEPLOYED_AGENT_OBJECTS)
    # So do the server's, and the deployed server chart reads its values where they are.
    server = ws.state_resource(SERVER)
    cert_object, config_object = charts.DEPLOYED_SERVER_MQTT_OBJECTS
    assert (server["certificate_secret_name"], server["config_secret_name"]) == \
        (cert_object.object_name, config_object.object_name)
    values = server["helm_values"]
    assert charts.lookup(values, "maestroServer.externalSecrets.mqttCertSecretName") == cert_object.object_name
    config_file = f"{charts.DEPLOYED_MOUNT_PATH}/{dict(config_object.aliases)['config']}"
    assert charts.lookup(values, "maestroServer.broker.configFile") == config_file == \
        wire_flow.server_command(server["server_flags"]).config_file
    assert charts.lookup(values, "maestroServer.broker.type") == "mqtt"
    assert charts.lookup(values, "maestroServer.aws.podIdentity.roleArn") == server["role_arn"]
    for label in ("wire_a", "wire_b"):
        assert charts.lookup(values, "maestroServer.broker.topicPrefix") == \
            ws.state_resource(f"maestro_consumer.{label}")["topic_prefix"].rstrip("/")
