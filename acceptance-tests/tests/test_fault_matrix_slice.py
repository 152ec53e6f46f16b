"""A slice of the fault matrix and interruptions (scripts/fault-matrix runs all of it): a clean
create, rotation and destroy of a server identity and one agent enumerates the AWS calls each
resource makes; then chosen calls fail once - each failure mode, each resource and each phase
at least once - or are interrupted (SIGINT to the CLI, SIGKILL of the provider that made the
call), and the next command must converge: no object in either account that the state does
not own, no secret version lost, coherent bundles, no key in state, plan or logs (the leak
guard), and an empty plan. See harness/fault_matrix.py for the checks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import fault_matrix as fm
from harness.leak_check import LeakScanner, assert_no_leaks
from harness.tofu_workspace import TofuWorkspace

pytestmark = pytest.mark.acceptance


@dataclass(frozen=True)
class Pick:
    """A step of the clean run, by resource, phase, service, action and occurrence."""
    resource: str
    phase: str
    service: str
    action: str
    nth: int = 1

    def find(self, steps: dict[str, list[fm.Step]]) -> fm.Step:
        found = [s for s in steps[self.phase] if (s.resource, s.service, s.action) == (self.resource, self.service, self.action)]
        assert len(found) >= self.nth, f"the clean {self.phase} made no call {self} any more: {[s.label() for s in steps[self.phase]]}"
        return found[self.nth - 1]


FAULTS = [
    # A lost answer that the SDK's retry meets with the object already made (same request token).
    pytest.param(Pick("maestro_agent_key", "create", "secretsmanager", "CreateSecret"), "lost-5xx", id="key-create-CreateSecret-lost-5xx"),
    # The one call with the SDK's retry off: the provider must find the certificate IoT issued.
    pytest.param(Pick("maestro_consumer", "create", "iot", "CreateCertificateFromCsr"), "lost-reset", id="consumer-create-CreateCertificateFromCsr-lost-reset"),
    pytest.param(Pick("maestro_agent_identity", "create", "eks", "CreatePodIdentityAssociation"), "throttle", id="identity-create-CreatePodIdentityAssociation-throttle"),
    # A plain 5xx on the call the SDK does not retry: no certificate was issued, so the
    # provider sends it again itself, and the first apply succeeds.
    pytest.param(Pick("maestro_server_identity", "create", "iot", "CreateCertificateFromCsr"), "5xx", id="server-create-CreateCertificateFromCsr-5xx"),
    pytest.param(Pick("maestro_server_identity", "update", "secretsmanager", "PutSecretValue"), "5xx", id="server-rotation-PutSecretValue-5xx"),
    pytest.param(Pick("maestro_agent_identity", "delete", "iam", "DeleteRole"), "lost-reset", id="identity-delete-DeleteRole-lost-reset"),
]
INTERRUPTIONS = [
    pytest.param(Pick("maestro_consumer", "update", "iot", "CreateCertificateFromCsr"), "sigint", id="consumer-rotation-CreateCertificateFromCsr-sigint"),
    pytest.param(Pick("maestro_agent_identity", "create", "secretsmanager", "PutSecretValue"), "sigkill", id="identity-create-PutSecretValue-sigkill"),
    # Killed once IoT issued the certificate, or attached it: the next create takes back the
    # thing, the policy and the certificate of the CSR's key instead of leaving it ACTIVE.
    pytest.param(Pick("maestro_consumer", "create", "iot", "CreateCertificateFromCsr"), "sigkill", id="consumer-create-CreateCertificateFromCsr-sigkill"),
    pytest.param(Pick("maestro_consumer", "create", "iot", "AttachThingPrincipal"), "sigkill", id="consumer-create-AttachThingPrincipal-sigkill"),
    # The server's key exists only in the provider until it is staged in the certificate
    # secret: killed once IoT issued its certificate, once the policy was attached to it, and
    # once the bundle was current (before state knew), the next apply takes that key and
    # certificate back from the secret and IoT rather than leaving an ACTIVE certificate behind.
    pytest.param(Pick("maestro_server_identity", "create", "iot", "CreateCertificateFromCsr"), "sigkill", id="server-create-CreateCertificateFromCsr-sigkill"),
    pytest.param(Pick("maestro_server_identity", "update", "iot", "AttachPolicy"), "sigkill", id="server-rotation-AttachPolicy-sigkill"),
    pytest.param(Pick("maestro_server_identity", "update", "secretsmanager", "PutSecretValue", nth=2), "sigkill", id="server-rotation-current-PutSecretValue-sigkill"),
    # Ctrl-C in a terminal: SIGINT to the whole process group, the providers too. They must
    # live on and let the CLI stop them (StopProvider), as go-plugin's servers do.
    pytest.param(Pick("maestro_server_identity", "update", "secretsmanager", "PutSecretValue"), "ctrl-c", id="server-rotation-PutSecretValue-ctrl-c"),
]


@pytest.fixture(scope="module")
def steady_iam(emulator_url: str) -> Iterator[None]:
    """No IAM propagation delay while the slice runs: the provider's wait for a new role would
    make the number of CreatePodIdentityAssociation calls vary, and steps must be exact."""
    control = fm.CallControl(emulator_url)
    control.set_iam_propagation(0)
    yield
    control.set_iam_propagation(None)


@pytest.fixture(scope="module")
def clean_steps(steady_iam, emulator_url, management, regional, tofu_binary: Path, provider_mirror,
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[fm.Step]]:
    """The calls of a clean create, rotation and destroy. Its workspace is the module's, not a
    test's, so it is leak-scanned here with every key the checks read back."""
    root = tmp_path_factory.mktemp("fault-matrix-clean")
    scanner = LeakScanner()
    env = fm.Environment(emulator_url, management, regional,
                         lambda name: TofuWorkspace(root / name, tofu_binary, provider_mirror.cli_config), guard=scanner)
    steps, problems = fm.enumerate_phases(env)
    assert not any(problems.values()), f"the checks fail on a clean run: {problems}"
    assert_no_leaks(scanner.scan_tree(root), context="after the fault matrix's clean run")
    return steps


def environment(emulator_url, management, regional, make_workspace, leak_guard) -> fm.Environment:
    return fm.Environment(emulator_url, management, regional, lambda name: make_workspace(name), guard=leak_guard)


def test_the_clean_run_shows_every_resource_writing_in_every_phase(clean_steps):
    for phase in fm.PHASES:
        for part in fm.PARTS:
            writes = [s for s in clean_steps[phase] if s.resource == part.resource and s.is_write]
            assert writes, f"{part.resource} made no write call in the clean {phase}"
    # Every call is attributed to the resource whose provider block (session) made it.
    assert {s.session for phase in fm.PHASES for s in clean_steps[phase] if s.service != "sts"} == set(fm.PART_BY_SESSION)


@pytest.mark.parametrize("pick, mode", FAULTS)
def test_one_call_failing_once_converges(pick: Pick, mode: str, clean_steps, emulator_url, management, regional,
                                         make_workspace, leak_guard):
    step = pick.find(clean_steps)
    result = fm.run_fault_case(environment(emulator_url, management, regional, make_workspace, leak_guard), step, mode)
    assert result.fired, f"the fault never fired: {result.line()}"
    assert result.converged, result.line()
    if mode in fm.RETRIED_MODES:
        assert result.first == "ok", f"the SDK retries this error, yet the first command failed: {result.line()}"


@pytest.mark.parametrize("pick, kind", INTERRUPTIONS)
def test_an_interrupted_command_converges_on_the_next(pick: Pick, kind: str, clean_steps, emulator_url, management,
                                                      regional, make_workspace, leak_guard):
    step = pick.find(clean_steps)
    result = fm.run_interruption_case(environment(emulator_url, management, regional, make_workspace, leak_guard), step, kind)
    assert result.fired, f"the step was never reached: {result.line()}"
    assert result.first != "ok", f"the interruption did not stop the command: {result.line()}"
    if kind == "ctrl-c":
        assert "Plugin did not respond" not in result.first, f"the provider died of the interrupt: {result.line()}"
    assert result.converged, result.line()
