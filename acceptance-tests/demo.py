"""The README's demo: starts the AWS emulator (two accounts, and IoT Core's MQTT data plane),
installs the freshly built provider into a filesystem mirror, applies examples/complete with the
real OpenTofu CLI (the Maestro server's identity in the regional account and two agents — key,
consumer and identity each — across both accounts, in one apply), prints its outputs, checks
through the AWS APIs that the server's and the agents' credentials are coherent and that no
private key reached the state, the outputs or the logs — and ends on the wire: Maestro's own
transport (open-cluster-management.io/sdk-go's CloudEvents source client for ONE server, its
agent client for both agents, at the versions Maestro pins), each started only from the files the
CSI driver would mount from the secrets the provider wrote, config.yaml read as written in a pod
view (harness/pod_view.py), exchange work and status through the broker that authorises as IoT
Core does; each agent receives only its own work, and both statuses reach the
server through its shared subscription. The server sends work only to consumers registered with
Maestro's REST API (the emulator plays it), as Maestro's does: the demo first applies without
`maestro_api_url`, shows the server refusing both agents' work and why, then applies again with
it (the two `maestro_consumer_registration`s) and shows the work arrive.

Usage: python demo.py [EXAMPLE_DIR]   (default and scripts/demo: examples/complete)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from harness import aws_accounts, aws_inspect, complete_example, go_tools, settings, wire_flow
from harness.emulator import Emulator
from harness.leak_check import LeakDetected, LeakScanner, assert_no_leaks
from harness.provider_install import ProviderMirror, build_provider
from harness.tofu_workspace import TofuWorkspace

# The example's defaults: two management clusters (one agent each) and the server's cluster.
MANAGEMENT_CLUSTERS = {"management-01": "management-01", "management-02": "management-02"}
REGIONAL_CLUSTER = "regional-01"


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
        for eks in MANAGEMENT_CLUSTERS.values():
            aws_inspect.create_eks_cluster(management, eks)
        aws_inspect.create_eks_cluster(regional, REGIONAL_CLUSTER)
        print(f"created EKS clusters {', '.join(MANAGEMENT_CLUSTERS.values())} in the management account "
              f"and {REGIONAL_CLUSTER} in the regional account")

        mirror = ProviderMirror(work / "provider")
        mirror.install(build_provider(work / "cargo-build.log"))
        mirror.write_cli_config()

        ws_dir = work / "workspace"
        shutil.copytree(example, ws_dir)
        # First without Maestro's API: every AWS object, but no consumer registered yet.
        complete_example.write_variables(ws_dir, url, MANAGEMENT_CLUSTERS, REGIONAL_CLUSTER, broker_ca_pem=data.ca_pem)
        ws = TofuWorkspace(ws_dir, settings.tofu_binary(), mirror.cli_config)
        print("\nstep 1: examples/complete without maestro_api_url (no consumer registered with Maestro yet)")
        for args in (["init", "-no-color"], ["apply", "-auto-approve", "-no-color"]):
            result = ws.run(*args)
            print(f"\n$ tofu {' '.join(args)}\n{result.stdout.strip()}")
        print("\n$ tofu output")
        print(ws.run("output", "-no-color").stdout)

        print("checked through the AWS APIs of both accounts:")
        outputs = {k: v["value"] for k, v in json.loads(ws.run("output", "-json").stdout).items()}
        scanner = LeakScanner()
        for line in complete_example.verify(management, regional, outputs, scanner, broker_ca_pem=data.ca_pem):
            print(f"  {line}")
        print("\non the wire: Maestro's transport, open-cluster-management.io/sdk-go's source and agent clients, "
              "MQTT 5 over TLS 1.3 to the emulated IoT Core, each in a pod view of its CSI mount; the server asks "
              f"Maestro's REST API ({data.maestro_api_url}/api/maestro/v1/consumers) before it sends a consumer work:")
        # The mounts hold the keys by design, so they stay out of the scanned trees.
        report, _ = complete_example.refused_over_mqtt(go_tools.maestro_wire(), data, management, regional, outputs,
                                                       work / "mounts-unregistered", work / "wire" / "unregistered",
                                                       scanner)
        for line in report:
            print(f"  {line}")

        print(f"\nstep 2: register both consumers with Maestro: maestro_api_url = {data.maestro_api_url} "
              "(the emulator's Maestro REST API)")
        complete_example.write_variables(ws_dir, url, MANAGEMENT_CLUSTERS, REGIONAL_CLUSTER, broker_ca_pem=data.ca_pem,
                                         maestro_api_url=data.maestro_api_url)
        result = ws.run("apply", "-auto-approve", "-no-color")
        print(f"\n$ tofu apply -auto-approve -no-color\n{result.stdout.strip()}")
        outputs = {k: v["value"] for k, v in json.loads(ws.run("output", "-json").stdout).items()}
        assert set(outputs["registrations"]) == set(MANAGEMENT_CLUSTERS), outputs["registrations"]
        for name, consumer_id in sorted(outputs["registrations"].items()):
            print(f"  consumer {name} registered with Maestro as {consumer_id}")
        print("\non the wire again, now that both consumers are registered:")
        report, _ = complete_example.exchange_over_mqtt(go_tools.maestro_wire(), data, management, regional, outputs,
                                                        work / "mounts", work / "wire" / "registered", scanner)
        for line in report:
            print(f"  {line}")
        try:
            assert_no_leaks(scanner.scan_tree(ws_dir) + scanner.scan_tree(work / "wire"),
                            context=f"in {ws_dir} or {work / 'wire'}")
        except LeakDetected as error:
            print(f"  LEAK: {error}")
            return 1
        print("  leak check: no private key (the server's, the agents') is in any file of the workspace "
              "(configuration, state, saved tofu output, TF_LOG=trace logs) or of the wire clients' logs")
        print(f"\nworkspace kept at {ws_dir} (tofu logs in {ws.artifacts})")
        return 0
    except AssertionError as error:
        print(f"\nCHECK FAILED: {error}")
        return 1
    finally:
        emulator.stop()


if __name__ == "__main__":
    default = settings.REPO_ROOT / "examples" / "complete"
    sys.exit(main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else default))
