"""Installs the provider the way a user does: from the release zip, through a filesystem
mirror in the packed layout, with `tofu init` and no dev_overrides, then uses it.

scripts/release-local --profile dev packages the provider binary the session already has (no
second compile) under the names GoReleaser gives registry releases. The test then checks:
- the artifacts: names, zip contents, registry manifest, SHA256SUMS;
- `tofu init` from the packed mirror records the provider and version in the lock file, with
  an `h1:` hash equal to one computed here from the zip;
- a lock file committed from a registry install (carrying the `zh:` hash, which is the zip's
  SHA-256 as listed in SHA256SUMS) is honoured: init verifies the zip against it and keeps it,
  and a wrong `zh:` makes init fail — so that hash is really checked;
- the installed provider applies and destroys a maestro_agent_identity against the emulator.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import aws_inspect, hcl, settings
from harness import release_artifacts as ra
from harness.aws_accounts import REGIONAL_ACCOUNT_ID
from harness.tofu_workspace import TofuWorkspace

pytestmark = pytest.mark.acceptance


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory, provider_binary: Path) -> ra.ReleaseOutput:
    out = tmp_path_factory.mktemp("release-local") / "dist"
    return ra.release_local(out, settings.provider_version(), binary=provider_binary, profile="dev")


@pytest.fixture(scope="module")
def packed_mirror(tmp_path_factory: pytest.TempPathFactory, release: ra.ReleaseOutput) -> ra.PackedMirror:
    mirror = ra.PackedMirror(tmp_path_factory.mktemp("packed-mirror"))
    mirror.add(release.zip)
    mirror.write_cli_config()
    return mirror


@pytest.fixture
def mirror_workspace(tmp_path: Path, tofu_binary: Path, packed_mirror: ra.PackedMirror,
                     leak_guard) -> Iterator[Callable[[str], TofuWorkspace]]:
    """Workspaces whose CLI config knows only the packed mirror; destroyed at teardown and
    scanned by the leak guard like every other workspace."""
    created: list[TofuWorkspace] = []

    def make(name: str) -> TofuWorkspace:
        root = tmp_path / name
        root.mkdir(parents=True)
        workspace = TofuWorkspace(root, tofu_binary, packed_mirror.cli_config)
        created.append(workspace)
        leak_guard.workspaces.append(workspace)
        return workspace

    yield make
    for workspace in reversed(created):
        problem = workspace.cleanup()
        assert problem is None, f"teardown destroy failed in {workspace.root}: {problem}"


def test_release_artifacts_have_registry_names_and_contents(release: ra.ReleaseOutput, provider_binary: Path):
    assert sorted(p.name for p in release.directory.iterdir()) == sorted([release.zip.name, release.manifest.name,
                                                                          release.sums.name])
    with zipfile.ZipFile(release.zip) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == [release.binary_name], "the zip must hold only the versioned binary"
        mode = infos[0].external_attr >> 16
        assert mode & 0o111, f"{release.binary_name} is not executable in the zip (mode {oct(mode)})"
        assert archive.read(release.binary_name) == provider_binary.read_bytes(), "zip does not hold the built provider"
    assert json.loads(release.manifest.read_text()) == ra.REGISTRY_MANIFEST
    assert json.loads((settings.REPO_ROOT / "terraform-registry-manifest.json").read_text()) == ra.REGISTRY_MANIFEST
    sums = release.sums_entries()
    assert sums == {release.zip.name: ra.sha256_file(release.zip), release.manifest.name: ra.sha256_file(release.manifest)}
    assert list(sums) == sorted(sums), "SHA256SUMS lines must be sorted by file name"


def test_release_local_rejects_bad_arguments(tmp_path: Path):
    with pytest.raises(AssertionError, match="profile must be dev or release"):
        ra.release_local(tmp_path / "x", settings.provider_version(), binary=Path(os.devnull), profile="debug")
    with pytest.raises(AssertionError, match="not a semantic version"):
        ra.release_local(tmp_path / "y", "one.two", binary=Path(os.devnull))


def _agent_config(emulator_url: str, cluster_id: str, eks_cluster_name: str) -> str:
    return hcl.preamble(hcl.standard_providers(emulator_url)) + hcl.resource(
        "maestro_agent_identity", "installed",
        {"cluster_id": cluster_id, "regional_account_id": REGIONAL_ACCOUNT_ID, "eks_cluster_name": eks_cluster_name},
        provider="maestro.management",
    )


def test_init_from_packed_mirror_locks_the_release_and_applies(release, packed_mirror, mirror_workspace,
                                                               emulator_url, management, make_eks_cluster):
    version = release.version
    workspace = mirror_workspace("install")
    eks = make_eks_cluster("rel-install-eks")
    workspace.set_config(_agent_config(emulator_url, "rel-install", eks))
    assert "dev_overrides" not in packed_mirror.cli_config.read_text()

    result = workspace.init()
    # The CLIs name the provider differently here: Terraform leaves out its default registry's
    # host (`maestro-iac/maestro`), OpenTofu prints the full registry.terraform.io address.
    shown = settings.cli().display_address(settings.PROVIDER_SOURCE)
    assert f"Installed {shown} v{version}" in result.output, result.describe()
    installed = (workspace.root / ".terraform" / "providers" / settings.PROVIDER_SOURCE / version
                 / release.platform / release.binary_name)
    assert installed.is_file(), f"init did not unpack the zip to {installed}"

    lock = ra.lock_entry(workspace.root / ".terraform.lock.hcl")
    assert lock["version"] == version, lock
    h1 = [h for h in lock["hashes"] if h.startswith("h1:")]
    assert h1 == [ra.h1_of_zip(release.zip)], f"lock hashes {lock['hashes']}, zip's h1 {ra.h1_of_zip(release.zip)}"

    # The installed provider works: create, empty plan, destroy, all checked in AWS.
    workspace.apply()
    state = workspace.state_resource("maestro_agent_identity.installed")
    assert state["role_name"] == "rel-install-maestro-agent"
    assert aws_inspect.get_role(management, "rel-install-maestro-agent") is not None
    assert len(aws_inspect.associations(management, eks)) == 1
    workspace.assert_plan_empty()
    workspace.destroy()
    assert aws_inspect.get_role(management, "rel-install-maestro-agent") is None
    assert aws_inspect.associations(management, eks) == []


def test_lock_with_registry_zh_hash_is_verified_and_kept(release, mirror_workspace):
    version = release.version
    zip_sum = release.sums_entries()[release.zip.name]
    assert zip_sum == ra.sha256_file(release.zip)
    zh = f"zh:{zip_sum}"

    # A lock committed after a registry install lists the zh: hashes of SHA256SUMS.
    workspace = mirror_workspace("locked")
    workspace.set_config(hcl.terraform_block(version))
    workspace.write_file(".terraform.lock.hcl", ra.lock_file_text(version, version, [zh]))
    workspace.init()
    lock = ra.lock_entry(workspace.root / ".terraform.lock.hcl")
    assert lock["version"] == version
    assert zh in lock["hashes"], f"init dropped the zh: hash: {lock['hashes']}"
    assert ra.h1_of_zip(release.zip) in lock["hashes"], f"init did not add the h1: hash: {lock['hashes']}"

    # The same with a zh: that is not this zip's: init must refuse the package.
    tampered = mirror_workspace("tampered")
    tampered.set_config(hcl.terraform_block(version))
    wrong = "zh:" + ("0" * 64 if zip_sum != "0" * 64 else "1" * 64)
    tampered.write_file(".terraform.lock.hcl", ra.lock_file_text(version, version, [wrong]))
    tampered.expect_error(["init", "-input=false", "-no-color"], r"(?i)checksum|doesn't match|does not match")
