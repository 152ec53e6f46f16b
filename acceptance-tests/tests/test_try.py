"""`scripts/try`, as a new user meets it: run it, then configure a fresh directory only from
what it printed (the CLI config, the shell exports, the provider blocks, the variables for
examples/fleet) and init, apply, plan and destroy with the real CLI; then `scripts/try stop`.

The CLI here gets no variable the harness would set (no TF_CLI_CONFIG_FILE, no AWS
credentials): only PATH, a HOME of its own and what the instructions export, so a missing or
wrong line in them fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from harness import settings
from harness.tofu_workspace import check_diagnostics_readable

pytestmark = pytest.mark.acceptance

TRY = settings.REPO_ROOT / "scripts" / "try"
FLEET = settings.REPO_ROOT / "examples" / "fleet"
# A user's first resource, in the second management account (the fleet's agents use the others' names).
OWN_RESOURCE = """
resource "maestro_agent_key" "mine" {
  provider   = maestro.management_b
  cluster_id = "my-first-agent"
}

output "csr" {
  value = maestro_agent_key.mine.csr_pem
}
"""
SECTION = re.compile(r"^==> (?P<title>[^:]+):", re.MULTILINE)


def sections(printed: str) -> dict[str, str]:
    """Title -> body of each `==> title: ...` section (the body starts on the next line)."""
    found: dict[str, str] = {}
    matches = list(SECTION.finditer(printed))
    for match, following in zip(matches, [*matches[1:], None]):
        end = following.start() if following else len(printed)
        found[match.group("title")] = printed[printed.index("\n", match.end()) + 1:end]
    return found


def exports(shell: str) -> dict[str, str]:
    return dict(re.findall(r"^export ([A-Z_]+)=(\S+)$", shell, re.MULTILINE))


def run_try(command: str, env: dict[str, str]) -> str:
    done = subprocess.run([str(TRY), command], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"scripts/try {command} exited {done.returncode}:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout


class UserShell:
    """A directory and the CLI, with the environment the instructions give and nothing else."""

    def __init__(self, root: Path, exported: dict[str, str], home: Path):
        self.root = root
        self.env = {"PATH": os.environ["PATH"], "HOME": str(home), "CHECKPOINT_DISABLE": "1", **exported}
        self.outputs: list[str] = []

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(settings.cli_binary()), *args], cwd=self.root, env=self.env, capture_output=True,
                              text=True, timeout=600, check=False)
        self.outputs.append(done.stdout + done.stderr)
        check_diagnostics_readable(f"{settings.cli().command} {' '.join(args)}", done.returncode, done.stdout + done.stderr)
        assert done.returncode == expect, \
            f"`{settings.cli().command} {' '.join(args)}` in {self.root} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        return done


def test_a_fresh_directory_configured_from_the_printed_instructions_applies_the_fleet(tmp_path: Path,
                                                                                     provider_binary: Path):
    env = dict(os.environ, MAESTRO_TRY_DIR=str(tmp_path / "try-state"), MAESTRO_PROVIDER_BIN=str(provider_binary))
    printed = run_try("start", env)
    url = re.search(r"emulator runs at (http://\S+) ", printed).group(1)
    try:
        parts = sections(printed)
        assert {"CLI config", "shell", "provider blocks", "examples/fleet", "stop"} <= set(parts), sorted(parts)
        exported = exports(parts["shell"])
        assert Path(exported["TF_CLI_CONFIG_FILE"]).read_text(encoding="utf-8").strip() == parts["CLI config"].strip()
        home = tmp_path / "home"
        home.mkdir()

        # examples/fleet, as the instructions say: the folder and the variables file.
        fleet = UserShell(tmp_path / "fleet", exported, home)
        shutil.copytree(FLEET, fleet.root, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
        (fleet.root / "emulator.auto.tfvars.json").write_text(parts["examples/fleet"], encoding="utf-8")
        variables = json.loads(parts["examples/fleet"])
        fleet.run("init", "-input=false", "-no-color")
        fleet.run("apply", "-auto-approve", "-input=false", "-no-color")
        outputs = {k: v["value"] for k, v in json.loads(fleet.run("output", "-json").stdout).items()}
        assert outputs["fingerprints_match"] is True, outputs
        expected = {cluster: variables[account]["account_id"]
                    for account in ("management_a", "management_b") for cluster in variables[account]["clusters"]}
        assert {cluster: agent["account_id"] for cluster, agent in outputs["agents"].items()} == expected
        assert variables["management_a"]["account_id"] != variables["management_b"]["account_id"]
        for cluster, agent in outputs["agents"].items():
            assert f":{expected[cluster]}:role/" in agent["role_arn"], (cluster, agent)
        fleet.run("plan", "-detailed-exitcode", "-input=false", "-no-color")  # 0: nothing left to change
        fleet.run("destroy", "-auto-approve", "-input=false", "-no-color")

        # One's own configuration: the printed provider blocks and a resource using one of them.
        own = UserShell(tmp_path / "own", exported, home)
        own.root.mkdir()
        (own.root / "providers.tf").write_text(parts["provider blocks"], encoding="utf-8")
        (own.root / "main.tf").write_text(OWN_RESOURCE, encoding="utf-8")
        own.run("init", "-input=false", "-no-color")
        own.run("apply", "-auto-approve", "-input=false", "-no-color")
        assert "BEGIN CERTIFICATE REQUEST" in own.run("output", "-raw", "csr").stdout
        own.run("destroy", "-auto-approve", "-input=false", "-no-color")

        # Run again, it finds the emulator it started.
        assert f"emulator runs at {url} " in run_try("start", env)
    finally:
        stopped = run_try("stop", env)
    assert "stopped the emulator" in stopped, stopped
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/maestro-emulator/config", timeout=5)
