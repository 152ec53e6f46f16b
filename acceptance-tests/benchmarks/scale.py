"""Benchmark: the life of a fleet of N agents, for several N: the first `plan`, `apply`, a no-op
refresh (`plan -detailed-exitcode` on the applied fleet: every resource read, nothing to change)
and `destroy`. For each step: wall time, CPU time and peak RSS of every provider process,
the CLI's and the emulator's CPU time, and the AWS calls, in total and per agent, beside the
seeds' hand-written modules per agent (counted from terraform-provider-aws's source by
old_module_calls.py; they cannot be run here, so only their calls are given).

An agent is what a management cluster needs: maestro_agent_key + maestro_consumer +
maestro_agent_identity (harness/agent_fleet.py's configuration, one `for_each` over the fleet,
both accounts). Each N gets a fresh emulator; with `--crowd C` its regional account is first
filled with C other consumers' things, policies and certificates, 300 unrelated IoT policies and
200 unrelated secrets (harness/crowded_account.py), so the calls per agent show whether a list
that grows with the account is read more than once per run. The providers are measured through
plan_scale.py's wrapper (/usr/bin/time -v around the real binary). TF_LOG is off.

Usage: python benchmarks/scale.py [--agents 100,500,1000] [--crowd 0] [--parallelism 10]
       (scripts/bench-scale runs it niced; MAESTRO_TEST_CLI=terraform for HashiCorp Terraform)
"""

from __future__ import annotations

import argparse
import sys

import fleet_bench
import old_module_calls
import plan_scale

from harness import aws_accounts, settings  # noqa: E402  (fleet_bench put the harness on the path)
from harness.crowded_account import CrowdedAccount  # noqa: E402
from harness.provider_install import build_provider  # noqa: E402

STEPS = (
    # (label, CLI arguments, the exit codes it must end with, the old modules' step it compares to)
    ("plan", ["plan", "-detailed-exitcode", "-input=false", "-no-color"], {2}, None),
    ("apply", ["apply", "-auto-approve", "-input=false", "-no-color"], {0}, "create"),
    ("no-op refresh", ["plan", "-detailed-exitcode", "-input=false", "-no-color"], {0}, "refresh (no-op plan)"),
    ("destroy", ["destroy", "-auto-approve", "-input=false", "-no-color"], {0}, "destroy"),
)

HEADER = (f"{'agents':>6} {'step':<14} {'wall s':>8} {'provider CPU s':>14} {'procs':>5} {'peak RSS MiB':>12}"
          f" {'CLI CPU s':>9} {'emulator CPU s':>14} {'AWS calls':>9} {'per agent':>9} {'old modules':>11}")


def old_per_agent(step: str | None) -> str:
    if step is None:
        return "-"
    return str(sum(old_module_calls.per_agent(step).values()))


def row(label: str, old_step: str | None, m: plan_scale.Measured) -> str:
    return (f"{m.agents:>6} {label:<14} {m.wall:>8.1f} {m.provider_cpu:>14.2f} {len(m.processes):>5} {m.peak_rss:>12.1f}"
            f" {m.cli_cpu:>9.2f} {m.emulator_cpu:>14.2f} {m.aws_calls:>9} {m.aws_calls / m.agents:>9.2f}"
            f" {old_per_agent(old_step):>11}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", default="100,500,1000", help="comma-separated fleet sizes")
    parser.add_argument("--crowd", type=int, default=0, help="other consumers in the regional account first")
    parser.add_argument("--parallelism", type=int, default=10, help="the CLI's -parallelism (its default is 10)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.agents.split(",")]

    print(f"machine at start: {fleet_bench.machine()}")
    print(f"CLI: {settings.cli().label} ({settings.cli_binary()}), -parallelism={args.parallelism}, TF_LOG off")
    work = fleet_bench.work_dir("bench-scale")
    print(f"work dir: {work}")
    mirror = fleet_bench.mirror_of(work, plan_scale.write_wrapper(work, build_provider(work / "cargo-build.log").resolve()))
    results: list[str] = []
    for n in sizes:
        emulator = fleet_bench.start_emulator(work / f"emulator-{n}", iam_propagation_seconds=0)
        try:
            assert emulator.url is not None and emulator._process is not None
            url, pid = emulator.url, emulator._process.pid
            if args.crowd:
                timing = CrowdedAccount(aws_accounts.regional_account(url)).populate(args.crowd)
                print(f"{n} agents: crowded account first: {timing.line()}", flush=True)
            fleet = fleet_bench.fleet(work, url, mirror, "scale", n, extra_env=dict(plan_scale.NO_LOG))
            print(f"{n} agents: setup {fleet.setup_seconds:.1f}s", flush=True)
            for label, command, expect, old_step in STEPS:
                measured, _ = plan_scale.measure(fleet, url, pid, work / f"rusage-{n}-{label.replace(' ', '-')}",
                                                 [*command, f"-parallelism={args.parallelism}"], expect)
                results.append(row(label, old_step, measured))
                # The row at once: a size cut short (1,000 agents take long) keeps the ones before.
                print(f"{n} agents: {label}: {results[-1]}", flush=True)
        finally:
            emulator.stop()

    crowd = f", regional account crowded with {args.crowd} other consumers first" if args.crowd else ""
    print(f"\nA fleet's life ({settings.cli().label}, -parallelism={args.parallelism}{crowd}); "
          "old modules = the seeds' modules' AWS calls per agent, counted from source:")
    print(HEADER)
    for line in results:
        print(line)
    print(f"machine at end: {fleet_bench.machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
