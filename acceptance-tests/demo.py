"""The README's demo: starts the AWS emulator (two accounts), installs the freshly built provider
into a filesystem mirror, and applies an example with the real OpenTofu CLI, printing its outputs.

Usage: python demo.py EXAMPLE_DIR   (scripts/demo passes examples/agent-identity)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from harness import aws_accounts, aws_inspect, settings
from harness.emulator import Emulator
from harness.provider_install import ProviderMirror, build_provider
from harness.tofu_workspace import TofuWorkspace


def main(example: Path) -> int:
    work = Path(tempfile.mkdtemp(prefix="maestro-demo-"))
    emulator = Emulator(settings.EMULATOR_SCRIPT_DEFAULT, work / "emulator")
    try:
        url = emulator.start()
        print(f"emulator: {url} (regional account {aws_accounts.REGIONAL_ACCOUNT_ID}, "
              f"management account {aws_accounts.MANAGEMENT_ACCOUNT_ID})")
        management = aws_accounts.management_account(url)
        aws_inspect.create_eks_cluster(management, "management-01")
        print("created EKS cluster management-01 in the management account")

        mirror = ProviderMirror(work / "provider")
        mirror.install(build_provider(work / "cargo-build.log"))
        mirror.write_cli_config()

        ws_dir = work / "workspace"
        shutil.copytree(example, ws_dir)
        ws = TofuWorkspace(ws_dir, settings.tofu_binary(), mirror.cli_config)
        for args in (["init", "-no-color"], ["apply", "-auto-approve", "-no-color", f"-var=aws_endpoint={url}"]):
            result = ws.run(*args)
            print(f"\n$ tofu {' '.join(args)}\n{result.stdout.strip()}")
        print("\n$ tofu output")
        print(ws.run("output", "-no-color").stdout)
        role = aws_inspect.get_role(management, "management-01-maestro-agent")
        print(f"checked through the AWS API: role {role['Arn'] if role else 'MISSING'}")
        print(f"\nworkspace kept at {ws_dir} (tofu logs in {ws.artifacts})")
        return 0 if role else 1
    finally:
        emulator.stop()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve()))
