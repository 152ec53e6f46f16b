"""Benchmark: `plan` with no changes over N agents (key + consumer + identity each, one
configuration, both accounts, `for_each`), for several N: its wall time, the CPU time (user +
sys) and peak RSS of every provider process the CLI started, the CLI's own CPU time, the
emulator's, and the AWS calls. Prints a table and the ratios of the largest N to the smallest:
calls and CPU should grow in proportion to N, the memory of each provider process should not.

The provider is measured through a wrapper installed in the mirror in its place: a shell script
that execs the real binary under `/usr/bin/time -v`, which writes each process's rusage to a
file when it exits (the CLI shuts its providers down through go-plugin's controller, so they
exit normally). Each N gets a fresh emulator, applies once (not measured under the wrapper's
figures), then plans `--repeat` times. TF_LOG is off, as for a user: trace logging would cost
more CPU than the plan itself.

Usage: python benchmarks/plan_scale.py [--agents 100,500] [--repeat 2] [--parallelism 10]
       (scripts/bench-plan-scale runs it; MAESTRO_TEST_CLI=terraform for HashiCorp Terraform)
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import fleet_bench

from harness import agent_fleet, settings  # noqa: E402  (fleet_bench put the harness on the path)
from harness.provider_install import build_provider  # noqa: E402

RUSAGE_DIR_VARIABLE = "MAESTRO_BENCH_RUSAGE_DIR"
NO_LOG = {"TF_LOG": "", "TF_LOG_PATH": ""}


def write_wrapper(work: Path, real_binary: Path) -> Path:
    wrapper = work / "provider-under-time"
    wrapper.write_text(
        "#!/bin/sh\n"
        "# The provider under /usr/bin/time -v: its rusage goes to a file of its own when it exits.\n"
        f'dir="${{{RUSAGE_DIR_VARIABLE}:-{work}}}"\n'
        f'exec /usr/bin/time -v -o "$dir/provider-$$.rusage" {shlex.quote(str(real_binary))} "$@"\n',
        encoding="utf-8")
    wrapper.chmod(0o755)
    return wrapper


@dataclass
class ProcessUsage:
    cpu_seconds: float
    max_rss_mib: float
    exit_status: str


def read_rusage(path: Path) -> ProcessUsage:
    text = path.read_text(encoding="utf-8", errors="replace")

    def number(label: str) -> float:
        found = re.search(rf"{re.escape(label)}: ([\d.]+)", text)
        return float(found.group(1)) if found else float("nan")

    status = re.search(r"Exit status: (\d+)", text)
    killed = re.search(r"Command terminated by signal (\d+)", text)
    return ProcessUsage(number("User time (seconds)") + number("System time (seconds)"),
                        number("Maximum resident set size (kbytes)") / 1024,
                        f"signal {killed.group(1)}" if killed else (status.group(1) if status else "?"))


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a running process (the emulator), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Measured:
    agents: int
    wall: float
    provider_cpu: float
    processes: list[ProcessUsage]
    cli_cpu: float
    emulator_cpu: float
    aws_calls: int

    @property
    def peak_rss(self) -> float:
        return max(p.max_rss_mib for p in self.processes)


def measure(fleet: fleet_bench.Fleet, url: str, emulator_pid: int, rusage_dir: Path, args: list[str],
            expect_exit: set[int]) -> tuple[Measured, int]:
    rusage_dir.mkdir(parents=True)
    fleet.workspace.extra_env[RUSAGE_DIR_VARIABLE] = str(rusage_dir)
    agent_fleet.emulator_calls(url, reset=True)
    emulator_before, children_before = process_cpu_seconds(emulator_pid), children_cpu_seconds()
    started = time.monotonic()
    result = fleet.workspace.run(*args, expect_exit=expect_exit)
    wall = time.monotonic() - started
    children = children_cpu_seconds() - children_before
    emulator_cpu = process_cpu_seconds(emulator_pid) - emulator_before
    calls = sum(agent_fleet.emulator_calls(url).values())
    processes = [read_rusage(p) for p in sorted(rusage_dir.glob("provider-*.rusage"))]
    provider_cpu = sum(p.cpu_seconds for p in processes)
    # The CLI's children are the providers (through `time`); what is left is the CLI's own.
    return Measured(len(fleet.agents), wall, provider_cpu, processes, children - provider_cpu, emulator_cpu, calls), result.exit_code


def describe(m: Measured) -> str:
    rss = ", ".join(f"{p.max_rss_mib:.0f}" for p in sorted(m.processes, key=lambda p: -p.max_rss_mib))
    statuses = sorted({p.exit_status for p in m.processes})
    return (f"{m.agents:>6} {m.wall:>10.1f} {m.provider_cpu:>13.2f} {len(m.processes):>5} {m.peak_rss:>13.1f}"
            f" {m.cli_cpu:>9.2f} {m.emulator_cpu:>12.2f} {m.aws_calls:>9}   [{rss}] exit {','.join(statuses)}")


HEADER = (f"{'agents':>6} {'plan wall s':>10} {'provider CPU s':>13} {'procs':>5} {'peak RSS MiB':>13}"
          f" {'CLI CPU s':>9} {'emulator CPU':>12} {'AWS calls':>9}   [RSS MiB per provider process]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", default="100,500", help="comma-separated fleet sizes")
    parser.add_argument("--repeat", type=int, default=2, help="plans per size")
    parser.add_argument("--parallelism", type=int, default=10, help="for the apply and the plans (the CLI's default is 10)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.agents.split(",")]

    print(f"machine at start: {fleet_bench.machine()}")
    print(f"CLI: {settings.cli().label} ({settings.cli_binary()})")
    work = fleet_bench.work_dir("bench-plan-scale")
    print(f"work dir: {work}")
    mirror = fleet_bench.mirror_of(work, write_wrapper(work, build_provider(work / "cargo-build.log").resolve()))
    plans: dict[int, list[Measured]] = {}
    for n in sizes:
        emulator = fleet_bench.start_emulator(work / f"emulator-{n}", iam_propagation_seconds=0)
        try:
            assert emulator.url is not None and emulator._process is not None
            url, pid = emulator.url, emulator._process.pid
            fleet = fleet_bench.fleet(work, url, mirror, "scale", n, extra_env=dict(NO_LOG))
            applied, _ = measure(fleet, url, pid, work / f"rusage-{n}-apply",
                                 ["apply", "-auto-approve", "-input=false", "-no-color", f"-parallelism={args.parallelism}"], {0})
            print(f"{n} agents: setup {fleet.setup_seconds:.1f}s; apply {applied.wall:.1f}s, {applied.aws_calls} AWS calls, "
                  f"provider CPU {applied.provider_cpu:.1f}s, peak RSS {applied.peak_rss:.0f} MiB; "
                  f"emulator CPU {applied.emulator_cpu:.1f}s", flush=True)
            plans[n] = []
            for i in range(args.repeat):
                # -detailed-exitcode: 0 only when nothing would change, as the benchmark requires.
                m, _ = measure(fleet, url, pid, work / f"rusage-{n}-plan-{i}",
                               ["plan", "-detailed-exitcode", "-input=false", "-no-color", f"-parallelism={args.parallelism}"], {0})
                plans[n].append(m)
                print(f"{n} agents: plan {i + 1}: {m.wall:.1f}s", flush=True)
        finally:
            emulator.stop()

    print(f"\nplan with no changes ({settings.cli().label}, -parallelism={args.parallelism}, TF_LOG off):")
    print(HEADER)
    for n in sizes:
        for m in plans[n]:
            print(describe(m))
    small, large = min(sizes), max(sizes)
    if small != large:
        def best(n: int, key) -> float:  # noqa: ANN001 - the fastest plan of a size is the least disturbed one
            return key(min(plans[n], key=lambda m: m.wall))
        print(f"\nratios {large}/{small} agents (x{large / small:g} agents; fastest plan of each size):")
        for label, key in (("plan wall", lambda m: m.wall), ("provider CPU", lambda m: m.provider_cpu),
                           ("CLI CPU", lambda m: m.cli_cpu), ("emulator CPU", lambda m: m.emulator_cpu),
                           ("AWS calls", lambda m: m.aws_calls), ("peak RSS per provider process", lambda m: m.peak_rss)):
            print(f"  {label:<30} {best(large, key) / best(small, key):6.2f}")
        per_agent = {n: best(n, lambda m: m.aws_calls) / n for n in (small, large)}
        print(f"  AWS calls per agent: {per_agent[small]:.2f} at {small}, {per_agent[large]:.2f} at {large}")
    print(f"machine at end: {fleet_bench.machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
