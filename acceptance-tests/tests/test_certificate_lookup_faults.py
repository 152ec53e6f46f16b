"""A certificate lookup that fails never leads to a second ACTIVE certificate (issue 21, item 5).

CreateCertificateFromCsr is not idempotent. When its answer is lost, the provider looks for the
certificate IoT issued for the CSR's key (ListCertificates, then DescribeCertificate of each
recent ACTIVE one) and adopts it; only when the lookup says there is none does it send the
request again. Here the lookup itself fails (one ListCertificates or DescribeCertificate answered
AccessDeniedException, as a role without the permission would be): the provider must not take
that for "none" and send the request again - which would leave the first certificate ACTIVE and
recorded nowhere - but fail, naming the action; the next apply must then converge with no
certificate that the state does not own (harness/fault_matrix.py's checks: no orphans, coherent
bundles, an empty plan).

Two ways in: the answer of the create's own CreateCertificateFromCsr is lost (the connection is
reset after IoT issued it), or the provider is killed while it waits for that answer and the next
apply resumes the create (the consumer takes back its thing, policy and certificate) - with the
lookup failing in each.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness import fault_matrix as fm

pytestmark = pytest.mark.acceptance

LOOKUP_DENIED = {"effect": "fail", "status": 403, "code": "AccessDeniedException",
                 "message": "User is not authorized to perform this action (injected by the acceptance test)"}


@pytest.fixture(scope="module")
def steady_iam(emulator_url: str) -> Iterator[None]:
    """No IAM propagation delay, as in the fault-matrix slice: the cases run quicker."""
    control = fm.CallControl(emulator_url)
    control.set_iam_propagation(0)
    yield
    control.set_iam_propagation(None)


def environment(emulator_url, management, regional, make_workspace, leak_guard) -> fm.Environment:
    return fm.Environment(emulator_url, management, regional, lambda name: make_workspace(name), guard=leak_guard)


def certificate_calls(control: fm.CallControl, since: int, session: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for call in control.calls(since):
        if call["service"] == "iot" and call["session"] == session and "Certificate" in call["action"]:
            counts[call["action"]] = counts.get(call["action"], 0) + 1
    return counts


@pytest.mark.parametrize("resource, lookup", [
    pytest.param("maestro_consumer", "ListCertificates", id="consumer-ListCertificates"),
    pytest.param("maestro_consumer", "DescribeCertificate", id="consumer-DescribeCertificate"),
    pytest.param("maestro_server_identity", "ListCertificates", id="server-ListCertificates"),
])
def test_a_lost_answer_whose_lookup_fails_is_not_sent_again(resource: str, lookup: str, steady_iam, emulator_url,
                                                            management, regional, make_workspace, leak_guard):
    env = environment(emulator_url, management, regional, make_workspace, leak_guard)
    part = fm.PART_BY_RESOURCE[resource]
    deployment, ws, baseline = fm._prepared(env, "create")
    if resource == "maestro_server_identity":
        # The failed create leaves the server tainted, and the next apply replaces it: the
        # destroy must retire the certificate of the key it staged. With a recovery window the
        # create after it would meet its own certificate secret scheduled for deletion, which
        # is not what this test is about: the secrets go at once.
        config = deployment.config(emulator_url)
        server_secret = f'  config_secret_name = "{deployment.server_secrets[1]}"\n'
        assert server_secret in config
        ws.set_config(config.replace(server_secret, server_secret + "  force_delete_without_recovery = true\n"))
    control = env.control
    # IoT issues the certificate, the provider never hears of it; then its lookup is refused.
    issued = control.add_rule(service="iot", action="CreateCertificateFromCsr", session=part.session,
                              effect="reset", when="after")
    refused = control.add_rule(service="iot", action=lookup, session=part.session, **LOOKUP_DENIED)
    mark = control.mark()
    try:
        first = ws.run(*fm.phase_command("create"), expect_exit=None)
    finally:
        fired = [control.rule(r["id"]) or {} for r in (issued, refused)]
        control.remove_rules()
    assert all(r.get("fired") for r in fired), f"a rule never fired: {fired}"
    calls = certificate_calls(control, mark, part.session)
    # The request was sent once: a failed lookup is not "nothing was issued".
    assert calls.get("CreateCertificateFromCsr") == 1, f"CreateCertificateFromCsr resent after a failed lookup: {calls}"
    assert first.exit_code != 0, "the first apply succeeded although its certificate could not be looked for"
    assert f"iot:{lookup}" in first.stdout + first.stderr, f"the error does not name iot:{lookup}: {fm.outcome(first)}"
    problems = fm.coherence_problems(deployment, management, regional, leak_guard)
    second = ws.run(*fm.phase_command("create"), expect_exit=None)
    assert second.exit_code == 0, f"the next apply failed: {fm.outcome(second)}"
    problems += fm.check_convergence(deployment, ws, "create", baseline, management, regional, leak_guard)
    assert not problems, problems


def test_a_resumed_create_whose_lookup_fails_leaves_no_second_certificate(steady_iam, emulator_url, management,
                                                                          regional, make_workspace, leak_guard):
    """The consumer's provider is killed once IoT issued its certificate; the next apply resumes
    the create (its thing is adopted) and looks for that certificate, and that lookup is refused."""
    env = environment(emulator_url, management, regional, make_workspace, leak_guard)
    part = fm.PART_BY_RESOURCE["maestro_consumer"]
    deployment, ws, baseline = fm._prepared(env, "create")
    control = env.control
    killed = fm.kill_provider_after(env, ws, "create", "create-sigkill", service="iot",
                                    action="CreateCertificateFromCsr", session=part.session)
    assert killed.exit_code != 0, f"the kill did not stop the apply: {fm.outcome(killed)}"

    # The resumed create: its lookup for the certificate the killed apply had issued is refused.
    refused = control.add_rule(service="iot", action="ListCertificates", session=part.session, **LOOKUP_DENIED)
    mark = control.mark()
    try:
        resumed = ws.run(*fm.phase_command("create"), expect_exit=None)
    finally:
        fired = control.rule(refused["id"]) or {}
        control.remove_rules()
    assert fired.get("fired"), "the resumed create never looked for the certificate"
    calls = certificate_calls(control, mark, part.session)
    assert "CreateCertificateFromCsr" not in calls, f"a certificate was issued although the lookup failed: {calls}"
    assert resumed.exit_code != 0, "the resumed create succeeded although its certificate could not be looked for"
    assert "iot:ListCertificates" in resumed.stdout + resumed.stderr, fm.outcome(resumed)

    final = ws.run(*fm.phase_command("create"), expect_exit=None)
    assert final.exit_code == 0, f"the next apply failed: {fm.outcome(final)}"
    problems = fm.check_convergence(deployment, ws, "create", baseline, management, regional, leak_guard)
    assert not problems, problems
