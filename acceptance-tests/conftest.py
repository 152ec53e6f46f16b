"""Fixtures for the acceptance tests: emulator, accounts, provider install, CLI workspaces,
and the leak check that runs after every test that used a workspace.

The CLI is a parameter of the run, not of the tests: MAESTRO_TEST_CLI=tofu (default),
terraform or terraform-1.14 picks the binary every TofuWorkspace runs (harness/settings.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import aws_accounts, aws_inspect, go_tools, hcl, settings, wire_flow  # noqa: E402
from harness.aws_accounts import AwsAccount  # noqa: E402
from harness.emulator import Emulator  # noqa: E402
from harness.leak_check import LeakScanner, assert_no_leaks  # noqa: E402
from harness.provider_install import ProviderMirror, build_provider  # noqa: E402
from harness.tofu_workspace import TofuWorkspace  # noqa: E402

# boto3 in this process must not pick up a developer's profile or config either.
for _variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_variable, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


# ---------------------------------------------------------------- tools


@pytest.fixture(scope="session")
def cli() -> settings.Cli:
    """The CLI every workspace runs: OpenTofu by default, HashiCorp Terraform with
    MAESTRO_TEST_CLI=terraform (or terraform-1.14 for the oldest supported one)."""
    try:
        return settings.cli()
    except ValueError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def tofu_binary(cli: settings.Cli) -> Path:
    """The binary of the CLI under test (named for OpenTofu, the default; see `cli`)."""
    binary = settings.cli_binary()
    if not binary.is_file():
        pytest.fail(f"{cli.command} not found at {binary}: run scripts/install-test-tools.sh "
                    f"or set {cli.binary_variable}", pytrace=False)
    # Without the inherited TF_* variables: a TF_CLI_CONFIG_FILE naming a missing file makes
    # the CLI print a warning ahead of the version line.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    reported = subprocess.run([str(binary), "version"], capture_output=True, text=True, check=False,
                              env=dict(env, CHECKPOINT_DISABLE="1")).stdout
    pattern = rf"^{cli.product} v{re.escape(cli.version)}(-dev)?$"
    if not re.search(pattern, reported, re.MULTILINE):
        pytest.fail(f"{binary} reports {reported.strip()!r}, expected {cli.product} v{cli.version} "
                    f"(MAESTRO_TEST_CLI={cli.name})", pytrace=False)
    return binary


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With MAESTRO_RECORD_SKIPPED=<file>, appends the node ID of every skipped test to that file:
    scripts/test runs the tests OpenTofu skips (Terraform-only features) in its Terraform slice,
    so no test is left out of CI by the CLI it ran under."""
    record = os.environ.get("MAESTRO_RECORD_SKIPPED")
    if record and report.skipped and report.when in ("setup", "call"):
        with open(record, "a", encoding="utf-8") as handle:
            handle.write(report.nodeid + "\n")


def pytest_report_header(config: pytest.Config) -> str:
    try:
        selected = settings.cli()
    except ValueError as error:
        return f"CLI under test: invalid ({error})"
    return f"CLI under test: {selected.label} ({settings.cli_binary()}, MAESTRO_TEST_CLI={selected.name})"


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("session")


@pytest.fixture(scope="session")
def provider_binary(session_dir: Path) -> Path:
    return build_provider(session_dir / "cargo-build.log")


@pytest.fixture(scope="session")
def provider_mirror(session_dir: Path, provider_binary: Path) -> ProviderMirror:
    mirror = ProviderMirror(session_dir / "provider")
    mirror.install(provider_binary)
    mirror.write_cli_config()
    return mirror


@pytest.fixture(scope="session")
def empty_mirror(session_dir: Path) -> ProviderMirror:
    """A CLI config with no provider in its mirror, for configurations that need none."""
    mirror = ProviderMirror(session_dir / "no-provider")
    mirror.write_cli_config()
    return mirror


# ---------------------------------------------------------------- emulator and accounts


@pytest.fixture(scope="session")
def emulator(session_dir: Path) -> Iterator[Emulator]:
    env = dict(os.environ)
    env.setdefault("MAESTRO_EMULATOR_IAM_PROPAGATION_SECONDS", settings.IAM_PROPAGATION_SECONDS_DEFAULT)
    # IoT Core's data plane (an MQTT broker authorising by the emulated IoT policies) runs in
    # every session, so any test can put what the provider wrote on the wire.
    env.setdefault("MAESTRO_EMULATOR_IOT_DATA_BROKER", str(go_tools.iot_data_broker()))
    server = Emulator(settings.emulator_script(), session_dir / "emulator", env=env)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def emulator_url(emulator: Emulator) -> str:
    assert emulator.url is not None
    return emulator.url


@pytest.fixture(scope="session")
def iot_data(emulator_url: str) -> wire_flow.IotData:
    """Where the emulator's IoT Core data plane listens, and the CA its server certificate
    chains to (what `broker_ca_pem` is set to in tests)."""
    return wire_flow.iot_data(emulator_url)


@pytest.fixture(scope="session")
def maestro_wire() -> Path:
    """The wire clients binary (harness/maestro_wire): sdk-go's source and agent clients, and the probe."""
    return go_tools.maestro_wire()


@pytest.fixture(scope="session")
def regional(emulator_url: str) -> AwsAccount:
    return aws_accounts.regional_account(emulator_url)


@pytest.fixture(scope="session")
def management(emulator_url: str) -> AwsAccount:
    return aws_accounts.management_account(emulator_url)


@pytest.fixture(scope="session")
def management_cluster(management: AwsAccount) -> str:
    """The EKS cluster `management-01` in the management account (shared; tests that need a
    cluster to themselves use `make_eks_cluster`)."""
    aws_inspect.create_eks_cluster(management, "management-01")
    return "management-01"


@pytest.fixture(scope="session")
def make_eks_cluster(management: AwsAccount) -> Callable[[str], str]:
    def make(name: str) -> str:
        aws_inspect.create_eks_cluster(management, name)
        return name
    return make


# ---------------------------------------------------------------- workspaces and the leak check


class LeakGuard:
    """Collects the workspaces a test creates and the secrets it registers; scans at teardown."""

    def __init__(self) -> None:
        self.scanner = LeakScanner()
        self.workspaces: list[TofuWorkspace] = []
        # Other directories whose every file must be free of secrets too (the wire clients' logs;
        # never the CSI mounts, which hold the key by design).
        self.extra_trees: list[Path] = []

    def register_secret(self, value: str, label: str | None = None) -> None:
        self.scanner.register_secret(value, label)

    def scan(self) -> list:
        findings = []
        for workspace in self.workspaces:
            findings += self.scanner.scan_tree(workspace.root)
        for tree in self.extra_trees:
            if tree.exists():
                findings += self.scanner.scan_tree(tree)
        return findings


@pytest.fixture(autouse=True)
def leak_guard(request: pytest.FixtureRequest) -> Iterator[LeakGuard]:
    guard = LeakGuard()
    yield guard
    # Torn down after the workspace fixtures (which depend on it), so the scan also covers
    # the logs of the teardown destroy.
    if guard.workspaces:
        try:
            assert_no_leaks(guard.scan(), context=f"after {request.node.nodeid}")
        except AssertionError as error:
            pytest.fail(str(error), pytrace=False)


def _workspace_factory(tmp_path: Path, tofu_binary: Path, cli_config: Path,
                       guard: LeakGuard) -> tuple[Callable[..., TofuWorkspace], list[TofuWorkspace]]:
    created: list[TofuWorkspace] = []

    def make(name: str = "ws", extra_env: dict[str, str] | None = None) -> TofuWorkspace:
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=False)
        workspace = TofuWorkspace(root, tofu_binary, cli_config, extra_env=extra_env)
        created.append(workspace)
        guard.workspaces.append(workspace)
        return workspace

    return make, created


def _destroy_all(created: list[TofuWorkspace]) -> None:
    for workspace in reversed(created):
        problem = workspace.cleanup()
        if problem:
            warnings.warn(f"teardown destroy failed in {workspace.root}: {problem}", stacklevel=1)


@pytest.fixture
def make_workspace(tmp_path: Path, tofu_binary: Path, provider_mirror: ProviderMirror,
                   leak_guard: LeakGuard) -> Iterator[Callable[..., TofuWorkspace]]:
    """Workspaces whose `tofu init` installs our provider from the session's mirror."""
    make, created = _workspace_factory(tmp_path, tofu_binary, provider_mirror.cli_config, leak_guard)
    yield make
    _destroy_all(created)


@pytest.fixture
def make_plain_workspace(tmp_path: Path, tofu_binary: Path, empty_mirror: ProviderMirror,
                         leak_guard: LeakGuard) -> Iterator[Callable[..., TofuWorkspace]]:
    """Workspaces for configurations with only built-in resources (harness self-tests)."""
    make, created = _workspace_factory(tmp_path, tofu_binary, empty_mirror.cli_config, leak_guard)
    yield make
    _destroy_all(created)


@pytest.fixture
def provider_preamble(emulator_url: str) -> str:
    """terraform block + `maestro.regional` and `maestro.management` pointed at the emulator."""
    return hcl.preamble(hcl.standard_providers(emulator_url))


@pytest.fixture
def config_workspace(make_workspace, provider_preamble) -> Callable[..., TofuWorkspace]:
    """An initialised workspace whose config is the standard providers plus the given blocks."""
    def make(*blocks: str, name: str = "ws") -> TofuWorkspace:
        ws = make_workspace(name)
        ws.set_config(provider_preamble + "\n" + "\n".join(blocks))
        ws.init()
        return ws
    return make
