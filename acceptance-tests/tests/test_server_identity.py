"""Acceptance tests for `maestro_server_identity`: the Maestro server's identity in the regional
account, through the real tofu CLI and provider binary against the emulator.

Every test reads the regional account with boto3 (harness/server_identity.py holds what the
brief fixes: names, topics, documents) and never believes `tofu show` alone. The server's
private key exists only in the certificate secret: each test that creates one reads it back and
registers it with the leak guard, whose scan after the test proves it never reached state,
plans, CLI output or the TF_LOG=trace logs.

The default secret names (`maestro/server-cert`, `maestro/server-config`) are fixed by the
deployed chart and a destroy only schedules their deletion, so every test force-deletes the
secrets it used after its teardown destroy: the next test, or a wire test, can create them
again. Tests other than the create and import ones use secret names of their own.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from harness import aws_inspect, hcl
from harness import credentials as creds
from harness import policy_documents as docs
from harness import server_identity as si
from harness.emulator import emulator_calls
from harness.faults import Faults
from harness.tofu_workspace import TofuWorkspace

pytestmark = pytest.mark.acceptance

RESOURCE_TYPE = si.RESOURCE_TYPE
ADDRESS = f"{RESOURCE_TYPE}.server"
# Everything a chart or a consumer needs from the server, known before the first apply.
PLAN_TIME_ATTRIBUTES = ("role_arn", "policy_document", "helm_values", "server_flags", "source_id")
PROVIDER_CRASH = re.compile(r"panicked at|Plugin did not respond|plugin crashed|unexpected EOF", re.IGNORECASE)


# ---------------------------------------------------------------- configuration helpers


def server_block(name: str, eks: str, label: str = "server", **arguments: Any) -> str:
    return hcl.resource(RESOURCE_TYPE, label, {"name": name, "eks_cluster_name": eks, **arguments},
                        provider="maestro.regional")


def outputs_block(label: str = "server") -> str:
    return "".join(f'output "{name}" {{\n  value = {RESOURCE_TYPE}.{label}.{name}\n}}\n' for name in PLAN_TIME_ATTRIBUTES)


def own_secrets(name: str) -> dict[str, str]:
    """Secret names of this test's own, so tests never share (or block) the chart's defaults."""
    return {"certificate_secret_name": f"{name}/server-cert", "config_secret_name": f"{name}/server-config"}


def expected_for(name: str, eks: str, arguments: dict[str, Any]) -> si.Expected:
    return si.Expected(name, eks,
                       cert_secret=arguments.get("certificate_secret_name", si.DEFAULT_CERT_SECRET),
                       config_secret=arguments.get("config_secret_name", si.DEFAULT_CONFIG_SECRET),
                       namespace=arguments.get("namespace", si.DEFAULT_NAMESPACE),
                       client_id_prefix=arguments.get("client_id_prefix", si.DEFAULT_CLIENT_ID_PREFIX),
                       subscription_type=arguments.get("subscription_type", "shared"),
                       topic_prefix=arguments.get("topic_prefix", si.DEFAULT_PREFIX),
                       tags_all=tuple(sorted((arguments.get("tags") or {}).items())))


def any_unknown(marker: Any) -> bool:
    """`after_unknown` marks an unknown value `true`, and a partly unknown object or list with
    nested markers."""
    if marker is True:
        return True
    if isinstance(marker, dict):
        return any(any_unknown(v) for v in marker.values())
    if isinstance(marker, list):
        return any(any_unknown(v) for v in marker)
    return False


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def make_regional_cluster(regional) -> Callable[[str], str]:
    """An EKS cluster in the regional account (the server runs there), made like test_agent_identity's."""
    def make(name: str) -> str:
        aws_inspect.create_eks_cluster(regional, name)
        return name
    return make


@pytest.fixture
def purge_secrets(regional) -> Iterator[Callable[..., None]]:
    """Names registered here are force-deleted after the test. Requested by `server_workspace`
    before `make_workspace`, so this teardown runs after the workspaces' teardown destroy."""
    names: list[str] = []

    def register(*secret_names: str) -> None:
        names.extend(secret_names)

    yield register
    for name in names:
        si.force_delete_secret(regional, name)


@pytest.fixture
def server_workspace(purge_secrets, make_workspace, provider_preamble) -> Callable[..., TofuWorkspace]:
    def make(*blocks: str, name: str = "ws") -> TofuWorkspace:
        ws = make_workspace(name)
        ws.set_config(provider_preamble + "\n" + "\n".join(blocks))
        ws.init()
        return ws
    return make


@pytest.fixture
def faults(emulator_url) -> Iterator[Faults]:
    armed = Faults(emulator_url)
    yield armed
    armed.clear()


def configure(ws: TofuWorkspace, preamble: str, *blocks: str) -> None:
    ws.set_config(preamble + "\n" + "\n".join(blocks))


# ---------------------------------------------------------------- 1. create


def test_create_writes_every_object_and_the_plan_knows_the_derived_values(
        server_workspace, purge_secrets, regional, make_regional_cluster, leak_guard):
    eks = make_regional_cluster("acc-server-create-eks")
    expected = si.Expected("regional-01", eks)
    purge_secrets(expected.cert_secret, expected.config_secret)
    ws = server_workspace(server_block("regional-01", eks), outputs_block())

    # Before anything exists: what a chart or a consumer needs is already known.
    plan = ws.assert_plan_changes({ADDRESS: "create"})
    change = plan.resource_change(ADDRESS)["change"]
    planned = change["after"]
    for name in PLAN_TIME_ATTRIBUTES:
        assert not any_unknown(change["after_unknown"].get(name)), f"{name} is unknown at plan time\n{plan.describe()}"
        output = plan.plan["output_changes"][name]
        assert not any_unknown(output.get("after_unknown")), f"output {name} is unknown at plan time"
        assert output["after"] == planned[name], f"output {name} differs from the attribute"
    assert planned["role_arn"] == expected.role_arn
    docs.assert_same_policy(planned["policy_document"], expected.iot_policy(), "planned policy_document")
    si.assert_helm_values(planned["helm_values"], expected)
    assert planned["server_flags"] == expected.server_flags()
    assert planned["source_id"] == "maestro"
    # The key does not exist before the apply, so neither does its certificate.
    assert change["after_unknown"].get("certificate_pem") is True, plan.describe()

    ws.apply()
    ws.assert_plan_empty()
    state = ws.state_resource(ADDRESS)
    bundle = si.assert_server_in_aws(regional, state, expected, leak_guard)
    assert state["previous_certificates"] == []
    assert si.certificates_certifying(regional, bundle.key_fingerprint) == {state["certificate_id"]: "ACTIVE"}
    assert len(aws_inspect.associations(regional, eks)) == 1
    # What the plan promised is what the apply made, and the outputs show it.
    shown = json.loads(ws.run("output", "-json").stdout)
    for name in PLAN_TIME_ATTRIBUTES:
        assert planned[name] == state[name], f"{name}: planned {planned[name]!r}, applied {state[name]!r}"
        assert shown[name]["value"] == state[name], name


# ---------------------------------------------------------------- 2. update in place vs replace


def test_tags_client_id_prefix_and_subscription_update_in_place_and_name_replaces(
        server_workspace, purge_secrets, provider_preamble, regional, make_regional_cluster, leak_guard):
    name = "acc-srv-update"
    eks = make_regional_cluster("acc-srv-update-eks")
    base = {**own_secrets(name), "force_delete_without_recovery": True}
    purge_secrets(*own_secrets(name).values())
    ws = server_workspace(server_block(name, eks, **base))
    ws.apply()
    first = ws.state_resource(ADDRESS)
    expected = expected_for(name, eks, base)
    first_bundle = si.assert_server_in_aws(regional, first, expected, leak_guard)
    first_policy_version = si.default_policy_version(regional, expected.policy_name)
    first_config_version = si.read_config(regional, expected.config_secret).version_id
    role_created = aws_inspect.get_role(regional, expected.role_name)["CreateDate"]

    def assert_same_certificate_and_role(state: dict[str, Any]) -> None:
        assert state["certificate_id"] == first["certificate_id"], "an update must not issue a new certificate"
        assert state["credential_version_id"] == first["credential_version_id"], "the certificate bundle was rewritten"
        assert state["association_id"] == first["association_id"]
        assert aws_inspect.get_role(regional, expected.role_name)["CreateDate"] == role_created, "the role was recreated"

    # Tags: every tagged object follows; the policy and the config are left alone.
    tagged_args = {**base, "tags": {"team": "regional"}}
    configure(ws, provider_preamble, server_block(name, eks, **tagged_args))
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"tags", "tags_all"}})
    ws.apply()
    ws.assert_plan_empty()
    tagged = ws.state_resource(ADDRESS)
    bundle = si.assert_server_in_aws(regional, tagged, expected_for(name, eks, tagged_args), leak_guard)
    assert bundle.key_fingerprint == first_bundle.key_fingerprint
    assert_same_certificate_and_role(tagged)
    assert si.default_policy_version(regional, expected.policy_name) == first_policy_version, \
        "a tag change wrote a new IoT policy version"

    # Client ID prefix: a new default policy version (Connect), the config is left alone (it names no client ID).
    prefixed_args = {**tagged_args, "client_id_prefix": "mq-server"}
    configure(ws, provider_preamble, server_block(name, eks, **prefixed_args))
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {
        "client_id_prefix", "policy_document", "iot_policy", "server_flags"}})
    ws.apply()
    ws.assert_plan_empty()
    prefixed = ws.state_resource(ADDRESS)
    bundle = si.assert_server_in_aws(regional, prefixed, expected_for(name, eks, prefixed_args), leak_guard)
    assert bundle.key_fingerprint == first_bundle.key_fingerprint
    assert_same_certificate_and_role(prefixed)
    prefixed_policy_version = si.default_policy_version(regional, expected.policy_name)
    assert prefixed_policy_version != first_policy_version, "the IoT policy was not given a new default version"
    assert si.read_config(regional, expected.config_secret).version_id == first_config_version, \
        "the config secret was rewritten although the config did not change"

    # Broadcast subscription: a new default policy version (Subscribe) and a rewritten config (agentEvents).
    changed_args = {**prefixed_args, "subscription_type": "broadcast"}
    configure(ws, provider_preamble, server_block(name, eks, **changed_args))
    plan = ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {
        "subscription_type", "policy_document", "iot_policy", "agent_events_topic", "server_flags", "server_config"}})
    changed_expected = expected_for(name, eks, changed_args)
    planned = plan.resource_change(ADDRESS)["change"]["after"]
    assert planned["agent_events_topic"] == f"{si.DEFAULT_PREFIX}/+/agentevents"
    assert planned["server_flags"] == changed_expected.server_flags()
    ws.apply()
    ws.assert_plan_empty()
    changed = ws.state_resource(ADDRESS)
    bundle = si.assert_server_in_aws(regional, changed, changed_expected, leak_guard)
    assert bundle.key_fingerprint == first_bundle.key_fingerprint
    assert_same_certificate_and_role(changed)
    assert si.default_policy_version(regional, expected.policy_name) not in (first_policy_version, prefixed_policy_version), \
        "the IoT policy was not given a new default version"
    assert si.read_config(regional, expected.config_secret).version_id != first_config_version, \
        "the config secret was not rewritten"
    assert si.attached_policy_names(regional, changed["certificate_arn"]) == [expected.policy_name]

    # The name names the role and the policy: a new name is a new identity.
    configure(ws, provider_preamble, server_block(f"{name}-2", eks, **changed_args))
    plan = ws.assert_plan_changes({ADDRESS: "replace"})
    assert ["name"] in plan.resource_change(ADDRESS)["change"]["replace_paths"], plan.describe()
    configure(ws, provider_preamble, server_block(name, eks, **changed_args))
    ws.assert_plan_empty()


# ---------------------------------------------------------------- 3. rotation with grace


def test_rotation_issues_a_new_key_and_keeps_the_old_certificate_for_the_grace_period(
        server_workspace, purge_secrets, provider_preamble, regional, make_regional_cluster, leak_guard):
    name = "acc-srv-rotate"
    eks = make_regional_cluster("acc-srv-rotate-eks")
    base = {**own_secrets(name), "force_delete_without_recovery": True}
    purge_secrets(*own_secrets(name).values())
    expected = expected_for(name, eks, base)
    ws = server_workspace(server_block(name, eks, rotation_triggers={"generation": "1"}, **base))
    ws.apply()
    first = ws.state_resource(ADDRESS)
    first_bundle = si.assert_server_in_aws(regional, first, expected, leak_guard)
    assert first["certificate_grace_period_hours"] == 24

    configure(ws, provider_preamble, server_block(name, eks, rotation_triggers={"generation": "2"}, **base))
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {
        "certificate_id", "certificate_pem", "public_key_fingerprint", "previous_certificates"}})
    started = datetime.now(timezone.utc).replace(microsecond=0)
    ws.apply()
    ws.assert_plan_empty()
    rotated = ws.state_resource(ADDRESS)
    bundle = si.assert_server_in_aws(regional, rotated, expected, leak_guard)
    assert rotated["certificate_id"] != first["certificate_id"]
    assert bundle.version_id != first_bundle.version_id, "the bundle was not replaced"
    assert bundle.private_key != first_bundle.private_key and bundle.key_fingerprint != first_bundle.key_fingerprint, \
        "rotation kept the old key"
    [previous] = rotated["previous_certificates"]
    assert (previous["certificate_id"], previous["certificate_arn"]) == (first["certificate_id"], first["certificate_arn"])
    retire_after = parse_time(previous["retire_after"])
    assert started + timedelta(hours=24) <= retire_after <= datetime.now(timezone.utc) + timedelta(hours=24), retire_after
    # Both keys have exactly one certificate, both ACTIVE: the old replicas keep connecting.
    assert si.certificates_certifying(regional, first_bundle.key_fingerprint) == {first["certificate_id"]: "ACTIVE"}
    assert si.certificates_certifying(regional, bundle.key_fingerprint) == {rotated["certificate_id"]: "ACTIVE"}

    # No grace any more: the next apply deactivates and deletes the old certificate.
    configure(ws, provider_preamble, server_block(name, eks, rotation_triggers={"generation": "2"},
                                                  certificate_grace_period_hours=0, **base))
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"previous_certificates"}})
    ws.apply()
    ws.assert_plan_empty()
    retired = ws.state_resource(ADDRESS)
    assert retired["previous_certificates"] == []
    assert retired["certificate_id"] == rotated["certificate_id"]
    assert retired["credential_version_id"] == rotated["credential_version_id"]
    assert si.certificate(regional, first["certificate_id"]) is None, "the old certificate was not deleted"
    assert si.certificates_certifying(regional, first_bundle.key_fingerprint) == {}
    si.assert_server_in_aws(regional, retired, expected, leak_guard)


# ---------------------------------------------------------------- 4. drift


def test_deleted_inline_policy_and_deactivated_certificate_show_in_the_plan_and_are_repaired(
        server_workspace, purge_secrets, regional, make_regional_cluster, leak_guard):
    name = "acc-srv-drift"
    eks = make_regional_cluster("acc-srv-drift-eks")
    base = {**own_secrets(name), "force_delete_without_recovery": True}
    purge_secrets(*own_secrets(name).values())
    expected = expected_for(name, eks, base)
    ws = server_workspace(server_block(name, eks, **base))
    ws.apply()
    state = ws.state_resource(ADDRESS)
    si.assert_server_in_aws(regional, state, expected, leak_guard)

    regional.iam.delete_role_policy(RoleName=expected.role_name, PolicyName=si.IOT_POLICY_NAME)
    si.iot(regional).update_certificate(certificateId=state["certificate_id"], newStatus="INACTIVE")
    plan = ws.plan()
    assert plan.exit_code == 2, plan.describe()
    assert plan.actions() == {ADDRESS: ["update"]}, plan.describe()
    assert {"iot_policy", "certificate_status"} <= plan.changed_attributes(ADDRESS), plan.describe()

    ws.apply()
    assert aws_inspect.inline_policy(regional, expected.role_name, si.IOT_POLICY_NAME) is not None, "inline policy not restored"
    assert si.certificate(regional, state["certificate_id"])["status"] == "ACTIVE", "certificate not reactivated"
    ws.assert_plan_empty()
    repaired = ws.state_resource(ADDRESS)
    assert repaired["certificate_id"] == state["certificate_id"], "a deactivated certificate is reactivated, not replaced"
    si.assert_server_in_aws(regional, repaired, expected, leak_guard)

    # The IoT policy widened out of band (a new default version letting it connect as anyone).
    wide = expected.iot_policy()
    wide["Statement"][0]["Resource"] = si.iot_arn("client", "*")
    si.iot(regional).create_policy_version(policyName=expected.policy_name, policyDocument=json.dumps(wide), setAsDefault=True)
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"policy_document"}})
    ws.apply()
    ws.assert_plan_empty()
    si.assert_server_in_aws(regional, ws.state_resource(ADDRESS), expected, leak_guard)


# ---------------------------------------------------------------- 5. import


# What AWS does not hold exactly, so import cannot recover it:
# - key_created_at: AWS keeps no key-generation time. Import takes the creation date of the
#   bundle's secret version (written by the same apply, moments after the key was made, and
#   dated to the second), so it comes back close to, not equal to, the applied value: checked
#   below to within a few seconds instead.
# Everything else (the configuration here sets only arguments AWS keeps, or defaults) must
# come back exactly.
IMPORT_IGNORE = frozenset({"key_created_at"})
KEY_DATE_TOLERANCE = timedelta(seconds=5)


def test_import_by_name(server_workspace, purge_secrets, regional, make_regional_cluster, leak_guard):
    eks = make_regional_cluster("acc-srv-import-eks")
    expected = si.Expected("regional-01", eks)
    purge_secrets(expected.cert_secret, expected.config_secret)
    ws = server_workspace(server_block("regional-01", eks))
    ws.apply()
    applied = ws.state_resource(ADDRESS)
    si.assert_server_in_aws(regional, applied, expected, leak_guard)

    imported = ws.verify_import(ADDRESS, "regional-01", ignore=IMPORT_IGNORE)
    drift = abs(parse_time(imported["key_created_at"]) - parse_time(applied["key_created_at"]))
    assert drift <= KEY_DATE_TOLERANCE, f"key_created_at {applied['key_created_at']} came back as {imported['key_created_at']}"
    ws.assert_plan_empty()
    si.assert_server_in_aws(regional, imported, expected, leak_guard)


def test_import_of_a_missing_server_fails(server_workspace, make_regional_cluster):
    eks = make_regional_cluster("acc-srv-import-missing-eks")
    ws = server_workspace(server_block("acc-srv-missing", eks, **own_secrets("acc-srv-missing")))
    result = ws.expect_error(["import", "-input=false", "-no-color", ADDRESS, "acc-srv-missing"],
                             r"(?i)(cannot import non-existent|nothing to import|not found|does not exist|no such|\bno\b.*\bexists\b)")
    assert "acc-srv-missing" in result.stderr, result.describe()
    assert not PROVIDER_CRASH.search(result.output), result.describe()
    assert ws.state_resources() == {}


# ---------------------------------------------------------------- 6. destroy


def test_destroy_deletes_certificates_policy_role_association_and_secrets(
        server_workspace, purge_secrets, provider_preamble, regional, make_regional_cluster, leak_guard):
    eks = make_regional_cluster("acc-srv-destroy-eks")
    # A neighbour on the same cluster that destroy must leave alone.
    neighbour_arn = aws_inspect.create_pod_role(regional, "acc-srv-destroy-neighbour")
    neighbour = aws_inspect.create_association(regional, eks, "other", "other-sa", neighbour_arn)

    a_args = {**own_secrets("acc-srv-destroy-a"), "rotation_triggers": {"generation": "1"}}
    b_args = {**own_secrets("acc-srv-destroy-b"), "namespace": "maestro-server-b", "force_delete_without_recovery": True}
    purge_secrets(*own_secrets("acc-srv-destroy-a").values(), *own_secrets("acc-srv-destroy-b").values())
    a_expected = expected_for("acc-srv-destroy-a", eks, a_args)
    b_expected = expected_for("acc-srv-destroy-b", eks, b_args)

    def blocks(generation: str) -> tuple[str, str]:
        return (server_block("acc-srv-destroy-a", eks, label="a", **{**a_args, "rotation_triggers": {"generation": generation}}),
                server_block("acc-srv-destroy-b", eks, label="b", **b_args))

    ws = server_workspace(*blocks("1"))
    ws.apply()
    a_first = ws.state_resource(f"{RESOURCE_TYPE}.a")
    a_keys = [si.assert_server_in_aws(regional, a_first, a_expected, leak_guard).key_fingerprint]
    # Rotated, so `a` has a certificate in its grace period too: destroy must take both.
    configure(ws, provider_preamble, *blocks("2"))
    ws.apply()
    a = ws.state_resource(f"{RESOURCE_TYPE}.a")
    b = ws.state_resource(f"{RESOURCE_TYPE}.b")
    a_keys.append(si.assert_server_in_aws(regional, a, a_expected, leak_guard).key_fingerprint)
    b_key = si.assert_server_in_aws(regional, b, b_expected, leak_guard).key_fingerprint
    assert [p["certificate_id"] for p in a["previous_certificates"]] == [a_first["certificate_id"]]

    ws.destroy()
    assert ws.state_resources() == {}
    si.assert_nothing_left(regional, a_expected, [a_first["certificate_id"], a["certificate_id"]], a_keys,
                           force_deleted=False, recovery_days=7)
    si.assert_nothing_left(regional, b_expected, [b["certificate_id"]], [b_key], force_deleted=True)
    assert [x.association_id for x in aws_inspect.associations(regional, eks)] == [neighbour.association_id]
    assert aws_inspect.get_role(regional, "acc-srv-destroy-neighbour") is not None

    aws_inspect.delete_association(regional, eks, neighbour.association_id)
    aws_inspect.delete_role_completely(regional, "acc-srv-destroy-neighbour")


# ---------------------------------------------------------------- 7. invalid configuration


INVALID_CASES = [
    pytest.param("name", "bad name", id="name-with-space"),
    pytest.param("topic_prefix", "maestro/consumers", id="topic-prefix-two-levels"),
    pytest.param("client_id_prefix", "maestro*", id="client-id-prefix-wildcard"),
    pytest.param("subscription_type", "fanout", id="subscription-type-unknown"),
]


def account_snapshot(regional, eks: str) -> dict[str, Any]:
    return {"roles": aws_inspect.all_role_names(regional), "iot_policies": si.all_policy_names(regional),
            "certificates": si.all_certificate_ids(regional), "secrets": si.all_secret_names(regional),
            "associations": {a.association_id for a in aws_inspect.associations(regional, eks)}}


@pytest.mark.parametrize("attribute, bad_value", INVALID_CASES)
def test_bad_input_fails_at_validate_naming_the_attribute_and_creates_nothing(
        server_workspace, purge_secrets, regional, make_regional_cluster, attribute, bad_value):
    eks = make_regional_cluster("acc-srv-invalid-eks")
    arguments: dict[str, Any] = {"name": "acc-srv-invalid", **own_secrets("acc-srv-invalid"), attribute: bad_value}
    purge_secrets(*own_secrets("acc-srv-invalid").values())
    before = account_snapshot(regional, eks)
    ws = server_workspace(server_block(arguments.pop("name"), eks, **arguments))
    line = next(n for n, text in enumerate((ws.root / "main.tf").read_text().splitlines(), start=1)
                if re.match(rf"\s*{attribute}\s*=", text))

    report = ws.validate_json()
    assert report["valid"] is False
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    pinned = [d for d in errors if d.get("range", {}).get("start", {}).get("line") == line]
    assert pinned, f"no error pinned to line {line} ({attribute}): {json.dumps(errors, indent=1)}"
    text = " ".join(f"{d['summary']} {d.get('detail', '')}" for d in pinned)
    assert attribute in text, f"the error does not name {attribute}: {text!r}"
    # The value is named too, so the user sees what was refused.
    assert bad_value in text, f"the error does not show the refused value {bad_value!r}: {text!r}"

    for command in (["validate", "-no-color"], ["plan", "-no-color", "-input=false"],
                    ["apply", "-auto-approve", "-no-color", "-input=false"]):
        result = ws.expect_error(command, re.escape(attribute))
        assert not PROVIDER_CRASH.search(result.output), result.describe()
    assert ws.state_resources() == {}
    after = account_snapshot(regional, eks)
    assert after == before, {k: sorted(set(after[k]) ^ set(before[k])) for k in before if after[k] != before[k]}


# ---------------------------------------------------------------- 8. AWS calls per server


READ_PREFIXES = ("Get", "Describe", "List")
# The objects a server owns: its create must write each, its destroy must delete each.
CREATE_WRITES = {"iot:CreatePolicy", "iot:CreateCertificateFromCsr", "iot:AttachPolicy", "iam:CreateRole",
                 "iam:PutRolePolicy", "eks:CreatePodIdentityAssociation", "secretsmanager:CreateSecret"}
DESTROY_WRITES = {"iot:DetachPolicy", "iot:UpdateCertificate", "iot:DeleteCertificate", "iot:DeletePolicy",
                  "iam:DeleteRolePolicy", "iam:DeleteRole", "eks:DeletePodIdentityAssociation",
                  "secretsmanager:DeleteSecret"}
# Upper bounds per server (about twice what the objects need, so a loop or a retry storm fails).
MAX_PER_SERVER = {"create": 45, "refresh": 25, "destroy": 35}




def set_iam_propagation(url: str, seconds: float | None) -> None:
    request = urllib.request.Request(f"{url}/maestro-emulator/config", method="POST",
                                     data=json.dumps({"iamPropagationSeconds": seconds}).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


def is_write(operation: str) -> bool:
    service, action = operation.split(":", 1)
    if service == "sts":
        return False
    return not action.startswith(READ_PREFIXES)


def test_aws_calls_per_server_for_create_refresh_and_destroy(
        server_workspace, purge_secrets, regional, make_regional_cluster, emulator_url, leak_guard, capsys):
    """Counted at the emulator, which sees every call, for 1 and 2 servers: the difference is
    what one server costs, the rest is per run (STS, DescribeEndpoint). IAM propagation is off
    here so no retry of CreatePodIdentityAssociation blurs the count."""
    runs: dict[int, dict[str, Counter[str]]] = {}
    set_iam_propagation(emulator_url, 0)
    try:
        for count in (1, 2):
            names = [f"acc-srv-calls{count}-{i}" for i in range(count)]
            blocks = []
            for i, name in enumerate(names):
                purge_secrets(*own_secrets(name).values())
                blocks.append(server_block(name, make_regional_cluster(f"{name}-eks"), label=f"s{i}", **own_secrets(name)))
            ws = server_workspace(*blocks, name=f"servers-{count}")
            steps: dict[str, Counter[str]] = {}
            emulator_calls(emulator_url, reset=True)
            ws.apply()
            steps["create"] = emulator_calls(emulator_url)
            for name in names:  # the keys, for the leak scan (these reads are not counted)
                si.read_config(regional, f"{name}/server-config")
                assert creds.read_bundle(regional, f"{name}/server-cert", guard=leak_guard) is not None
            emulator_calls(emulator_url, reset=True)
            ws.run("plan", "-detailed-exitcode", "-input=false", "-no-color")  # exit 0: nothing to change
            steps["refresh"] = emulator_calls(emulator_url)
            emulator_calls(emulator_url, reset=True)
            ws.destroy()
            steps["destroy"] = emulator_calls(emulator_url)
            runs[count] = steps
    finally:
        set_iam_propagation(emulator_url, None)

    per_server = {step: runs[2][step] - runs[1][step] for step in runs[1]}
    fixed = {step: runs[1][step] - per_server[step] for step in runs[1]}
    totals = {step: sum(per_server[step].values()) for step in per_server}
    with capsys.disabled():
        print(f"\nSERVER-IDENTITY-CALLS create={totals['create']} refresh={totals['refresh']} destroy={totals['destroy']}")
        for step in ("create", "refresh", "destroy"):
            print(f"  {step}: per server " + ", ".join(f"{op} {n}" for op, n in sorted(per_server[step].items())))
            print(f"  {step}: per run    " + ", ".join(f"{op} {n}" for op, n in sorted(fixed[step].items()) if n))

    for run, steps in runs.items():
        writes = sorted(op for op in steps["refresh"] if is_write(op))
        assert not writes, f"a no-op refresh of {run} server(s) wrote: {writes}"
    for step, needed in (("create", CREATE_WRITES), ("destroy", DESTROY_WRITES)):
        missing = sorted(needed - set(per_server[step]))
        assert not missing, f"{step} of one more server made none of {missing}: {dict(per_server[step])}"
    for step, limit in MAX_PER_SERVER.items():
        assert 0 < totals[step] <= limit, f"{step}: {totals[step]} calls per server (limit {limit}): {dict(per_server[step])}"
    # A difference of runs is only a per-server count if no operation was made less often by the larger run.
    for step in runs[1]:
        fewer = {op: runs[2][step][op] - n for op, n in runs[1][step].items() if runs[2][step][op] < n}
        assert not fewer, f"{step}: the 2-server run made fewer calls of {fewer}"


# ---------------------------------------------------------------- 9. lost answers and throttling


def test_lost_answers_and_throttling_leave_no_orphan(server_workspace, purge_secrets, regional,
                                                     make_regional_cluster, leak_guard, faults):
    name = "acc-srv-lost"
    eks = make_regional_cluster("acc-srv-lost-eks")
    base = {**own_secrets(name), "force_delete_without_recovery": True}
    purge_secrets(*own_secrets(name).values())
    expected = expected_for(name, eks, base)
    ws = server_workspace(server_block(name, eks, **base))
    certificates_before = si.all_certificate_ids(regional)
    # Throttled calls are retried; a CreateCertificateFromCsr or CreateSecret whose answer is lost
    # after AWS acted must not leave a second, unrecorded certificate or fail on its own secret.
    faults.arm("iot", "CreatePolicy", count=2, code="ThrottlingException", message="Rate exceeded")
    faults.arm("iot", "CreateCertificateFromCsr", status=500, code="InternalFailureException", when="after")
    faults.arm("secretsmanager", "CreateSecret", status=500, code="InternalServiceError", when="after")
    ws.apply()
    assert faults.fired("iot", "CreatePolicy") == 2
    assert faults.fired("iot", "CreateCertificateFromCsr") == 1
    assert faults.fired("secretsmanager", "CreateSecret") == 1
    ws.assert_plan_empty()
    state = ws.state_resource(ADDRESS)
    si.assert_server_in_aws(regional, state, expected, leak_guard)
    new = si.all_certificate_ids(regional) - certificates_before
    assert new == {state["certificate_id"]}, f"certificates left besides the recorded one: {sorted(new - {state['certificate_id']})}"


# ---------------------------------------------------------------- the checks themselves


def _hand_made_server(regional, eks: str, name: str, leak_guard) -> tuple[dict[str, Any], si.Expected]:
    """A server identity made with boto3 exactly as the brief describes, and the state the
    resource would record for it: the harness's checks must pass on it, and fail once it is off."""
    from cryptography import x509 as _x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    expected = si.Expected(name, eks, cert_secret=f"{name}/server-cert", config_secret=f"{name}/server-config")
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    leak_guard.register_secret(key_pem, "hand-made server key")
    csr = (_x509.CertificateSigningRequestBuilder()
           .subject_name(_x509.Name([_x509.NameAttribute(NameOID.COMMON_NAME, f"{name}-maestro-server")]))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    iot = si.iot(regional)
    policy = iot.create_policy(policyName=expected.policy_name, policyDocument=json.dumps(expected.iot_policy()))
    cert = iot.create_certificate_from_csr(certificateSigningRequest=csr, setAsActive=True)
    iot.attach_policy(policyName=expected.policy_name, target=cert["certificateArn"])
    role_arn = aws_inspect.create_pod_role(regional, expected.role_name, {
        si.SECRETS_POLICY_NAME: expected.secrets_policy(), si.IOT_POLICY_NAME: expected.iot_policy()})
    association = aws_inspect.create_association(regional, eks, expected.namespace, expected.service_account, role_arn)
    ca = _amazon_root_ca_1()
    bundle = json.dumps({"certificate": cert["certificatePem"], "privateKey": key_pem, "caCert": ca})
    host = si.endpoint(regional)
    config = (f'brokerHost: "{host}:8883"\nusername: ""\npassword: ""\n'
              'clientCertFile: "/mnt/secrets-store/certificate"\nclientKeyFile: "/mnt/secrets-store/privateKey"\n'
              'caFile: "/mnt/secrets-store/ca.crt"\ntopics:\n'
              f'  sourceEvents: "{expected.source_events_topic}"\n  agentEvents: "{expected.agent_events_topic}"\n')
    cert_secret = regional.secretsmanager.create_secret(Name=expected.cert_secret, SecretString=bundle)
    config_secret = regional.secretsmanager.create_secret(Name=expected.config_secret, SecretString=json.dumps({"config": config}))
    state = {**expected.derived_state(), "endpoint": host, "policy_arn": policy["policyArn"],
             "policy_document": json.dumps(expected.iot_policy()), "trust_policy": json.dumps(docs.trust_policy()),
             "secrets_policy": json.dumps(expected.secrets_policy()), "iot_policy": json.dumps(expected.iot_policy()),
             "helm_values": {**expected.helm_values()}, "certificate_id": cert["certificateId"],
             "certificate_arn": cert["certificateArn"], "certificate_pem": cert["certificatePem"],
             "certificate_status": "ACTIVE", "previous_certificates": [],
             "association_id": association.association_id, "association_arn": association.association_arn,
             "certificate_secret_arn": cert_secret["ARN"], "config_secret_arn": config_secret["ARN"],
             "credential_version_id": cert_secret["VersionId"], "server_config": config,
             "public_key_fingerprint": creds.key_fingerprint(key_pem)}
    return state, expected


def _amazon_root_ca_1() -> str:
    """Amazon Root CA 1, as the provider's default `broker_ca_pem` (public)."""
    return ("-----BEGIN CERTIFICATE-----\n"
            "MIIDQTCCAimgAwIBAgITBmyfz5m/jAo54vB4ikPmljZbyjANBgkqhkiG9w0BAQsF\n"
            "ADA5MQswCQYDVQQGEwJVUzEPMA0GA1UEChMGQW1hem9uMRkwFwYDVQQDExBBbWF6\n"
            "b24gUm9vdCBDQSAxMB4XDTE1MDUyNjAwMDAwMFoXDTM4MDExNzAwMDAwMFowOTEL\n"
            "MAkGA1UEBhMCVVMxDzANBgNVBAoTBkFtYXpvbjEZMBcGA1UEAxMQQW1hem9uIFJv\n"
            "b3QgQ0EgMTCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBALJ4gHHKeNXj\n"
            "ca9HgFB0fW7Y14h29Jlo91ghYPl0hAEvrAIthtOgQ3pOsqTQNroBvo3bSMgHFzZM\n"
            "9O6II8c+6zf1tRn4SWiw3te5djgdYZ6k/oI2peVKVuRF4fn9tBb6dNqcmzU5L/qw\n"
            "IFAGbHrQgLKm+a/sRxmPUDgH3KKHOVj4utWp+UhnMJbulHheb4mjUcAwhmahRWa6\n"
            "VOujw5H5SNz/0egwLX0tdHA114gk957EWW67c4cX8jJGKLhD+rcdqsq08p8kDi1L\n"
            "93FcXmn/6pUCyziKrlA4b9v7LWIbxcceVOF34GfID5yHI9Y/QCB/IIDEgEw+OyQm\n"
            "jgSubJrIqg0CAwEAAaNCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMC\n"
            "AYYwHQYDVR0OBBYEFIQYzIU07LwMlJQuCFmcx7IQTgoIMA0GCSqGSIb3DQEBCwUA\n"
            "A4IBAQCY8jdaQZChGsV2USggNiMOruYou6r4lK5IpDB/G/wkjUu0yKGX9rbxenDI\n"
            "U5PMCCjjmCXPI6T53iHTfIUJrU6adTrCC2qJeHZERxhlbI1Bjjt/msv0tadQ1wUs\n"
            "N+gDS63pYaACbvXy8MWy7Vu33PqUXHeeE6V/Uq2V8viTO96LXFvKWlJbYK8U90vv\n"
            "o/ufQJVtMVT8QtPHRh8jrdkPSHCa2XV4cdFyQzR1bldZwgJcJmApzyMZFo6IQ6XU\n"
            "5MsI+yMRQ+hDKXJioaldXgjUkK642M4UwtBV8ob2xJNDd2ZhwLnoQdeXeGADbkpy\n"
            "rqXRfboQnoZsG4q5WTP468SQvvG5\n"
            "-----END CERTIFICATE-----\n")


@pytest.mark.emulator
def test_the_checks_pass_on_a_hand_made_server_and_catch_what_is_off(regional, make_regional_cluster, leak_guard):
    """No provider: proves `assert_server_in_aws` passes on an identity made to the brief with
    boto3, and fails on one wider policy, on a bundle whose key the certificate does not certify,
    and on a config subscribing without `$share`."""
    name = "harness-srv-selftest"
    eks = make_regional_cluster(f"{name}-eks")
    state, expected = _hand_made_server(regional, eks, name, leak_guard)
    try:
        si.assert_server_in_aws(regional, state, expected, leak_guard)

        # A wider IoT policy version (Connect as any client) is caught.
        iot = si.iot(regional)
        wide = expected.iot_policy()
        wide["Statement"][0]["Resource"] = si.iot_arn("client", "*")
        iot.create_policy_version(policyName=expected.policy_name, policyDocument=json.dumps(wide), setAsDefault=True)
        with pytest.raises(AssertionError, match="IoT policy in IoT Core"):
            si.assert_server_in_aws(regional, state, expected, leak_guard)
        iot.set_default_policy_version(policyName=expected.policy_name, policyVersionId="1")

        # A bundle pairing another key with the certificate is caught.
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        leak_guard.register_secret(other, "another key")
        current = json.loads(regional.secretsmanager.get_secret_value(SecretId=expected.cert_secret)["SecretString"])
        mismatched = regional.secretsmanager.put_secret_value(
            SecretId=expected.cert_secret, SecretString=json.dumps({**current, "privateKey": other}))
        with pytest.raises(AssertionError, match="not the key the certificate certifies"):
            si.assert_server_in_aws(regional, {**state, "credential_version_id": mismatched["VersionId"]}, expected, leak_guard)

        restored = regional.secretsmanager.put_secret_value(SecretId=expected.cert_secret, SecretString=json.dumps(current))
        state["credential_version_id"] = restored["VersionId"]
        si.assert_server_in_aws(regional, state, expected, leak_guard)

        # A config subscribing without the shared group is caught.
        config = state["server_config"].replace(expected.agent_events_topic, f"{expected.topic_prefix}/+/agentevents")
        assert config != state["server_config"]
        regional.secretsmanager.put_secret_value(SecretId=expected.config_secret, SecretString=json.dumps({"config": config}))
        with pytest.raises(AssertionError, match="agentEvents"):
            si.assert_server_in_aws(regional, {**state, "server_config": config}, expected, leak_guard)
    finally:
        for secret in (expected.cert_secret, expected.config_secret):
            si.force_delete_secret(regional, secret)
        for association in aws_inspect.associations(regional, eks):
            aws_inspect.delete_association(regional, eks, association.association_id)
        aws_inspect.delete_role_completely(regional, expected.role_name)
        iot = si.iot(regional)
        for version, is_default in si.policy_versions(regional, expected.policy_name).items():
            if not is_default:
                iot.delete_policy_version(policyName=expected.policy_name, policyVersionId=version)
        iot.detach_policy(policyName=expected.policy_name, target=state["certificate_arn"])
        iot.update_certificate(certificateId=state["certificate_id"], newStatus="INACTIVE")
        iot.delete_certificate(certificateId=state["certificate_id"])
        iot.delete_policy(policyName=expected.policy_name)
