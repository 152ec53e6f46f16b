"""Putting what the provider wrote in front of Maestro's own MQTT clients (sdk-go, run by
`harness/maestro_wire`), the way each chart does, and driving exchanges of work and status between one server and its agents.

- `mount_deployed_chart_agent`: the deployed agent chart's SecretProviderClass (fixed secret
  names, `caCert` → `ca.crt`, `config` → `config.yaml`), via `csi_mount`.
- `mount_upstream_chart_agent`: upstream's chart — config.yaml rendered by the chart from
  `upstream_helm_values`, certificates from the Kubernetes secret `maestro-agent-certs` (here
  filled from the credential secret, as a CSI `secretObjects` sync or the ephemeral bundle
  would), under `/secrets/mqtt-certs`.
- `mount_deployed_chart_server`: the deployed server chart's SecretProviderClass over what
  `maestro_server_identity` wrote in the regional account (`maestro/server-cert`,
  `maestro/server-config`; its database secret has no part in MQTT).
- `start_deployed_chart_server`: the server started from that mount with the client ID and
  source ID of the resource's `server_flags` (`$(POD_NAME)` expanded as Kubernetes does),
  subscribing with the config's agentEvents as written — `$share/<group>/...` when shared.
- `exchange_with_server`: one server and several agents; each consumer's work reaches only its
  agent, and every agent's status reaches the server.
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import charts, csi_mount, wire
from . import credentials as creds
from .aws_accounts import AwsAccount


@dataclass(frozen=True)
class IotData:
    """The emulator's IoT Core data plane: where to dial, and the CA of its server certificate;
    and where the emulator plays Maestro's REST API, which the harness's server asks whether a
    consumer is registered before it sends that consumer work (as Maestro's server does)."""
    address: str
    ca_pem: str
    maestro_api_url: str


def iot_data(emulator_url: str) -> IotData:
    with urllib.request.urlopen(f"{emulator_url}/maestro-emulator/iot-data", timeout=10) as response:
        body = json.loads(response.read())
    return IotData(body["address"], body["caPem"], emulator_url)


def register_consumers(data: IotData, consumers: Sequence[str]) -> None:
    """Registers each consumer with the emulator's Maestro REST API directly (POST
    /api/maestro/v1/consumers; 409: already registered), for tests whose configuration has no
    `maestro_consumer_registration`: the server sends work only to registered consumers."""
    for consumer in consumers:
        request = urllib.request.Request(f"{data.maestro_api_url}/api/maestro/v1/consumers", method="POST",
                                         data=json.dumps({"name": consumer}).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except urllib.error.HTTPError as refused:
            assert refused.code == 409, f"registering {consumer}: HTTP {refused.code} {refused.read()[:300]!r}"


def mount_deployed_chart_agent(management: AwsAccount, target: Path, guard: Any = None) -> Path:
    cert, config = (obj.object_name for obj in charts.DEPLOYED_AGENT_OBJECTS)
    return csi_mount.mount_agent_secrets(management, cert, config, target, guard=guard)


def mount_deployed_chart_server(regional: AwsAccount, target: Path, guard: Any = None) -> Path:
    """The server pod's CSI mount: the deployed server chart's objects that carry its MQTT
    identity and config, read from the regional account. With `guard`, the server's private key
    is registered with the leak scan."""
    cert, config = charts.DEPLOYED_SERVER_MQTT_OBJECTS
    # csi_mount maps the JSON keys itself; it must map them the way the chart does.
    assert (cert.aliases, config.aliases) == (csi_mount.SERVER_CERT_KEYS, csi_mount.SERVER_CONFIG_KEYS), \
        "csi_mount's server key mapping differs from the deployed server chart's SecretProviderClass"
    return csi_mount.mount_server_secrets(regional, cert.object_name, config.object_name, target, guard=guard)


def mount_upstream_chart_agent(management: AwsAccount, cert_secret: str, values: dict[str, Any], target: Path,
                               guard: Any = None) -> Path:
    bundle = creds.read_bundle(management, cert_secret, guard=guard)
    assert bundle is not None and bundle.certificate, f"{cert_secret} has no complete current bundle to sync"
    target.mkdir(parents=True, exist_ok=False)
    files = {"certificate": bundle.certificate, "privateKey": bundle.private_key, "ca.crt": bundle.raw["caCert"],
             "config.yaml": charts.render_upstream_agent_config(values)}
    for name, content in files.items():
        path = target / name
        path.write_text(content, encoding="utf-8")
        path.chmod(0o600)
    return target


def exchange(server: wire.WireClient, agent: wire.WireClient, consumer: str, timeout: float = 30,
             *, keep: bool = False) -> dict[str, Any]:
    """The server publishes one ManifestWork to `consumer` (registered with Maestro) through sdk-go's
    source client; sdk-go's agent client must deliver it to the agent, whose status patch must come
    back to the server. Then, unless `keep`, the server deletes the work and the agent confirms,
    which removes the work's resource bundle from Maestro (`delete_work`). Returns what each side
    saw."""
    resource_id = str(uuid.uuid4())
    server.send({"consumer": consumer, "resourceid": resource_id})
    published = server.wait_for(
        lambda e: e["event"] in ("published", "publish-error") and e.get("resourceid") == resource_id, timeout)
    assert published["event"] == "published", f"the server's publish was refused: {published}"
    work = agent.wait_for(lambda e: e["event"] == "work" and e.get("resourceid") == resource_id, timeout)
    assert work["clustername"] == consumer and work["manifests"] == 1, work
    sent = agent.wait_for(lambda e: e["event"] in ("status-sent", "status-error") and e.get("resourceid") == resource_id,
                          timeout)
    assert sent["event"] == "status-sent", f"the agent could not publish the status: {sent}"
    status = server.wait_for(lambda e: e["event"] == "status" and e.get("resourceid") == resource_id, timeout)
    assert status.get("clustername") == consumer, status
    assert {"Applied", "Available"} <= set(status["conditions"]), status
    seen = {"published": published, "work": work, "status": status}
    if not keep:
        seen["deleted"] = delete_work(server, agent, consumer, resource_id, timeout)
    return seen


def delete_work(server: wire.WireClient, agent: wire.WireClient, consumer: str, resource_id: str,
                timeout: float = 30) -> dict[str, Any]:
    """The server deletes the work (its delete_request); the agent drops it and sdk-go reports it
    "Deleted", upon which the server removes its resource bundle from Maestro."""
    server.send({"action": "delete", "consumer": consumer, "resourceid": resource_id})
    server.wait_for({"event": "delete-published", "resourceid": resource_id}, timeout)
    agent.wait_for({"event": "work-deleted", "resourceid": resource_id}, timeout)
    return server.wait_for({"event": "deleted", "resourceid": resource_id}, timeout)


def refused(server: wire.WireClient, consumer: str, timeout: float = 30) -> dict[str, Any]:
    """Asks the server for one work to `consumer` and expects it refused: returns the refusal
    (its `reason` says why)."""
    resource_id = str(uuid.uuid4())
    server.send({"consumer": consumer, "resourceid": resource_id})
    answer = server.wait_for(lambda e: e["event"] in ("published", "refused") and e.get("resourceid") == resource_id,
                             timeout)
    assert answer["event"] == "refused", f"the server sent work to {consumer}: {answer}"
    return answer


# ---------------------------------------------------------------- the server, as deployed

# The server pod's name: Kubernetes expands `$(POD_NAME)` in the container's args from the
# downward API (`metadata.name`), here a Deployment's pod.
SERVER_POD_NAME = "maestro-7c9d5b8f6-q2x7k"
SERVER_FLAG_NAMES = ("message-broker-type", "message-broker-config-file", "source-id", "client-id",
                     "subscription-type")
_K8S_VARIABLE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand_kubernetes_variables(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' expansion of a container argument: `$(NAME)` becomes the variable's value,
    `$$` a literal `$`, and a reference to an undefined variable stays as written."""
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))
    return _K8S_VARIABLE.sub(replace, text)


@dataclass(frozen=True)
class ServerCommand:
    """Maestro's `server` command line as `maestro_server_identity.server_flags` has it run."""
    broker_type: str
    config_file: str
    source_id: str
    client_id: str
    subscription_type: str


def server_command(server_flags: Sequence[str], pod_name: str = SERVER_POD_NAME) -> ServerCommand:
    """Parses the resource's `server_flags` (`--name=value`, each once) as the pod would get them."""
    values: dict[str, str] = {}
    for flag in server_flags:
        assert flag.startswith("--") and "=" in flag, f"server_flags holds {flag!r}, not a --name=value flag"
        name, value = flag[2:].split("=", 1)
        assert name not in values, f"server_flags gives --{name} twice: {list(server_flags)}"
        values[name] = expand_kubernetes_variables(value, {"POD_NAME": pod_name})
    assert set(values) == set(SERVER_FLAG_NAMES), \
        f"server_flags names {sorted(values)}, expected {sorted(SERVER_FLAG_NAMES)}"
    unexpanded = [v for v in values.values() if _K8S_VARIABLE.search(v)]
    assert not unexpanded, f"server_flags refers to variables the pod does not define: {unexpanded}"
    return ServerCommand(values["message-broker-type"], values["message-broker-config-file"], values["source-id"],
                         values["client-id"], values["subscription-type"])


def start_deployed_chart_server(binary: Path, data: IotData, regional: AwsAccount, server: Mapping[str, Any],
                                mount_dir: Path, log_dir: Path, guard: Any = None,
                                pod_name: str = SERVER_POD_NAME) -> wire.WireClient:
    """Mounts `maestro_server_identity`'s secrets as the deployed server chart does and starts the
    server with its `server_flags`. `server` is the resource's state (or an output holding its
    `server_flags` and `agent_events_topic`). Returns once the server is connected and subscribed,
    having checked that it subscribed with the resource's agentEvents filter ($share included)
    and that the broker granted it."""
    command = server_command(server["server_flags"], pod_name)
    assert command.broker_type == "mqtt", command
    config_object = charts.DEPLOYED_SERVER_MQTT_OBJECTS[1]
    mounted_config = dict(config_object.aliases)["config"]
    assert command.config_file == f"{charts.DEPLOYED_MOUNT_PATH}/{mounted_config}", \
        f"--message-broker-config-file={command.config_file} is not the file the chart mounts from {config_object.object_name}"
    agent_events = server["agent_events_topic"]
    shared = agent_events.startswith("$share/")
    assert (command.subscription_type == "shared") == shared, \
        f"--subscription-type={command.subscription_type} but agentEvents is {agent_events!r}"
    files = mount_deployed_chart_server(regional, mount_dir, guard=guard)
    client = wire.start_server(binary, files, data.address, log_dir, client_id=command.client_id,
                               source_id=command.source_id, config_file=command.config_file,
                               maestro_api_url=data.maestro_api_url)
    try:
        connected = client.wait_for("connected")
        assert connected["clientId"] == command.client_id, connected
        subscribed = client.wait_for("subscribed")
        assert subscribed["topics"] == [agent_events], (subscribed, agent_events)
        assert subscribed["granted"], f"the broker refused the server's subscription: {subscribed}"
    except BaseException:
        client.stop()
        raise
    return client


# ---------------------------------------------------------------- one server, several agents


@dataclass(frozen=True)
class AgentMount:
    """One agent to start: its consumer name and the files its chart mounts. The upstream chart's
    mount has no consumerName file and passes the client ID as a flag."""
    consumer: str
    files: Path
    cloudevents_client_id: str | None = None
    consumer_name: str | None = None


def wait_for_resync_requests(server: wire.WireClient, consumers: Sequence[str], timeout: float = 30) -> None:
    """Once subscribed, each agent asks the server for a spec resync (as Maestro's agent does).
    Waiting until the server has every consumer's request means no resync answer can cross the
    exchanges that follow, and shows each agent's messages reach the server's subscription."""
    for consumer in consumers:
        server.wait_for(lambda e, c=consumer: e["event"] == "resync-request" and e.get("clustername") == c, timeout)


def assert_only_own_traffic(agent: wire.WireClient, consumer: str, resource_ids: Sequence[str]) -> None:
    """The agent received exactly the works in `resource_ids`, sdk-go never had to drop a spec
    event of another cluster (it logs each one it ignores: the `ignored` event), and every topic
    it subscribed to is its own consumer's."""
    received = [e["resourceid"] for e in agent.events() if e["event"] == "work"]
    assert received == list(resource_ids), f"agent of {consumer} received works {received}, expected {list(resource_ids)}"
    ignored = [e for e in agent.events() if e["event"] == "ignored"]
    assert not ignored, f"the broker delivered another consumer's work to the agent of {consumer}: {ignored}"
    topics = [t for e in agent.events() if e["event"] == "subscribed" for t in e["topics"]]
    assert topics and all(t.split("/")[-2] == consumer for t in topics), \
        f"agent of {consumer} subscribed to {topics}"


def exchange_with_server(binary: Path, data: IotData, regional: AwsAccount, server: Mapping[str, Any],
                         agents: Sequence[AgentMount], server_mount: Path, workdir: Path,
                         guard: Any = None, *, registered: bool = True) -> dict[str, Any]:
    """ONE server from `maestro_server_identity`'s secrets (`start_deployed_chart_server`) and
    every agent in `agents`, all running at once: each consumer (registered with Maestro) gets
    one work, which only its agent receives, and every agent's status reaches the server through
    its subscription; then the work is deleted again. With `registered=False` no consumer is
    registered: the server refuses each one's work, saying why, and no agent receives any. Logs go
    under `workdir` (leak-scan it); `server_mount` holds the server's key by design, so it must
    lie outside every scanned tree. Returns `{"server": {"connected", "subscribed"},
    "agents": {consumer: {"connected", "published", "work", "status", "deleted"}}}` (with
    `registered=False`: `{consumer: {"connected", "refused"}}`)."""
    assert len({a.consumer for a in agents}) == len(agents), "one agent per consumer"
    with contextlib.ExitStack() as stack:
        srv = stack.enter_context(start_deployed_chart_server(binary, data, regional, server, server_mount,
                                                              workdir / "server", guard=guard))
        running = {a.consumer: stack.enter_context(
            wire.start_agent(binary, a.files, data.address, workdir / f"agent-{a.consumer}",
                             cloudevents_client_id=a.cloudevents_client_id, consumer_name=a.consumer_name))
            for a in agents}
        connected = {}
        for consumer, agent in running.items():
            connected[consumer] = agent.wait_for("connected")
            agent.wait_for("subscribed")
        wait_for_resync_requests(srv, list(running))
        if not registered:
            refusals = {consumer: refused(srv, consumer) for consumer in running}
            for consumer, agent in running.items():
                assert_only_own_traffic(agent, consumer, [])
            server_events = srv.events()
            first = lambda name: next(e for e in server_events if e["event"] == name)  # noqa: E731
            return {"server": {"connected": first("connected"), "subscribed": first("subscribed")},
                    "agents": {c: {"connected": connected[c], "refused": refusals[c]} for c in running}}
        seen = {consumer: exchange(srv, agent, consumer) for consumer, agent in running.items()}
        for consumer, agent in running.items():
            assert_only_own_traffic(agent, consumer, [seen[consumer]["work"]["resourceid"]])
        server_events = srv.events()
    statuses = {e["clustername"] for e in server_events if e["event"] == "status"}
    assert statuses == set(running), f"the server received status from {sorted(statuses)}, expected {sorted(running)}"
    first = lambda name: next(e for e in server_events if e["event"] == name)  # noqa: E731
    return {"server": {"connected": first("connected"), "subscribed": first("subscribed")},
            "agents": {c: {**seen[c], "connected": connected[c]} for c in running}}
