"""The migration guide's fleet migration (docs/guides/migrating-from-modules.md, steps 1-6),
followed literally through the real CLI (MAESTRO_TEST_CLI) and provider binary against the
emulator, for three management clusters that were made the way the old modules and scripts
made them (harness/old_modules.py says how, citing rosa-regional-platform's files):

| cluster | management account | secret names (chart generation) | regional layout |
| --- | --- | --- | --- |
| mc01 | 210987654321 | `maestro/agent-cert`, `maestro/agent-config` (older chart; script-made) | one configuration per cluster (`maestro-agent-iot-provisioning`, no thing) |
| mc02 | 310987654321 | `mc02/maestro/agent-mqtt-cert`, `mc02/maestro/agent-config` (seed 001; by hand from cert.json) | `maestro-infrastructure` over a list, index 0 (thing) |
| mc03 | 410987654321 | `mc03-maestro-agent-cert`, `mc03-maestro-agent-config` (newer chart; made by the module, key in its state) | the same list, index 1 |

Sources (rosa-regional-platform): terraform/modules/maestro-agent-iot-provisioning/{main,outputs}.tf
and terraform/config/maestro-agent-iot-provisioning/ with scripts/provision-maestro-agent-iot-{regional,
management}.sh (mc01's IoT objects and its script-made secrets); terraform/modules/maestro-infrastructure/
README.md (`management_cluster_count`, `management_cluster_ids`, output `maestro_agent_certificates`)
and that module's earlier iot.tf (the five `count` resources); terraform/modules/maestro-agent/{main,iam}.tf
(role, inline policies, association `maestro-agent`/`maestro-agent`; the newer chart's version at
theautoroboto/rosa-regional-platform dda6d6f also makes the two secrets);
argocd/config/management-cluster/maestro-agent/templates/secretproviderclass.yaml at openshift-online
HEAD (older chart) and dda6d6f (newer chart); /work/shared/seeds/001 (seed 001's names, `-n maestro`).

Each management cluster has an account of its own (the emulator serves any account AssumeRole
names); the older chart's fixed names would allow only one agent per account and region anyway.
The old objects carry the tags and the provider `default_tags` the modules gave them, and the
maestro providers get those `default_tags`, as step 2 says.

What runs, in the guide's order, with the guide's own blocks: the test reads the fenced blocks
the guide marks `<!-- fleet-test: NAME -->` (the management and regional configurations, the
`moved` and `removed` blocks, the two policy documents and the description of step 1) and
writes them unchanged into the workspaces; only the variables' values (tfvars), the provider
blocks (endpoints and assume_role for the emulator) and one override file differ. The override
sets `broker_ca_pem` on the identity to the emulator broker's CA, which stands in for Amazon
Root CA 1 (the provider's default) and is the old bundles' `caCert` too.

1. per account, the guide's 1a (description) and 1b (the two inline policies), with boto3
   calls equal to its `aws` commands;
2. per management workspace: the guide's `management/main.tf`, plan (two imports, no
   replacement, no rotation), apply, empty plan; the credential secret's AWSCURRENT is the
   same version; the module's inline policies deleted; for mc01 the rollback
   (`management/rollback.tf`: two `forget`s, nothing changed in AWS) and the import again;
3. regional: first an operator's own `count` configuration importing mc02 and mc03 at
   `[0]`/`[1]` (the first try the guide's `moved` blocks are for), then the guide's
   `regional/main.tf` with `regional/moved.tf`: mc02 and mc03 move with no change and are not
   imported again, mc01 is imported; then the rollback (`regional/rollback.tf`: three
   `forget`s, the module's policy version made the default again) and the import of the whole
   fleet with `import` `for_each`; no certificate is issued by the import;
4. `certificate_pem` per management workspace; 5. the rotation (stage, issue, promote);
6. `certificate_grace_period_hours = 0` once every agent mounts its new pair.

At every step (`checkpoint`): each agent's two secrets are mounted as its chart's
SecretProviderClass maps them (harness/csi_mount.py), the mounted key and certificate are a
pair, that certificate is ACTIVE in IoT with the agent's policy attached, the Pod Identity
association of the chart's namespace binds a role whose inline policies may read both mounted
secrets, and the agent connects to the broker with that pair as `<id>-work-agent-client` and
subscribes to its sourceevents. A ledger of the certificates mounted at each checkpoint checks,
from the emulator, that no certificate ever mounted stops being ACTIVE unless its successor was
already mounted at an earlier checkpoint. ONE server on sdk-go's source client (maestro_server_identity,
in a workspace of its own) exchanges work and status with all three agents before the migration
(old credentials) and after it (rotated credentials); after the retiring apply every old key is
refused at CONNECT. Every old key (CreateKeysAndCertificate) is registered with the leak guard
when it is made: no state, plan, CLI output or trace log of the test holds one, and the final
states hold no private key at all.

NOT executed, and why: the guide's steps that act on the OLD configurations, because they act
on `aws_*` addresses of hashicorp/aws, which the offline provider mirror does not have (and
must not be faked): step 2's `removed { from = module.maestro_agent }` and deleting the
module's outputs and `maestro_agent_cert_json`; 3a's `removed { from = module.maestro_agent_iot }`
(the script deletes that state anyway); 3b's `removed` blocks for the five
`aws_iot_*.maestro_agent` resources of `maestro-infrastructure`, the `count` -> `for_each`
change with its `moved` blocks and the `terraform state rm` per instance; the re-import into
an old configuration in the rollbacks. Since nothing of the old modules is in a state here,
the keys those states held (list layout: regional; newer chart: management) exist only in
this process, registered with the leak guard. Also not executed: the `kubectl`/`openssl`
checks (the mounts here are read directly), the rotation's emergency rollback of step 5, and
waiting 24 hours (step 6 uses its `certificate_grace_period_hours = 0`).
"""

from __future__ import annotations

import concurrent.futures
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import aws_accounts, aws_inspect, hcl, settings, wire, wire_flow
from harness import credentials as creds
from harness import old_modules as om
from harness import server_identity as si
from harness.aws_accounts import REGION, REGIONAL_ACCOUNT_ID, AwsAccount
from harness.tofu_workspace import PlanResult, TofuWorkspace

pytestmark = pytest.mark.acceptance

GUIDE = settings.REPO_ROOT / "docs" / "guides" / "migrating-from-modules.md"
NOT_AUTHORIZED = 0x87
REGIONAL_NAME = "fleet-regional"  # maestro-infrastructure's resource_name_base (the things' regional_cluster)
KEY, IDENTITY = "maestro_agent_key.agent", "maestro_agent_identity.agent"
SERVER = "maestro_server_identity.server"
PKCS1 = "-----BEGIN RSA PRIVATE KEY-----"  # CreateKeysAndCertificate's keys
PKCS8 = "-----BEGIN PRIVATE KEY-----"      # the provider's


@dataclass(frozen=True)
class Cluster:
    cluster_id: str
    generation: om.Generation
    layout: str
    account_id: str

    @property
    def eks(self) -> str:
        return self.cluster_id


CLUSTERS = (
    Cluster("mc01", om.OLDER_CHART, om.PER_CLUSTER, "210987654321"),
    Cluster("mc02", om.SEED_001, om.FLEET_COUNT, "310987654321"),
    Cluster("mc03", om.NEWER_CHART, om.FLEET_COUNT, "410987654321"),
)
# The list of the old maestro-infrastructure module, in its order (the count index).
OLD_LIST = [c.cluster_id for c in CLUSTERS if c.layout == om.FLEET_COUNT]


def in_parallel(work: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """The same step for every cluster at once (each in its own workspace and account), as the
    teams would; the first failure is raised."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(items)) as pool:
        return list(pool.map(work, items))


# ---------------------------------------------------------------- the guide's blocks


def guide_blocks() -> dict[str, str]:
    """name -> content of every fenced block the guide marks `<!-- fleet-test: name -->`."""
    text = GUIDE.read_text(encoding="utf-8")
    found = {m.group(1): m.group(2) for m in re.finditer(
        r"^<!-- fleet-test: (\S+) -->\n```[A-Za-z]*\n(.*?)^```\s*$", text, re.MULTILINE | re.DOTALL)}
    expected = {"management/describe-secret.sh", "management/maestro-agent-secrets.json",
                "management/maestro-agent-iot.json", "management/main.tf", "management/rollback.tf",
                "regional/main.tf", "regional/moved.tf", "regional/rollback.tf"}
    assert expected <= set(found), f"the guide lacks the blocks {sorted(expected - set(found))}"
    return found


def fill_in(document: str, **values: str) -> dict[str, Any]:
    """A policy document of step 1b with its `<placeholders>` filled in."""
    for name, value in values.items():
        document = document.replace(f"<{name.replace('_', '-')}>", value)
    assert "<" not in document, f"unfilled placeholder in {document}"
    return json.loads(document)


def described_as(block: str, cluster_id: str) -> str:
    """Step 1a's description for `cluster_id` (the guide's example is mc01)."""
    match = re.search(r'--description "([^"]+)"', block)
    assert match and match.group(1).endswith(" mc01"), block
    return match.group(1)[: -len("mc01")] + cluster_id


# ---------------------------------------------------------------- workspaces


def provider_block(endpoint_url: str, alias: str, role_arn: str) -> str:
    return hcl.preamble([hcl.ProviderConfig(alias, endpoint_url, role_arn, default_tags=dict(om.OLD_DEFAULT_TAGS))])


EMULATOR_VARIABLE = 'variable "emulator_broker_ca_pem" {\n  type = string\n}\n'
EMULATOR_OVERRIDE = ('resource "maestro_agent_identity" "agent" {\n'
                     '  broker_ca_pem = var.emulator_broker_ca_pem\n}\n')


@dataclass
class ManagementSide:
    """One management team: its account, its old objects, its workspace with the guide's configuration."""
    cluster: Cluster
    account: AwsAccount
    old: om.OldManagementAgent
    old_regional: om.OldRegionalAgent
    ws: TofuWorkspace
    ca_pem: str
    variables: dict[str, Any] = field(default_factory=dict)

    def agent(self) -> dict[str, Any]:
        """The guide's `agent` variable for this cluster: what the old objects and the chart say."""
        return {
            "cluster_id": self.cluster.cluster_id, "regional_account_id": REGIONAL_ACCOUNT_ID,
            "eks_cluster_name": self.cluster.eks, "namespace": self.cluster.generation.namespace,
            "cert_secret_name": self.old.cert_secret, "config_secret_name": self.old.config_secret,
            "broker_endpoint": self.old_regional.endpoint,
            # The role's tags without the old provider's default_tags, which the provider adds.
            "tags": {k: v for k, v in self.old.role_tags.items() if k not in om.OLD_DEFAULT_TAGS},
        }

    def set_variables(self, **changes: Any) -> None:
        self.variables.update(changes)
        values = {"agent": self.agent(), "emulator_broker_ca_pem": self.ca_pem,
                  **{k: v for k, v in self.variables.items() if v is not None}}
        self.ws.write_file("terraform.tfvars.json", json.dumps(values, indent=2))

    def bundle(self, stage: str = "AWSCURRENT", guard: Any = None) -> creds.Bundle | None:
        return creds.read_bundle(self.account, self.old.cert_secret, stage, guard=guard)


@dataclass
class RegionalSide:
    ws: TofuWorkspace
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    grace_hours: int | None = None

    def write_variables(self, **extra: Any) -> None:
        values: dict[str, Any] = {"agents": self.agents, **extra}
        if self.grace_hours is not None:
            values["certificate_grace_period_hours"] = self.grace_hours
        self.ws.write_file("terraform.tfvars.json", json.dumps(values, indent=2))

    def output(self) -> dict[str, dict[str, str]]:
        return json.loads(self.ws.run("output", "-json", "agents").stdout)


# ---------------------------------------------------------------- every step's checks


@dataclass
class Ledger:
    """Which certificate each agent mounted at each checkpoint, and the rule that none of them
    stopped working before its successor was mounted."""
    regional: AwsAccount
    mounted: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # cluster -> [(checkpoint, certificate ID)]

    def record(self, label: str, cluster_id: str, certificate_id: str) -> None:
        self.mounted.setdefault(cluster_id, []).append((label, certificate_id))

    def assert_nothing_retired_early(self) -> None:
        for cluster_id, history in self.mounted.items():
            label, current = history[-1]
            earlier = [certificate for _, certificate in history[:-1]]
            for certificate_id in dict.fromkeys(earlier):
                described = si.certificate(self.regional, certificate_id)
                if described is not None and described["status"] == "ACTIVE":
                    continue
                assert certificate_id != current, f"{cluster_id}: the mounted certificate is not ACTIVE at {label}"
                assert current in earlier, (
                    f"{cluster_id}: certificate {certificate_id} stopped working at {label} "
                    f"({'deleted' if described is None else described['status']}) before its successor "
                    f"{current} had been mounted at an earlier step: {history}")


@dataclass
class Fleet:
    regional: AwsAccount
    sides: dict[str, ManagementSide]
    wire_binary: Path
    iot_data: wire_flow.IotData
    mounts: Path
    logs: Path
    guard: Any
    ledger: Ledger

    def mount(self, side: ManagementSide, label: str) -> Path:
        return om.mount(side.account, side.cluster.generation, side.cluster.cluster_id,
                        self.mounts / label / side.cluster.cluster_id, guard=self.guard)

    def probe(self, files: Path, cluster_id: str, subscribe: tuple[str, ...] = ()) -> dict[str, Any]:
        events = wire.probe(self.wire_binary, files, self.iot_data.address, f"{cluster_id}-work-agent-client",
                            subscribe=subscribe, listen_seconds=0, log_dir=self.logs / "probes")
        found: dict[str, Any] = {e["event"]: e for e in events}
        found["subacks"] = {e["filter"]: e["reasonCode"] for e in events if e["event"] == "suback"}
        found["events"] = events
        return found

    def connects(self, files: Path, cluster_id: str) -> bool:
        code = self.probe(files, cluster_id).get("connack", {}).get("reasonCode")
        return code is not None and code < 0x80

    def checkpoint(self, label: str) -> dict[str, Path]:
        """Every agent, as its pod would be started now: see the module docstring."""
        def check(side: ManagementSide) -> tuple[str, Path]:
            cluster_id = side.cluster.cluster_id
            files = self.mount(side, label)
            key_pem = (files / "privateKey").read_text(encoding="utf-8")
            certificate_pem = (files / "certificate").read_text(encoding="utf-8")
            fingerprint = creds.key_fingerprint(key_pem)
            assert creds.certificate_fingerprint(certificate_pem) == fingerprint, \
                f"{label}: {cluster_id} mounts a key with another key's certificate"
            certifying = si.certificates_certifying(self.regional, fingerprint)
            assert list(certifying.values()) == ["ACTIVE"], \
                f"{label}: {cluster_id}'s mounted certificate is not (only) ACTIVE in IoT: {certifying}"
            [certificate_id] = certifying
            arn = si.certificate(self.regional, certificate_id)["certificateArn"]
            assert f"{cluster_id}-maestro-agent-policy" in si.attached_policy_names(self.regional, arn), \
                f"{label}: {cluster_id}'s certificate has lost its policy"
            # Every certificate on the agent's policy: ACTIVE (a replaced one in its grace period,
            # or none); nothing deactivated is left attached.
            targets = {target.rsplit("/", 1)[-1]: (si.certificate(self.regional, target.rsplit("/", 1)[-1]) or {}).get("status")
                       for target in si.policy_targets(self.regional, f"{cluster_id}-maestro-agent-policy")}
            assert certificate_id in targets and set(targets.values()) == {"ACTIVE"}, \
                f"{label}: the certificates on {cluster_id}'s policy: {targets}"
            om.assert_pod_may_read(side.account, side.cluster.eks, side.cluster.generation.namespace,
                                   [side.old.cert_secret_arn, side.old.config_secret_arn])
            own_filter = f"{om.TOPIC_PREFIX}/{cluster_id}/sourceevents"
            probed = self.probe(files, cluster_id, subscribe=(own_filter,))
            code = probed.get("connack", {}).get("reasonCode")
            assert code is not None and code < 0x80, f"{label}: {cluster_id} cannot connect: {probed['events']}"
            assert 0 <= probed["subacks"].get(own_filter, 0x80) < 0x80, \
                f"{label}: {cluster_id} may not subscribe to its work: {probed['events']}"
            self.ledger.record(label, cluster_id, certificate_id)
            return cluster_id, files

        mounted = dict(in_parallel(check, list(self.sides.values())))
        self.ledger.assert_nothing_retired_early()
        return mounted


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def management_accounts(emulator_url) -> dict[str, AwsAccount]:
    return {c.cluster_id: aws_accounts.assume_account(emulator_url, f"management-{c.cluster_id}",
                                                      f"arn:aws:iam::{c.account_id}:role/maestro-management", c.account_id)
            for c in CLUSTERS}


@pytest.fixture
def old_fleet(regional, management_accounts, iot_data, leak_guard) -> Iterator[dict[str, tuple]]:
    """The fleet as the old modules left it. Requested before `make_workspace`, so what the
    workspaces' teardown destroy leaves (the secrets' recovery windows, a failed step's objects)
    is removed after it."""
    made: dict[str, tuple[om.OldRegionalAgent, om.OldManagementAgent]] = {}
    try:
        for cluster in CLUSTERS:
            account = management_accounts[cluster.cluster_id]
            aws_inspect.create_eks_cluster(account, cluster.eks)
            old_regional = om.make_regional_agent(regional, cluster.cluster_id, cluster.layout, REGIONAL_NAME, leak_guard)
            old_management = om.make_management_agent(account, cluster.cluster_id, cluster.generation, old_regional,
                                                      REGIONAL_ACCOUNT_ID, cluster.eks, iot_data.ca_pem)
            made[cluster.cluster_id] = (old_regional, old_management)
        yield made
    finally:
        for cluster in CLUSTERS:
            om.remove_regional_agent(regional, cluster.cluster_id)
            if cluster.cluster_id in made:
                om.remove_management_agent(management_accounts[cluster.cluster_id], made[cluster.cluster_id][1])


@pytest.fixture
def fleet_server_secrets(regional) -> Iterator[None]:
    """The server's secrets have the deployed chart's fixed names, shared with other tests:
    gone before and after (requested before `make_workspace`: after its teardown destroy)."""
    for name in (si.DEFAULT_CERT_SECRET, si.DEFAULT_CONFIG_SECRET):
        si.force_delete_secret(regional, name)
    yield
    for name in (si.DEFAULT_CERT_SECRET, si.DEFAULT_CONFIG_SECRET):
        si.force_delete_secret(regional, name)


# ---------------------------------------------------------------- what each step's plan must show


# The identity's arguments (what a configuration can set). `broker_ca_pem` is left out: the
# override sets it for the emulator only (see the module docstring).
IDENTITY_ARGUMENTS = {"cluster_id", "regional_account_id", "eks_cluster_name", "broker_region", "namespace",
                      "service_account", "mqtt_cert_secret_name", "config_secret_name", "certificate_pem",
                      "recovery_window_in_days", "topic_prefix", "broker_endpoint", "cloudevents_client_id",
                      "kms_key_id", "kms_key_arn", "tags"}
CONSUMER_ARGUMENTS = {"consumer_id", "csr_pem", "management_account_id", "topic_prefix", "cloudevents_client_id",
                      "certificate_grace_period_hours", "tags"}


def assert_management_import_plan(plan: PlanResult, side: ManagementSide) -> None:
    """Step 2's plan: two imports, the identity updated in place, no replacement and no new
    key; of the identity's arguments only `certificate_pem` changes (to null, as the guide says)."""
    key, identity = plan.resource_change(KEY)["change"], plan.resource_change(IDENTITY)["change"]
    assert (key.get("importing") or {}).get("id") == side.old.cert_secret, plan.describe()
    assert (identity.get("importing") or {}).get("id") == side.cluster.cluster_id, plan.describe()
    assert key["actions"] in (["no-op"], ["update"]), f"the key must not be replaced:\n{plan.describe()}"
    assert identity["actions"] == ["update"], f"the identity must be updated in place:\n{plan.describe()}"
    assert not key.get("replace_paths") and not identity.get("replace_paths"), plan.describe()
    assert not key["after_unknown"].get("csr_pem"), f"the first plan rotates the key:\n{plan.describe()}"
    assert plan.changed_attributes(KEY) <= {"tags_all"}, f"the key changes more than its default tags:\n{plan.describe()}"
    assert key["after"]["algorithm"] == "RSA_2048"
    assert creds.csr_fingerprint(key["after"]["csr_pem"]) == creds.key_fingerprint(side.old_regional.private_key), \
        "the imported CSR is not for the key in the secret"
    changed = plan.changed_attributes(IDENTITY) & IDENTITY_ARGUMENTS
    assert changed == {"certificate_pem"}, (
        f"the import plan changes the identity's arguments {sorted(changed)}; the guide names only "
        f"certificate_pem (to null):\n{plan.describe()}")
    assert identity["before"]["certificate_pem"] == side.old_regional.certificate_pem
    assert identity["after"]["certificate_pem"] is None


def assert_consumer_import(plan: PlanResult, cluster: Cluster, old: om.OldRegionalAgent, address: str) -> None:
    """Step 3c's plan for one cluster: an import and an in-place update, the current certificate
    kept (the CSR is for its key), the changes the guide lists and no other argument."""
    change = plan.resource_change(address)["change"]
    assert (change.get("importing") or {}).get("id") == f"{cluster.cluster_id},{cluster.account_id}", plan.describe()
    assert change["actions"] == ["update"] and not change.get("replace_paths"), plan.describe()
    before, after = change["before"], change["after"]
    assert before["certificate_id"] == after["certificate_id"] == old.certificate_id, \
        f"{address}: the import issues a certificate:\n{plan.describe()}"
    assert not change["after_unknown"].get("certificate_pem") and after["previous_certificates"] == [], plan.describe()
    # The list layout's thing has no management_account_id yet; the per-cluster layout has no thing.
    expected = {"csr_pem"} | ({"management_account_id"} if old.has_thing else set())
    changed = plan.changed_attributes(address) & CONSUMER_ARGUMENTS
    assert changed == expected, f"{address}: arguments {sorted(changed)} change, expected {sorted(expected)}\n{plan.describe()}"
    if not old.has_thing:
        assert before["thing_arn"] is None and after["thing_arn"].endswith(f":thing/{old.thing_name}"), plan.describe()
    assert after["policy_document"] != before["policy_document"]


def assert_consumer_adopted(regional: AwsAccount, cluster: Cluster, old: om.OldRegionalAgent, state: dict[str, Any]) -> None:
    """After the import's apply: the same certificate, now on the thing, which records the
    account; the policy's module version kept, the provider's the default."""
    iot = si.iot(regional)
    assert state["certificate_id"] == old.certificate_id and state["previous_certificates"] == []
    thing = iot.describe_thing(thingName=old.thing_name)
    assert thing["attributes"].get("management_account_id") == cluster.account_id, thing["attributes"]
    if old.has_thing:  # the list layout's attributes are kept (UpdateThing merges)
        assert {k: thing["attributes"].get(k) for k in ("component", "cluster", "regional_cluster")} == \
            {"component": "maestro-agent", "cluster": cluster.cluster_id, "regional_cluster": REGIONAL_NAME}, thing["attributes"]
    assert iot.list_thing_principals(thingName=old.thing_name)["principals"] == [old.certificate_arn]
    versions = si.policy_versions(regional, old.policy_name)
    assert versions.get("1") is False and sum(versions.values()) == 1, \
        f"{old.policy_name}: the module's version 1 must stay, the provider's be the default: {versions}"


def consumer_address(cluster_id: str) -> str:
    return f'maestro_consumer.agent["{cluster_id}"]'


# The first try the guide's moved blocks are for: an operator's own configuration that copied
# the old module's `count` over its list, and imported at [0] and [1].
COUNT_FIRST_TRY = """
variable "agents" {
  type = map(object({
    management_account_id = string
    csr_pem               = string
    tags                  = map(string)
  }))
}

variable "management_cluster_ids" {
  type = list(string)
}

resource "maestro_consumer" "agent" {
  provider = maestro.regional
  count    = length(var.management_cluster_ids)

  consumer_id           = var.management_cluster_ids[count.index]
  management_account_id = var.agents[var.management_cluster_ids[count.index]].management_account_id
  csr_pem               = var.agents[var.management_cluster_ids[count.index]].csr_pem
  tags                  = var.agents[var.management_cluster_ids[count.index]].tags
}
"""


def count_imports(ids: list[str], accounts: dict[str, str]) -> str:
    return "".join(f'\nimport {{\n  to = maestro_consumer.agent[{index}]\n  id = {hcl.string(f"{cid},{accounts[cid]}")}\n}}\n'
                   for index, cid in enumerate(ids))


def state_holds_no_key(ws: TofuWorkspace) -> bool:
    return ws.run("state", "pull").stdout.count("PRIVATE KEY") == 0


# ---------------------------------------------------------------- the test


def test_the_guides_fleet_migration_keeps_every_agent_working_and_retires_every_old_key(
        old_fleet, fleet_server_secrets, make_workspace, provider_preamble, emulator_url, regional,
        management_accounts, iot_data, maestro_wire, tmp_path, leak_guard):
    blocks = guide_blocks()
    fleet = Fleet(regional, {}, maestro_wire, iot_data, tmp_path / "mounts", tmp_path / "wire-logs", leak_guard,
                  Ledger(regional))
    leak_guard.extra_trees.append(fleet.logs)
    for cluster in CLUSTERS:
        old_regional, old_management = old_fleet[cluster.cluster_id]
        ws = make_workspace(f"management-{cluster.cluster_id}")
        fleet.sides[cluster.cluster_id] = ManagementSide(cluster, management_accounts[cluster.cluster_id], old_management,
                                                         old_regional, ws, iot_data.ca_pem)
    sides = list(fleet.sides.values())

    # ------------------------------------------------ before: the old fleet works
    for side in sides:
        bundle = side.bundle()
        assert bundle.private_key.startswith(PKCS1) and bundle.is_coherent(), side.cluster
    before = fleet.checkpoint("0-before")
    regional_eks = aws_inspect.create_eks_cluster(regional, "fleet-regional-eks")["name"]
    server_ws = make_workspace("server")
    server_ws.set_config(provider_preamble + 'variable "broker_ca_pem" {\n  type = string\n}\n' + hcl.resource(
        "maestro_server_identity", "server", {"name": "fleet", "eks_cluster_name": regional_eks,
                                               "broker_ca_pem": hcl.Raw("var.broker_ca_pem"),
                                               "force_delete_without_recovery": True}, provider="maestro.regional"))
    server_ws.write_file("broker.auto.tfvars.json", json.dumps({"broker_ca_pem": iot_data.ca_pem}))
    server_ws.init()
    server_ws.apply()
    server = server_ws.state_resource(SERVER)
    # The fleet's consumers were registered with Maestro before the migration, and stay so.
    wire_flow.register_consumers(iot_data, [cluster.cluster_id for cluster in CLUSTERS])
    exchange = lambda mounts, tag: wire_flow.exchange_with_server(  # noqa: E731
        maestro_wire, iot_data, regional, server,
        [wire_flow.AgentMount(cid, files) for cid, files in mounts.items()],
        fleet.mounts / f"server-{tag}", fleet.logs / f"exchange-{tag}", guard=leak_guard)
    exchange(before, "before")

    # ------------------------------------------------ 1. prepare each management account
    def prepare(side: ManagementSide) -> None:
        cluster_id, account = side.cluster.cluster_id, side.account
        if side.old.cert_secret != f"{cluster_id}/maestro/agent-mqtt-cert":
            account.secretsmanager.update_secret(SecretId=side.old.cert_secret,
                                                 Description=described_as(blocks["management/describe-secret.sh"], cluster_id))
        placeholders = {"region": REGION, "management_account_id": account.account_id,
                        "regional_account_id": REGIONAL_ACCOUNT_ID, "cluster_id": cluster_id,
                        "cert_secret_name": side.old.cert_secret, "config_secret_name": side.old.config_secret,
                        "topic_prefix": om.TOPIC_PREFIX}
        for name in ("maestro-agent-secrets", "maestro-agent-iot"):
            document = fill_in(blocks[f"management/{name}.json"], **placeholders)
            account.iam.put_role_policy(RoleName=side.old.role_name, PolicyName=name, PolicyDocument=json.dumps(document))
        assert side.bundle().version_id == side.old.cert_version_id, "1a started a new version of the credential secret"

    in_parallel(prepare, sides)
    fleet.checkpoint("1-prepared")

    # ------------------------------------------------ 2. management: import, with the guide's configuration
    def write_management_config(side: ManagementSide) -> None:
        side.ws.write_file("providers.tf", provider_block(emulator_url, "management",
                                                          f"arn:aws:iam::{side.cluster.account_id}:role/maestro-management"))
        side.ws.write_file("main.tf", blocks["management/main.tf"])
        side.ws.write_file("emulator.tf", EMULATOR_VARIABLE)
        side.ws.write_file("emulator_override.tf", EMULATOR_OVERRIDE)
        side.set_variables()

    def import_management(side: ManagementSide) -> None:
        plan = side.ws.plan()
        assert_management_import_plan(plan, side)
        side.ws.apply()
        side.ws.assert_plan_empty()
        current = side.bundle()
        assert current.version_id == side.old.cert_version_id and current.is_coherent(), \
            "the import's apply changed the credential secret"
        identity = side.ws.state_resource(IDENTITY)
        config = json.loads(side.account.secretsmanager.get_secret_value(SecretId=side.old.config_secret)["SecretString"])
        assert config == {"config": identity["agent_config"], "consumerName": side.cluster.cluster_id}, config
        for line in (f'brokerHost: "{side.old_regional.endpoint}:8883"',
                     f'sourceEvents: "{om.TOPIC_PREFIX}/{side.cluster.cluster_id}/sourceevents"',
                     f'agentEvents: "{om.TOPIC_PREFIX}/{side.cluster.cluster_id}/agentevents"'):
            assert line in config["config"], f"the rewritten config lacks {line!r}:\n{config['config']}"

    def first_import(side: ManagementSide) -> None:
        write_management_config(side)
        side.ws.init()
        import_management(side)
        # "then delete the module's two inline policies, which the provider does not manage"
        for name in side.old.inline_policies:
            side.account.iam.delete_role_policy(RoleName=side.old.role_name, PolicyName=name)
        assert aws_inspect.inline_policy_names(side.account, side.old.role_name) == ["maestro-agent-iot", "maestro-agent-secrets"]

    in_parallel(first_import, sides)
    fleet.checkpoint("2-management-imported")

    # The rollback of step 2, for mc01: forget both, nothing in AWS changes; then import again.
    side = fleet.sides["mc01"]
    for name in ("main.tf", "emulator_override.tf"):
        side.ws.remove_file(name)
    side.ws.write_file("rollback.tf", blocks["management/rollback.tf"])
    plan = side.ws.plan()
    assert plan.actions() == {KEY: ["forget"], IDENTITY: ["forget"]}, plan.describe()
    side.ws.apply()
    assert side.ws.state_resources() == {}
    assert side.bundle().version_id == side.old.cert_version_id
    fleet.checkpoint("2r-management-rolled-back")
    side.ws.remove_file("rollback.tf")
    write_management_config(side)
    import_management(side)
    csr = {s.cluster.cluster_id: json.loads(s.ws.run("output", "-json", "csr_pem").stdout) for s in sides}

    # ------------------------------------------------ 3. regional: a count first try, moved to keys; rollback; the fleet
    accounts = {c.cluster_id: c.account_id for c in CLUSTERS}
    olds = {c.cluster_id: old_fleet[c.cluster_id][0] for c in CLUSTERS}
    regional_side = RegionalSide(make_workspace("regional"))
    rws = regional_side.ws
    rws.write_file("providers.tf", provider_block(emulator_url, "regional", aws_accounts.REGIONAL_ROLE_ARN))
    regional_side.agents = {cid: {"management_account_id": accounts[cid], "csr_pem": csr[cid],
                                  # the old policy's tags without the old provider's default_tags
                                  "tags": {k: v for k, v in olds[cid].policy_tags.items() if k not in om.OLD_DEFAULT_TAGS}}
                            for cid in OLD_LIST}
    rws.write_file("main.tf", COUNT_FIRST_TRY + count_imports(OLD_LIST, accounts))
    regional_side.write_variables(management_cluster_ids=OLD_LIST)
    rws.init()
    plan = rws.plan()
    for index, cid in enumerate(OLD_LIST):
        assert_consumer_import(plan, next(c for c in CLUSTERS if c.cluster_id == cid), olds[cid], f"maestro_consumer.agent[{index}]")
    rws.apply()
    rws.assert_plan_empty()
    fleet.checkpoint("3a-imported-by-count")

    # The guide's fleet configuration and its moved blocks; mc01 joins.
    regional_side.agents["mc01"] = {"management_account_id": accounts["mc01"], "csr_pem": csr["mc01"],
                                    "tags": {k: v for k, v in olds["mc01"].policy_tags.items() if k not in om.OLD_DEFAULT_TAGS}}
    rws.write_file("main.tf", blocks["regional/main.tf"])
    rws.write_file("moved.tf", blocks["regional/moved.tf"])
    regional_side.write_variables()
    plan = rws.plan()
    assert plan.actions() == {consumer_address("mc01"): ["update"]}, plan.describe()
    for index, cid in enumerate(OLD_LIST):
        change = plan.resource_change(consumer_address(cid))
        assert change.get("previous_address") == f"maestro_consumer.agent[{index}]", plan.describe()
        assert not change["change"].get("importing"), f"{cid} is imported again after its move:\n{plan.describe()}"
    assert_consumer_import(plan, CLUSTERS[0], olds["mc01"], consumer_address("mc01"))
    rws.apply()
    rws.assert_plan_empty()
    for cluster in CLUSTERS:
        assert_consumer_adopted(regional, cluster, olds[cluster.cluster_id], rws.state_resource(consumer_address(cluster.cluster_id)))
    fleet.checkpoint("3b-fleet-imported")

    # The rollback of step 3: forget the fleet, the module's policy version the default again.
    for name in ("main.tf", "moved.tf"):
        rws.remove_file(name)
    rws.write_file("rollback.tf", blocks["regional/rollback.tf"])
    plan = rws.plan()
    assert plan.actions() == {consumer_address(c.cluster_id): ["forget"] for c in CLUSTERS}, plan.describe()
    rws.apply()
    assert rws.state_resources() == {}
    for cluster in CLUSTERS:
        si.iot(regional).set_default_policy_version(policyName=olds[cluster.cluster_id].policy_name, policyVersionId="1")
    fleet.checkpoint("3r-regional-rolled-back")
    # And the whole fleet imported again by the import block's for_each.
    rws.remove_file("rollback.tf")
    rws.write_file("main.tf", blocks["regional/main.tf"])
    plan = rws.plan()
    assert plan.actions() == {consumer_address(c.cluster_id): ["update"] for c in CLUSTERS}, plan.describe()
    for cluster in CLUSTERS:
        change = plan.resource_change(consumer_address(cluster.cluster_id))["change"]
        assert (change.get("importing") or {}).get("id") == f"{cluster.cluster_id},{cluster.account_id}", plan.describe()
        assert change["after"]["certificate_id"] == olds[cluster.cluster_id].certificate_id, plan.describe()
    rws.apply()
    rws.assert_plan_empty()
    handed_back = regional_side.output()
    fleet.checkpoint("3c-fleet-imported-again")

    # ------------------------------------------------ 4. management: the certificate the agent already has
    def give_certificate(side: ManagementSide) -> None:
        entry = handed_back[side.cluster.cluster_id]
        assert entry["endpoint"] == side.old_regional.endpoint
        assert si.certificate_der(entry["certificate_pem"]) == si.certificate_der(side.old_regional.certificate_pem), \
            "step 4 hands over another certificate than the one the agent has"
        side.set_variables(certificate_pem=entry["certificate_pem"])
        side.ws.apply()
        side.ws.assert_plan_empty()
        current = side.bundle()
        assert current.is_coherent()
        assert si.certificate_der(current.certificate) == si.certificate_der(side.old_regional.certificate_pem)
        assert current.key_fingerprint == creds.key_fingerprint(side.old_regional.private_key)
        key, identity = side.ws.state_resource(KEY), side.ws.state_resource(IDENTITY)
        assert key["public_key_fingerprint"] == identity["certificate_fingerprint"] == current.key_fingerprint

    in_parallel(give_certificate, sides)
    fleet.checkpoint("4-certificates")

    # ------------------------------------------------ 5. rotate once: stage, issue, promote
    promoted_from: dict[str, str] = {}

    def stage(side: ManagementSide) -> str:
        promoted_from[side.cluster.cluster_id] = side.bundle().version_id
        side.set_variables(key_algorithm="ECDSA_P256", key_rotation={"generation": "1"})
        plan = side.ws.plan()
        assert plan.actions() == {KEY: ["update"]}, plan.describe()
        assert plan.resource_change(KEY)["change"]["after_unknown"].get("csr_pem") is True, plan.describe()
        side.ws.apply()
        side.ws.assert_plan_empty()
        staged = side.bundle("AWSPENDING", guard=leak_guard)
        assert staged is not None and staged.certificate is None and staged.private_key.startswith(PKCS8)
        assert side.bundle().version_id == promoted_from[side.cluster.cluster_id], "staging changed what the agent mounts"
        new_csr = json.loads(side.ws.run("output", "-json", "csr_pem").stdout)
        assert creds.csr_fingerprint(new_csr) == staged.key_fingerprint
        return new_csr

    new_csr = dict(zip((s.cluster.cluster_id for s in sides), in_parallel(stage, sides)))
    fleet.checkpoint("5a-staged")

    for cid, csr_pem in new_csr.items():
        regional_side.agents[cid]["csr_pem"] = csr_pem
    regional_side.write_variables()
    plan = rws.plan()
    assert plan.actions() == {consumer_address(c.cluster_id): ["update"] for c in CLUSTERS}, plan.describe()
    for cluster in CLUSTERS:
        change = plan.resource_change(consumer_address(cluster.cluster_id))["change"]
        assert change["after_unknown"].get("certificate_id") is True, plan.describe()
        assert [p["certificate_id"] for p in change["after"]["previous_certificates"]] == \
            [olds[cluster.cluster_id].certificate_id], plan.describe()
    rws.apply()
    rws.assert_plan_empty()
    handed_back = regional_side.output()
    for cluster in CLUSTERS:
        described = si.certificate(regional, olds[cluster.cluster_id].certificate_id)
        assert described["status"] == "ACTIVE", f"{cluster.cluster_id}'s old certificate must stay ACTIVE in its grace period"
    fleet.checkpoint("5b-issued")

    def promote(side: ManagementSide) -> None:
        side.set_variables(certificate_pem=handed_back[side.cluster.cluster_id]["certificate_pem"])
        side.ws.apply()
        side.ws.assert_plan_empty()
        current = side.bundle(guard=leak_guard)
        assert current.is_coherent() and current.private_key.startswith(PKCS8)
        assert current.certificate == handed_back[side.cluster.cluster_id]["certificate_pem"]
        assert current.key_fingerprint == side.ws.state_resource(KEY)["public_key_fingerprint"]
        previous = side.bundle("AWSPREVIOUS")
        assert previous is not None and previous.version_id == promoted_from[side.cluster.cluster_id]
        assert side.bundle("AWSPENDING") is None

    in_parallel(promote, sides)
    rotated = fleet.checkpoint("5c-promoted")
    for cid, files in before.items():
        assert fleet.connects(files, cid), f"{cid}'s old pair must keep connecting in the grace period"

    # ------------------------------------------------ 6. retire, once every agent mounts its new pair
    for cid, history in fleet.ledger.mounted.items():
        assert history[-1][1] != olds[cid].certificate_id, f"{cid} does not mount its new pair yet"
    regional_side.grace_hours = 0
    regional_side.write_variables()
    plan = rws.plan()
    assert plan.actions() == {consumer_address(c.cluster_id): ["update"] for c in CLUSTERS}, plan.describe()
    for cluster in CLUSTERS:
        change = plan.resource_change(consumer_address(cluster.cluster_id))["change"]
        assert change["after"]["previous_certificates"] == [], plan.describe()
    rws.apply()
    rws.assert_plan_empty()
    for cluster in CLUSTERS:
        old = olds[cluster.cluster_id]
        assert si.certificate(regional, old.certificate_id) is None, f"{cluster.cluster_id}'s old certificate still exists"
        assert si.certificates_certifying(regional, creds.key_fingerprint(old.private_key)) == {}
    final = fleet.checkpoint("6-retired")

    # ------------------------------------------------ the wire, and the old keys
    exchange(final, "after")
    for cid, files in before.items():
        refused = fleet.probe(files, cid)
        assert refused.get("connack", {}).get("reasonCode") == NOT_AUTHORIZED, refused["events"]
    for ws in [rws, *(s.ws for s in sides)]:
        assert state_holds_no_key(ws), f"{ws.root.name}: the state holds a private key"
    for cid, history in fleet.ledger.mounted.items():
        assert history[-1][1] == history[-2][1] != olds[cid].certificate_id, \
            f"{cid}: the retiring apply changed what the agent mounts: {history}"
    assert rotated.keys() == final.keys() == {c.cluster_id for c in CLUSTERS}
