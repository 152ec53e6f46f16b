"""A directory of .tf files and the real `tofu` (or `terraform`) commands run in it.

The binary is whichever CLI the run selected (MAESTRO_TEST_CLI, see settings.cli()); the
commands and flags used here mean the same to OpenTofu and HashiCorp Terraform.

This plays the part terraform-plugin-testing plays for Go providers, but through the CLI a
user runs: every step is a separate `tofu` process, every process writes a TF_LOG=trace log
of its own, and every byte it prints or stores stays in the workspace for the leak check.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import aws_accounts

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
REPLACE_ACTIONS = (["delete", "create"], ["create", "delete"])
ACTION_ALIASES = {
    "create": (["create"],),
    "update": (["update"],),
    "delete": (["delete"],),
    "replace": REPLACE_ACTIONS,
    "no-op": (["no-op"],),
    "read": (["read"],),
}
DEFAULT_TIMEOUT = 300.0


class TofuCommandError(AssertionError):
    """A tofu command ended other than expected. An AssertionError so pytest reports a failure."""


class RustDebugInDiagnostic(AssertionError):
    """A diagnostic showed Rust `Debug` syntax (an SDK error's internals) instead of words."""


# What a `{:?}` of an SDK error or of a Rust struct looks like; no diagnostic may contain it.
RUST_DEBUG_SYNTAX = re.compile(
    r"\w \{ \w+: Some\("          # a struct with an Option field: `Error { code: Some(`
    r"|StatusCode\(\d+\)"          # the HTTP status of a raw response
    r"|SdkBody|ConnectorError \{|ErrorMetadata \{"
    r"|\b(?:ServiceError|DispatchFailure|ResponseError|TimeoutError|ConstructionFailure)[({]"
    r"|\bError \{ code: "
)


def rust_debug_in(output: str) -> list[str]:
    """Where a CLI's output shows Rust debug syntax: each match with some context. Searched in
    the output with line wrapping flattened, since the CLI wraps diagnostics at 78 columns."""
    flat = flatten_whitespace(output)
    return [flat[max(0, m.start() - 60):m.end() + 60] for m in RUST_DEBUG_SYNTAX.finditer(flat)]


def check_diagnostics_readable(command: str, exit_code: int, output: str) -> None:
    """Fails the calling test when a failing or warning CLI output (human or `-json`) shows
    Rust debug syntax; run on every command the harness runs, so every acceptance suite is
    scanned."""
    if exit_code == 0 and not any(marker in output for marker in ("Error:", "Warning:", '"severity"')):
        return
    found = rust_debug_in(output)
    if found:
        raise RustDebugInDiagnostic(f"`{command}` printed Rust debug syntax in a diagnostic:\n  " + "\n  ".join(found[:10]))


def _tail(text: str, lines: int = 40) -> str:
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join("    " + line for line in kept) or "    <empty>"


def flatten_whitespace(text: str) -> str:
    # tofu wraps diagnostic text at 78 columns when not writing to a terminal, so a phrase
    # can be split over lines; matching against the flattened text makes that irrelevant.
    return re.sub(r"\s+", " ", text)


@dataclass
class TofuResult:
    args: list[str]
    exit_code: int
    stdout: str
    stderr: str
    log_path: Path
    seconds: float
    command: str = "tofu"

    @property
    def output(self) -> str:
        return self.stdout + "\n" + self.stderr

    def describe(self) -> str:
        return (
            f"`{self.command} {' '.join(self.args)}` exited {self.exit_code} after {self.seconds:.1f}s "
            f"(trace log: {self.log_path})\n  stdout tail:\n{_tail(self.stdout)}\n  stderr tail:\n{_tail(self.stderr)}"
        )


def _changed_attributes(change: dict[str, Any]) -> set[str]:
    before = change.get("before") or {}
    after = change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return set()
    names = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    names |= {k for k, v in unknown.items() if v} if isinstance(unknown, dict) else set()
    return names


@dataclass
class PlanResult:
    exit_code: int
    plan: dict[str, Any]
    plan_file: Path
    result: TofuResult

    def resource_changes(self) -> list[dict[str, Any]]:
        return list(self.plan.get("resource_changes") or [])

    def resource_change(self, address: str) -> dict[str, Any]:
        for change in self.resource_changes():
            if change["address"] == address:
                return change
        raise KeyError(f"no resource change for {address}; plan has {[c['address'] for c in self.resource_changes()]}")

    def actions(self) -> dict[str, list[str]]:
        """Address → actions, for every resource the plan would touch."""
        return {change["address"]: change["change"]["actions"]
                for change in self.resource_changes() if change["change"]["actions"] != ["no-op"]}

    def changed_attributes(self, address: str) -> set[str]:
        return _changed_attributes(self.resource_change(address)["change"])

    def drift(self) -> list[dict[str, Any]]:
        return list(self.plan.get("resource_drift") or [])

    def describe(self) -> str:
        lines = [f"plan exit code {self.exit_code}"]
        for change in self.resource_changes():
            body = change["change"]
            if body["actions"] == ["no-op"] and not body.get("importing"):
                continue
            lines.append(f"  {change['address']}: {body['actions']} attributes {sorted(_changed_attributes(body))}"
                         + (f" replace_paths {body.get('replace_paths')}" if body.get("replace_paths") else ""))
        for drifted in self.drift():
            lines.append(f"  drift {drifted['address']}: {drifted['change']['actions']} "
                         f"attributes {sorted(_changed_attributes(drifted['change']))}")
        return "\n".join(lines)


class TofuWorkspace:
    def __init__(self, root: Path, tofu: Path, cli_config: Path, extra_env: dict[str, str] | None = None,
                 timeout: float = DEFAULT_TIMEOUT):
        self.root = root
        self.tofu = Path(tofu)
        self.cli_config = cli_config
        self.extra_env = dict(extra_env or {})
        self.timeout = timeout
        self.artifacts = root / "artifacts"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self._sequence = itertools.count(1)
        self.results: list[TofuResult] = []

    # ---------------------------------------------------------------- files

    def write_file(self, name: str, content: str) -> Path:
        path = self.root / name
        path.write_text(content, encoding="utf-8")
        return path

    def set_config(self, content: str) -> Path:
        """Replaces the configuration (main.tf) the next command sees."""
        return self.write_file("main.tf", content)

    def remove_file(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    # ---------------------------------------------------------------- running

    def environment(self, log_path: Path) -> dict[str, str]:
        # Drop every inherited AWS_/TF_ variable: a developer's AWS_PROFILE, TF_PLUGIN_CACHE_DIR
        # or TF_LOG must not change what the test exercises.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
        env.update({
            "TF_CLI_CONFIG_FILE": str(self.cli_config),
            "TF_LOG": "trace",
            "TF_LOG_PATH": str(log_path),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "AWS_ACCESS_KEY_ID": aws_accounts.BASE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": aws_accounts.BASE_SECRET_ACCESS_KEY,
            "AWS_REGION": aws_accounts.REGION,
            # Nothing from ~/.aws, and never the instance metadata service.
            "AWS_CONFIG_FILE": str(self.artifacts / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.artifacts / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        env.update(self.extra_env)
        return env

    def run(self, *args: str, expect_exit: set[int] | None = frozenset({0}), timeout: float | None = None) -> TofuResult:
        """Runs `tofu ARGS`; with expect_exit=None any exit code is returned to the caller."""
        number = next(self._sequence)
        stem = f"{number:03d}-{re.sub(r'[^a-z]+', '-', args[0].lower()) if args else 'tofu'}"
        if len(args) > 1 and not args[1].startswith("-"):
            stem += "-" + re.sub(r"[^a-z]+", "-", args[1].lower())
        log_path = self.artifacts / f"{stem}.log"
        started = time.monotonic()
        # Own process group: on a timeout the provider plugin tofu started must go too.
        process = subprocess.Popen(
            [str(self.tofu), *args], cwd=self.root, env=self.environment(log_path),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, errors="replace", start_new_session=True,
        )
        limit = timeout or self.timeout
        try:
            stdout, stderr = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            stderr += f"\n[harness] killed after {limit}s timeout"
        stdout, stderr = ANSI_ESCAPE.sub("", stdout), ANSI_ESCAPE.sub("", stderr)
        (self.artifacts / f"{stem}.stdout").write_text(stdout, encoding="utf-8")
        (self.artifacts / f"{stem}.stderr").write_text(stderr, encoding="utf-8")
        result = TofuResult(list(args), process.returncode, stdout, stderr, log_path, time.monotonic() - started,
                            command=self.tofu.name)
        self.results.append(result)
        check_diagnostics_readable(f"{result.command} {' '.join(args)}", result.exit_code, result.output)
        if expect_exit is not None and result.exit_code not in expect_exit:
            raise TofuCommandError(f"expected exit code in {sorted(expect_exit)}: {result.describe()}")
        return result

    # ---------------------------------------------------------------- commands

    def init(self) -> TofuResult:
        return self.run("init", "-input=false", "-no-color")

    def validate(self) -> TofuResult:
        return self.run("validate", "-no-color")

    def validate_json(self) -> dict[str, Any]:
        """`validate -json` exits 1 on an invalid configuration but still prints the report."""
        result = self.run("validate", "-json", "-no-color", expect_exit={0, 1})
        return json.loads(result.stdout)

    def apply(self, *extra: str) -> TofuResult:
        return self.run("apply", "-auto-approve", "-input=false", "-no-color", *extra)

    def destroy(self, *extra: str) -> TofuResult:
        return self.run("destroy", "-auto-approve", "-input=false", "-no-color", *extra)

    def plan(self, *extra: str) -> PlanResult:
        plan_file = self.artifacts / f"plan-{next(self._sequence):03d}.tfplan"
        result = self.run("plan", "-detailed-exitcode", "-input=false", "-no-color", f"-out={plan_file}", *extra,
                          expect_exit={0, 2})
        shown = self.run("show", "-json", "-no-color", str(plan_file))
        return PlanResult(result.exit_code, json.loads(shown.stdout), plan_file, result)

    def show_state(self) -> dict[str, Any]:
        return json.loads(self.run("show", "-json", "-no-color").stdout)

    def import_resource(self, address: str, import_id: str) -> TofuResult:
        return self.run("import", "-input=false", "-no-color", address, import_id)

    def state_rm(self, address: str) -> TofuResult:
        return self.run("state", "rm", address)

    def verify_import(self, address: str, import_id: str, ignore: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
        """terraform-plugin-testing's ImportStateVerify through the CLI: forget `address`, import it
        by `import_id`, and require every attribute but those in `ignore` (what AWS does not
        keep) to come back as it was. Returns the imported attributes."""
        before = self.state_resource(address)
        self.state_rm(address)
        assert address not in self.state_resources(), f"{address} still in state after `state rm`"
        self.import_resource(address, import_id)
        after = self.state_resource(address)
        differing = sorted(n for n in set(before) | set(after) if n not in ignore and before.get(n) != after.get(n))
        assert not differing, f"{address} differs after import by {import_id!r}:\n" + "\n".join(
            f"  {n}: {before.get(n)!r} -> {after.get(n)!r}" for n in differing)
        return after

    def providers_schema(self) -> dict[str, Any]:
        return json.loads(self.run("providers", "schema", "-json").stdout)

    # ---------------------------------------------------------------- assertions

    def assert_plan_empty(self, allow_drift: bool = False) -> PlanResult:
        """The 'plan after apply must be empty' check. Drift that plans no change is also
        refused by default: it means Read returns something other than what apply stored."""
        plan = self.plan()
        if plan.exit_code != 0:
            raise AssertionError(f"expected an empty plan, got changes:\n{plan.describe()}")
        if not allow_drift and plan.drift():
            raise AssertionError(f"plan is empty but refresh saw drift:\n{plan.describe()}")
        return plan

    def assert_plan_changes(self, expected: dict[str, str | list[str]],
                            attributes: dict[str, set[str] | list[str]] | None = None) -> PlanResult:
        """Plans and checks exactly these addresses change, each with the given action
        ("create", "update", "delete", "replace" or an explicit action list), and that the
        listed attributes are among those that change."""
        plan = self.plan()
        if plan.exit_code != 2:
            raise AssertionError(f"expected a plan with changes, got an empty one:\n{plan.describe()}")
        actual = plan.actions()
        assert set(actual) == set(expected), f"changed addresses {sorted(actual)} != {sorted(expected)}\n{plan.describe()}"
        for address, action in expected.items():
            allowed = ACTION_ALIASES[action] if isinstance(action, str) else (list(action),)
            assert actual[address] in [list(a) for a in allowed], \
                f"{address}: actions {actual[address]}, expected {action}\n{plan.describe()}"
        for address, names in (attributes or {}).items():
            missing = set(names) - plan.changed_attributes(address)
            assert not missing, f"{address}: attributes {sorted(missing)} do not change\n{plan.describe()}"
        return plan

    def expect_error(self, args: list[str] | tuple[str, ...], pattern: str, flags: int = 0) -> TofuResult:
        """Runs a command that must fail, and whose output must match `pattern` (searched in
        the raw output and in the output with line wrapping flattened)."""
        result = self.run(*args, expect_exit=None)
        if result.exit_code == 0:
            raise AssertionError(f"expected `{self.tofu.name} {' '.join(args)}` to fail: {result.describe()}")
        if not (re.search(pattern, result.output, flags) or re.search(pattern, flatten_whitespace(result.output), flags)):
            raise AssertionError(f"output does not match /{pattern}/: {result.describe()}")
        return result

    # ---------------------------------------------------------------- state

    def state_resources(self) -> dict[str, dict[str, Any]]:
        """Address → attribute values, from `tofu show -json`."""
        state = self.show_state()
        found: dict[str, dict[str, Any]] = {}

        def collect(module: dict[str, Any]) -> None:
            for item in module.get("resources", []):
                found[item["address"]] = item.get("values", {})
            for child in module.get("child_modules", []):
                collect(child)

        collect(state.get("values", {}).get("root_module", {}))
        return found

    def state_resource(self, address: str) -> dict[str, Any]:
        resources = self.state_resources()
        if address not in resources:
            raise AssertionError(f"{address} not in state; state has {sorted(resources)}")
        return resources[address]

    def has_managed_resources(self) -> bool:
        """Read straight from the state file so teardown needs no tofu run to decide."""
        state_file = self.root / "terraform.tfstate"
        if not state_file.exists():
            return False
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return True
        return any(r.get("mode") == "managed" and r.get("instances") for r in state.get("resources", []))

    def cleanup(self) -> str | None:
        """Best-effort destroy at teardown, as terraform-plugin-testing does; returns a problem
        description instead of raising so the test's own outcome stays the headline."""
        if not self.has_managed_resources():
            return None
        try:
            self.destroy()
        except TofuCommandError as error:
            return str(error)
        return None
