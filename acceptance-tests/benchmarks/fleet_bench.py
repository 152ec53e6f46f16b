"""What the fleet benchmarks (load.py, plan_scale.py) share: the machine they ran on, an emulator
of their own, the provider mirror, and a workspace of N agents with their EKS clusters."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import agent_fleet, aws_accounts, hcl, settings  # noqa: E402
from harness.aws_accounts import AwsAccount  # noqa: E402
from harness.emulator import Emulator  # noqa: E402
from harness.provider_install import ProviderMirror  # noqa: E402
from harness.tofu_workspace import TofuWorkspace  # noqa: E402

# A command over hundreds of agents takes minutes; the harness default (5 min) is for tests.
COMMAND_TIMEOUT = 3 * 3600.0


def machine() -> str:
    """nproc, CPU model and load average: the figures mean little without them."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"nproc={os.cpu_count()} model={model!r} loadavg={load}"


def work_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"maestro-{prefix}-"))


def start_emulator(work: Path, iam_propagation_seconds: float) -> Emulator:
    env = dict(os.environ, MAESTRO_EMULATOR_IAM_PROPAGATION_SECONDS=str(iam_propagation_seconds))
    env.pop("MAESTRO_EMULATOR_IOT_DATA_BROKER", None)  # no MQTT here
    emulator = Emulator(settings.emulator_script(), work / "emulator", env=env)
    emulator.start()
    return emulator


def mirror_of(work: Path, binary: Path) -> ProviderMirror:
    mirror = ProviderMirror(work / "provider")
    mirror.install(binary)
    mirror.write_cli_config()
    return mirror


@dataclass
class Fleet:
    agents: dict[str, str]
    workspace: TofuWorkspace
    management: AwsAccount
    regional: AwsAccount
    setup_seconds: float


def fleet(work: Path, url: str, mirror: ProviderMirror, prefix: str, count: int,
          extra_env: dict[str, str] | None = None) -> Fleet:
    """N agents' EKS clusters created and their configuration initialised (nothing applied)."""
    started = time.monotonic()
    management, regional = aws_accounts.management_account(url), aws_accounts.regional_account(url)
    agents = agent_fleet.fleet_agents(prefix, count)
    agent_fleet.create_clusters(management, agents)
    ws_dir = work / f"{prefix}-{count}"
    ws_dir.mkdir()
    ws = TofuWorkspace(ws_dir, settings.cli_binary(), mirror.cli_config, extra_env=extra_env, timeout=COMMAND_TIMEOUT)
    ws.set_config(hcl.preamble(hcl.standard_providers(url)) + agent_fleet.fleet_config(agents))
    ws.init()
    return Fleet(agents, ws, management, regional, time.monotonic() - started)


def error_count(output: str) -> int:
    """Diagnostics the CLI reported as errors (each begins `Error: ` on a line of its own)."""
    return sum(1 for line in output.splitlines() if line.lstrip("│ ").startswith("Error: "))
