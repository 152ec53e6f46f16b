"""Locations and constants shared by the fixtures, all overridable through the environment."""

from __future__ import annotations

import os
import platform
import tomllib
from pathlib import Path

TOFU_VERSION = "1.12.6"

ACCEPTANCE_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = ACCEPTANCE_DIR.parent
EMULATOR_SCRIPT_DEFAULT = ACCEPTANCE_DIR / "emulator" / "run_server.py"

PROVIDER_HOST = "registry.terraform.io"
PROVIDER_NAMESPACE = "maestro-iac"
PROVIDER_TYPE = "maestro"
PROVIDER_SOURCE = f"{PROVIDER_HOST}/{PROVIDER_NAMESPACE}/{PROVIDER_TYPE}"
PROVIDER_BINARY_NAME = "terraform-provider-maestro"

# How long the emulator hides a freshly created IAM role from EKS. Non-zero by default so the
# provider's retry on "Role provided in the request does not exist" runs for real in every test.
IAM_PROPAGATION_SECONDS_DEFAULT = "2"


def tpm_cache() -> Path:
    """The cache outside the clone where install-test-tools.sh puts tofu, the venv, cargo output."""
    configured = os.environ.get("TPM_CACHE")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "terraform-provider-maestro"


def tofu_binary() -> Path:
    """`TOFU` wins so a developer can point at any build; otherwise the installed pinned one."""
    configured = os.environ.get("TOFU")
    if configured:
        return Path(configured)
    return tpm_cache() / "bin" / f"tofu-{TOFU_VERSION}"


def emulator_script() -> Path:
    configured = os.environ.get("MAESTRO_EMULATOR_SCRIPT")
    if configured:
        return Path(configured)
    return EMULATOR_SCRIPT_DEFAULT


def cargo_target_dir() -> Path:
    configured = os.environ.get("CARGO_TARGET_DIR")
    if configured:
        return Path(configured)
    return tpm_cache() / "target"


def provider_version() -> str:
    """The mirror must carry the version Cargo.toml declares, or `tofu init` would not match it."""
    configured = os.environ.get("MAESTRO_PROVIDER_VERSION")
    if configured:
        return configured
    with open(REPO_ROOT / "Cargo.toml", "rb") as handle:
        return tomllib.load(handle)["package"]["version"]


def target_platform() -> str:
    """OS_ARCH in the naming the provider registry protocol uses (linux_amd64, darwin_arm64...)."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{system}_{arch}"
