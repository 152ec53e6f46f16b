"""Gets the provider binary in front of `tofu init` without any network access.

The binary is placed in a filesystem mirror using the unpacked layout
`HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/terraform-provider-TYPE_vVERSION`, and a CLI config
(`TF_CLI_CONFIG_FILE`) tells tofu to take our provider from that mirror and never look it up
in a registry. Unlike `dev_overrides` this exercises the real install path: `tofu init`,
the lock file and its checksums all behave as they would for a user.

HashiCorp Terraform reads the same CLI config the same way. HOST is registry.terraform.io, the
host every configuration here writes in full: Terraform's default, and the one OpenTofu uses
when told (a bare `maestro-iac/maestro` would mean registry.opentofu.org to OpenTofu).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from . import settings


class ProviderBuildError(RuntimeError):
    pass


def build_provider(log_path: Path) -> Path:
    """`MAESTRO_PROVIDER_BIN` if given; otherwise `cargo build` the repo (debug profile)."""
    configured = os.environ.get("MAESTRO_PROVIDER_BIN")
    if configured:
        binary = Path(configured)
        if not binary.is_file() or not os.access(binary, os.X_OK):
            raise ProviderBuildError(f"MAESTRO_PROVIDER_BIN={configured} is not an executable file")
        return binary
    target_dir = settings.cargo_target_dir()
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        completed = subprocess.run(
            ["cargo", "build", "--bin", settings.PROVIDER_BINARY_NAME],
            cwd=settings.REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False,
        )
    if completed.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-60:])
        raise ProviderBuildError(f"cargo build failed ({completed.returncode}); see {log_path}:\n{tail}")
    binary = target_dir / "debug" / settings.PROVIDER_BINARY_NAME
    if not binary.is_file():
        raise ProviderBuildError(f"cargo build succeeded but {binary} is missing")
    return binary


class ProviderMirror:
    """A per-session filesystem mirror plus the CLI config that points tofu at it."""

    def __init__(self, root: Path):
        self.root = root
        self.mirror_dir = root / "mirror"
        self.cli_config = root / "tofu.tfrc"
        self.installed_binary: Path | None = None

    def install(self, binary: Path, version: str | None = None) -> Path:
        version = version or settings.provider_version()
        package_dir = (self.mirror_dir / settings.PROVIDER_HOST / settings.PROVIDER_NAMESPACE
                       / settings.PROVIDER_TYPE / version / settings.target_platform())
        package_dir.mkdir(parents=True, exist_ok=True)
        destination = package_dir / f"{settings.PROVIDER_BINARY_NAME}_v{version}"
        if destination.exists():
            destination.unlink()
        # A hard link is instant and keeps the mirror honest about which build it holds; a
        # copy covers a target dir on another filesystem.
        try:
            os.link(binary, destination)
        except OSError:
            shutil.copy2(binary, destination)
        destination.chmod(0o755)
        self.installed_binary = destination
        return destination

    def write_cli_config(self) -> Path:
        self.mirror_dir.mkdir(parents=True, exist_ok=True)
        source = settings.PROVIDER_SOURCE
        self.cli_config.write_text(
            "provider_installation {\n"
            "  filesystem_mirror {\n"
            f"    path    = {_hcl_path(self.mirror_dir)}\n"
            f"    include = [\"{source}\"]\n"
            "  }\n"
            "  direct {\n"
            f"    exclude = [\"{source}\"]\n"
            "  }\n"
            "}\n",
            encoding="utf-8",
        )
        return self.cli_config


def _hcl_path(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'
