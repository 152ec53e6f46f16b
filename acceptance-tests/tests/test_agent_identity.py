"""Acceptance tests for `maestro_agent_identity`: real tofu, real provider binary, emulated AWS.

Every test checks AWS through boto3 in the management account, not only what tofu says, and
uses its own cluster_id and EKS cluster so tests cannot see each other's objects. After each
test the autouse leak guard scans every state, plan, log and output the test produced.
"""

from __future__ import annotations

import fnmatch
import json
import re
import time
from datetime import datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness import aws_inspect, hcl, policy_documents as docs, settings
from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, REGION, REGIONAL_ACCOUNT_ID
from harness.emulator import closed_tcp_port

pytestmark = pytest.mark.acceptance

RESOURCE_TYPE = "maestro_agent_identity"
ADDRESS = f"{RESOURCE_TYPE}.x"
DEFAULT_PREFIX = "sources/maestro/consumers"
DEFAULT_TAGS = {"managed-by": "acceptance"}
PROVIDER_CRASH = re.compile(r"panicked at|Plugin did not respond|plugin crashed|unexpected EOF", re.IGNORECASE)


# ---------------------------------------------------------------- configuration helpers


def identity_block(name: str = "x", provider: str = "maestro.management", **arguments: Any) -> str:
    return hcl.resource(RESOURCE_TYPE, name, arguments, provider=provider)


def required(cluster_id: str, eks_cluster_name: str, **extra: Any) -> dict[str, Any]:
    return {"cluster_id": cluster_id, "regional_account_id": REGIONAL_ACCOUNT_ID,
            "eks_cluster_name": eks_cluster_name, **extra}


def role_name(cluster_id: str) -> str:
    return f"{cluster_id}-maestro-agent"


def expected_state(cluster_id: str, eks_cluster_name: str, *, regional_account_id: str = REGIONAL_ACCOUNT_ID,
                   region: str = REGION, namespace: str = "maestro", service_account: str = "maestro-agent",
                   secret_name: str | None = None, topic_prefix: str = DEFAULT_PREFIX,
                   broker_endpoint: str | None = None) -> dict[str, Any]:
    """The attributes the brief fixes for given inputs (everything but AWS-assigned ids)."""
    secret_name = secret_name or f"{cluster_id}/maestro/agent-mqtt-cert"
    # The agent's transport appends `-client` to --cloudevents-client-id=<cluster>-work-agent.
    client_id = f"{cluster_id}-work-agent-client"
    return {
        "id": cluster_id,
        "cluster_id": cluster_id,
        "consumer_name": cluster_id,
        "client_id": client_id,
        "regional_account_id": regional_account_id,
        "eks_cluster_name": eks_cluster_name,
        "broker_region": region,
        "namespace": namespace,
        "service_account": service_account,
        "mqtt_cert_secret_name": secret_name,
        "topic_prefix": topic_prefix,
        "broker_endpoint": broker_endpoint,
        "role_name": role_name(cluster_id),
        "role_arn": f"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:role/{role_name(cluster_id)}",
        "secret_arn_pattern": docs.secret_arn_pattern(REGION, MANAGEMENT_ACCOUNT_ID, secret_name),
        "cloudevents_client_id": f"{cluster_id}-work-agent",
        # The deployed chart's layout (rosa-regional-platform management-cluster/maestro-agent),
        # only what it reads: it mounts the broker, topics and certificates from fixed names.
        "helm_values": {
            "global": {"region": REGION},
            "maestroAgent": {"maestro": {"serviceAccount": service_account}, "ascp": {"enabled": True}},
        },
        # Upstream's chart layout (openshift-online/maestro charts/maestro-agent).
        "upstream_helm_values": {
            "consumerName": cluster_id,
            "cloudeventsClientId": f"{cluster_id}-work-agent",
            "serviceAccount": {"name": service_account},
            "messageBroker": {"type": "mqtt", "mqtt": {
                "host": broker_endpoint, "port": "8883", "user": "", "password": "",
                "rootCert": "/secrets/mqtt-certs/ca.crt", "clientCert": "/secrets/mqtt-certs/certificate",
                "clientKey": "/secrets/mqtt-certs/privateKey"}},
        },
    }


def assert_state_matches(state: dict[str, Any], expected: dict[str, Any]) -> None:
    wrong = {name: (state.get(name, "<missing>"), want) for name, want in expected.items() if state.get(name, "<missing>") != want}
    assert not wrong, "state attributes differ (actual, expected):\n" + "\n".join(
        f"  {name}: {actual!r} != {want!r}" for name, (actual, want) in wrong.items())


def assert_identity_in_aws(management, state: dict[str, Any], *, tags_all: dict[str, str],
                           topic_prefix: str = DEFAULT_PREFIX, regional_account_id: str = REGIONAL_ACCOUNT_ID,
                           secret_name: str | None = None) -> aws_inspect.Association:
    """Checks every AWS object the resource owns against the brief and against its state."""
    cluster_id = state["cluster_id"]
    name = role_name(cluster_id)
    secret_name = secret_name or f"{cluster_id}/maestro/agent-mqtt-cert"

    role = aws_inspect.get_role(management, name)
    assert role is not None, f"IAM role {name} missing in the management account"
    assert role["Arn"] == state["role_arn"]
    docs.assert_same_policy(aws_inspect.as_document(role["AssumeRolePolicyDocument"]), docs.trust_policy(),
                            "trust policy in IAM")
    assert aws_inspect.inline_policy_names(management, name) == sorted([docs.IOT_POLICY_NAME, docs.SECRETS_POLICY_NAME])
    assert aws_inspect.attached_policy_arns(management, name) == []
    secrets = aws_inspect.inline_policy(management, name, docs.SECRETS_POLICY_NAME)
    iot = aws_inspect.inline_policy(management, name, docs.IOT_POLICY_NAME)
    expected_secrets = docs.secrets_policy(REGION, MANAGEMENT_ACCOUNT_ID, secret_name,
                                           state.get("config_secret_name") or f"{cluster_id}/maestro/agent-config")
    expected_iot = docs.iot_policy(state["broker_region"], regional_account_id, cluster_id, topic_prefix)
    docs.assert_same_policy(secrets, expected_secrets, f"{docs.SECRETS_POLICY_NAME} in IAM")
    docs.assert_same_policy(iot, expected_iot, f"{docs.IOT_POLICY_NAME} in IAM")
    # The computed JSON attributes report what AWS holds.
    docs.assert_same_policy(state["trust_policy"], docs.trust_policy(), "trust_policy attribute")
    docs.assert_same_policy(state["secrets_policy"], expected_secrets, "secrets_policy attribute")
    docs.assert_same_policy(state["iot_policy"], expected_iot, "iot_policy attribute")

    assert aws_inspect.role_tags(management, name) == tags_all
    assert state["tags_all"] == tags_all

    matching = aws_inspect.associations_for(management, state["eks_cluster_name"], state["namespace"],
                                            state["service_account"])
    assert len(matching) == 1, f"expected one association for {state['namespace']}/{state['service_account']}: {matching}"
    association = matching[0]
    assert association.role_arn == state["role_arn"]
    assert association.association_id == state["association_id"]
    assert association.association_arn == state["association_arn"]
    assert association.tags == tags_all
    return association


def set_blocks(ws, preamble: str, *blocks: str) -> None:
    ws.set_config(preamble + "\n" + "\n".join(blocks))


# ---------------------------------------------------------------- (a) basic


def test_schema_lists_agent_identity(make_workspace, provider_preamble):
    ws = make_workspace()
    ws.set_config(provider_preamble + identity_block(**required("acc-schema", "acc-schema-eks")))
    ws.init()
    ws.validate()
    schemas = ws.providers_schema()["provider_schemas"][settings.PROVIDER_SOURCE]
    attributes = schemas["resource_schemas"][RESOURCE_TYPE]["block"]["attributes"]

    required_names = {n for n, a in attributes.items() if a.get("required")}
    assert required_names == {"cluster_id", "regional_account_id", "eks_cluster_name"}
    for name in ("broker_region", "namespace", "service_account", "mqtt_cert_secret_name", "topic_prefix"):
        assert attributes[name].get("optional") and attributes[name].get("computed"), name
    for name in ("broker_endpoint", "tags"):
        assert attributes[name].get("optional") and not attributes[name].get("required"), name
    for name in ("id", "consumer_name", "client_id", "role_name", "role_arn", "association_id", "association_arn",
                 "secret_arn_pattern", "trust_policy", "secrets_policy", "iot_policy", "tags_all", "helm_values"):
        assert attributes[name].get("computed") and not attributes[name].get("optional"), name

    provider_block = schemas["provider"]["block"]
    for name in ("region", "profile", "shared_config_files", "shared_credentials_files", "topic_prefix"):
        assert provider_block["attributes"][name].get("optional"), name
    assert {"assume_role", "endpoints", "default_tags"} <= set(provider_block.get("block_types", {}))


def test_basic_create_with_required_arguments(config_workspace, management, make_eks_cluster):
    cluster_id = "acc-basic"
    eks = make_eks_cluster("acc-basic-eks")
    ws = config_workspace(identity_block(**required(cluster_id, eks)))
    ws.apply()
    ws.assert_plan_empty()

    state = ws.state_resource(ADDRESS)
    assert_state_matches(state, expected_state(cluster_id, eks))
    assert state["association_id"] and state["association_arn"]
    assert_identity_in_aws(management, state, tags_all=DEFAULT_TAGS)
    # Nothing else on the cluster: exactly the one association.
    assert len(aws_inspect.associations(management, eks)) == 1


# ---------------------------------------------------------------- (b) update in place


def test_update_in_place(config_workspace, provider_preamble, management, make_eks_cluster):
    cluster_id = "acc-update"
    eks = make_eks_cluster("acc-update-eks")
    ws = config_workspace(identity_block(**required(cluster_id, eks)))
    ws.apply()
    before = ws.state_resource(ADDRESS)
    role_created = aws_inspect.get_role(management, role_name(cluster_id))["CreateDate"]

    changed = dict(topic_prefix="fleet/blue/consumers", tags={"team": "blue"}, regional_account_id="111122223333",
                   broker_endpoint="a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com")
    set_blocks(ws, provider_preamble, identity_block(**{**required(cluster_id, eks), **changed}))
    ws.assert_plan_changes({ADDRESS: "update"},
                           attributes={ADDRESS: {"topic_prefix", "tags", "regional_account_id", "broker_endpoint"}})
    ws.apply()
    ws.assert_plan_empty()

    after = ws.state_resource(ADDRESS)
    assert_state_matches(after, expected_state(cluster_id, eks, topic_prefix="fleet/blue/consumers", regional_account_id="111122223333",
                                               broker_endpoint=changed["broker_endpoint"]))
    assert after["upstream_helm_values"]["messageBroker"]["mqtt"]["host"] == "a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com"
    # Updated, not recreated: same role (same creation time) and same association.
    assert after["association_id"] == before["association_id"]
    assert aws_inspect.get_role(management, role_name(cluster_id))["CreateDate"] == role_created
    assert_identity_in_aws(management, after, tags_all={**DEFAULT_TAGS, "team": "blue"},
                           topic_prefix="fleet/blue/consumers", regional_account_id="111122223333")
    assert after["iot_policy"] != before["iot_policy"]


# ---------------------------------------------------------------- (c) replace


def test_namespace_change_replaces(config_workspace, provider_preamble, management, make_eks_cluster):
    cluster_id = "acc-replace"
    eks = make_eks_cluster("acc-replace-eks")
    ws = config_workspace(identity_block(**required(cluster_id, eks)))
    ws.apply()
    before = ws.state_resource(ADDRESS)

    set_blocks(ws, provider_preamble, identity_block(**required(cluster_id, eks, namespace="maestro-agent")))
    plan = ws.assert_plan_changes({ADDRESS: "replace"})
    assert ["namespace"] in plan.resource_change(ADDRESS)["change"]["replace_paths"]
    ws.apply()
    ws.assert_plan_empty()

    after = ws.state_resource(ADDRESS)
    assert_state_matches(after, expected_state(cluster_id, eks, namespace="maestro-agent"))
    assert after["association_id"] != before["association_id"]
    assert_identity_in_aws(management, after, tags_all=DEFAULT_TAGS)
    # The association moved: nothing is left bound to the old namespace.
    assert [a.namespace for a in aws_inspect.associations(management, eks)] == ["maestro-agent"]


# ---------------------------------------------------------------- (d) drift


def test_drift_of_inline_policy_is_repaired(config_workspace, management, make_eks_cluster):
    cluster_id = "acc-drift-policy"
    eks = make_eks_cluster("acc-drift-policy-eks")
    name = role_name(cluster_id)
    ws = config_workspace(identity_block(**required(cluster_id, eks)))
    ws.apply()

    management.iam.delete_role_policy(RoleName=name, PolicyName=docs.IOT_POLICY_NAME)
    ws.assert_plan_changes({ADDRESS: "update"})
    ws.apply()
    assert aws_inspect.inline_policy(management, name, docs.IOT_POLICY_NAME) is not None
    ws.assert_plan_empty()

    widened = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}
    management.iam.put_role_policy(RoleName=name, PolicyName=docs.IOT_POLICY_NAME, PolicyDocument=json.dumps(widened))
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"iot_policy"}})
    ws.apply()
    ws.assert_plan_empty()
    assert_identity_in_aws(management, ws.state_resource(ADDRESS), tags_all=DEFAULT_TAGS)


def test_drift_of_association_and_role_is_repaired(config_workspace, management, make_eks_cluster):
    cluster_id = "acc-drift-role"
    eks = make_eks_cluster("acc-drift-role-eks")
    name = role_name(cluster_id)
    ws = config_workspace(identity_block(**required(cluster_id, eks)))
    ws.apply()
    first_association = ws.state_resource(ADDRESS)["association_id"]

    aws_inspect.delete_association(management, eks, first_association)
    ws.assert_plan_changes({ADDRESS: "update"})
    ws.apply()
    ws.assert_plan_empty()
    repaired = ws.state_resource(ADDRESS)
    assert repaired["association_id"] != first_association
    assert_identity_in_aws(management, repaired, tags_all=DEFAULT_TAGS)

    # The whole role gone (association and inline policies first, as IAM requires): the
    # resource no longer exists, so the plan creates it again.
    aws_inspect.delete_association(management, eks, repaired["association_id"])
    aws_inspect.delete_role_completely(management, name)
    ws.assert_plan_changes({ADDRESS: "create"})
    ws.apply()
    ws.assert_plan_empty()
    assert_identity_in_aws(management, ws.state_resource(ADDRESS), tags_all=DEFAULT_TAGS)


# ---------------------------------------------------------------- (e) import


def test_import_by_cluster_id(config_workspace, management, management_cluster):
    cluster_id = "management-01"
    ws = config_workspace(identity_block(**required(cluster_id, management_cluster)))
    ws.apply()
    applied = ws.state_resource(ADDRESS)

    # CLI import, verified: identical attributes, empty plan.
    ws.verify_import(ADDRESS, cluster_id)
    ws.assert_plan_empty()

    # The same through an import block.
    ws.state_rm(ADDRESS)
    ws.write_file("imports.tf", f'import {{\n  to = {ADDRESS}\n  id = "{cluster_id}"\n}}\n')
    plan = ws.plan()
    change = plan.resource_change(ADDRESS)
    assert change["change"]["actions"] == ["no-op"], plan.describe()
    assert (change["change"].get("importing") or {}).get("id") == cluster_id, plan.describe()
    ws.apply()
    assert ws.state_resource(ADDRESS) == applied, _diff(applied, ws.state_resource(ADDRESS))
    ws.assert_plan_empty()
    assert_identity_in_aws(management, applied, tags_all=DEFAULT_TAGS)
    # Import blocks have no business in the teardown destroy.
    ws.remove_file("imports.tf")


def test_import_of_missing_identity_fails(config_workspace, make_eks_cluster):
    eks = make_eks_cluster("acc-import-missing-eks")
    ws = config_workspace(identity_block(**required("acc-import-missing", eks)))
    result = ws.expect_error(["import", "-input=false", "-no-color", ADDRESS, "acc-import-missing"],
                             r"(?i)(cannot import non-existent|nothing to import|not found|does not exist|no such)")
    assert "acc-import-missing" in result.stderr, result.describe()  # says which identity is missing
    assert not PROVIDER_CRASH.search(result.output), result.describe()
    assert ws.state_resources() == {}


def test_a_role_of_that_name_made_by_someone_else_is_refused_not_adopted(config_workspace, management,
                                                                          make_eks_cluster):
    """The provider takes back a role only when its description is the one it writes for this
    agent and EKS cluster (an unfinished create: a lost answer, a killed provider; the fault
    matrix slice covers that). A role someone else made under the name is left alone."""
    cluster_id = "acc-foreign-role"
    eks = make_eks_cluster("acc-foreign-role-eks")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    management.iam.create_role(RoleName=role_name(cluster_id), AssumeRolePolicyDocument=json.dumps(trust),
                               Description="made by hand for something else")
    ws = config_workspace(identity_block(**required(cluster_id, eks)))
    result = ws.expect_error(["apply", "-auto-approve", "-input=false", "-no-color"], r"IAM role already exists")
    assert "import" in result.stderr and "cluster_id" in result.stderr, result.describe()
    role = management.iam.get_role(RoleName=role_name(cluster_id))["Role"]
    assert role["Description"] == "made by hand for something else"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert management.iam.list_role_policies(RoleName=role_name(cluster_id))["PolicyNames"] == []
    assert aws_inspect.associations(management, eks) == []
    assert ws.state_resources() == {}
    management.iam.delete_role(RoleName=role_name(cluster_id))


def test_a_role_taken_back_on_its_description_revokes_the_sessions_issued_before(config_workspace, management,
                                                                                 make_eks_cluster):
    """A role with exactly the description the provider writes is taken back (an unfinished
    create), but a description is text anyone can write: whoever made the role may have
    assumed it under a trust policy of their own first. Taking it back resets the trust and
    revokes every session issued before (IAM's AWSRevokeOlderSessions policy), so no earlier
    session can read the secrets the role is then granted; destroy still removes the role."""
    cluster_id = "acc-planted-role"
    eks = make_eks_cluster("acc-planted-role-eks")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"}]}
    description = f"Maestro agent {cluster_id} on EKS cluster {eks} (managed by terraform-provider-maestro)"
    management.iam.create_role(RoleName=role_name(cluster_id), AssumeRolePolicyDocument=json.dumps(trust), Description=description)
    planted_at = management.iam.get_role(RoleName=role_name(cluster_id))["Role"]["CreateDate"]

    ws = config_workspace(identity_block(**required(cluster_id, eks)))
    ws.apply()
    role = management.iam.get_role(RoleName=role_name(cluster_id))["Role"]
    principals = [s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]]
    assert principals == [{"Service": "pods.eks.amazonaws.com"}], f"trust not reset: {principals}"
    revocation = aws_inspect.inline_policy(management, role_name(cluster_id), "AWSRevokeOlderSessions")
    assert revocation is not None, "the sessions issued before the role was taken back were not revoked"
    [statement] = revocation["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] in ("*", ["*"])
    revoked_before = datetime.fromisoformat(statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"].replace("Z", "+00:00"))
    assert revoked_before > planted_at, f"revokes only sessions before {revoked_before}, the role was made at {planted_at}"
    ws.assert_plan_empty()

    ws.destroy()
    assert aws_inspect.get_role(management, role_name(cluster_id)) is None, "destroy left the taken-back role"


def _diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    names = sorted(set(before) | set(after))
    return "attributes differ after import:\n" + "\n".join(
        f"  {n}: {before.get(n)!r} -> {after.get(n)!r}" for n in names if before.get(n) != after.get(n))


# ---------------------------------------------------------------- (f) destroy


def test_destroy_removes_only_its_own_objects(config_workspace, management, make_eks_cluster):
    cluster_id = "acc-destroy"
    eks = make_eks_cluster("acc-destroy-eks")
    # Neighbours that share the cluster, a policy name and even the role-name prefix.
    unrelated_inline = {docs.IOT_POLICY_NAME: {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}}
    unrelated_arn = aws_inspect.create_pod_role(management, "acc-destroy-unrelated", unrelated_inline)
    lookalike_arn = aws_inspect.create_pod_role(management, "acc-destroy-maestro-agent-old")
    unrelated = aws_inspect.create_association(management, eks, "other", "other-sa", unrelated_arn)
    lookalike = aws_inspect.create_association(management, eks, "maestro-old", "maestro-agent", lookalike_arn)

    ws = config_workspace(identity_block(**required(cluster_id, eks)))
    ws.apply()
    ours = ws.state_resource(ADDRESS)["association_id"]
    ws.destroy()

    assert ws.state_resources() == {}
    assert aws_inspect.get_role(management, role_name(cluster_id)) is None
    remaining = {a.association_id for a in aws_inspect.associations(management, eks)}
    assert ours not in remaining
    assert remaining == {unrelated.association_id, lookalike.association_id}
    assert aws_inspect.get_role(management, "acc-destroy-unrelated") is not None
    assert aws_inspect.inline_policy_names(management, "acc-destroy-unrelated") == [docs.IOT_POLICY_NAME]
    assert aws_inspect.get_role(management, "acc-destroy-maestro-agent-old") is not None


# ---------------------------------------------------------------- (g) invalid configuration


INVALID_CASES = [
    pytest.param("regional_account_id", "12345", r"12 digits", id="account-id-5-digits"),
    pytest.param("regional_account_id", "12345678901a", r"12 digits", id="account-id-letter"),
    pytest.param("cluster_id", "bad id!", r"(?i)(character|alphanumeric|letters|digits|a-z)", id="cluster-id-characters"),
    pytest.param("cluster_id", "a" * 60, r"(?i)(50|length|long)", id="cluster-id-60-chars"),
    pytest.param("cluster_id", "-leading-dash", r"(?i)(start|begin|alphanumeric|letter)", id="cluster-id-leading-dash"),
    # Valid for AWS, refused by Maestro: consumer names are RFC 1123 labels, and the agent's
    # transport refuses topics with anything but [a-z0-9-] in the consumer level.
    pytest.param("cluster_id", "Mgmt_01", r"RFC 1123", id="cluster-id-not-rfc1123"),
    pytest.param("topic_prefix", "maestro/consumers", r"three topic levels", id="topic-prefix-two-levels"),
    pytest.param("topic_prefix", "sources/Maestro/consumers", r"three topic levels", id="topic-prefix-uppercase"),
    pytest.param("cloudevents_client_id", "mc-*", r"no wildcards", id="client-id-wildcard"),
    pytest.param("kms_key_arn", "alias/maestro", r"ARN of service kms|must be an ARN", id="kms-key-not-arn"),
    pytest.param("broker_ca_pem", "not a pem", r"PEM CA certificate", id="broker-ca-garbage"),
]


@pytest.mark.parametrize("attribute, bad_value, message", INVALID_CASES)
def test_invalid_arguments_fail_before_any_aws_call(config_workspace, management, make_eks_cluster,
                                                     attribute, bad_value, message):
    eks = make_eks_cluster("acc-invalid-eks")
    arguments = required("acc-invalid", eks)
    arguments[attribute] = bad_value
    before = aws_inspect.snapshot(management, [eks])
    ws = config_workspace(identity_block(**arguments))
    config = (ws.root / "main.tf").read_text()
    attribute_line = next(number for number, line in enumerate(config.splitlines(), start=1)
                          if re.match(rf"\s*{attribute}\s*=", line))

    report = ws.validate_json()
    assert report["valid"] is False
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    pinned = [d for d in errors if d.get("range", {}).get("start", {}).get("line") == attribute_line]
    assert pinned, f"no error pinned to line {attribute_line} ({attribute}): {json.dumps(errors, indent=1)}"
    text = " ".join(f"{d['summary']} {d.get('detail', '')}" for d in pinned)
    assert re.search(message, text), f"diagnostic {text!r} does not match /{message}/"
    if attribute == "regional_account_id":
        assert "regional_account_id" in text or attribute in pinned[0].get("snippet", {}).get("code", "")

    ws.expect_error(["plan", "-no-color", "-input=false"], message)
    assert ws.state_resources() == {}
    assert aws_inspect.snapshot(management, [eks]) == before, before.difference(aws_inspect.snapshot(management, [eks]))


# ---------------------------------------------------------------- (h) bad provider credentials/endpoints


def _bad_provider_cases(emulator_url: str) -> dict[str, tuple[hcl.ProviderConfig, str]]:
    closed = f"http://127.0.0.1:{closed_tcp_port()}"
    return {
        "malformed-role-arn": (hcl.management_provider(emulator_url, role_arn="not-an-arn"),
                               r"(?i)(\brole_arn\b|\barn\b)"),
        "closed-endpoint": (hcl.management_provider(closed),
                            r"(?i)(sts|assume|credential|connect|endpoint|dispatch|refused)"),
    }


@pytest.mark.parametrize("case", ["malformed-role-arn", "closed-endpoint"])
def test_bad_provider_configuration_fails_clearly(make_workspace, emulator_url, management, make_eks_cluster, case):
    eks = make_eks_cluster("acc-badcreds-eks")
    provider, message = _bad_provider_cases(emulator_url)[case]
    before = aws_inspect.snapshot(management, [eks])
    ws = make_workspace()
    ws.set_config(hcl.preamble([hcl.regional_provider(emulator_url), provider])
                  + identity_block(**required("acc-badcreds", eks)))
    ws.init()
    started = time.monotonic()
    result = ws.expect_error(["plan", "-no-color", "-input=false"], message)
    # A clear error is an error, promptly: not a crash, not minutes of retrying a dead port.
    assert "Error:" in result.output
    assert not PROVIDER_CRASH.search(result.output), result.describe()
    assert time.monotonic() - started < 120, result.describe()
    ws.expect_error(["apply", "-auto-approve", "-no-color", "-input=false"], message)
    assert ws.state_resources() == {}
    assert aws_inspect.get_role(management, role_name("acc-badcreds")) is None
    assert aws_inspect.snapshot(management, [eks]) == before


# ---------------------------------------------------------------- (i) defaults


def test_defaults_secret_name_and_topic_prefix(make_workspace, emulator_url, management, make_eks_cluster,
                                               leak_guard):
    cluster_id = "acc-defaults"
    eks = make_eks_cluster("acc-defaults-eks")
    fleet_eks = make_eks_cluster("acc-defaults-fleet-eks")
    default_secret = f"{cluster_id}/maestro/agent-mqtt-cert"

    # The operator's certificate secret exists, holding a real key. The provider only ever
    # points IAM at it; the leak guard proves no byte of it reaches state, plans or logs.
    key_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    bundle = json.dumps({"certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                         "privateKey": key_pem, "caCert": "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n"})
    leak_guard.register_secret(key_pem, "agent private key in Secrets Manager")
    leak_guard.register_secret(bundle, "agent certificate bundle in Secrets Manager")
    secret_arn = management.secretsmanager.create_secret(Name=default_secret, SecretString=bundle)["ARN"]
    decoy_arn = management.secretsmanager.create_secret(Name=f"{default_secret}-old", SecretString="{}")["ARN"]

    fleet_provider = hcl.management_provider(emulator_url, alias="fleet", topic_prefix="fleet/eu/consumers")
    preamble = hcl.preamble(hcl.standard_providers(emulator_url) + [fleet_provider])
    x_block = identity_block(**required(cluster_id, eks))
    y_block = identity_block("y", provider="maestro.fleet", **required("acc-defaults-fleet", fleet_eks))
    ws = make_workspace()
    ws.set_config(preamble + x_block + y_block)
    ws.init()
    ws.apply()
    ws.assert_plan_empty()

    x = ws.state_resource(ADDRESS)
    assert_state_matches(x, expected_state(cluster_id, eks))
    assert x["mqtt_cert_secret_name"] == default_secret
    # The pattern is tight: it matches the real secret's ARN (AWS adds -XXXXXX) and nothing
    # that merely starts with the same name.
    assert fnmatch.fnmatchcase(secret_arn, x["secret_arn_pattern"]), (secret_arn, x["secret_arn_pattern"])
    assert not fnmatch.fnmatchcase(decoy_arn, x["secret_arn_pattern"]), (decoy_arn, x["secret_arn_pattern"])
    assert_identity_in_aws(management, x, tags_all=DEFAULT_TAGS)

    # A resource without topic_prefix takes its provider's.
    y = ws.state_resource(f"{RESOURCE_TYPE}.y")
    assert_state_matches(y, expected_state("acc-defaults-fleet", fleet_eks, topic_prefix="fleet/eu/consumers"))
    assert_identity_in_aws(management, y, tags_all=DEFAULT_TAGS, topic_prefix="fleet/eu/consumers")

    # Overriding the secret name is an in-place update that touches nothing else.
    ws.set_config(preamble + identity_block(**required(cluster_id, eks, mqtt_cert_secret_name="custom/agent-cert"))
                  + y_block)
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"mqtt_cert_secret_name"}})
    ws.apply()
    ws.assert_plan_empty()
    x = ws.state_resource(ADDRESS)
    assert_state_matches(x, expected_state(cluster_id, eks, secret_name="custom/agent-cert"))
    assert_identity_in_aws(management, x, tags_all=DEFAULT_TAGS, secret_name="custom/agent-cert")


# ---------------------------------------------------------------- (j) customer-managed KMS key


def test_a_customer_managed_key_is_granted_and_encrypts_the_config_secret(config_workspace, provider_preamble,
                                                                         management, make_eks_cluster):
    """Without kms:Decrypt on the key that encrypts its secrets, the agent's CSI mount fails."""
    cluster_id = "acc-kms"
    eks = make_eks_cluster("acc-kms-eks")
    kms = management.client("kms")
    first, second = (kms.create_key(Description=f"acc-kms {n}")["KeyMetadata"]["Arn"] for n in ("1", "2"))
    endpoint = "a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com"
    ws = config_workspace(identity_block(**required(cluster_id, eks, broker_endpoint=endpoint, kms_key_arn=first)))
    ws.apply()
    ws.assert_plan_empty()
    state = ws.state_resource(ADDRESS)
    expected = docs.secrets_policy(REGION, MANAGEMENT_ACCOUNT_ID, state["mqtt_cert_secret_name"],
                                   state["config_secret_name"], kms_key_arn=first)
    docs.assert_same_policy(aws_inspect.inline_policy(management, role_name(cluster_id), docs.SECRETS_POLICY_NAME),
                            expected, "secrets policy with a customer-managed key")
    assert management.secretsmanager.describe_secret(SecretId=state["config_secret_arn"])["KmsKeyId"] == first

    # Another key: the grant moves to exactly that key and the config secret is re-encrypted.
    ws.set_config(provider_preamble + "\n" + identity_block(**required(cluster_id, eks, broker_endpoint=endpoint,
                                                                          kms_key_arn=second)))
    ws.assert_plan_changes({ADDRESS: "update"})
    ws.apply()
    ws.assert_plan_empty()
    expected = docs.secrets_policy(REGION, MANAGEMENT_ACCOUNT_ID, state["mqtt_cert_secret_name"],
                                   state["config_secret_name"], kms_key_arn=second)
    docs.assert_same_policy(aws_inspect.inline_policy(management, role_name(cluster_id), docs.SECRETS_POLICY_NAME),
                            expected, "secrets policy after the key change")
    assert management.secretsmanager.describe_secret(SecretId=state["config_secret_arn"])["KmsKeyId"] == second
    # Import recovers the key from the policy, so an imported identity plans clean.
    ws.verify_import(ADDRESS, cluster_id)
    ws.assert_plan_empty()
