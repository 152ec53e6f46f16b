"""Benchmark: N agents (maestro_agent_key + maestro_consumer + maestro_agent_identity, one
configuration with both accounts, `for_each`) applied and destroyed with the real CLI while the
emulator refuses a share of ALL AWS requests at random, each service with its own throttling
error (harness/agent_fleet.THROTTLING_ERRORS).

Prints the machine, then per command a line

    LOAD agents=200 parallelism=20 throttle=5% wall_s=... aws_calls=... throttled=... retried=... failures=0

and where the retries came from. `retried` counts requests the emulator saw again after it had
refused them (same credentials, operation, path, query and body); `sdk_retried` those of them the
SDK sent as attempt 2+; the TF_LOG=trace log of the command gives the SDK's own count
("attempt #N failed ...; retrying after ...") and the provider's ("retrying after a transient
error", its loop for CreateCertificateFromCsr, whose SDK retry is off, and for IAM propagation).
After the apply, every agent is checked to exist exactly once in AWS and the plan to be empty
(without throttling). Asserts nothing else; the CI-sized version is tests/test_load_slice.py.

Usage: python benchmarks/load.py [--agents 200] [--parallelism 20] [--throttle 0.05] [--seed N]
       (scripts/bench-load runs it; MAESTRO_TEST_CLI=terraform for HashiCorp Terraform)
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path

import fleet_bench

from harness import agent_fleet, settings  # noqa: E402  (fleet_bench put the harness on the path)
from harness.provider_install import build_provider  # noqa: E402

SDK_RETRY = re.compile(r"attempt #(\d+) failed with (.*?); retrying after")
PROVIDER_RETRY = re.compile(r"retrying after a transient error.*?\bwhat=\"?([\w:]+)")


def retries_in_log(log: Path) -> tuple[Counter[str], Counter[str]]:
    """(SDK retries by error kind, provider retries by call) from a TF_LOG=trace log."""
    sdk: Counter[str] = Counter()
    provider: Counter[str] = Counter()
    if not log.exists():
        return sdk, provider
    with log.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if "retrying after" not in line:
                continue
            found = SDK_RETRY.search(line)
            if found:
                kind = re.search(r"kind: (\w+)", found.group(2))
                sdk[kind.group(1) if kind else found.group(2)[:60]] += 1
                continue
            found = PROVIDER_RETRY.search(line)
            if found:
                provider[found.group(1)] += 1
    return sdk, provider


def throttled_run(name: str, fleet: fleet_bench.Fleet, url: str, args: argparse.Namespace, command: list[str]) -> bool:
    throttle = agent_fleet.Throttling(url)
    agent_fleet.emulator_calls(url, reset=True)
    throttle.arm(args.throttle, seed=args.seed)
    started = time.monotonic()
    try:
        result = fleet.workspace.run(*command, f"-parallelism={args.parallelism}", expect_exit=None)
        wall = time.monotonic() - started
        report = throttle.report()
        calls = agent_fleet.emulator_calls(url)
    finally:
        throttle.clear()
    failures = fleet_bench.error_count(result.output) if result.exit_code != 0 else 0
    if result.exit_code != 0 and failures == 0:
        failures = 1  # failed without a diagnostic we could count: still a failure
    sdk_log, provider_log = retries_in_log(result.log_path)
    print(f"LOAD{'' if name == 'apply' else '-' + name.upper()} agents={len(fleet.agents)} parallelism={args.parallelism} "
          f"throttle={args.throttle * 100:g}% wall_s={wall:.1f} aws_calls={sum(calls.values())} "
          f"throttled={report.total_throttled} retried={report.total_retried} failures={failures}", flush=True)
    print(f"  {name}: exit {result.exit_code}; drawn for {report.seen} requests; sdk_retried={report.sdk_retried} "
          f"(emulator: re-sends carrying amz-sdk-request attempt>=2); never re-sent: {report.never_resent() or 'none'}")
    print(f"  {name}: TF_LOG=trace: SDK retries {sum(sdk_log.values())} {dict(sdk_log)}; "
          f"provider retries {sum(provider_log.values())} {dict(provider_log)}")
    print(f"  {name}: throttled by operation: " + ", ".join(f"{op} {n}" for op, n in report.throttled.most_common()))
    if result.exit_code != 0:
        errors = [line.strip("│ ") for line in result.output.splitlines() if line.lstrip("│ ").startswith("Error: ")]
        print(f"  {name}: errors ({len(errors)}): " + "; ".join(sorted(set(errors))[:10]))
    return result.exit_code == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--parallelism", type=int, default=20)
    parser.add_argument("--throttle", type=float, default=0.05, help="share of all AWS requests refused (0-1)")
    parser.add_argument("--seed", type=int, default=1204, help="seed of the draws (service i uses seed+i)")
    parser.add_argument("--iam-propagation-seconds", type=float, default=float(settings.IAM_PROPAGATION_SECONDS_DEFAULT),
                        help="how long the emulator hides new IAM roles from EKS (the tests' default)")
    parser.add_argument("--skip-destroy", action="store_true", help="leave the agents applied")
    args = parser.parse_args()

    print(f"machine at start: {fleet_bench.machine()}")
    print(f"CLI: {settings.cli().label} ({settings.cli_binary()})")
    work = fleet_bench.work_dir("bench-load")
    print(f"work dir (workspace, trace logs, emulator logs): {work}")
    emulator = fleet_bench.start_emulator(work, args.iam_propagation_seconds)
    url = emulator.url
    assert url is not None
    ok = True
    try:
        mirror = fleet_bench.mirror_of(work, build_provider(work / "cargo-build.log"))
        fleet = fleet_bench.fleet(work, url, mirror, "load", args.agents)
        print(f"setup: {len(fleet.agents)} EKS clusters and init in {fleet.setup_seconds:.1f}s")
        certificates_before = agent_fleet.iot_certificate_ids(fleet.regional)
        ok = throttled_run("apply", fleet, url, args, ["apply", "-auto-approve", "-input=false", "-no-color"])
        state = fleet.workspace.state_resources()
        print(f"  state: {len(state)} resources (expected {3 * args.agents})")
        if ok:
            started = time.monotonic()
            agent_fleet.assert_each_agent_once(fleet.management, fleet.regional, fleet.agents, state, certificates_before)
            print(f"  checked in AWS: every agent's thing, certificate, policy, role, association and secrets exist "
                  f"once and match state ({time.monotonic() - started:.1f}s)")
            plan = fleet.workspace.run("plan", "-detailed-exitcode", "-input=false", "-no-color",
                                       f"-parallelism={args.parallelism}", expect_exit=None)
            print(f"  plan after (no throttling): exit {plan.exit_code} ({'empty' if plan.exit_code == 0 else 'NOT EMPTY'})"
                  f" in {plan.seconds:.1f}s")
            ok = plan.exit_code == 0
        if not args.skip_destroy:
            ok = throttled_run("destroy", fleet, url, args, ["destroy", "-auto-approve", "-input=false", "-no-color"]) and ok
            print(f"  state after destroy: {len(fleet.workspace.state_resources())} resources")
    finally:
        emulator.stop()
        print(f"machine at end: {fleet_bench.machine()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
