"""Key custody that holds in a shared account (issue 21).

The names of the provider's key-bearing secrets are predictable: `<cluster_id>/maestro/agent-mqtt-cert`
for `maestro_agent_key` in the management account, `maestro/server-cert` for
`maestro_server_identity` in the regional account. Anyone else who may create secrets there can
prepare one of that name for the provider to write a private key into: with a resource policy
letting another account read it, under a KMS key they own, replicated to a region they watch,
or scheduled for deletion; with the provider's own description; and, having read the
provider's source, with its custody proof for a key they chose (harness/custody.py).

Every test here plants or tampers with boto3, runs the real CLI, and then checks three things
the provider promises:
- the apply (or plan) fails with the diagnostic that says why, pinned to the attribute that
  names the secret, and naming what was found;
- no key byte went anywhere: every version of every secret of both accounts, deleted ones
  included (read from the emulator, harness/custody.py), is compared with a snapshot from
  before the command, and no new or rewritten version outside the secrets the state owns holds
  private-key material; the planted secret is exactly as planted;
- state, plans, CLI output and trace logs hold no key (the leak guard, which also knows the
  planted key).

1. planted under the predicted name, in both accounts: a policy, a customer KMS key, a replica
   (each with a forged proof), scheduled for deletion, the description without a proof; and
   destroy after such a refused create leaves the planted secret alone;
2. the proof the provider writes is the one harness/custody.py computes (so the forgeries are
   real ones);
3. a forged proof must not hand the server, or the agent, a key someone else chose;
4. a policy or replica put on a live secret stops the next plan, a rotation, and the identity's
   promotion of the bundle;
5. a secret the state records, deleted out of band, is restored by the next apply;
6. a resource policy the user declares (`secret_resource_policy`, `certificate_secret_resource_policy`)
   is put on the secret and accepted there, and only that one: another in its place stops the
   plan, one removed is planned back, a change goes on before a rotated key, one AWS refuses
   leaves no key behind, and the identity promotes the bundle only when told of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from harness import aws_inspect, hcl
from harness import credentials as creds
from harness import custody
from harness import server_identity as si
from harness.aws_accounts import AwsAccount
from harness.bad_input import Diagnostic, streamed_diagnostics
from harness.faults import Faults
from harness.leak_check import assert_no_leaks
from harness.tofu_workspace import TofuWorkspace

pytestmark = pytest.mark.acceptance

AGENT = "maestro_agent_key.k"
SERVER = "maestro_server_identity.server"
NOT_IN_CUSTODY = "not in the provider's custody"
ALREADY_EXISTS = "Secret already exists"
SCHEDULED_FOR_DELETION = "Secret scheduled for deletion"
REGIONAL_EKS = "custody-eks"


# ---------------------------------------------------------------- configuration


def agent_block(cluster_id: str, generation: str = "1", **extra: Any) -> str:
    """The agent key, its secret named explicitly (the name it would predict anyway) so a
    diagnostic pinned to `secret_name` points at that line."""
    return hcl.resource("maestro_agent_key", "k", {
        "cluster_id": cluster_id, "secret_name": custody.agent_secret_name(cluster_id),
        "rotation_triggers": {"generation": generation}, "force_delete_without_recovery": True, **extra},
        provider="maestro.management")


def server_block(name: str, cert_secret: str, generation: str = "1", **extra: Any) -> str:
    return hcl.resource("maestro_server_identity", "server", {
        "name": name, "eks_cluster_name": REGIONAL_EKS,
        "certificate_secret_name": cert_secret, "config_secret_name": f"{name}/server-config",
        "rotation_triggers": {"generation": generation}, "force_delete_without_recovery": True, **extra},
        provider="maestro.regional")


@dataclass
class Target:
    """A key-bearing secret one resource writes, in the account it lives in."""
    kind: str               # "agent" or "server"
    account: AwsAccount
    owner: str              # the agent's cluster ID, the server's name
    secret_name: str
    address: str
    attribute: str          # the argument that names the secret
    description: str

    def block(self, generation: str = "1") -> str:
        if self.kind == "agent":
            return agent_block(self.owner, generation)
        return server_block(self.owner, self.secret_name, generation)

    @property
    def other_secrets(self) -> list[str]:
        """The resource's other secrets, which it may create before failing."""
        return [f"{self.owner}/server-config"] if self.kind == "server" else []


def agent_target(management: AwsAccount, cluster_id: str) -> Target:
    return Target("agent", management, cluster_id, custody.agent_secret_name(cluster_id), AGENT, "secret_name",
                  custody.agent_description(cluster_id))


def server_target(regional: AwsAccount, name: str, cert_secret: str = si.DEFAULT_CERT_SECRET) -> Target:
    return Target("server", regional, name, cert_secret, SERVER, "certificate_secret_name", custody.server_description(name))


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def planted(management: AwsAccount, regional: AwsAccount) -> Iterator[Callable[[AwsAccount, str], None]]:
    """Secrets registered here are purged (policy, replicas, the secret) after the test; set up
    before the workspaces, so this runs after their teardown destroy."""
    names: list[tuple[AwsAccount, str]] = []

    def register(account: AwsAccount, name: str) -> None:
        names.append((account, name))

    yield register
    for account, name in reversed(names):
        custody.purge(account, name)


@pytest.fixture
def workspace(planted, config_workspace) -> Callable[..., TofuWorkspace]:
    return config_workspace


@pytest.fixture
def exposures(workspace) -> Iterator[Callable[[AwsAccount, str], None]]:
    """Secrets a test exposes (policy, replica) on purpose; taken off again after the test but
    before the workspaces' teardown destroy, whose refresh would otherwise refuse them."""
    exposed: list[tuple[AwsAccount, str]] = []

    def register(account: AwsAccount, arn: str) -> None:
        exposed.append((account, arn))

    yield register
    for account, arn in exposed:
        custody.undo_exposure(account, arn)


@pytest.fixture
def regional_eks(regional: AwsAccount) -> str:
    aws_inspect.create_eks_cluster(regional, REGIONAL_EKS)
    return REGIONAL_EKS


# ---------------------------------------------------------------- checks


def attribute_line(ws: TofuWorkspace, attribute: str) -> int:
    lines = (ws.root / "main.tf").read_text().splitlines()
    matches = [n for n, line in enumerate(lines, start=1) if re.match(rf"\s*{re.escape(attribute)}\s*=", line)]
    assert len(matches) == 1, f"{attribute} set {len(matches)} times in main.tf"
    return matches[0]


def refusal(ws: TofuWorkspace, args: list[str], summary: str, attribute: str) -> Diagnostic:
    """Runs a command that must fail (with -json) and returns its error whose summary contains
    `summary`, after checking it is pinned to `attribute`'s line in the configuration."""
    result = ws.run(*args, "-json", expect_exit=None)
    assert result.exit_code != 0, f"expected a failure: {result.describe()}"
    errors = [d for d in streamed_diagnostics(result.stdout) if d.severity == "error"]
    found = [d for d in errors if summary in d.summary]
    assert found, f"no error with summary {summary!r}; errors: {[d.describe() for d in errors]}\n{result.describe()}"
    line = attribute_line(ws, attribute)
    assert found[0].covers(line), f"{found[0].describe()} is not pinned to {attribute} (line {line})"
    return found[0]


def apply_refused(ws: TofuWorkspace, summary: str, attribute: str, *extra: str) -> Diagnostic:
    return refusal(ws, ["apply", "-auto-approve", "-input=false", "-no-color", *extra], summary, attribute)


def plan_refused(ws: TofuWorkspace, summary: str, attribute: str) -> Diagnostic:
    return refusal(ws, ["plan", "-input=false", "-no-color"], summary, attribute)


def assert_no_key_written(emulator_url: str, before: custody.AtRest, ws: TofuWorkspace, *, never: set[str],
                          guard: Any) -> custody.AtRest:
    """No version written since `before` holds a key, except in a secret the state owns (and
    the secrets in `never` are not the state's to own); nothing in the workspace holds one."""
    after = custody.at_rest(emulator_url)
    owned = custody.state_secret_arns(ws.state_resources())
    taken = owned & never
    assert not taken, f"the state records a secret that is not the resource's: {sorted(taken)}"
    found = custody.new_key_material(before, after, owned)
    assert not found, "private-key material was written outside the state's own secrets:\n  " + "\n  ".join(found)
    assert_no_leaks(guard.scan(), context="in the workspace")
    return after


def assert_untouched(before: custody.AtRest, after: custody.AtRest, arn: str) -> None:
    assert after.of_secret(arn) == before.of_secret(arn), \
        f"the versions of {arn} changed: {sorted(before.of_secret(arn))} -> {sorted(after.of_secret(arn))}"


def detail_names(diagnostic: Diagnostic, *fragments: str) -> None:
    for fragment in fragments:
        assert fragment in diagnostic.text, f"{fragment!r} not named in {diagnostic.describe()}"


# ---------------------------------------------------------------- 1. planted under the predicted name


CONDITIONS = ("policy", "kms", "replica", "deleted", "no-proof")


@dataclass
class Plant:
    target: Target
    condition: str
    arn: str
    foreign: custody.ForeignKey
    kms_key: str | None
    versions: dict[str, list[str]]


def plant_under_the_predicted_name(target: Target, condition: str, planted, leak_guard) -> Plant:
    """Someone else creates the secret first, with the provider's exact description and a key
    of their own in it. For a policy, a KMS key or a replica they also forge the custody proof
    (the proof is keyed with the key in the version, which they chose), so nothing but custody
    stands between the provider's key and their secret."""
    foreign = custody.ForeignKey.generate()
    leak_guard.register_secret(foreign.private_key_pem, "the planted (foreign) private key")
    bundle = foreign.bundle()
    planted(target.account, target.secret_name)
    for name in target.other_secrets:
        planted(target.account, name)
    kms_key = custody.create_customer_key(target.account) if condition == "kms" else None
    token = None if condition == "no-proof" else custody.proof_token(bundle, target.secret_name, target.owner)
    arn = custody.plant(target.account, target.secret_name, target.description, bundle, token=token, kms_key_id=kms_key)
    if condition == "policy":
        custody.put_policy(target.account, arn)
    elif condition == "replica":
        custody.replicate(target.account, arn)
    elif condition == "deleted":
        custody.schedule_deletion(target.account, arn)
    return Plant(target, condition, arn, foreign, kms_key, custody.versions(target.account, arn))


def planted_target(side: str, condition: str, management: AwsAccount, regional: AwsAccount) -> Target:
    owner = f"custody-{side[:3]}-{condition}"
    return agent_target(management, owner) if side == "management" else server_target(regional, owner)


def expected_refusal(condition: str) -> str:
    return {"deleted": SCHEDULED_FOR_DELETION, "no-proof": ALREADY_EXISTS}.get(condition, NOT_IN_CUSTODY)


@pytest.mark.parametrize("condition", CONDITIONS)
@pytest.mark.parametrize("side", ["management", "regional"])
def test_a_secret_planted_under_the_predicted_name_gets_no_key(
        side, condition, planted, workspace, management, regional, regional_eks, emulator_url, leak_guard):
    target = planted_target(side, condition, management, regional)
    plant = plant_under_the_predicted_name(target, condition, planted, leak_guard)
    arn = plant.arn
    certificates_before = si.all_certificate_ids(regional)
    before = custody.at_rest(emulator_url)

    ws = workspace(target.block())
    refused = apply_refused(ws, expected_refusal(condition), target.attribute)
    detail_names(refused, target.secret_name)
    if condition == "policy":
        detail_names(refused, custody.OTHER_PRINCIPAL)
    elif condition == "kms":
        detail_names(refused, plant.kms_key.rsplit("/", 1)[-1])
    elif condition == "replica":
        detail_names(refused, custody.REPLICA_REGION)

    after = assert_no_key_written(emulator_url, before, ws, never={arn}, guard=leak_guard)
    assert_untouched(before, after, arn)
    assert custody.versions(target.account, arn) == plant.versions
    described = target.account.secretsmanager.describe_secret(SecretId=arn)
    if condition == "policy":
        assert custody.resource_policy(target.account, arn) is not None, "the planted policy is gone"
    elif condition == "kms":
        assert described.get("KmsKeyId") == plant.kms_key
    elif condition == "replica":
        assert [r["Region"] for r in described["ReplicationStatus"]] == [custody.REPLICA_REGION]
    elif condition == "deleted":
        assert described.get("DeletedDate") is not None, "someone else's secret, scheduled for deletion, was restored"
    # No certificate was issued: the server's key had nowhere safe to go, and nobody's key
    # (the planted one least of all) got the server's identity.
    assert si.all_certificate_ids(regional) == certificates_before
    if target.kind == "agent":
        assert AGENT not in ws.state_resources(), "a refused create left the agent key in state"


@pytest.mark.parametrize("condition", ["no-proof", "deleted", "replica"])
@pytest.mark.parametrize("side", ["management", "regional"])
def test_destroy_after_a_refused_create_leaves_the_planted_secret_alone(
        side, condition, planted, workspace, management, regional, regional_eks, leak_guard):
    """Whatever a refused create left in state is destroyed without the secret it was refused:
    that secret was never the resource's, so destroy neither deletes it (at once, or by
    scheduling it) nor fails on it (a replicated secret cannot be deleted)."""
    target = planted_target(side, condition, management, regional)
    plant = plant_under_the_predicted_name(target, condition, planted, leak_guard)
    ws = workspace(target.block())
    apply_refused(ws, expected_refusal(condition), target.attribute)
    destroyed = ws.run("destroy", "-auto-approve", "-input=false", "-no-color", expect_exit=None)
    remaining = si.describe_secret(target.account, plant.arn)
    assert remaining is not None, f"destroy deleted someone else's secret {target.secret_name}\n{destroyed.describe()}"
    assert (remaining.get("DeletedDate") is not None) == (condition == "deleted"), \
        f"destroy scheduled someone else's secret {target.secret_name} for deletion\n{destroyed.describe()}"
    assert custody.versions(target.account, plant.arn) == plant.versions
    assert destroyed.exit_code == 0, destroyed.describe()


# ---------------------------------------------------------------- 2. the proof the provider writes


@pytest.mark.parametrize("kind", ["agent", "server"])
def test_the_provider_proves_its_key_versions_as_the_harness_computes(
        kind, planted, workspace, management, regional, regional_eks, emulator_url, leak_guard):
    """Each key-bearing version the provider writes has the custody proof as its version ID
    (what harness/custody.py forges for the planted secrets above, checked here against the
    real thing)."""
    target = agent_target(management, "custody-proof") if kind == "agent" else \
        server_target(regional, "custody-proof", "custody-proof/server-cert")
    planted(target.account, target.secret_name)
    for name in target.other_secrets:
        planted(target.account, name)
    before = custody.at_rest(emulator_url)
    ws = workspace(target.block())
    ws.apply()
    state = ws.state_resource(target.address)
    arn = state["secret_arn"] if kind == "agent" else state["certificate_secret_arn"]
    version = state["key_version_id"] if kind == "agent" else state["credential_version_id"]
    # The at-rest scan the other tests rely on sees this key, and only in the state's secret.
    written = custody.new_key_material(before, custody.at_rest(emulator_url))
    assert written and all(target.secret_name in line for line in written), written
    assert custody.new_key_material(before, custody.at_rest(emulator_url), custody.state_secret_arns(ws.state_resources())) == []
    bundle = creds.read_bundle(target.account, arn, guard=leak_guard)
    assert bundle is not None and bundle.version_id == version
    assert version == custody.proof_token(bundle.raw, target.secret_name, target.owner), \
        "the version ID is not the custody proof harness/custody.py computes (src/resources/aws/custody/proof.rs changed?)"
    # The proof binds the owner and the secret name.
    assert version != custody.proof_token(bundle.raw, target.secret_name, target.owner + "x")
    assert version != custody.proof_token(bundle.raw, target.secret_name + "x", target.owner)


# ---------------------------------------------------------------- 3. a proof anyone who picks the key can make


def test_a_forged_proof_does_not_give_the_server_someone_elses_key(
        planted, workspace, regional, regional_eks, emulator_url, leak_guard):
    """Someone else plants `maestro/server-cert` holding a key they know, with the proof for it
    (nothing else: the secret is in custody), and registers a certificate for that key in IoT
    Core, attached to nothing. That is exactly what a server create cut short leaves behind, and
    what the next create takes back; taken back here, the Maestro server would run on a key
    someone else holds, and their certificate would carry the server's IoT policy."""
    name = "custody-forged"
    target = server_target(regional, name)
    foreign = custody.ForeignKey.generate()
    leak_guard.register_secret(foreign.private_key_pem, "the planted (foreign) private key")
    planted(regional, target.secret_name)
    planted(regional, f"{name}/server-config")
    bundle = foreign.bundle()
    arn = custody.plant(regional, target.secret_name, target.description, bundle,
                        token=custody.proof_token(bundle, target.secret_name, name))
    theirs = si.iot(regional).create_certificate_from_csr(
        certificateSigningRequest=foreign.csr_pem(f"{name}-maestro-server"), setAsActive=True)
    try:
        ws = workspace(target.block())
        result = ws.run("apply", "-auto-approve", "-input=false", "-no-color", expect_exit=None)
        state = ws.state_resources().get(SERVER, {})
        policy = si.policy_name(name)
        attached = si.attached_policy_names(regional, theirs["certificateArn"])
        assert policy not in attached, \
            f"the server's IoT policy was attached to the certificate someone else holds the key of\n{result.describe()}"
        assert state.get("certificate_id") != theirs["certificateId"], "the server took up someone else's certificate"
        assert state.get("public_key_fingerprint") != foreign.fingerprint, "the server's key is someone else's"
        if result.exit_code == 0:
            current = creds.read_bundle(regional, state["certificate_secret_arn"], guard=leak_guard)
            assert current.key_fingerprint != foreign.fingerprint, "the server's bundle holds someone else's key"
        # Nothing is left ACTIVE that state does not record: the planted certificate, attached
        # to nothing but what the create would have attached, is retired, not taken up.
        still = [c for c in aws_inspect.every_item(si.iot(regional), "list_certificates", "certificates")
                 if c["certificateId"] == theirs["certificateId"]]
        assert not still or still[0]["status"] != "ACTIVE", "the planted certificate was left ACTIVE"
    finally:
        iot = si.iot(regional)
        try:
            for policy_name in si.attached_policy_names(regional, theirs["certificateArn"]):
                iot.detach_policy(policyName=policy_name, target=theirs["certificateArn"])
            iot.update_certificate(certificateId=theirs["certificateId"], newStatus="INACTIVE")
            iot.delete_certificate(certificateId=theirs["certificateId"], forceDelete=True)
        except iot.exceptions.ResourceNotFoundException:
            pass  # retired by the provider


def test_a_key_staged_with_a_forged_proof_is_not_taken_as_the_agents_key(
        planted, workspace, management, emulator_url, leak_guard):
    """Someone who may put versions in the live credential secret stages a key they know as
    AWSPENDING, with the proof for it, as the `maestro_rotate_agent_key` action would. Taken up
    by the next refresh, its CSR would go to the consumer, and the agent's certificate would
    certify their key."""
    target = agent_target(management, "custody-staged")
    planted(management, target.secret_name)
    ws = workspace(target.block())
    ws.apply()
    before = ws.state_resource(AGENT)
    foreign = custody.ForeignKey.generate()
    leak_guard.register_secret(foreign.private_key_pem, "the staged (foreign) private key")
    bundle = {**foreign.bundle(), "caCert": creds.read_bundle(management, before["secret_arn"], guard=leak_guard).raw["caCert"]}
    management.secretsmanager.put_secret_value(
        SecretId=before["secret_arn"], SecretString=json.dumps(bundle), VersionStages=["AWSPENDING"],
        ClientRequestToken=custody.proof_token(bundle, target.secret_name, target.owner))

    ws.run("apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color", expect_exit=None)
    after = ws.state_resource(AGENT)
    assert after["public_key_fingerprint"] != foreign.fingerprint, "the agent's key is now someone else's"
    assert creds.csr_fingerprint(after["csr_pem"]) != foreign.fingerprint, "the agent's CSR is for someone else's key"


# ---------------------------------------------------------------- 4. custody lost on a live secret


@pytest.mark.parametrize("exposure", ["policy", "replica"])
@pytest.mark.parametrize("kind", ["agent", "server"])
def test_custody_lost_on_a_live_secret_stops_the_plan_and_the_rotation(
        kind, exposure, planted, workspace, exposures, provider_preamble, management, regional, regional_eks,
        emulator_url, leak_guard):
    owner = f"custody-live-{exposure}"
    target = agent_target(management, owner) if kind == "agent" else \
        server_target(regional, owner, f"{owner}/server-cert")
    planted(target.account, target.secret_name)
    for name in target.other_secrets:
        planted(target.account, name)
    ws = workspace(target.block("1"))
    ws.apply()
    state = ws.state_resource(target.address)
    arn = state["secret_arn"] if kind == "agent" else state["certificate_secret_arn"]
    creds.read_bundle(target.account, arn, guard=leak_guard)
    exposures(target.account, arn)
    if exposure == "policy":
        custody.put_policy(target.account, arn)
        finding = custody.OTHER_PRINCIPAL
    else:
        custody.replicate(target.account, arn)
        finding = custody.REPLICA_REGION

    # Refresh sees it: the plan stops, naming what was found.
    refused = plan_refused(ws, NOT_IN_CUSTODY, target.attribute)
    detail_names(refused, target.secret_name, finding)

    # A rotation planned without that refresh does not stage its key there.
    versions = custody.versions(target.account, arn)
    certificates = si.all_certificate_ids(regional)
    before = custody.at_rest(emulator_url)
    ws.set_config(provider_preamble + target.block("2"))
    refused = apply_refused(ws, NOT_IN_CUSTODY, target.attribute, "-refresh=false")
    detail_names(refused, target.secret_name, finding)
    assert custody.versions(target.account, arn) == versions, "the rotation wrote a version into the exposed secret"
    assert_untouched(before, assert_no_key_written(emulator_url, before, ws, never=set(), guard=leak_guard), arn)
    assert si.all_certificate_ids(regional) == certificates, "a certificate was issued for a key with nowhere safe to go"

    # Taken off again, the rotation goes ahead.
    custody.undo_exposure(target.account, arn)
    plan = ws.plan()
    assert plan.actions() == {target.address: ["update"]}, plan.describe()
    if kind == "agent":
        ws.apply()
        ws.assert_plan_empty()
        rotated = ws.state_resource(AGENT)
        assert rotated["public_key_fingerprint"] != state["public_key_fingerprint"]
        staged = creds.read_bundle(management, arn, "AWSPENDING", guard=leak_guard)
        assert staged is not None and staged.version_id == rotated["key_version_id"]


def test_the_identity_does_not_promote_the_bundle_into_an_exposed_secret(
        planted, workspace, exposures, management, regional, make_eks_cluster, emulator_url, leak_guard):
    """`maestro_agent_identity` re-writes the key with its certificate into the credential
    secret: that write is refused too once the secret is exposed (here the identity is applied
    on its own, without the refresh that would stop the plan first)."""
    cluster_id = "custody-promote"
    eks = make_eks_cluster("custody-promote-eks")
    planted(management, custody.agent_secret_name(cluster_id))
    planted(management, f"{cluster_id}/maestro/agent-config")
    consumer = hcl.resource("maestro_consumer", "c", {
        "consumer_id": cluster_id, "csr_pem": hcl.Raw("maestro_agent_key.k.csr_pem"),
        "management_account_id": management.account_id}, provider="maestro.regional")
    identity = hcl.resource("maestro_agent_identity", "x", {
        "cluster_id": cluster_id, "regional_account_id": regional.account_id, "eks_cluster_name": eks,
        "mqtt_cert_secret_name": hcl.Raw("maestro_agent_key.k.secret_name"),
        "broker_endpoint": hcl.Raw("maestro_consumer.c.endpoint"),
        "certificate_pem": hcl.Raw("maestro_consumer.c.certificate_pem")}, provider="maestro.management")
    ws = workspace(agent_block(cluster_id), consumer, identity)
    ws.apply("-target=maestro_consumer.c")
    key = ws.state_resource(AGENT)
    arn = key["secret_arn"]
    creds.read_bundle(management, arn, guard=leak_guard)
    exposures(management, arn)
    custody.put_policy(management, arn)
    versions = custody.versions(management, arn)
    before = custody.at_rest(emulator_url)

    refused = apply_refused(ws, NOT_IN_CUSTODY, "mqtt_cert_secret_name", "-refresh=false", "-target=maestro_agent_identity.x")
    detail_names(refused, key["secret_name"], custody.OTHER_PRINCIPAL)
    assert custody.versions(management, arn) == versions, "the identity wrote a version into the exposed secret"
    after = assert_no_key_written(emulator_url, before, ws, never=set(), guard=leak_guard)
    assert_untouched(before, after, arn)
    current = creds.read_bundle(management, arn, guard=leak_guard)
    assert current.certificate is None, "a bundle with the certificate was promoted into the exposed secret"

    # Taken off again, the identity promotes the bundle.
    custody.undo_exposure(management, arn)
    ws.apply()
    promoted = creds.assert_current_coherent(management, arn, guard=leak_guard)
    assert promoted is not None and promoted.certificate and promoted.key_fingerprint == key["public_key_fingerprint"]


# ---------------------------------------------------------------- 5. a recorded secret deleted out of band


def test_a_recorded_secret_deleted_out_of_band_is_restored_by_the_next_apply(
        planted, workspace, management, emulator_url, leak_guard):
    """The state's ARN (unique to the secret the resource made) is what makes it the resource's:
    the next apply restores it and stages a new key (a rotation), instead of planning a create
    that a secret scheduled for deletion would refuse."""
    target = agent_target(management, "custody-restore")
    planted(management, target.secret_name)
    ws = workspace(target.block())
    ws.apply()
    first = ws.state_resource(AGENT)
    current = creds.read_bundle(management, first["secret_arn"], guard=leak_guard)
    custody.schedule_deletion(management, first["secret_arn"])

    plan = ws.assert_plan_changes({AGENT: "update"})
    assert plan.resource_change(AGENT)["change"]["after_unknown"].get("csr_pem") is True, plan.describe()
    ws.apply()
    ws.assert_plan_empty()
    second = ws.state_resource(AGENT)
    assert second["secret_arn"] == first["secret_arn"], "the recorded secret was not the one restored"
    assert creds.deletion_scheduled(management, second["secret_arn"]) is None, "the secret is still scheduled for deletion"
    assert second["public_key_fingerprint"] != first["public_key_fingerprint"]
    staged = creds.read_bundle(management, second["secret_arn"], "AWSPENDING", guard=leak_guard)
    assert staged is not None and staged.version_id == second["key_version_id"]
    assert staged.key_fingerprint == second["public_key_fingerprint"]
    still = creds.read_bundle(management, second["secret_arn"], guard=leak_guard)
    assert still.version_id == current.version_id, "what the restored secret served is no longer current"


# ---------------------------------------------------------------- 6. a resource policy the user declared


# The attribute that declares the key-bearing secret's resource policy, per kind of target.
POLICY_ATTRIBUTE = {"agent": "secret_resource_policy", "server": "certificate_secret_resource_policy"}
DIFFERENT_POLICY = "other than the one declared"


def declared_policy(account: AwsAccount, reader: str = "maestro-secret-reader") -> dict[str, Any]:
    """What a user declares: the secret readable by a named role of the same account."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "NamedReader", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account.account_id}:role/{reader}"},
        "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], "Resource": "*"}]}


def rendered_by_aws(policy: dict[str, Any]) -> str:
    """The same policy written another way (as AWS may hand it back): keys in another order, the
    lone statement without its list, the actions in another order, the principal as a list."""
    statement = policy["Statement"][0]
    return json.dumps({"Statement": {
        "Resource": [statement["Resource"]], "Action": list(reversed(statement["Action"])),
        "Principal": {"AWS": [statement["Principal"]["AWS"]]}, "Effect": statement["Effect"], "Sid": statement["Sid"]},
        "Version": policy["Version"]}, indent=2)


def policy_argument(policy: dict[str, Any]) -> hcl.Raw:
    return hcl.Raw(f"jsonencode({hcl.value(policy)})")


def declaring_block(target: Target, policy: dict[str, Any] | None, generation: str = "1") -> str:
    extra = {POLICY_ATTRIBUTE[target.kind]: policy_argument(policy)} if policy is not None else {}
    if target.kind == "agent":
        return agent_block(target.owner, generation, **extra)
    return server_block(target.owner, target.secret_name, generation, **extra)


def secret_arn(target: Target, state: dict[str, Any]) -> str:
    return state["secret_arn"] if target.kind == "agent" else state["certificate_secret_arn"]


def key_version(target: Target, state: dict[str, Any]) -> str:
    return state["key_version_id"] if target.kind == "agent" else state["credential_version_id"]


def policy_on(account: AwsAccount, arn: str) -> dict[str, Any] | None:
    found = custody.resource_policy(account, arn)
    return json.loads(found) if found is not None else None


def declaring_target(kind: str, owner: str, management: AwsAccount, regional: AwsAccount, planted) -> Target:
    target = agent_target(management, owner) if kind == "agent" else server_target(regional, owner, f"{owner}/server-cert")
    planted(target.account, target.secret_name)
    for name in target.other_secrets:
        planted(target.account, name)
    return target


@pytest.fixture
def faults(emulator_url):
    armed = Faults(emulator_url)
    yield armed
    armed.clear()


def refuse_policies(faults, count: int = 1) -> None:
    """What PutResourcePolicy with BlockPublicPolicy answers for a policy that allows broad
    access (the emulator, moto 5.2.5, ignores BlockPublicPolicy: this stands in for it)."""
    faults.arm("secretsmanager", "PutResourcePolicy", count=count, code="PublicPolicyException",
               message="This resource policy contains a statement that allows broad access (injected by the test)")


@pytest.mark.parametrize("kind", ["agent", "server"])
def test_a_declared_policy_is_put_on_the_secret_and_the_key_written(
        kind, planted, workspace, management, regional, regional_eks, emulator_url, leak_guard):
    """The declared policy is on the key-bearing secret after the create, the key is in it with
    its proof, and the plan that follows is empty, also once AWS hands the policy back written
    another way. The server's config secret, which holds no key, gets no policy."""
    target = declaring_target(kind, f"custody-declared-{kind[:3]}", management, regional, planted)
    policy = declared_policy(target.account)
    before = custody.at_rest(emulator_url)
    ws = workspace(declaring_block(target, policy))
    ws.apply()
    state = ws.state_resource(target.address)
    arn = secret_arn(target, state)
    assert policy_on(target.account, arn) == policy, "the declared policy is not the secret's"
    assert json.loads(state[POLICY_ATTRIBUTE[target.kind]]) == policy
    bundle = creds.read_bundle(target.account, arn, guard=leak_guard)
    assert bundle is not None and bundle.version_id == key_version(target, state)
    assert bundle.version_id == custody.proof_token(bundle.raw, target.secret_name, target.owner)
    assert_no_key_written(emulator_url, before, ws, never=set(), guard=leak_guard)
    if kind == "server":
        assert custody.resource_policy(regional, state["config_secret_arn"]) is None, "the config secret got a policy"
    ws.assert_plan_empty()

    # The same policy, as AWS may render it: neither drift nor a custody finding.
    target.account.secretsmanager.put_resource_policy(SecretId=arn, ResourcePolicy=rendered_by_aws(policy))
    ws.assert_plan_empty()


@pytest.mark.parametrize("kind", ["agent", "server"])
def test_a_different_policy_put_out_of_band_stops_the_plan(
        kind, planted, workspace, exposures, provider_preamble, management, regional, regional_eks, emulator_url,
        leak_guard):
    """Declaring a policy accepts that one only: another put in its place (here one letting in
    another account) stops the plan as any policy did before, naming whom it lets in, and a
    rotation applied without that refresh writes no key there."""
    target = declaring_target(kind, f"custody-swapped-{kind[:3]}", management, regional, planted)
    ws = workspace(declaring_block(target, declared_policy(target.account)))
    ws.apply()
    arn = secret_arn(target, ws.state_resource(target.address))
    creds.read_bundle(target.account, arn, guard=leak_guard)
    exposures(target.account, arn)
    custody.put_policy(target.account, arn)

    refused = plan_refused(ws, NOT_IN_CUSTODY, target.attribute)
    detail_names(refused, target.secret_name, DIFFERENT_POLICY, custody.OTHER_PRINCIPAL)

    versions = custody.versions(target.account, arn)
    before = custody.at_rest(emulator_url)
    ws.set_config(provider_preamble + declaring_block(target, declared_policy(target.account), "2"))
    refused = apply_refused(ws, NOT_IN_CUSTODY, target.attribute, "-refresh=false")
    detail_names(refused, custody.OTHER_PRINCIPAL)
    assert custody.versions(target.account, arn) == versions, "the rotation wrote a version into the secret"
    assert_untouched(before, assert_no_key_written(emulator_url, before, ws, never=set(), guard=leak_guard), arn)
    assert policy_on(target.account, arn)["Statement"][0]["Principal"]["AWS"] == custody.OTHER_PRINCIPAL, \
        "the foreign policy was overwritten: whoever put it is no longer seen"


@pytest.mark.parametrize("kind", ["agent", "server"])
def test_a_declared_policy_removed_out_of_band_is_planned_back(
        kind, planted, workspace, management, regional, regional_eks, leak_guard):
    target = declaring_target(kind, f"custody-removed-{kind[:3]}", management, regional, planted)
    policy = declared_policy(target.account)
    ws = workspace(declaring_block(target, policy))
    ws.apply()
    first = ws.state_resource(target.address)
    arn = secret_arn(target, first)
    target.account.secretsmanager.delete_resource_policy(SecretId=arn)

    plan = ws.assert_plan_changes({target.address: "update"}, {target.address: {POLICY_ATTRIBUTE[kind]}})
    change = plan.resource_change(target.address)["change"]
    assert change["before"][POLICY_ATTRIBUTE[kind]] is None, plan.describe()
    assert not (change.get("after_unknown") or {}).get("public_key_fingerprint"), "putting the policy back rotates the key"
    ws.apply()
    assert policy_on(target.account, arn) == policy, "the declared policy was not put back"
    ws.assert_plan_empty()
    after = ws.state_resource(target.address)
    assert key_version(target, after) == key_version(target, first), "putting the policy back wrote a key"


def test_the_declared_policy_changes_in_place_and_goes_before_a_rotated_key(
        planted, workspace, provider_preamble, management, emulator_url, faults, leak_guard):
    """Changing the declared policy is an in-place update (PutResourcePolicy), removing it
    deletes it; added with a rotation in the same apply, it is on the secret before the new key
    is written: refused by AWS, the apply fails on the policy's line with no key written."""
    target = declaring_target("agent", "custody-changed", management, management, planted)
    first, second = declared_policy(management), declared_policy(management, "maestro-other-reader")
    ws = workspace(declaring_block(target, first))
    ws.apply()
    state = ws.state_resource(AGENT)
    arn = state["secret_arn"]

    ws.set_config(provider_preamble + declaring_block(target, second))
    ws.assert_plan_changes({AGENT: "update"}, {AGENT: {"secret_resource_policy"}})
    ws.apply()
    assert policy_on(management, arn) == second
    ws.assert_plan_empty()

    ws.set_config(provider_preamble + declaring_block(target, None))
    ws.assert_plan_changes({AGENT: "update"}, {AGENT: {"secret_resource_policy"}})
    ws.apply()
    assert policy_on(management, arn) is None, "the policy no longer declared is still on the secret"
    ws.assert_plan_empty()

    # Declared again together with a rotation, and refused by AWS: nothing is written.
    versions = custody.versions(management, arn)
    before = custody.at_rest(emulator_url)
    ws.set_config(provider_preamble + declaring_block(target, first, "2"))
    refuse_policies(faults)
    refused = apply_refused(ws, "PutResourcePolicy", "secret_resource_policy")
    detail_names(refused, "PublicPolicyException")
    assert custody.versions(management, arn) == versions, "a key was written before the declared policy was on the secret"
    assert_untouched(before, assert_no_key_written(emulator_url, before, ws, never=set(), guard=leak_guard), arn)
    assert ws.state_resource(AGENT)["public_key_fingerprint"] == state["public_key_fingerprint"]

    ws.apply()
    rotated = ws.state_resource(AGENT)
    assert policy_on(management, arn) == first
    assert rotated["public_key_fingerprint"] != state["public_key_fingerprint"]
    staged = creds.read_bundle(management, arn, "AWSPENDING", guard=leak_guard)
    assert staged is not None and staged.version_id == rotated["key_version_id"]
    ws.assert_plan_empty()


@pytest.mark.parametrize("kind", ["agent", "server"])
def test_a_policy_aws_refuses_on_create_leaves_no_key_behind(
        kind, planted, workspace, management, regional, regional_eks, emulator_url, faults, leak_guard):
    """The key is the new secret's first version and the policy goes on right after (CreateSecret
    takes none). When AWS refuses the policy, the secret just made is deleted: no key is left
    in a secret the configuration can never get its policy onto. Once accepted, the next apply
    creates it."""
    target = declaring_target(kind, f"custody-refused-{kind[:3]}", management, regional, planted)
    before = custody.at_rest(emulator_url)
    ws = workspace(declaring_block(target, declared_policy(target.account)))
    refuse_policies(faults)
    refused = apply_refused(ws, "PutResourcePolicy", POLICY_ATTRIBUTE[kind])
    detail_names(refused, "PublicPolicyException")
    assert si.describe_secret(target.account, target.secret_name) is None, "the secret AWS refused the policy of is still there"
    assert_no_key_written(emulator_url, before, ws, never=set(), guard=leak_guard)

    ws.apply()
    state = ws.state_resource(target.address)
    assert policy_on(target.account, secret_arn(target, state)) == declared_policy(target.account)
    ws.assert_plan_empty()


def test_the_identity_promotes_the_bundle_into_a_secret_with_the_declared_policy(
        planted, workspace, provider_preamble, management, regional, make_eks_cluster, leak_guard):
    """`maestro_agent_identity` writes the complete bundle into the agent key's secret: it is
    told the declared policy (`mqtt_cert_secret_resource_policy`) and accepts it; without being
    told, it refuses the secret as before."""
    cluster_id = "custody-declared-promote"
    eks = make_eks_cluster("custody-declared-eks")
    target = declaring_target("agent", cluster_id, management, regional, planted)
    planted(management, f"{cluster_id}/maestro/agent-config")
    policy = declared_policy(management)
    consumer = hcl.resource("maestro_consumer", "c", {
        "consumer_id": cluster_id, "csr_pem": hcl.Raw("maestro_agent_key.k.csr_pem"),
        "management_account_id": management.account_id}, provider="maestro.regional")

    def identity(told: bool) -> str:
        extra = {"mqtt_cert_secret_resource_policy": hcl.Raw("maestro_agent_key.k.secret_resource_policy")} if told else {}
        return hcl.resource("maestro_agent_identity", "x", {
            "cluster_id": cluster_id, "regional_account_id": regional.account_id, "eks_cluster_name": eks,
            "mqtt_cert_secret_name": hcl.Raw("maestro_agent_key.k.secret_name"),
            "broker_endpoint": hcl.Raw("maestro_consumer.c.endpoint"),
            "certificate_pem": hcl.Raw("maestro_consumer.c.certificate_pem"), **extra}, provider="maestro.management")

    ws = workspace(declaring_block(target, policy), consumer, identity(False))
    apply_refused(ws, NOT_IN_CUSTODY, "mqtt_cert_secret_name")
    key = ws.state_resource(AGENT)
    current = creds.read_bundle(management, key["secret_arn"], guard=leak_guard)
    assert current.certificate is None, "the identity promoted the bundle into a policy it was not told of"

    ws.set_config(provider_preamble + "\n".join([declaring_block(target, policy), consumer, identity(True)]))
    ws.apply()
    promoted = creds.assert_current_coherent(management, key["secret_arn"], guard=leak_guard)
    assert promoted is not None and promoted.certificate and promoted.key_fingerprint == key["public_key_fingerprint"]
    assert policy_on(management, key["secret_arn"]) == policy
    ws.assert_plan_empty()
