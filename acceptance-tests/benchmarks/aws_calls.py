"""Benchmark: how many AWS API calls one agent costs, for create and for a no-op refresh.

Applies N complete agents (maestro_agent_key + maestro_consumer + maestro_agent_identity, one
configuration, two accounts) with the real OpenTofu CLI against the emulator, and reads the
emulator's call count (``/maestro-emulator/calls``) after each step. Calls that do not depend
on the number of agents (STS at provider configuration, the ATS endpoint lookup) are shown
apart from the per-agent numbers, which come from the difference between two runs of
different sizes.

Usage: python benchmarks/aws_calls.py [--agents N]     (scripts/bench-aws-calls runs it)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import old_module_calls  # noqa: E402
from harness import aws_accounts, aws_inspect, hcl, settings  # noqa: E402
from harness.emulator import Emulator  # noqa: E402
from harness.provider_install import ProviderMirror, build_provider  # noqa: E402
from harness.tofu_workspace import TofuWorkspace  # noqa: E402

ACCOUNTS = {aws_accounts.REGIONAL_ACCOUNT_ID: "regional", aws_accounts.MANAGEMENT_ACCOUNT_ID: "management"}


def calls(url: str, reset: bool = False) -> Counter[tuple[str, str]]:
    request = urllib.request.Request(f"{url}/maestro-emulator/calls", method="DELETE" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        listed = json.load(response)["calls"]
    return Counter({(ACCOUNTS.get(c["account"], c["account"]), f'{c["service"]}:{c["action"]}'): c["count"] for c in listed})


def agents_config(prefix: str, count: int) -> str:
    blocks = []
    for i in range(count):
        cluster_id = f"{prefix}-{i}"
        blocks.append(hcl.resource("maestro_agent_key", f"k{i}", {"cluster_id": cluster_id}, provider="maestro.management"))
        blocks.append(hcl.resource("maestro_consumer", f"c{i}", {
            "consumer_id": cluster_id, "csr_pem": hcl.Raw(f"maestro_agent_key.k{i}.csr_pem"),
            "management_account_id": aws_accounts.MANAGEMENT_ACCOUNT_ID}, provider="maestro.regional"))
        blocks.append(hcl.resource("maestro_agent_identity", f"x{i}", {
            "cluster_id": cluster_id, "regional_account_id": aws_accounts.REGIONAL_ACCOUNT_ID,
            "eks_cluster_name": f"{cluster_id}-eks", "mqtt_cert_secret_name": hcl.Raw(f"maestro_agent_key.k{i}.secret_name"),
            "certificate_pem": hcl.Raw(f"maestro_consumer.c{i}.certificate_pem"),
            "broker_endpoint": hcl.Raw(f"maestro_consumer.c{i}.endpoint")}, provider="maestro.management"))
    return "\n".join(blocks)


def measure(url: str, ws: TofuWorkspace, preamble: str, prefix: str, count: int) -> dict[str, Counter]:
    management = aws_accounts.management_account(url)
    for i in range(count):
        aws_inspect.create_eks_cluster(management, f"{prefix}-{i}-eks")  # one agent per management cluster
    ws.set_config(preamble + agents_config(prefix, count))
    ws.run("init", "-no-color")
    out: dict[str, Counter] = {}
    for step, args in (("create", ["apply", "-auto-approve", "-no-color"]),
                       ("refresh (no-op plan)", ["plan", "-no-color", "-detailed-exitcode"]),
                       ("destroy", ["destroy", "-auto-approve", "-no-color"])):
        calls(url, reset=True)
        ws.run(*args)  # the no-op plan exits 0 with -detailed-exitcode only when nothing changes
        out[step] = calls(url)
    return out


def per_agent(small: Counter, large: Counter, extra_agents: int) -> dict[tuple[str, str], float]:
    keys = set(small) | set(large)
    return {k: (large[k] - small[k]) / extra_agents for k in keys if large[k] != small[k]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=3, help="agents in the larger run (the smaller has 1)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="maestro-bench-"))
    emulator = Emulator(settings.EMULATOR_SCRIPT_DEFAULT, work / "emulator",
                        env={**__import__("os").environ, "MAESTRO_EMULATOR_IAM_PROPAGATION_SECONDS": "0"})
    url = emulator.start()
    try:
        mirror = ProviderMirror(work / "provider")
        mirror.install(build_provider(work / "cargo-build.log"))
        mirror.write_cli_config()
        preamble = hcl.preamble(hcl.standard_providers(url))
        runs = {}
        for n in (1, args.agents):
            ws_dir = work / f"agents-{n}"
            ws_dir.mkdir()
            runs[n] = measure(url, TofuWorkspace(ws_dir, settings.tofu_binary(), mirror.cli_config), preamble, f"bench{n}", n)
        print(f"AWS calls per agent (key + consumer + identity), from runs of 1 and {args.agents} agents.")
        print("STS calls use the base credentials, which the emulator places in its default account "
              f"({aws_accounts.REGIONAL_ACCOUNT_ID}, listed as regional).")
        ours_per_agent: dict[str, Counter[str]] = {}
        ours_per_run: dict[str, float] = {}
        for step in runs[1]:
            small, large = runs[1][step], runs[args.agents][step]
            each = per_agent(small, large, args.agents - 1)
            fixed = {k: small[k] - each.get(k, 0) for k in small if small[k] - each.get(k, 0)}
            ours_per_agent[step] = Counter()
            for (_account, op), n in each.items():
                ours_per_agent[step][op] += n
            ours_per_run[step] = sum(fixed.values())
            print(f"\n{step}: {sum(each.values()):.0f} calls per agent; {sum(fixed.values()):.0f} per run regardless of agents")
            for (account, op), n in sorted(each.items()):
                print(f"  {account:<11} {op:<55} {n:>5.1f}")
            if fixed:
                print("  per run: " + ", ".join(f"{account} {op} {n}" for (account, op), n in sorted(fixed.items())))
        print()
        old_module_calls.print_old_modules()
        old_module_calls.print_comparison(ours_per_agent, ours_per_run)
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
