"""Putting what the provider wrote in front of Maestro-faithful processes, the way each agent
chart does, and driving one exchange of work and status between a server and an agent.

- `mount_deployed_chart_agent`: the deployed chart's SecretProviderClass (fixed secret names,
  `caCert` → `ca.crt`, `config` → `config.yaml`), via `csi_mount`.
- `mount_upstream_chart_agent`: upstream's chart — config.yaml rendered by the chart from
  `upstream_helm_values`, certificates from the Kubernetes secret `maestro-agent-certs` (here
  filled from the credential secret, as a CSI `secretObjects` sync or the ephemeral bundle
  would), under `/secrets/mqtt-certs`.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import charts, csi_mount, wire
from . import credentials as creds
from .aws_accounts import AwsAccount


@dataclass(frozen=True)
class IotData:
    """The emulator's IoT Core data plane: where to dial, and the CA of its server certificate."""
    address: str
    ca_pem: str


def iot_data(emulator_url: str) -> IotData:
    with urllib.request.urlopen(f"{emulator_url}/maestro-emulator/iot-data", timeout=10) as response:
        body = json.loads(response.read())
    return IotData(body["address"], body["caPem"])


def mount_deployed_chart_agent(management: AwsAccount, target: Path, guard: Any = None) -> Path:
    cert, config = (obj.object_name for obj in charts.DEPLOYED_AGENT_OBJECTS)
    return csi_mount.mount_agent_secrets(management, cert, config, target, guard=guard)


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


def exchange(server: wire.WireClient, agent: wire.WireClient, consumer: str, timeout: float = 30) -> dict[str, Any]:
    """The server sends one work event to `consumer`; the agent must receive it and answer with
    a status event that reaches the server. Returns what each side saw."""
    event_id = f"work-{uuid.uuid4()}"
    resource_id = str(uuid.uuid4())
    server.send({"consumer": consumer, "id": event_id, "resourceid": resource_id})
    published = server.wait_for(lambda e: e["event"] == "published" and e.get("id") == event_id, timeout)
    code = published.get("reasonCode")
    assert code is not None and code < 0x80, f"the server's publish was refused: {published}"
    work = agent.wait_for(lambda e: e["event"] == "work" and e.get("id") == event_id, timeout)
    assert work["resourceid"] == resource_id and work["clustername"] == consumer, work
    status = server.wait_for(lambda e: e["event"] == "status" and e.get("resourceid") == resource_id, timeout)
    assert status.get("clustername") == consumer, status
    return {"published": published, "work": work, "status": status}


def start_harness_server(binary: Path, data: IotData, identity: Any, endpoint: str, mount_dir: Path,
                         log_dir: Path) -> wire.WireClient:
    """Mounts the harness server identity's files and starts the server as Maestro's deployment
    runs it (client ID `maestro-<pod>`, source ID from the topic prefix)."""
    from . import server_side

    files = server_side.mount_server_files(identity, endpoint, data.ca_pem, mount_dir)
    return wire.start_server(binary, files, data.address, log_dir, client_id=server_side.SERVER_CLIENT_ID,
                             source_id=identity.source_id)


def exchange_with_harness_server(binary: Path, data: IotData, regional: AwsAccount, agent_files: Path, consumer: str,
                                 endpoint: str, workdir: Path, guard: Any = None,
                                 cloudevents_client_id: str | None = None) -> dict[str, Any]:
    """Starts a server (the harness's identity, removed afterwards) and the agent from
    `agent_files`, and runs one `exchange`, logging under `workdir`. Adds the agent's
    `connected` event to the result."""
    from . import server_side

    identity = server_side.issue_server_identity(regional, f"{consumer}-srv", guard=guard)
    try:
        # The mount goes beside the agent's, not under `workdir`: the logs there are leak-scanned
        # and the mount holds the server's key by design.
        with start_harness_server(binary, data, identity, endpoint, agent_files.parent / f"{consumer}-server",
                                  workdir / "server") as server, \
                wire.start_agent(binary, agent_files, data.address, workdir / "agent",
                                 cloudevents_client_id=cloudevents_client_id) as agent:
            server.wait_for("subscribed")
            connected = agent.wait_for("connected")
            agent.wait_for("subscribed")
            seen = exchange(server, agent, consumer)
    finally:
        server_side.remove_server_identity(regional, identity)
    return {**seen, "connected": connected}
