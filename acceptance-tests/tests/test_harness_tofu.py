"""Self-tests of TofuWorkspace against the real tofu CLI, using only built-in resources
(`terraform_data`), so they run before the provider exists and prove the harness can fail."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness.leak_check import LeakScanner
from harness.tofu_workspace import TofuCommandError

pytestmark = pytest.mark.tofu

CONFIG_V1 = """
resource "terraform_data" "kept" {
  input = "one"
}

resource "terraform_data" "recreated" {
  input            = "stable"
  triggers_replace = ["generation-1"]
}
"""


def test_workspace_runs_the_whole_lifecycle(make_plain_workspace):
    ws = make_plain_workspace()
    ws.set_config(CONFIG_V1)
    ws.init()
    ws.validate()
    ws.apply()
    ws.assert_plan_empty()
    assert ws.state_resource("terraform_data.kept")["output"] == "one"

    ws.set_config(CONFIG_V1.replace('"one"', '"two"').replace("generation-1", "generation-2"))
    plan = ws.assert_plan_changes(
        {"terraform_data.kept": "update", "terraform_data.recreated": "replace"},
        attributes={"terraform_data.kept": {"input"}},
    )
    assert ["triggers_replace"] in plan.resource_change("terraform_data.recreated")["change"]["replace_paths"]
    ws.apply()
    ws.assert_plan_empty()
    assert ws.state_resource("terraform_data.kept")["output"] == "two"

    ws.destroy()
    assert ws.state_resources() == {}

    # Every command left its own trace log and output behind for debugging and leak scanning.
    logs = sorted(ws.artifacts.glob("*.log"))
    assert len(logs) == len(ws.results)
    apply_log = next(path for path in logs if "-apply" in path.name)
    assert "[TRACE]" in apply_log.read_text()
    assert all((ws.artifacts / f"{path.stem}.stdout").exists() for path in logs)


def test_plan_assertions_fail_when_they_should(make_plain_workspace):
    ws = make_plain_workspace()
    ws.set_config(CONFIG_V1)
    ws.init()
    # Nothing applied yet: the plan creates two resources, so "empty" must be refused ...
    with pytest.raises(AssertionError, match="expected an empty plan"):
        ws.assert_plan_empty()
    # ... as must a wrong action or a wrong set of addresses.
    with pytest.raises(AssertionError, match="actions"):
        ws.assert_plan_changes({"terraform_data.kept": "update", "terraform_data.recreated": "create"})
    with pytest.raises(AssertionError, match="changed addresses"):
        ws.assert_plan_changes({"terraform_data.kept": "create"})
    ws.assert_plan_changes({"terraform_data.kept": "create", "terraform_data.recreated": "create"})
    with pytest.raises(AssertionError, match="not in state"):
        ws.state_resource("terraform_data.kept")


def test_errors_are_reported_with_their_diagnostics(make_plain_workspace):
    ws = make_plain_workspace()
    ws.set_config('resource "terraform_data" "x" {\n  input = "a"\n  no_such_argument = 1\n}\n')
    ws.init()
    report = ws.validate_json()
    assert report["valid"] is False
    diagnostic = report["diagnostics"][0]
    assert diagnostic["summary"] == "Unsupported argument"
    assert diagnostic["range"]["start"]["line"] == 3  # pinned to the offending line
    ws.expect_error(["plan", "-no-color", "-input=false"], r"An argument named \"no_such_argument\" is not expected here")
    with pytest.raises(AssertionError, match="does not match"):
        ws.expect_error(["validate", "-no-color"], r"this text is not in the output")
    with pytest.raises(TofuCommandError, match="exited 1"):
        ws.apply()


def test_environment_is_hermetic(make_plain_workspace, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "developer-profile")
    monkeypatch.setenv("TF_PLUGIN_CACHE_DIR", "/nonexistent")
    ws = make_plain_workspace()
    env = ws.environment(ws.artifacts / "x.log")
    assert "AWS_PROFILE" not in env and "TF_PLUGIN_CACHE_DIR" not in env
    assert env["TF_LOG"] == "trace" and env["TF_IN_AUTOMATION"] == "1"
    assert env["AWS_ACCESS_KEY_ID"] == "testing" and env["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["TF_CLI_CONFIG_FILE"] == str(ws.cli_config)


def test_leak_scan_sees_state_plans_and_output_of_a_real_run(make_plain_workspace, leak_guard):
    key_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    ws = make_plain_workspace()
    ws.set_config('resource "terraform_data" "leaky" {\n  input = ' + json.dumps(key_pem) + "\n}\n"
                  'output "leaked" {\n  value = terraform_data.leaky.output\n}\n')
    ws.init()
    ws.plan()
    ws.apply()

    findings = LeakScanner().scan_tree(ws.root)
    sources = {finding.source for finding in findings}
    assert str(ws.root / "terraform.tfstate") in sources
    assert any(source.endswith(".tfplan!tfstate") or ".tfplan!" in source for source in sources)
    assert any(source.endswith("-apply.stdout") for source in sources)  # the output echoed by apply
    # The same artifacts are what the autouse guard scans after the test, so it would fail it.
    assert leak_guard.scan()
    # This test planted the key on purpose; take its workspace out of the guard's view.
    ws.destroy()
    leak_guard.workspaces.remove(ws)


def test_the_workspace_runs_the_cli_the_run_selected(make_plain_workspace, cli):
    """MAESTRO_TEST_CLI is a parameter of the whole run: every workspace runs that CLI, at its pin."""
    ws = make_plain_workspace()
    result = ws.run("version", "-json")
    assert json.loads(result.stdout)["terraform_version"] == cli.version, result.describe()
    # Only Terraform asks checkpoint.hashicorp.com for news; the harness turns that off, so
    # `terraform_outdated` is false (OpenTofu has no such member).
    assert json.loads(result.stdout).get("terraform_outdated", False) is False
    assert ws.environment(ws.artifacts / "x.log")["CHECKPOINT_DISABLE"] == "1"


def test_the_cli_is_chosen_by_maestro_test_cli(monkeypatch, tmp_path):
    from harness import settings
    monkeypatch.setenv("TPM_CACHE", str(tmp_path))
    for variable in ("TOFU", "TERRAFORM", "TERRAFORM_1_14"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("MAESTRO_TEST_CLI", raising=False)
    assert settings.cli().name == "tofu" and settings.cli_binary() == tmp_path / "bin" / "tofu-1.12.6"
    monkeypatch.setenv("MAESTRO_TEST_CLI", "terraform")
    assert settings.cli().is_terraform and settings.cli_binary() == tmp_path / "bin" / "terraform-1.16.4"
    monkeypatch.setenv("TERRAFORM", "/opt/terraform")
    assert str(settings.cli_binary()) == "/opt/terraform"
    monkeypatch.setenv("MAESTRO_TEST_CLI", "terraform-1.14")
    assert settings.cli().version == "1.14.3" and settings.cli_binary() == tmp_path / "bin" / "terraform-1.14.3"
    # Each CLI prints addresses on its own default registry without the host.
    source = settings.PROVIDER_SOURCE
    assert settings.CLIS["terraform"].display_address(source) == "maestro-iac/maestro"
    assert settings.CLIS["tofu"].display_address(source) == source
    monkeypatch.setenv("MAESTRO_TEST_CLI", "opentofu")
    with pytest.raises(ValueError, match="expected one of tofu, terraform, terraform-1.14"):
        settings.cli()
