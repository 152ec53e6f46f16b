"""Every configuration under examples/ passes `tofu init` and `tofu validate` with the built
provider, and every import.sh is valid bash that imports an address its resource.tf declares.

Directories are discovered, not listed: a new example folder (a new resource's
examples/resources/<type>/, complete/, two-teams/<side>/) is tested as soon as it exists.
Per-object folders hold a fragment without provider blocks, the way the registry shows it, so
they are validated together with examples/provider/provider.tf.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import registry_docs as rd, settings

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


@pytest.mark.parametrize("directory", example_dirs(), ids=_id)
def test_example_validates(directory: Path, make_workspace):
    workspace = make_workspace("ws")
    # Copy the folder's files (not .terraform/ or state a developer may have left there).
    for source in sorted(directory.iterdir()):
        if source.is_file() and source.suffix in (".tf", ".tfvars", ".json", ".tpl", ".yaml", ".yml"):
            shutil.copy2(source, workspace.root / source.name)
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
