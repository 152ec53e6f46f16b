"""The provider in a crowded regional account (issue 25, item 3): 1,000 consumers' things,
policies and certificates (ACTIVE, rotated within and past their grace period), 300 unrelated
IoT policies and 200 unrelated secrets, made with boto3 before the provider runs
(harness/crowded_account.py). The module has an emulator of its own, so the crowd is made once
and no other test file lists it.

IoT lists certificates and policies newest first, 250 at most a page, and the provider asks it
so. In every case the object the provider looks for is put past the first page, and each test
proves it with boto3 before it counts the provider's answer:

- create whose CreateCertificateFromCsr answer is lost: 300 certificates are issued while the
  answer is held, so the provider's certificate is on page 2 of its lookup; it must be adopted,
  not issued again;
- the consumer's server-policy check: the server's policy comes after 300 newer ones (page 2
  of six), before the 1,300 crowd policies; a consumer with another prefix is warned with that policy's name, one with the server's is not;
- import of the oldest crowd consumer (its policy and certificate on the last pages), adoption
  with a new certificate, and its destroy;
- scripts/crowded-account runs the rest (MAESTRO_CROWD_FULL=1): resume after SIGKILL, rotation
  with grace, `terraform query` of each list resource (Terraform only; the identities' roles
  past the first page of ListRoles).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness import aws_accounts, hcl, settings
from harness import fault_matrix as fm
from harness import query_actions as qa
from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, AwsAccount
from harness.crowded_account import IOT_MAX_PAGE, CrowdedAccount, role_page
from harness.emulator import Emulator

pytestmark = pytest.mark.acceptance

CONSUMERS = 1000
UNRELATED_POLICIES = 300
UNRELATED_SECRETS = 200
# More than a page of IoT's largest: what is pushed behind them is on page 2 or later.
BURY = IOT_MAX_PAGE + 50
REGIONAL = "maestro.regional"

full_run_only = pytest.mark.skipif(os.environ.get("MAESTRO_CROWD_FULL") != "1",
                                   reason="long crowded-account case: run by scripts/crowded-account (MAESTRO_CROWD_FULL=1)")
terraform_only = pytest.mark.skipif(not qa.cli_supports_query_and_actions(), reason=qa.UNSUPPORTED_REASON)


# ---------------------------------------------------------------- the module's own emulator and crowd


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    env = dict(os.environ)
    # No IAM propagation delay, as in the fault-matrix slice: the cases run quicker.
    env["MAESTRO_EMULATOR_IAM_PROPAGATION_SECONDS"] = "0"
    server = Emulator(settings.emulator_script(), tmp_path_factory.mktemp("crowded-emulator"), env=env)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def emulator_url(emulator: Emulator) -> str:
    assert emulator.url is not None
    return emulator.url


@pytest.fixture(scope="module")
def regional(emulator_url: str) -> AwsAccount:
    return aws_accounts.regional_account(emulator_url)


@pytest.fixture(scope="module")
def management(emulator_url: str) -> AwsAccount:
    return aws_accounts.management_account(emulator_url)


@pytest.fixture(scope="module")
def crowd(regional: AwsAccount) -> CrowdedAccount:
    account = CrowdedAccount(regional)
    timing = account.populate(CONSUMERS, UNRELATED_POLICIES, UNRELATED_SECRETS)
    # The fixture's cost, for the CI log (-s or the captured output of the first test).
    print(f"\ncrowded account: {timing.line()}")
    return account


def environment(emulator_url, management, regional, make_workspace, leak_guard) -> fm.Environment:
    return fm.Environment(emulator_url, management, regional, lambda name: make_workspace(name), guard=leak_guard)


def new_csr(guard, common_name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    guard.register_secret(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()).decode(), f"agent key of {common_name}")
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def calls_of(control: fm.CallControl, since: int, session: str, action: str) -> int:
    return sum(1 for call in control.calls(since) if call["session"] == session and call["action"] == action)


# ---------------------------------------------------------------- the crowd itself


def test_the_crowd_is_in_the_account_and_spans_pages(crowd: CrowdedAccount):
    census = crowd.census()
    certificates = sum(len(c.certificates) for c in crowd.consumers)
    inactive = sum(1 for c in crowd.consumers for s in c.certificates.values() if s == "INACTIVE")
    assert census["certificates"] >= certificates and census["certificates_inactive"] >= inactive > 0, census
    assert census["policies"] >= CONSUMERS + UNRELATED_POLICIES, census
    assert census["things"] >= CONSUMERS and census["secrets"] >= UNRELATED_SECRETS, census
    # The oldest consumer is past the first page of both listings the provider reads in full.
    oldest = crowd.consumers[0]
    assert crowd.policy_page(oldest.policy_name) > 1
    assert crowd.certificate_page(next(iter(oldest.certificates))) > 1


# ---------------------------------------------------------------- create: a lost answer


def test_a_lost_certificate_answer_is_adopted_from_a_later_page(crowd, emulator_url, management, regional,
                                                                make_workspace, leak_guard):
    """The consumer's CreateCertificateFromCsr is held after IoT issued the certificate; 300
    certificates are issued meanwhile, then the answer is lost (the connection reset). The
    provider's lookup must find its certificate on page 2 and adopt it: one request sent, no
    second certificate, a converged deployment (harness/fault_matrix.py's checks)."""
    env = environment(emulator_url, management, regional, make_workspace, leak_guard)
    part = fm.PART_BY_RESOURCE["maestro_consumer"]
    deployment, ws, baseline = fm._prepared(env, "create")
    control = env.control
    held = control.add_rule(service="iot", action="CreateCertificateFromCsr", session=part.session,
                            effect="hold", when="after", holdSeconds=120)
    mark = control.mark()
    running = fm.start(ws, fm.phase_command("create"), "create-held")
    try:
        deadline = time.monotonic() + 240
        holding = None
        while holding is None and time.monotonic() < deadline and running.process.poll() is None:
            holding = (control.rule(held["id"]) or {}).get("held")
            time.sleep(0.1)
        assert holding, "CreateCertificateFromCsr was never held"
        buried = crowd.bury(certificates=BURY)
        print(f"buried: {buried.line()}")
        control.release(held["id"], then="reset")
    finally:
        applied = running.wait()
        control.remove_rules()
    # What the test buried is not the provider's: the convergence check must not count it.
    baseline.certificates_before |= set(crowd.unrelated_certificates)
    assert applied.exit_code == 0, f"the apply did not recover its certificate: {fm.outcome(applied)}"
    assert calls_of(control, mark, part.session, "CreateCertificateFromCsr") == 1, "the request was sent again"
    certificate_id = ws.state_resource("maestro_consumer.c")["certificate_id"]
    page = crowd.certificate_page(certificate_id)
    assert page > 1, f"the adopted certificate is on page {page} of ListCertificates: the case proves nothing"
    problems = fm.check_convergence(deployment, ws, "create", baseline, management, regional, leak_guard)
    assert not problems, problems

    # Destroy with the deployment's objects behind the crowd: nothing of it is left.
    ws.destroy()
    problems = fm.check_convergence(deployment, ws, "delete", baseline, management, regional, leak_guard)
    assert not problems, problems


# ---------------------------------------------------------------- resume after SIGKILL


@full_run_only
def test_a_create_killed_while_waiting_resumes_with_its_certificate_on_a_later_page(
        crowd, emulator_url, management, regional, make_workspace, leak_guard):
    """The consumer's provider is killed once IoT issued its certificate; 300 certificates are
    issued before the next apply, which must take back the thing, the policy and the certificate
    on page 2, issuing none."""
    env = environment(emulator_url, management, regional, make_workspace, leak_guard)
    part = fm.PART_BY_RESOURCE["maestro_consumer"]
    deployment, ws, baseline = fm._prepared(env, "create")
    control = env.control
    killed = fm.kill_provider_after(env, ws, "create", "create-sigkill", service="iot",
                                    action="CreateCertificateFromCsr", session=part.session)
    assert killed.exit_code != 0, f"the kill did not stop the apply: {fm.outcome(killed)}"
    issued_before = set(fm.inventory(deployment, management, regional).certificates) - baseline.certificates_before
    crowd.bury(certificates=BURY)
    baseline.certificates_before |= set(crowd.unrelated_certificates)
    lost = issued_before - set(crowd.unrelated_certificates)
    assert len(lost) >= 1, "the killed apply issued no certificate"
    assert all(crowd.certificate_page(c) > 1 for c in lost), "the issued certificate is still on page 1"

    mark = control.mark()
    resumed = ws.run(*fm.phase_command("create"), expect_exit=None)
    assert resumed.exit_code == 0, f"the resumed create failed: {fm.outcome(resumed)}"
    assert calls_of(control, mark, part.session, "CreateCertificateFromCsr") == 0, "a second certificate was issued"
    assert ws.state_resource("maestro_consumer.c")["certificate_id"] in lost
    problems = fm.check_convergence(deployment, ws, "create", baseline, management, regional, leak_guard)
    assert not problems, problems
    ws.destroy()


# ---------------------------------------------------------------- rotation with grace


@full_run_only
def test_rotation_with_grace_behind_the_crowd(crowd, emulator_url, management, regional, make_workspace, leak_guard):
    """A deployment made, then buried under 300 certificates and policies, rotated (generation
    2: new agent key and server key, the old certificates kept for their grace period)."""
    env = environment(emulator_url, management, regional, make_workspace, leak_guard)
    deployment, ws, baseline = fm._prepared(env, "update")
    crowd.bury(certificates=BURY, policies=BURY)
    baseline.certificates_before |= set(crowd.unrelated_certificates)
    before = ws.state_resource("maestro_consumer.c")["certificate_id"]
    assert crowd.certificate_page(before) > 1
    ws.apply()
    problems = fm.check_convergence(deployment, ws, "update", baseline, management, regional, leak_guard)
    assert not problems, problems
    consumer = ws.state_resource("maestro_consumer.c")
    assert consumer["certificate_id"] != before
    assert [p["certificate_id"] for p in consumer["previous_certificates"]] == [before]
    ws.destroy()


# ---------------------------------------------------------------- the server-policy check


def test_the_server_policy_check_finds_the_server_behind_the_crowd(crowd, emulator_url, management, regional,
                                                                   make_workspace, provider_preamble, leak_guard):
    """The consumer warns when no server of the account serves its topic prefix; the servers are
    found by listing every IoT policy. Here 300 policies newer than the server's put it on page
    2 of ListPolicies, with the 1,300 crowd policies on the pages after it: a consumer with another prefix is warned with that policy's
    name (it was found), one with the server's prefix is not warned."""
    env = environment(emulator_url, management, regional, make_workspace, leak_guard)
    deployment, ws, _ = fm._prepared(env, "delete")   # applied: the server identity exists
    server_policy = ws.state_resource("maestro_server_identity.s")["policy_name"]
    crowd.bury(policies=BURY)
    page = crowd.policy_page(server_policy)
    assert page > 1, f"the server's policy is on page {page} of ListPolicies: the case proves nothing"

    consumer_id = f"{deployment.prefix}-other"
    checker = make_workspace(f"{deployment.prefix}-check")

    def plan_with(prefix: str):
        checker.set_config(provider_preamble + hcl.resource("maestro_consumer", "probe", {
            "consumer_id": consumer_id, "csr_pem": new_csr(leak_guard, f"{consumer_id}-work-agent"),
            "management_account_id": MANAGEMENT_ACCOUNT_ID, "topic_prefix": prefix}, provider=REGIONAL))
        return checker.plan()

    checker.set_config(provider_preamble)
    checker.init()
    elsewhere = plan_with("sources/elsewhere/consumers")
    warned = elsewhere.result.output
    assert "Topic prefix served by no Maestro server" in warned, elsewhere.result.describe()
    assert server_policy in warned, f"the warning does not name {server_policy}:\n{warned}"
    served = plan_with("sources/maestro/consumers")
    assert "Topic prefix served by no Maestro server" not in served.result.output, served.result.describe()
    ws.destroy()


# ---------------------------------------------------------------- import, adoption and destroy


def test_the_oldest_crowd_consumer_is_imported_adopted_and_destroyed(crowd, regional, make_workspace,
                                                                      provider_preamble, leak_guard):
    """The first consumer the crowd made: its policy and its certificate are on the last pages.
    Import by `<consumer_id>,<account>`, adoption with a new certificate (the old one kept for its
    grace period), and a destroy that leaves none of its objects."""
    oldest = crowd.consumers[0]
    assert oldest.shape == "active"
    (old_certificate,) = oldest.certificates
    assert crowd.policy_page(oldest.policy_name) > 1 and crowd.certificate_page(old_certificate) > 1
    ws = make_workspace("import-oldest")
    ws.set_config(provider_preamble + hcl.resource("maestro_consumer", "oldest", {
        "consumer_id": oldest.consumer_id, "csr_pem": new_csr(leak_guard, f"{oldest.consumer_id}-work-agent"),
        "management_account_id": MANAGEMENT_ACCOUNT_ID}, provider=REGIONAL)
        + f'import {{\n  to = maestro_consumer.oldest\n  provider = {REGIONAL}\n'
          f'  id = {hcl.string(f"{oldest.consumer_id},{MANAGEMENT_ACCOUNT_ID}")}\n}}\n')
    ws.init()
    plan = ws.plan()
    change = plan.resource_change("maestro_consumer.oldest")["change"]
    assert change.get("importing") and change["actions"] == ["update"], plan.describe()
    assert change["before"]["certificate_id"] == old_certificate, change["before"]
    ws.apply()
    ws.assert_plan_empty()
    state = ws.state_resource("maestro_consumer.oldest")
    assert [p["certificate_id"] for p in state["previous_certificates"]] == [old_certificate]

    iot = regional.client("iot")
    ws.destroy()
    for certificate_id in (old_certificate, state["certificate_id"]):
        assert crowd.certificate_page(certificate_id) == 0, f"certificate {certificate_id} left behind"
    assert crowd.policy_page(oldest.policy_name) == 0, f"{oldest.policy_name} left behind"
    things = [t["thingName"] for page in iot.get_paginator("list_things").paginate() for t in page["things"]]
    assert oldest.thing_name not in things and crowd.consumers[1].thing_name in things
    crowd.consumers.remove(oldest)


# ---------------------------------------------------------------- terraform query


@full_run_only
@terraform_only
def test_query_finds_every_object_exactly_once_past_the_first_page(crowd, emulator_url, management, regional,
                                                                    make_workspace, provider_preamble, leak_guard):
    """`terraform query` of each list resource: maestro_consumer over 1,300+ policies (six pages
    of ListPolicies): every crowd consumer found, none twice, the unrelated policies not at all;
    maestro_server_identity and maestro_agent_identity by their roles, each put past the first
    page of ListRoles (1,000 a page) in its account by unrelated roles."""
    env = environment(emulator_url, management, regional, make_workspace, leak_guard)
    deployment, ws, _ = fm._prepared(env, "delete")
    server_role = ws.state_resource("maestro_server_identity.s")["role_name"]
    agent_role = ws.state_resource("maestro_agent_identity.x")["role_name"]
    for account, role in ((regional, server_role), (management, agent_role)):
        print(f"roles before {role}: {crowd.bury_role(account, role).line()}")
        assert role_page(account, role) > 1

    finder = make_workspace("query")
    finder.set_config(provider_preamble)
    qa.write_query(finder,
                   qa.list_block("maestro_consumer", "crowd", REGIONAL, {"name_prefix": "crowd-"},
                                 include_resource=False, limit=CONSUMERS * 2),
                   qa.list_block("maestro_server_identity", "servers", REGIONAL, {"name_prefix": deployment.prefix},
                                 include_resource=False),
                   qa.list_block("maestro_agent_identity", "agents", "maestro.management",
                                 {"name_prefix": deployment.prefix}, include_resource=False))
    finder.init()
    found = qa.query(finder)
    assert not found.diagnostics(), found.diagnostics()
    ids = [f.identity["consumer_id"] for f in found.found_by("list.maestro_consumer.crowd")]
    expected = {c.consumer_id for c in crowd.consumers}
    assert len(ids) == len(set(ids)), f"found twice: {sorted({i for i in ids if ids.count(i) > 1})[:10]}"
    assert set(ids) == expected, f"missing {sorted(expected - set(ids))[:10]}, extra {sorted(set(ids) - expected)[:10]}"
    assert [f.identity for f in found.found_by("list.maestro_server_identity.servers")] == [
        {"name": deployment.server_name}], found.result.stdout[-2000:]
    assert [f.identity for f in found.found_by("list.maestro_agent_identity.agents")] == [
        {"cluster_id": deployment.cluster_id}], found.result.stdout[-2000:]
    ws.destroy()
