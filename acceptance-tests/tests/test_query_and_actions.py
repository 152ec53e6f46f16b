"""List blocks (`terraform query`), the configuration they generate, consumer adoption of what
the old hand-written modules made, and the action `maestro_rotate_agent_key`.

The list resources and the action exist only for HashiCorp Terraform: OpenTofu 1.12.6 has no
`query` command, refuses `action` blocks and has no `apply -invoke` (harness/query_actions.py),
so those tests skip under OpenTofu. Adoption through import blocks with the ID
`<consumer_id>,<management account ID>` works with both CLIs and runs under either.

The old modules' objects are made here as the modules made them, with boto3 in the regional
account: CreateKeysAndCertificate (so the old private key exists, here only in this process;
it is registered with the leak guard like every key in this file, and the scan after each test
proves no key reached a state, plan, generated file, CLI output or TF_LOG=trace log).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness import aws_inspect, hcl
from harness import credentials as creds
from harness import policy_documents as docs
from harness import query_actions as qa
from harness import server_identity as si
from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, REGION, REGIONAL_ACCOUNT_ID
from harness.tofu_workspace import PlanResult

pytestmark = pytest.mark.acceptance

terraform_only = pytest.mark.skipif(not qa.cli_supports_query_and_actions(), reason=qa.UNSUPPORTED_REASON)

DEFAULT_PREFIX = "sources/maestro/consumers"
REGIONAL = "maestro.regional"
MANAGEMENT = "maestro.management"


# ---------------------------------------------------------------- keys


class AgentKey:
    """The agent key a migration ends with (maestro_agent_key makes it in real use); only its
    CSR goes into the configuration. The private half is registered with the leak guard."""

    def __init__(self, guard) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        guard.register_secret(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()).decode(),
                              "agent key whose CSR the adoption configures")
        self.fingerprint = creds.spki_fingerprint(self.key.public_key())

    def csr(self, common_name: str) -> str:
        built = (x509.CertificateSigningRequestBuilder()
                 .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                 .sign(self.key, hashes.SHA256()))
        return built.public_bytes(serialization.Encoding.PEM).decode()


# ---------------------------------------------------------------- what the old modules made


def old_module_policy(consumer_id: str, topic_prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """The hand-written module's agent policy: any client ID, the consumer's topics."""
    base = f"arn:aws:iot:{REGION}:{REGIONAL_ACCOUNT_ID}"
    topics = f"{topic_prefix}/{consumer_id}"
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{base}:client/*"},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{base}:topicfilter/{topics}/sourceevents"},
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": f"{base}:topic/{topics}/sourceevents"},
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{base}:topic/{topics}/agentevents"},
    ]}


@dataclass
class OldConsumer:
    consumer_id: str
    topic_prefix: str
    with_thing: bool
    certificate_id: str
    certificate_arn: str
    key_fingerprint: str

    @property
    def thing_name(self) -> str:
        return f"{self.consumer_id}-maestro-agent"

    @property
    def policy_name(self) -> str:
        return f"{self.consumer_id}-maestro-agent-policy"

    def expected_policy(self) -> dict[str, Any]:
        return docs.iot_policy(REGION, REGIONAL_ACCOUNT_ID, self.consumer_id, self.topic_prefix)


def iot(regional) -> Any:
    return regional.client("iot")


def find_thing(regional, name: str) -> dict[str, Any] | None:
    try:
        return iot(regional).describe_thing(thingName=name)
    except ClientError as error:
        if aws_inspect.error_code(error) == "ResourceNotFoundException":
            return None
        raise


def remove_consumer_objects(regional, consumer_id: str) -> None:
    """Best-effort removal of a consumer's thing, policy and the policy's certificates, in the
    order IoT demands (what the old modules' cleanup script did)."""
    client = iot(regional)
    thing, policy = f"{consumer_id}-maestro-agent", f"{consumer_id}-maestro-agent-policy"
    if find_thing(regional, thing) is not None:
        for principal in client.list_thing_principals(thingName=thing)["principals"]:
            client.detach_thing_principal(thingName=thing, principal=principal)
        client.delete_thing(thingName=thing)
    if si.get_iot_policy(regional, policy) is None:
        return
    for target in client.list_targets_for_policy(policyName=policy)["targets"]:
        client.detach_policy(policyName=policy, target=target)
        certificate_id = target.rsplit("/", 1)[-1]
        client.update_certificate(certificateId=certificate_id, newStatus="INACTIVE")
        client.delete_certificate(certificateId=certificate_id)
    for version in client.list_policy_versions(policyName=policy)["policyVersions"]:
        if not version["isDefaultVersion"]:
            client.delete_policy_version(policyName=policy, policyVersionId=version["versionId"])
    client.delete_policy(policyName=policy)


@pytest.fixture
def old_module(regional, leak_guard) -> Iterator[Callable[..., OldConsumer]]:
    """Makes a consumer the way the old modules did. Requested before `make_workspace`, so its
    teardown (removing whatever the test's destroy left) runs after the workspaces' destroy."""
    made: list[str] = []

    def make(consumer_id: str, with_thing: bool, topic_prefix: str = DEFAULT_PREFIX) -> OldConsumer:
        client = iot(regional)
        made.append(consumer_id)
        keys = client.create_keys_and_certificate(setAsActive=True)
        leak_guard.register_secret(keys["keyPair"]["PrivateKey"], f"old module's private key of {consumer_id}")
        old = OldConsumer(consumer_id, topic_prefix, with_thing, keys["certificateId"], keys["certificateArn"],
                          creds.certificate_fingerprint(keys["certificatePem"]))
        client.create_policy(policyName=old.policy_name, policyDocument=json.dumps(old_module_policy(consumer_id, topic_prefix)))
        client.attach_policy(policyName=old.policy_name, target=old.certificate_arn)
        if with_thing:
            client.create_thing(thingName=old.thing_name)  # no attributes, as the modules made it
            client.attach_thing_principal(thingName=old.thing_name, principal=old.certificate_arn)
        return old

    yield make
    for consumer_id in made:
        remove_consumer_objects(regional, consumer_id)


# ---------------------------------------------------------------- adoption




def adoption_changes(old: OldConsumer, account_in_import: bool) -> set[str]:
    """What adopting an old-module consumer changes. The old objects record no management
    account, so import finds none: `management_account_id` changes from null to the configured one (the
    thing is created with it, or the old thing given it) — unless the import ID named the
    account and there is no old thing whose missing attribute refresh reports."""
    changed = {"csr_pem", "policy_document", "certificate_id", "certificate_arn", "certificate_pem",
               "certificate_public_key_fingerprint", "previous_certificates"}
    if not old.with_thing:
        changed |= {"thing_arn", "certificate_attachments"}
    if old.with_thing or not account_in_import:
        changed.add("management_account_id")
    return changed


def assert_adoption_planned(plan: PlanResult, address: str, old: OldConsumer, key: AgentKey,
                            account_in_import: bool) -> None:
    change = plan.resource_change(address)["change"]
    assert change.get("importing"), f"{address} is not imported\n{plan.describe()}"
    assert change["actions"] == ["update"], f"{address}: {change['actions']}\n{plan.describe()}"
    changed = plan.changed_attributes(address)
    expected = adoption_changes(old, account_in_import)
    assert changed == expected, (
        f"{address}: changes {sorted(changed)}, adoption must change exactly {sorted(expected)}\n"
        f"{plan.describe()}")
    before, after = change["before"], change["after"]
    recorded = None if "management_account_id" in expected else MANAGEMENT_ACCOUNT_ID
    assert (before["management_account_id"], before["topic_prefix"]) == (recorded, old.topic_prefix), before
    assert (after["management_account_id"], after["topic_prefix"]) == (MANAGEMENT_ACCOUNT_ID, old.topic_prefix), after
    docs.assert_same_policy(before["policy_document"], old_module_policy(old.consumer_id, old.topic_prefix),
                            "imported policy_document")
    docs.assert_same_policy(after["policy_document"], old.expected_policy(), "planned policy_document")
    assert before["certificate_id"] == old.certificate_id
    assert before["certificate_public_key_fingerprint"] == old.key_fingerprint
    assert after["certificate_public_key_fingerprint"] == key.fingerprint
    assert change["after_unknown"].get("certificate_pem") is True
    assert [p["certificate_id"] for p in after["previous_certificates"]] == [old.certificate_id], after["previous_certificates"]
    if not old.with_thing:
        assert before["thing_arn"] is None
        assert after["thing_arn"] == f"arn:aws:iot:{REGION}:{REGIONAL_ACCOUNT_ID}:thing/{old.thing_name}"


def assert_adopted_in_aws(regional, state: dict[str, Any], old: OldConsumer, key: AgentKey) -> None:
    client = iot(regional)
    thing = find_thing(regional, old.thing_name)
    assert thing is not None, f"thing {old.thing_name} was not created"
    assert thing["thingArn"] == state["thing_arn"]
    # Recorded so that the adopted consumer is like any other: importable by its consumer_id
    # alone (an import block by identity, `terraform import`, a list block without
    # management_account_ids), which reads the account back from this attribute.
    assert thing["attributes"].get("management_account_id") == MANAGEMENT_ACCOUNT_ID, (
        f"after adoption thing {old.thing_name} does not record the management account (attributes "
        f"{thing['attributes']}), so the consumer cannot be imported by its consumer_id again")
    policy = si.get_iot_policy(regional, old.policy_name)
    docs.assert_same_policy(policy["policyDocument"], old.expected_policy(), "IoT policy in IoT Core")
    # The new certificate certifies the new key, is ACTIVE and carries the policy and the thing.
    assert state["certificate_id"] != old.certificate_id
    new = client.describe_certificate(certificateId=state["certificate_id"])["certificateDescription"]
    assert new["status"] == "ACTIVE" and creds.certificate_fingerprint(new["certificatePem"]) == key.fingerprint
    assert [p["policyName"] for p in client.list_attached_policies(target=new["certificateArn"])["policies"]] == [old.policy_name]
    assert client.list_principal_things(principal=new["certificateArn"])["things"] == [old.thing_name]
    assert state["certificate_attachments"] == {"policy": True, "thing": True}
    # The module's certificate keeps working through the grace period.
    assert [p["certificate_id"] for p in state["previous_certificates"]] == [old.certificate_id]
    assert client.describe_certificate(certificateId=old.certificate_id)["certificateDescription"]["status"] == "ACTIVE"


def assert_consumers_gone(regional, olds: list[OldConsumer], certificate_ids: set[str]) -> None:
    for old in olds:
        assert find_thing(regional, old.thing_name) is None, f"{old.thing_name} left behind"
        assert si.get_iot_policy(regional, old.policy_name) is None, f"{old.policy_name} left behind"
    left = certificate_ids & si.all_certificate_ids(regional)
    assert not left, f"certificates left behind: {left}"


@terraform_only
def test_query_finds_old_module_consumers_and_the_generated_config_adopts_them(
        old_module, make_workspace, provider_preamble, regional, leak_guard):
    """What adopting a consumer the old modules made changes (each consumer's first plan and apply):

    - csr_pem: import cannot recover it (AWS keeps no CSR); the configuration supplies the CSR of
      the agent's new key, made in the management account.
    - the IoT thing `<id>-maestro-agent`: created when the module made none (thing_arn goes from
      null to the thing's ARN), recording the management account as `management_account_id`; a
      module-made thing without that attribute is kept and gets it.
    - policy_document: the old `client/*` Connect grant is narrowed to the one client ID the agent
      sends, `<id>-work-agent-client` (a new default policy version); the topics stay.
    - a new certificate (certificate_id, certificate_arn, certificate_pem, the public key's
      fingerprint) issued by IoT Core from the CSR: the current certificate's key came from
      CreateKeysAndCertificate and was in the old regional state and in cert.json, and the CSR is
      for another key, so the provider issues one and attaches the policy and the thing to it.
    - previous_certificates: the module's certificate, which stays ACTIVE for the grace period
      (24 h) so the running agent keeps connecting until it has the new bundle, and is retired by
      the first apply after it.
    - certificate_attachments: both true for the new certificate (a module without a thing had the
      policy attached only).

    Nothing else changes: management_account_id comes from the thing's attribute, or from the import ID
    `<id>,<account>` (the list block's management_account_ids) when the module recorded none, and
    topic_prefix and the client ID from the policy document."""
    olds = [old_module("qa-old-nothing", with_thing=False),
            old_module("qa-old-thing", with_thing=True, topic_prefix="sources/maestro/legacy")]
    ws = make_workspace()
    ws.set_config(provider_preamble)
    qa.write_query(ws, qa.list_block("maestro_consumer", "old", REGIONAL, {
        "name_prefix": "qa-old-",
        "management_account_ids": {old.consumer_id: MANAGEMENT_ACCOUNT_ID for old in olds}}))
    ws.init()

    # The list finds both by their policies, and reads each through import.
    found = qa.query(ws)
    assert found.totals() == {"list.maestro_consumer.old": 2}, found.result.stdout
    by_id = {f.identity["consumer_id"]: f for f in found.found}
    assert set(by_id) == {old.consumer_id for old in olds}
    for old in olds:
        item = by_id[old.consumer_id]
        assert item.display_name == old.consumer_id
        assert item.resource_object is not None, "include_resource = true gave no resource object"
        assert {k: item.resource_object[k] for k in ("management_account_id", "topic_prefix", "certificate_id", "csr_pem")} == {
            "management_account_id": MANAGEMENT_ACCOUNT_ID, "topic_prefix": old.topic_prefix,
            "certificate_id": old.certificate_id, "csr_pem": None}

    # The generated configuration: an import block by identity and a resource block each,
    # with the recovered arguments; csr_pem is the one import cannot recover.
    generated = qa.generate_config(ws)
    assert len(generated.resources) == 2 and len(generated.imports) == 2, generated.text
    addresses: dict[str, str] = {}
    for address, block in generated.resources.items():
        consumer_id = block.body["consumer_id"]
        addresses[consumer_id] = address
        old = next(o for o in olds if o.consumer_id == consumer_id)
        assert block.labels[0] == "maestro_consumer"
        assert block.body["provider"] == qa.Expression(REGIONAL)
        assert block.body["management_account_id"] == MANAGEMENT_ACCOUNT_ID
        assert block.body["topic_prefix"] == old.topic_prefix
        assert block.body["cloudevents_client_id"] == f"{consumer_id}-work-agent"
        assert block.body["csr_pem"] is None
        imported = generated.import_for(address)
        assert imported.body["identity"] == {"consumer_id": consumer_id}
        assert imported.body["provider"] == qa.Expression(REGIONAL)
    assert set(addresses) == {old.consumer_id for old in olds}

    # Filled in: the CSR of the key the agent moves to.
    keys = {old.consumer_id: AgentKey(leak_guard) for old in olds}
    for old in olds:
        generated.fill_in(addresses[old.consumer_id], csr_pem=keys[old.consumer_id].csr(f"{old.consumer_id}-work-agent"))

    plan = ws.plan()
    assert plan.exit_code == 2, plan.describe()
    assert plan.actions() == {address: ["update"] for address in addresses.values()}, plan.describe()
    for old in olds:
        assert_adoption_planned(plan, addresses[old.consumer_id], old, keys[old.consumer_id], account_in_import=False)

    ws.apply()
    ws.assert_plan_empty()
    issued = set()
    for old in olds:
        state = ws.state_resource(addresses[old.consumer_id])
        assert_adopted_in_aws(regional, state, old, keys[old.consumer_id])
        issued |= {state["certificate_id"], old.certificate_id}

    ws.destroy()
    assert_consumers_gone(regional, olds, issued)


def test_old_module_consumers_are_adopted_through_import_blocks_with_the_account(
        old_module, make_workspace, provider_preamble, regional, leak_guard):
    """The adoption of the test above (see its docstring for what changes and why), through
    import blocks with the documented import ID `<consumer_id>,<management account ID>` instead
    of a list block's generated configuration: both CLIs have import blocks."""
    olds = [old_module("qa-imp-nothing", with_thing=False),
            old_module("qa-imp-thing", with_thing=True, topic_prefix="sources/maestro/legacy")]
    keys = {old.consumer_id: AgentKey(leak_guard) for old in olds}
    blocks = []
    for n, old in enumerate(olds):
        blocks.append(hcl.resource("maestro_consumer", f"c{n}", {
            "consumer_id": old.consumer_id, "csr_pem": keys[old.consumer_id].csr(f"{old.consumer_id}-work-agent"),
            "management_account_id": MANAGEMENT_ACCOUNT_ID, "topic_prefix": old.topic_prefix}, provider=REGIONAL))
        blocks.append(f'import {{\n  to = maestro_consumer.c{n}\n  provider = {REGIONAL}\n'
                      f'  id = {hcl.string(f"{old.consumer_id},{MANAGEMENT_ACCOUNT_ID}")}\n}}\n')
    ws = make_workspace()
    ws.set_config(provider_preamble + "\n".join(blocks))
    ws.init()

    plan = ws.plan()
    assert plan.actions() == {f"maestro_consumer.c{n}": ["update"] for n in range(len(olds))}, plan.describe()
    for n, old in enumerate(olds):
        assert_adoption_planned(plan, f"maestro_consumer.c{n}", old, keys[old.consumer_id], account_in_import=True)

    ws.apply()
    ws.assert_plan_empty()
    issued = set()
    for n, old in enumerate(olds):
        state = ws.state_resource(f"maestro_consumer.c{n}")
        assert_adopted_in_aws(regional, state, old, keys[old.consumer_id])
        issued |= {state["certificate_id"], old.certificate_id}

    ws.destroy()
    assert_consumers_gone(regional, olds, issued)


# ---------------------------------------------------------------- provider-made objects


def key_block(cluster_id: str) -> str:
    return hcl.resource("maestro_agent_key", "k", {"cluster_id": cluster_id}, provider=MANAGEMENT)


def consumer_block(cluster_id: str) -> str:
    return hcl.resource("maestro_consumer", "c", {"consumer_id": cluster_id, "csr_pem": hcl.Raw("maestro_agent_key.k.csr_pem"),
                                                  "management_account_id": MANAGEMENT_ACCOUNT_ID}, provider=REGIONAL)


def identity_block(cluster_id: str, eks: str) -> str:
    return hcl.resource("maestro_agent_identity", "x", {
        "cluster_id": cluster_id, "regional_account_id": REGIONAL_ACCOUNT_ID, "eks_cluster_name": eks,
        "mqtt_cert_secret_name": hcl.Raw("maestro_agent_key.k.secret_name"),
        "certificate_pem": hcl.Raw("maestro_consumer.c.certificate_pem"),
        "broker_endpoint": hcl.Raw("maestro_consumer.c.endpoint")}, provider=MANAGEMENT)


def agent_blocks(cluster_id: str, eks: str) -> str:
    """A complete agent in one configuration, as test_flows.py's one-configuration flow."""
    return "\n".join([key_block(cluster_id), consumer_block(cluster_id), identity_block(cluster_id, eks)])


@pytest.fixture
def purge_server_secrets(regional) -> Iterator[None]:
    """The server's default secret names are the deployed chart's and shared by every test that
    makes a server with them: gone for good after this test. Requested before `make_workspace`,
    so it runs after the teardown destroy."""
    yield
    for name in (si.DEFAULT_CERT_SECRET, si.DEFAULT_CONFIG_SECRET):
        si.force_delete_secret(regional, name)


def assert_import_only(plan: PlanResult, addresses: set[str]) -> None:
    changes = {c["address"]: c["change"] for c in plan.resource_changes()}
    assert set(changes) == addresses, f"plan has {sorted(changes)}, expected {sorted(addresses)}\n{plan.describe()}"
    for address, change in changes.items():
        assert change.get("importing"), f"{address} is not imported\n{plan.describe()}"
        differing = sorted(plan.changed_attributes(address))
        assert change["actions"] == ["no-op"] and not differing, (
            f"{address}: the generated configuration plans {change['actions']} changing {differing}, "
            f"expected an import only\n{plan.describe()}")


@terraform_only
def test_query_finds_provider_made_identities_and_their_generated_config_imports_without_changes(
        purge_server_secrets, make_workspace, provider_preamble, management, regional, make_eks_cluster, leak_guard):
    server_name, cluster_id = "qa-list-server", "qa-list-agent"
    regional_eks = aws_inspect.create_eks_cluster(regional, "qa-list-server-eks")["name"]
    eks = make_eks_cluster("qa-list-agent-eks")
    owner = make_workspace("owner")
    owner.set_config(provider_preamble + hcl.resource("maestro_server_identity", "server", {
        "name": server_name, "eks_cluster_name": regional_eks, "force_delete_without_recovery": True},
        provider=REGIONAL) + "\n" + agent_blocks(cluster_id, eks))
    owner.init()
    owner.apply()
    owner.assert_plan_empty()
    server = owner.state_resource("maestro_server_identity.server")
    creds.read_bundle(regional, server["certificate_secret_arn"], guard=leak_guard)
    creds.read_bundle(management, owner.state_resource("maestro_agent_key.k")["secret_arn"], guard=leak_guard)

    # Another workspace, with no state, finds them by name.
    finder = make_workspace("finder")
    finder.set_config(provider_preamble)
    qa.write_query(finder,
                   qa.list_block("maestro_server_identity", "servers", REGIONAL, {"name_prefix": "qa-list-"}, include_resource=False),
                   qa.list_block("maestro_agent_identity", "agents", MANAGEMENT, {"name_prefix": "qa-list-"}, include_resource=False),
                   qa.list_block("maestro_consumer", "consumers", REGIONAL, {"name_prefix": "qa-list-"}, include_resource=False))
    finder.init()
    found = qa.query(finder)
    identities = {(f.address, json.dumps(f.identity, sort_keys=True)) for f in found.found}
    assert identities == {
        ("list.maestro_server_identity.servers", json.dumps({"name": server_name})),
        ("list.maestro_agent_identity.agents", json.dumps({"cluster_id": cluster_id})),
        ("list.maestro_consumer.consumers", json.dumps({"consumer_id": cluster_id})),
    }, found.result.stdout
    assert all(f.resource_object is None for f in found.found), "include_resource = false returned resource objects"
    assert not found.diagnostics(), found.diagnostics()

    # With the resource objects, the generated configuration imports both identities and plans
    # nothing else: import records exactly what the configuration that made them says.
    qa.write_query(finder,
                   qa.list_block("maestro_server_identity", "servers", REGIONAL, {"name_prefix": "qa-list-"}),
                   qa.list_block("maestro_agent_identity", "agents", MANAGEMENT, {"name_prefix": "qa-list-"}))
    generated = qa.generate_config(finder)
    assert {b.labels[0] for b in generated.resources.values()} == {"maestro_server_identity", "maestro_agent_identity"}, \
        generated.text
    by_type = {b.labels[0]: b for b in generated.resources.values()}
    assert by_type["maestro_server_identity"].body["name"] == server_name
    assert by_type["maestro_server_identity"].body["eks_cluster_name"] == regional_eks
    # The one argument that differs from the configuration that made it: AWS does not hold
    # `force_delete_without_recovery` (it only says how a destroy deletes the secrets), so
    # import records the default, and the generated configuration says so.
    assert by_type["maestro_server_identity"].body["force_delete_without_recovery"] is False
    assert by_type["maestro_agent_identity"].body["cluster_id"] == cluster_id
    assert by_type["maestro_agent_identity"].body["eks_cluster_name"] == eks
    assert by_type["maestro_agent_identity"].body["mqtt_cert_secret_name"] == f"{cluster_id}/maestro/agent-mqtt-cert"
    assert generated.import_for(by_type["maestro_server_identity"].address).body["identity"] == {"name": server_name}
    assert generated.import_for(by_type["maestro_agent_identity"].address).body["identity"] == {"cluster_id": cluster_id}
    plan = finder.plan()
    assert_import_only(plan, set(generated.resources))
    assert finder.state_resources() == {}, "a plan must not import into state"


# ---------------------------------------------------------------- the action


ACTION = "action.maestro_rotate_agent_key.now"
KEY, CONSUMER, IDENTITY = "maestro_agent_key.k", "maestro_consumer.c", "maestro_agent_identity.x"


@terraform_only
def test_rotate_action_stages_a_key_and_the_next_apply_completes_the_rotation(
        make_workspace, provider_preamble, management, regional, make_eks_cluster, leak_guard):
    cluster_id = "qa-action"
    eks = make_eks_cluster("qa-action-eks")
    ws = make_workspace()
    ws.set_config(provider_preamble + agent_blocks(cluster_id, eks) + "\n"
                  + qa.action_block("maestro_rotate_agent_key", "now", MANAGEMENT, {"cluster_id": cluster_id}))
    ws.init()
    ws.apply()
    ws.assert_plan_empty()
    key, consumer = ws.state_resource(KEY), ws.state_resource(CONSUMER)
    secret = key["secret_arn"]
    first = creds.assert_current_coherent(management, secret, guard=leak_guard)
    assert first is not None and first.certificate == consumer["certificate_pem"]
    assert first.key_fingerprint == key["public_key_fingerprint"]
    before_versions = creds.versions(management, secret)

    # The action alone: a new key staged as AWSPENDING; the current bundle is untouched, and
    # nothing else in either account or in state changes.
    invoked = qa.invoke(ws, ACTION)
    # The provider's progress events reach the CLI while the action runs.
    assert "Actions: 1 invoked" in invoked.output, invoked.describe()
    assert f"(AWSPENDING) of {cluster_id}/maestro/agent-mqtt-cert" in invoked.output, invoked.describe()
    staged = creds.read_bundle(management, secret, "AWSPENDING", guard=leak_guard)
    assert staged is not None, f"no AWSPENDING version after the action: {creds.versions(management, secret)}"
    assert staged.version_id not in before_versions
    creds.assert_bundle_shape(staged, complete=False)
    assert staged.key_fingerprint != first.key_fingerprint
    current = creds.assert_current_coherent(management, secret, guard=leak_guard)
    assert (current.version_id, current.raw) == (first.version_id, first.raw), "the action changed the current bundle"
    assert ws.state_resource(CONSUMER)["certificate_id"] == consumer["certificate_id"]
    assert iot(regional).describe_certificate(certificateId=consumer["certificate_id"])["certificateDescription"]["status"] == "ACTIVE"

    # The next plan: the key's refresh takes the staged key; the consumer issues its certificate
    # and the identity promotes the pair.
    plan = ws.plan()
    assert plan.actions() == {CONSUMER: ["update"], IDENTITY: ["update"]}, plan.describe()
    drifted = {d["address"]: d for d in plan.drift()}
    assert KEY in drifted, f"the staged key does not show as a change outside Terraform\n{plan.describe()}"
    refreshed = drifted[KEY]["change"]["after"]
    assert refreshed["public_key_fingerprint"] == staged.key_fingerprint
    assert refreshed["key_version_id"] == staged.version_id
    assert creds.csr_fingerprint(refreshed["csr_pem"]) == staged.key_fingerprint
    planned = plan.resource_change(CONSUMER)["change"]
    assert planned["after"]["certificate_public_key_fingerprint"] == staged.key_fingerprint
    assert planned["after_unknown"].get("certificate_pem") is True

    ws.apply()
    ws.assert_plan_empty()
    key, rotated, identity = ws.state_resource(KEY), ws.state_resource(CONSUMER), ws.state_resource(IDENTITY)
    assert rotated["certificate_id"] != consumer["certificate_id"]
    described = iot(regional).describe_certificate(certificateId=rotated["certificate_id"])["certificateDescription"]
    assert described["status"] == "ACTIVE"
    assert creds.certificate_fingerprint(described["certificatePem"]) == staged.key_fingerprint
    promoted = creds.assert_current_coherent(management, secret, guard=leak_guard)
    assert promoted.key_fingerprint == staged.key_fingerprint == key["public_key_fingerprint"]
    assert promoted.certificate == rotated["certificate_pem"] == identity["certificate_pem"]
    creds.assert_bundle_shape(promoted, complete=True)
    previous = creds.read_bundle(management, secret, "AWSPREVIOUS", guard=leak_guard)
    assert previous is not None and previous.raw == first.raw, "the old bundle is not AWSPREVIOUS"
    assert creds.read_bundle(management, secret, "AWSPENDING") is None, "AWSPENDING left behind"
    assert [p["certificate_id"] for p in rotated["previous_certificates"]] == [consumer["certificate_id"]]
    assert iot(regional).describe_certificate(certificateId=consumer["certificate_id"])["certificateDescription"]["status"] == "ACTIVE", \
        "the old certificate must stay ACTIVE for the grace period"
