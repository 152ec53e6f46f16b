"""Fault matrix and interruptions (issue 12, parts 1 and 2) against the emulator, with the real CLI.

For every resource (maestro_agent_key, maestro_consumer, maestro_agent_identity,
maestro_server_identity) and every phase (create; update = a rotation of both keys plus a tag
change; delete), a clean run enumerates the AWS calls the emulator saw. Then, for each call and
each failure mode - a 5xx, throttling with the service's real error code, the answer lost after
AWS acted (as a 5xx the SDK retries, and as a TCP reset) - a fresh deployment runs the phase with
that one call failing once, and runs it again. Interruptions: at every write call of create and
of the rotation, the call is held at the emulator (after AWS acted) while the CLI gets SIGINT
(graceful stop: StopProvider) or the provider process making the call gets SIGKILL; then the
command runs again. Every case must converge: nothing in either account that the state does
not own, no secret version lost, every current bundle's certificate certifies its key, no key
in state, plans or logs, and an empty plan (harness/fault_matrix.py).

Usage: python benchmarks/fault_matrix.py [--sample full|stratified] [--per-cell N] [--phases ...]
       [--resources ...] [--modes ...] [--interruptions sigint,sigkill|none] [--json FILE]
(scripts/fault-matrix runs it; prints one line per case and the totals; exits 1 if a case fails)

`--sample stratified` (the default) runs, for every (resource, phase, mode), the write calls
first and then reads, taking distinct actions round-robin, at most --per-cell of them;
`--sample full` runs every call in every mode. Interruptions are not sampled: SIGINT to the CLI
and SIGKILL of the provider making the call, at every write call of create and of the rotation;
besides, SIGINT to the CLI's process group (what a terminal's Ctrl-C sends: the providers get it
too) at the first --ctrl-c-steps writes of each resource and phase.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import aws_accounts, settings  # noqa: E402
from harness import fault_matrix as fm  # noqa: E402
from harness.emulator import Emulator  # noqa: E402
from harness.provider_install import ProviderMirror, build_provider  # noqa: E402
from harness.tofu_workspace import TofuWorkspace  # noqa: E402


def stratified(steps: list[fm.Step], per_cell: int) -> list[fm.Step]:
    """At most `per_cell` steps: writes before reads, one of each distinct action before a
    second of any, in the clean run's order otherwise."""
    ordered = [s for s in steps if s.is_write] + [s for s in steps if not s.is_write]
    chosen: list[fm.Step] = []
    used: dict[str, int] = defaultdict(int)
    while len(chosen) < min(per_cell, len(ordered)):
        fewest = min(used[s.action] for s in ordered if s not in chosen)
        step = next(s for s in ordered if s not in chosen and used[s.action] == fewest)
        chosen.append(step)
        used[step.action] += 1
    return chosen


def print_enumeration(steps: dict[str, list[fm.Step]]) -> None:
    print("AWS calls of a clean run, per resource and phase:")
    for phase, phase_steps in steps.items():
        for resource in (p.resource for p in fm.PARTS):
            mine = [s for s in phase_steps if s.resource == resource]
            writes = sum(s.is_write for s in mine)
            print(f"  {phase:<6} {resource:<24} {len(mine):>3} calls ({writes} writes)")
            for step in mine:
                print(f"           {'W' if step.is_write else 'r'} {step.label()}")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", choices=("full", "stratified"), default="stratified")
    parser.add_argument("--per-cell", type=int, default=4, help="steps per (resource, phase, mode) when stratified")
    parser.add_argument("--phases", default=",".join(fm.PHASES))
    parser.add_argument("--resources", default=",".join(p.resource for p in fm.PARTS))
    parser.add_argument("--modes", default=",".join(fm.MODES))
    parser.add_argument("--interruptions", default=",".join(fm.INTERRUPTIONS + (fm.CTRL_C,)),
                        help="comma list of sigint, sigkill, ctrl-c; or none")
    parser.add_argument("--ctrl-c-steps", type=int, default=2, help="write steps per resource and phase for ctrl-c")
    parser.add_argument("--interruption-phases", default="create,update")
    parser.add_argument("--list", action="store_true", help="enumerate the calls and the matrix size only")
    parser.add_argument("--json", type=Path, help="also write every case's result here")
    parser.add_argument("--keep", action="store_true",
                        help="keep every case's workspace (default: only those of cases that did not converge)")
    args = parser.parse_args()
    phases = [p for p in args.phases.split(",") if p]
    resources = set(args.resources.split(","))
    modes = [m for m in args.modes.split(",") if m]
    kinds = [] if args.interruptions == "none" else [k for k in args.interruptions.split(",") if k]

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="maestro-fault-matrix-"))
    # No IAM propagation delay: a new role's retry loop would make the number of
    # CreatePodIdentityAssociation calls vary from run to run, and the steps must be exact.
    env_vars = {**os.environ, "MAESTRO_EMULATOR_IAM_PROPAGATION_SECONDS": "0"}
    emulator = Emulator(settings.EMULATOR_SCRIPT_DEFAULT, work / "emulator", env=env_vars)
    url = emulator.start()
    results: list[fm.CaseResult] = []
    try:
        mirror = ProviderMirror(work / "provider")
        mirror.install(build_provider(work / "cargo-build.log"))
        mirror.write_cli_config()
        cli = settings.cli_binary()
        env = fm.Environment(url, aws_accounts.management_account(url), aws_accounts.regional_account(url),
                             lambda name: TofuWorkspace(work / name, cli, mirror.cli_config))
        print(f"CLI {settings.cli().label} ({cli}); emulator {url}; work directory {work}")
        steps, clean = fm.enumerate_phases(env)
        print_enumeration(steps)
        for phase, problems in clean.items():
            if problems:
                print(f"CLEAN RUN {phase} does not pass the checks: {problems}")
                return 2

        every_fault = [(s, m) for p in fm.PHASES for s in steps[p] for m in fm.MODES]
        every_interruption = [(s, k) for p in ("create", "update") for s in steps[p] if s.is_write for k in fm.INTERRUPTIONS]
        print(f"FULL-MATRIX fault cases={len(every_fault)} ({sum(len(v) for v in steps.values())} calls x "
              f"{len(fm.MODES)} modes); interruption cases={len(every_interruption)} "
              f"({len(every_interruption) // len(fm.INTERRUPTIONS)} write steps of create and update x "
              f"{len(fm.INTERRUPTIONS)})")

        if args.list:
            return 0
        faults: list[tuple[fm.Step, str]] = []
        for phase in phases:
            for resource in (p.resource for p in fm.PARTS if p.resource in resources):
                mine = [s for s in steps[phase] if s.resource == resource]
                for mode in modes:
                    chosen = mine if args.sample == "full" else stratified(mine, args.per_cell)
                    faults += [(s, mode) for s in chosen]
        interruptions: list[tuple[fm.Step, str]] = []
        for phase in [p for p in args.interruption_phases.split(",") if p in phases]:
            for resource in (p.resource for p in fm.PARTS if p.resource in resources):
                mine = [s for s in steps[phase] if s.resource == resource and s.is_write]
                for kind in kinds:
                    # SIGINT and SIGKILL at every write step; a terminal's Ctrl-C at the first few.
                    chosen = stratified(mine, args.ctrl_c_steps) if kind == fm.CTRL_C else mine
                    interruptions += [(s, kind) for s in chosen]
        def forget(result: fm.CaseResult) -> None:
            # A case's trace logs run to megabytes: keep only what someone needs to look at.
            if result.converged and not args.keep:
                shutil.rmtree(work / result.prefix, ignore_errors=True)

        print(f"RUNNING fault cases={len(faults)} interruption cases={len(interruptions)} "
              f"(sample={args.sample}, per-cell={args.per_cell})")
        sys.stdout.flush()

        def guarded(run, step: fm.Step, mode: str, kind: str) -> fm.CaseResult:
            # A case that breaks the harness itself (a baseline apply failing, say) is a failed
            # case, not the end of the matrix.
            try:
                return run(env, step, mode)
            except Exception as error:  # noqa: BLE001 - reported as the case's outcome
                env.control.remove_rules()
                return fm.CaseResult(kind, step, mode, "?", fired=False, problems=[f"harness: {error!r}"[:400]])

        for number, (step, mode) in enumerate(faults, start=1):
            result = guarded(fm.run_fault_case, step, mode, "fault")
            results.append(result)
            print(f"[fault {number}/{len(faults)}] {result.line()}", flush=True)
            forget(result)
        for number, (step, kind) in enumerate(interruptions, start=1):
            result = guarded(fm.run_interruption_case, step, kind, "interruption")
            results.append(result)
            print(f"[interruption {number}/{len(interruptions)}] {result.line()}", flush=True)
            forget(result)
    finally:
        emulator.stop()

    fault_results = [r for r in results if r.kind == "fault"]
    interruption_results = [r for r in results if r.kind == "interruption"]
    converged = sum(r.converged for r in fault_results)
    print(f"FAULT-MATRIX cases={len(fault_results)} converged={converged} failed={len(fault_results) - converged}")
    for mode in fm.MODES:
        mine = [r for r in fault_results if r.mode == mode]
        if mine:
            print(f"  {mode}: cases={len(mine)} converged={sum(r.converged for r in mine)}")
    for part in fm.PARTS:
        mine = [r for r in fault_results if r.step.resource == part.resource]
        if mine:
            print(f"  {part.resource}: cases={len(mine)} converged={sum(r.converged for r in mine)}")
    first_failed = sum(1 for r in fault_results if r.notes and r.mode in fm.RETRIED_MODES)
    print(f"  retried modes (5xx, throttle) whose first command already failed: {first_failed}")
    print(f"INTERRUPTIONS cases={len(interruption_results)} converged={sum(r.converged for r in interruption_results)}")
    for kind in fm.INTERRUPTIONS + (fm.CTRL_C,):
        mine = [r for r in interruption_results if r.mode == kind]
        if mine:
            print(f"  {kind}: cases={len(mine)} converged={sum(r.converged for r in mine)}")
    print(f"wall time {time.monotonic() - started:.0f}s")
    for result in results:
        if not result.converged:
            print(f"NOT CONVERGED: {result.line()}\n  workspace: {work / result.prefix}")
    if args.json:
        args.json.write_text(json.dumps([{**asdict(r), "converged": r.converged} for r in results], indent=1, default=str))
    print(f"work directory {work}" + ("" if args.keep else " (workspaces of converged cases removed)"))
    return 0 if all(r.converged for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
