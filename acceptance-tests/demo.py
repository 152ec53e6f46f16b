"""The README's demo: starts the AWS emulator (two accounts), installs the freshly built provider
into a filesystem mirror, applies examples/complete with the real OpenTofu CLI (key, consumer
and identity across both accounts in one apply), prints its outputs, and checks through the
AWS APIs that the agent's credentials are coherent and that no private key reached the state,
the outputs or the logs.

Usage: python demo.py [EXAMPLE_DIR]   (default and scripts/demo: examples/complete)
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from harness import aws_accounts, aws_inspect, complete_example, settings
from harness.emulator import Emulator
from harness.leak_check import LeakDetected, LeakScanner, assert_no_leaks
from harness.provider_install import ProviderMirror, build_provider
from harness.tofu_workspace import TofuWorkspace

CLUSTER_ID = "management-01"


def main(example: Path) -> int:
    work = Path(tempfile.mkdtemp(prefix="maestro-demo-"))
    emulator = Emulator(settings.EMULATOR_SCRIPT_DEFAULT, work / "emulator")
    try:
        url = emulator.start()
        print(f"emulator: {url} (regional account {aws_accounts.REGIONAL_ACCOUNT_ID}, "
              f"management account {aws_accounts.MANAGEMENT_ACCOUNT_ID})")
        management = aws_accounts.management_account(url)
        regional = aws_accounts.regional_account(url)
        aws_inspect.create_eks_cluster(management, CLUSTER_ID)
        print(f"created EKS cluster {CLUSTER_ID} in the management account")

        mirror = ProviderMirror(work / "provider")
        mirror.install(build_provider(work / "cargo-build.log"))
        mirror.write_cli_config()

        ws_dir = work / "workspace"
        shutil.copytree(example, ws_dir)
        complete_example.write_variables(ws_dir, url, CLUSTER_ID, CLUSTER_ID)
        ws = TofuWorkspace(ws_dir, settings.tofu_binary(), mirror.cli_config)
        for args in (["init", "-no-color"], ["apply", "-auto-approve", "-no-color"]):
            result = ws.run(*args)
            print(f"\n$ tofu {' '.join(args)}\n{result.stdout.strip()}")
        print("\n$ tofu output")
        print(ws.run("output", "-no-color").stdout)

        print("checked through the AWS APIs of both accounts:")
        outputs = {k: v["value"] for k, v in json.loads(ws.run("output", "-json").stdout).items()}
        scanner = LeakScanner()
        for line in complete_example.verify(management, regional, CLUSTER_ID, outputs, scanner):
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


if __name__ == "__main__":
    default = settings.REPO_ROOT / "examples" / "complete"
    sys.exit(main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else default))
