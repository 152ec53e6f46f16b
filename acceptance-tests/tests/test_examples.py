"""Every configuration under examples/ passes `tofu init` and `tofu validate` with the built
provider, and every import.sh is valid bash that imports an address its resource.tf declares.
examples/complete/ and examples/two-teams/ are also applied, unchanged, against the emulator.

Directories are discovered, not listed: a new example folder (a new resource's
examples/resources/<type>/, complete/, two-teams/<side>/) is tested as soon as it exists.
Per-object folders hold a fragment without provider blocks, the way the registry shows it, so
they are validated together with examples/provider/provider.tf.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import aws_inspect, complete_example, registry_docs as rd, settings
from harness import credentials as creds
from harness.emulator import maestro_api

pytestmark = pytest.mark.acceptance

EXAMPLES = rd.EXAMPLES_DIR
PROVIDER_EXAMPLE = EXAMPLES / "provider" / "provider.tf"
# Folders whose examples are fragments that rely on the provider blocks of provider/provider.tf.
FRAGMENT_ROOTS = tuple(EXAMPLES / directory for directory in sorted(set(rd.KIND_EXAMPLE_DIRECTORIES.values())))


def example_dirs() -> list[Path]:
    return sorted({path.parent for path in EXAMPLES.rglob("*.tf") if ".terraform" not in path.parts})


def import_scripts() -> list[Path]:
    return sorted(EXAMPLES.rglob("import.sh"))


def _id(path: Path) -> str:
    return str(path.relative_to(EXAMPLES))


def is_fragment(directory: Path) -> bool:
    return any(root in directory.parents for root in FRAGMENT_ROOTS)


def test_examples_exist():
    found = {_id(d) for d in example_dirs()}
    assert "provider" in found, f"examples/provider/ is missing; found {sorted(found)}"
    assert any(name.startswith("resources/") for name in found), f"no examples/resources/<type>/; found {sorted(found)}"
    for required in ("complete", "fleet", "two-teams/management", "two-teams/regional"):
        assert required in found, f"examples/{required}/ is missing; found {sorted(found)}"


@pytest.mark.parametrize("directory", example_dirs(), ids=_id)
def test_example_validates(directory: Path, make_workspace):
    if EXAMPLES / "actions" in (directory, *directory.parents) and not settings.cli().is_terraform:
        pytest.skip("action blocks are Terraform's (1.14+); OpenTofu 1.12 refuses them as an unsupported block type")
    workspace = make_workspace("ws")
    # Copy the folder's files (not .terraform/ or state a developer may have left there).
    for source in sorted(directory.iterdir()):
        if source.is_file() and source.suffix in (".tf", ".tfvars", ".json", ".tpl", ".yaml", ".yml"):
            shutil.copy2(source, workspace.root / source.name)
        elif source.is_dir() and not source.name.startswith("."):
            # Local modules (examples/fleet/modules/agents), which the folder calls by relative path.
            shutil.copytree(source, workspace.root / source.name, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    if is_fragment(directory):
        assert not (workspace.root / "provider.tf").exists(), f"{_id(directory)} must not ship its own provider.tf"
        shutil.copy2(PROVIDER_EXAMPLE, workspace.root / "provider.tf")
    workspace.init()
    report = workspace.validate_json()
    problems = [f"{d.get('severity')}: {d.get('summary')}: {d.get('detail', '')}" for d in report.get("diagnostics", [])
                if d.get("severity") == "error"]
    assert report.get("valid") and not problems, f"examples/{_id(directory)} does not validate:\n  " + "\n  ".join(problems)


def test_every_resource_example_folder_is_complete():
    """examples/resources/<type>/ holds resource.tf and import.sh, and the folder is named
    after a resource type the example declares."""
    root = EXAMPLES / "resources"
    problems = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for required in ("resource.tf", "import.sh"):
            if not (folder / required).is_file():
                problems.append(f"{_id(folder)}: {required} is missing")
        resource_tf = folder / "resource.tf"
        if resource_tf.is_file() and not re.search(rf'^resource "{re.escape(folder.name)}" "', resource_tf.read_text(), re.MULTILINE):
            problems.append(f"{_id(folder)}/resource.tf declares no resource of type {folder.name}")
        if not folder.name.startswith(f"{settings.PROVIDER_TYPE}_"):
            problems.append(f"{_id(folder)}: folder is not named after a {settings.PROVIDER_TYPE}_ type")
    assert not problems, "\n  ".join(["resource example problems:", *problems])


IMPORT_LINE = re.compile(r"^\s*(?:tofu|terraform) import (?P<address>\S+) (?P<id>\S+)\s*$")


@pytest.mark.parametrize("script", import_scripts(), ids=_id)
def test_import_script_is_valid_and_targets_a_declared_address(script: Path):
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, f"bash -n {_id(script)}:\n{checked.stderr}"
    commands = [m for m in (IMPORT_LINE.match(line) for line in script.read_text(encoding="utf-8").splitlines()) if m]
    assert commands, f"{_id(script)} has no `tofu import ADDRESS ID` line"
    declared = set()
    for tf in sorted(script.parent.glob("*.tf")):
        declared |= {f"{kind}.{name}" for kind, name in
                     re.findall(r'^resource "([A-Za-z0-9_]+)" "([A-Za-z0-9_-]+)"', tf.read_text(encoding="utf-8"), re.MULTILINE)}
    for command in commands:
        address = command.group("address")
        assert address in declared, f"{_id(script)} imports {address}, but the folder declares only {sorted(declared)}"
        assert address.split(".")[0] == script.parent.name, \
            f"{_id(script)} imports a {address.split('.')[0]} from the {script.parent.name} folder"


# ---------------------------------------------------------------- applied against the emulator


def _copy_example(directory: Path, workspace) -> None:
    for source in sorted(directory.iterdir()):
        if source.is_file() and source.suffix == ".tf":
            shutil.copy2(source, workspace.root / source.name)


def _outputs(workspace) -> dict:
    return {name: item["value"] for name, item in json.loads(workspace.run("output", "-json").stdout).items()}


def test_complete_example_applies_and_the_server_and_agents_work(
        make_workspace, emulator_url, management, regional, make_eks_cluster, leak_guard, iot_data, maestro_wire,
        tmp_path):
    """examples/complete, unchanged, against the emulator: one apply builds the server's identity
    and two agents across both accounts, the next plan is empty, the outputs and AWS agree; with
    no Maestro API given the consumers are not registered and the server, ONE from its secrets,
    refuses to send either agent work; with it, the next apply registers both (and changes
    nothing else), and the server and both agents from their secrets exchange work and status
    over MQTT; a rotation of every key is again one apply, after which they exchange again."""
    clusters = {"example-complete-a": make_eks_cluster("example-complete-a-eks"),
                "example-complete-b": make_eks_cluster("example-complete-b-eks")}
    regional_eks = aws_inspect.create_eks_cluster(regional, "example-complete-regional-eks")["name"]
    ws = make_workspace("complete")
    _copy_example(complete_example.EXAMPLE_DIR, ws)

    def variables(generation: str, maestro_api_url: str | None = iot_data.maestro_api_url) -> None:
        complete_example.write_variables(ws.root, emulator_url, clusters, regional_eks, server_name="example-complete",
                                         key_generation=generation, broker_ca_pem=iot_data.ca_pem,
                                         maestro_api_url=maestro_api_url)

    variables("1", maestro_api_url=None)
    ws.init()
    ws.apply()
    ws.assert_plan_empty()
    unregistered = _outputs(ws)
    assert unregistered["registrations"] == {}
    leak_guard.extra_trees.append(tmp_path / "wire")
    report, _ = complete_example.refused_over_mqtt(maestro_wire, iot_data, management, regional, unregistered,
                                                   tmp_path / "mounts-0", tmp_path / "wire" / "0", leak_guard)
    assert len(report) == len(clusters), report

    variables("1")
    registrations = {f'maestro_consumer_registration.agent["{cluster_id}"]': "create" for cluster_id in clusters}
    ws.assert_plan_changes(registrations)
    ws.apply()
    ws.assert_plan_empty()
    first = _outputs(ws)
    for cluster_id in clusters:
        held = maestro_api(emulator_url, "GET", f"/api/maestro/v1/consumers/{first['registrations'][cluster_id]}")[1]
        assert held["name"] == cluster_id and held["labels"]["cluster_id"] == cluster_id, held
    assert set(first["agents"]) == set(clusters)
    # The example names upstream's agent chart: each agent starts from the Secret its
    # ExternalSecret output keeps (complete_example.mount_agent), not from a hand-made mount.
    for cluster_id in clusters:
        assert "ExternalSecret/maestro-agent-certs" in first["agent_manifests"][cluster_id], first["agent_manifests"]
    assert first["server_helm_values"]["maestroServer"]["externalSecrets"]["mqttCertSecretName"] == \
        first["server"]["certificate_secret"]
    complete_example.verify(management, regional, first, leak_guard, broker_ca_pem=iot_data.ca_pem)
    complete_example.exchange_over_mqtt(maestro_wire, iot_data, management, regional, first, tmp_path / "mounts-1",
                                        tmp_path / "wire" / "1", leak_guard)

    variables("2")
    ws.apply()
    ws.assert_plan_empty()
    second = _outputs(ws)
    complete_example.verify(management, regional, second, leak_guard, broker_ca_pem=iot_data.ca_pem)
    for cluster_id in clusters:
        assert second["fingerprints"][cluster_id]["key"] != first["fingerprints"][cluster_id]["key"]
    assert second["server"]["public_key_fingerprint"] != first["server"]["public_key_fingerprint"]
    complete_example.exchange_over_mqtt(maestro_wire, iot_data, management, regional, second, tmp_path / "mounts-2",
                                        tmp_path / "wire" / "2", leak_guard)
    ws.destroy()
    # The example keeps the recovery window, so the server's secrets, whose names are fixed by
    # the chart, are only scheduled for deletion; remove them for the next test of this session.
    for secret in (second["server"]["certificate_secret"], second["server"]["config_secret"]):
        assert creds.deletion_scheduled(regional, secret) is not None, f"{secret} not scheduled for deletion"
        regional.secretsmanager.delete_secret(SecretId=secret, ForceDeleteWithoutRecovery=True)


def test_two_teams_example_exchanges_only_public_values(
        make_workspace, emulator_url, management, regional, make_eks_cluster, leak_guard):
    """examples/two-teams/, unchanged, in the order its README gives: management, regional,
    management again. Only csr_pem, certificate_pem and endpoint pass between the workspaces."""
    cluster_id = "example-two-teams"
    eks = make_eks_cluster("example-two-teams-eks")
    mgmt, region = make_workspace("management"), make_workspace("regional")
    _copy_example(EXAMPLES / "two-teams" / "management", mgmt)
    _copy_example(EXAMPLES / "two-teams" / "regional", region)

    def variables(workspace, **values) -> None:
        workspace.write_file("emulator.auto.tfvars.json", json.dumps({"aws_endpoint": emulator_url, "cluster_id": cluster_id,
                                                                       **values}))

    variables(mgmt, eks_cluster_name=eks)
    mgmt.init()
    assert "The agent has no certificate yet" in mgmt.apply().output
    csr = _outputs(mgmt)["csr_pem"]
    assert "PRIVATE KEY" not in csr

    variables(region, csr_pem=csr)
    region.init()
    region.apply()
    region.assert_plan_empty()
    handed_back = _outputs(region)

    variables(mgmt, eks_cluster_name=eks, certificate_pem=handed_back["certificate_pem"],
              broker_endpoint=handed_back["endpoint"])
    mgmt.apply()
    mgmt.assert_plan_empty()
    done = _outputs(mgmt)
    assert done["public_key_fingerprint"] == done["certificate_fingerprint"] == \
        handed_back["certificate_public_key_fingerprint"]
    bundle = creds.assert_current_coherent(management, f"{cluster_id}/maestro/agent-mqtt-cert", guard=leak_guard)
    assert bundle is not None and bundle.key_fingerprint == done["public_key_fingerprint"]
    assert "agent-mqtt-cert" not in json.dumps(region.show_state()), "the regional state names the credential secret"
    mgmt.destroy()
    region.destroy()
