"""Locations and constants shared by the fixtures, all overridable through the environment."""

from __future__ import annotations

import os
import platform
import tomllib
from dataclasses import dataclass
from pathlib import Path

TOFU_VERSION = "1.12.6"


@dataclass(frozen=True)
class Cli:
    """A CLI the suite can drive: what MAESTRO_TEST_CLI names, what `version` must print, and
    the variable scripts/install-test-tools.sh exports its path in."""
    name: str          # MAESTRO_TEST_CLI value, and install-test-tools.sh --only name
    product: str       # first word of `<cli> version`
    version: str       # the pin, as scripts/install-test-tools.sh builds it
    command: str       # what a user types: tofu / terraform
    binary_variable: str
    default_registry: str  # the host a bare "namespace/type" source expands to

    def display_address(self, source: str) -> str:
        """A provider address as this CLI prints it (`init`'s "Installed ..."): each CLI leaves out
        the host of its own default registry, so Terraform prints our
        `registry.terraform.io/maestro-iac/maestro` as `maestro-iac/maestro` and OpenTofu, whose
        default is registry.opentofu.org, prints it in full."""
        prefix = self.default_registry + "/"
        return source[len(prefix):] if source.startswith(prefix) else source

    @property
    def is_terraform(self) -> bool:
        return self.product == "Terraform"

    @property
    def label(self) -> str:
        return f"{self.product} {self.version}"


# The same pins as scripts/install-test-tools.sh. terraform-1.14 is the oldest Terraform the seed
# modules allow (required_version >= 1.14.3), for the smoke run.
CLIS = {
    "tofu": Cli("tofu", "OpenTofu", TOFU_VERSION, "tofu", "TOFU", "registry.opentofu.org"),
    "terraform": Cli("terraform", "Terraform", "1.16.4", "terraform", "TERRAFORM", "registry.terraform.io"),
    "terraform-1.14": Cli("terraform-1.14", "Terraform", "1.14.3", "terraform", "TERRAFORM_1_14",
                          "registry.terraform.io"),
}
DEFAULT_CLI = "tofu"

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


def cli() -> Cli:
    """The CLI under test: `MAESTRO_TEST_CLI` (tofu, terraform or terraform-1.14; default tofu).
    Every test runs through it; a test that must differ per CLI asks `cli().is_terraform`."""
    name = os.environ.get("MAESTRO_TEST_CLI") or DEFAULT_CLI
    if name not in CLIS:
        raise ValueError(f"MAESTRO_TEST_CLI={name!r}: expected one of {', '.join(CLIS)}")
    return CLIS[name]


def cli_binary() -> Path:
    """The selected CLI's variable (`TOFU`, `TERRAFORM`, `TERRAFORM_1_14`) wins so a developer can
    point at any build; otherwise the pinned one scripts/install-test-tools.sh installs."""
    selected = cli()
    configured = os.environ.get(selected.binary_variable)
    if configured:
        return Path(configured)
    return tpm_cache() / "bin" / f"{selected.command}-{selected.version}"


# The name from the days of one CLI; demo.py and the benchmark call it.
tofu_binary = cli_binary


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
