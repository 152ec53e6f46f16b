"""The README's demo: starts the AWS emulator (two accounts, and IoT Core's MQTT data plane),
installs the freshly built provider into a filesystem mirror, applies examples/complete with the
real OpenTofu CLI (key, consumer and identity across both accounts in one apply), prints its
outputs, checks through the AWS APIs that the agent's credentials are coherent and that no
private key reached the state, the outputs or the logs — and ends on the wire: a
Maestro-faithful agent, started only from the files the CSI driver would mount from the
secrets the provider wrote, receives one work event from a Maestro-faithful server and answers
with one status event, through the broker that authorises as IoT Core does.

Usage: python demo.py [EXAMPLE_DIR]   (default and scripts/demo: examples/complete)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from harness import aws_accounts, aws_inspect, complete_example, csi_mount, go_tools, server_side, settings, wire_flow
from harness.emulator import Emulator
from harness.leak_check import LeakDetected, LeakScanner, assert_no_leaks
from harness.provider_install import ProviderMirror, build_provider
from harness.tofu_workspace import TofuWorkspace

CLUSTER_ID = "management-01"


def main(example: Path) -> int:
    work = Path(tempfile.mkdtemp(prefix="maestro-demo-"))
    env = dict(os.environ, MAESTRO_EMULATOR_IOT_DATA_BROKER=str(go_tools.iot_data_broker()))
    emulator = Emulator(settings.EMULATOR_SCRIPT_DEFAULT, work / "emulator", env=env)
    try:
        url = emulator.start()
        data = wire_flow.iot_data(url)
        print(f"emulator: {url} (regional account {aws_accounts.REGIONAL_ACCOUNT_ID}, "
              f"management account {aws_accounts.MANAGEMENT_ACCOUNT_ID}); IoT Core data plane at {data.address}")
        management = aws_accounts.management_account(url)
        regional = aws_accounts.regional_account(url)
        aws_inspect.create_eks_cluster(management, CLUSTER_ID)
        print(f"created EKS cluster {CLUSTER_ID} in the management account")

        mirror = ProviderMirror(work / "provider")
        mirror.install(build_provider(work / "cargo-build.log"))
        mirror.write_cli_config()

        ws_dir = work / "workspace"
        shutil.copytree(example, ws_dir)
        complete_example.write_variables(ws_dir, url, CLUSTER_ID, CLUSTER_ID, broker_ca_pem=data.ca_pem)
        ws = TofuWorkspace(ws_dir, settings.tofu_binary(), mirror.cli_config)
        for args in (["init", "-no-color"], ["apply", "-auto-approve", "-no-color"]):
            result = ws.run(*args)
            print(f"\n$ tofu {' '.join(args)}\n{result.stdout.strip()}")
        print("\n$ tofu output")
        print(ws.run("output", "-no-color").stdout)

        print("checked through the AWS APIs of both accounts:")
        outputs = {k: v["value"] for k, v in json.loads(ws.run("output", "-json").stdout).items()}
        scanner = LeakScanner()
        for line in complete_example.verify(management, regional, CLUSTER_ID, outputs, scanner,
                                            broker_ca_pem=data.ca_pem):
            print(f"  {line}")
        print("\non the wire (MQTT 5 over TLS to the emulated IoT Core, CloudEvents in binary mode):")
        for line in exchange_over_mqtt(work, data, management, regional, outputs, scanner):
            print(f"  {line}")
        try:
            assert_no_leaks(scanner.scan_tree(ws_dir), context=f"in {ws_dir}")
        except LeakDetected as error:
            print(f"  LEAK: {error}")
            return 1
        print("  leak check: the private key is in no file of the workspace "
              "(configuration, state, saved tofu output, TF_LOG=trace logs)")
        print(f"\nworkspace kept at {ws_dir} (tofu logs in {ws.artifacts})")
        return 0
    except AssertionError as error:
        print(f"\nCHECK FAILED: {error}")
        return 1
    finally:
        emulator.stop()


def exchange_over_mqtt(work: Path, data: wire_flow.IotData, management, regional, outputs: dict,
                       scanner: LeakScanner) -> list[str]:
    """One work event from a Maestro-faithful server to the agent, one status event back. The
    agent reads only what its CSI mount would hold; the server's certificate is the harness's
    until the provider manages the server side."""
    agent_files = csi_mount.mount_agent_secrets(management, outputs["secrets"]["credentials"],
                                                outputs["secrets"]["config"], work / "mounts" / "agent", guard=scanner)
    seen = wire_flow.exchange_with_harness_server(go_tools.maestro_wire(), data, regional, agent_files, CLUSTER_ID,
                                                  outputs["mqtt"]["endpoint"], work / "wire", guard=scanner)
    connected = seen["connected"]
    assert connected["clientId"] == outputs["mqtt"]["client_id"], (connected, outputs["mqtt"])
    work_event, status = seen["work"], seen["status"]
    return [
        f"agent connected as {connected['clientId']} with the certificate from the credential secret",
        f"server {server_side.SERVER_CLIENT_ID} published work {work_event['id']} ({work_event['type']})",
        f"  to {seen['published']['topic']}; the agent received it (resource {work_event['resourceid']})",
        f"agent published status {status['id']} ({status['type']})",
        f"  to {status['topic']}; the server received it",
    ]


if __name__ == "__main__":
    default = settings.REPO_ROOT / "examples" / "complete"
    sys.exit(main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else default))
