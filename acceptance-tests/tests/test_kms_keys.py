"""One KMS story (issue 28): every resource names its key by `kms_key_id` (alias name, key ID,
key ARN or alias ARN), resolved at plan through kms:DescribeKey, so that the identities' role
policies grant `kms:Decrypt` on the key's own ARN, and a key that does not exist, is not enabled
or is in another region is refused at plan at the attribute, before a private key is made.
Real tofu against the emulator, whose KMS keys (and another account's, maestro_emulator/
kms_keys.py) are what Secrets Manager encrypts with (secretsmanager_kms.py)."""

from __future__ import annotations

import json

import pytest

from harness import hcl, policy_documents as docs
from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, REGION, REGIONAL_ACCOUNT_ID, assume_account
from harness.faults import Faults
from harness.tofu_workspace import flatten_whitespace

pytestmark = pytest.mark.acceptance

IDENTITY = "maestro_agent_identity.x"
PLAN = ["plan", "-input=false", "-no-color"]


def identity(cluster_id: str, eks_cluster_name: str, **arguments: str) -> str:
    return hcl.resource("maestro_agent_identity", "x", {
        "cluster_id": cluster_id, "regional_account_id": REGIONAL_ACCOUNT_ID, "eks_cluster_name": eks_cluster_name,
        "broker_endpoint": "a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com", **arguments}, provider="maestro.management")


def key_with_alias(account, name: str) -> tuple[str, str]:
    kms = account.client("kms")
    arn = kms.create_key(Description=name)["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName=f"alias/{name}", TargetKeyId=arn)
    return arn, f"alias/{name}"


def pinned_error(output: str, summary: str, attribute: str) -> str:
    """The flattened output, after checking the CLI shows the error at `attribute`'s line."""
    flat = flatten_whitespace(output)
    assert f"Error: {summary}" in flat, flat
    assert f"{attribute} = " in flat.split(f"Error: {summary}", 1)[1], flat
    return flat


def test_an_alias_on_agent_identity_is_the_key_arn_in_the_plan_and_in_the_roles_grant(config_workspace, management,
                                                                                     make_eks_cluster):
    key_arn, alias = key_with_alias(management, "kms-story-agent")
    ws = config_workspace(identity("kms-alias", make_eks_cluster("kms-alias-eks"), kms_key_id=alias))
    plan = ws.plan()
    after = plan.resource_change(IDENTITY)["change"]["after"]
    assert after["kms_key_arn"] == key_arn, after
    assert key_arn in after["secrets_policy"] and alias not in after["secrets_policy"], after["secrets_policy"]
    ws.apply()
    ws.assert_plan_empty()
    state = ws.state_resource(IDENTITY)
    expected = docs.secrets_policy(REGION, MANAGEMENT_ACCOUNT_ID, state["mqtt_cert_secret_name"], state["config_secret_name"],
                                   kms_key_arn=key_arn)
    docs.assert_same_policy(json.loads(state["secrets_policy"]), expected, "secrets policy granted by the resolved key ARN")
    assert management.secretsmanager.describe_secret(SecretId=state["config_secret_arn"])["KmsKeyId"] == key_arn


def test_a_missing_alias_is_refused_at_plan_at_kms_key_id_on_every_resource(config_workspace, make_eks_cluster):
    blocks = {
        "agent_identity": identity("kms-missing", make_eks_cluster("kms-missing-eks"), kms_key_id="alias/kms-story-nowhere"),
        "agent_key": hcl.resource("maestro_agent_key", "k", {"cluster_id": "kms-missing-key",
                                                             "kms_key_id": "alias/kms-story-nowhere"}, provider="maestro.management"),
        "server_identity": hcl.resource("maestro_server_identity", "s", {
            "name": "kms-missing-server", "eks_cluster_name": "kms-missing-rc", "kms_key_id": "alias/kms-story-nowhere"},
            provider="maestro.regional"),
    }
    for kind, block in blocks.items():
        ws = config_workspace(block, name=f"missing-{kind}")
        result = ws.expect_error(PLAN, r"KMS key not found")
        flat = pinned_error(result.output, "KMS key not found", "kms_key_id")
        assert 'kms_key_id = "alias/kms-story-nowhere": kms:DescribeKey found no such key or alias' in flat, (kind, flat)
        assert "a key of another account must be given as its key ARN or alias ARN" in flat, (kind, flat)


def test_a_disabled_key_is_refused_at_plan_naming_its_state(config_workspace, regional, management):
    kms = regional.client("kms")
    key = kms.create_key(Description="kms-story disabled")["KeyMetadata"]
    kms.disable_key(KeyId=key["KeyId"])
    ws = config_workspace(hcl.resource("maestro_server_identity", "s", {
        "name": "kms-disabled-server", "eks_cluster_name": "kms-disabled-rc", "kms_key_id": key["KeyId"]},
        provider="maestro.regional"))
    result = ws.expect_error(PLAN, r"KMS key not enabled")
    flat = pinned_error(result.output, "KMS key not enabled", "kms_key_id")
    assert f"names KMS key {key['Arn']}, whose state is Disabled" in flat, flat


def test_a_key_arn_of_another_region_is_refused_on_agent_identity(config_workspace, make_eks_cluster):
    elsewhere = f"arn:aws:kms:eu-west-1:{MANAGEMENT_ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    ws = config_workspace(identity("kms-region", make_eks_cluster("kms-region-eks"), kms_key_id=elsewhere))
    result = ws.expect_error(PLAN, r"KMS key in another region")
    flat = pinned_error(result.output, "KMS key in another region", "kms_key_id")
    assert "a key of region eu-west-1, but the secret it encrypts is written in region us-east-1" in flat, flat


def test_another_accounts_alias_arn_is_resolved_with_a_warning_naming_both_accounts(config_workspace, emulator_url,
                                                                                    make_eks_cluster):
    third = assume_account(emulator_url, "kms-owner", "arn:aws:iam::111122223333:role/kms-owner", "111122223333")
    key_arn, alias = key_with_alias(third, "kms-story-shared")
    alias_arn = f"arn:aws:kms:{REGION}:111122223333:{alias}"
    ws = config_workspace(identity("kms-shared", make_eks_cluster("kms-shared-eks"), kms_key_id=alias_arn))
    plan = ws.plan()
    assert plan.resource_change(IDENTITY)["change"]["after"]["kms_key_arn"] == key_arn
    flat = flatten_whitespace(plan.result.output)
    assert "KMS key of another account" in flat, flat
    assert f"a key of account 111122223333, but the secret it encrypts is written in account {MANAGEMENT_ACCOUNT_ID}" in flat


def test_without_kms_describe_key_a_key_arn_is_checked_offline_with_a_warning(config_workspace, management,
                                                                             emulator_url, make_eks_cluster):
    key_arn, _ = key_with_alias(management, "kms-story-denied")
    ws = config_workspace(identity("kms-denied", make_eks_cluster("kms-denied-eks"), kms_key_id=key_arn))
    faults = Faults(emulator_url)
    faults.arm("kms", "DescribeKey", status=400, code="AccessDeniedException",
               message=f"User: arn:aws:sts::{MANAGEMENT_ACCOUNT_ID}:assumed-role/maestro-management/s is not authorized to perform: kms:DescribeKey")
    try:
        plan = ws.plan()
    finally:
        faults.clear()
    assert plan.resource_change(IDENTITY)["change"]["after"]["kms_key_arn"] == key_arn
    flat = flatten_whitespace(plan.result.output)
    assert "Warning: KMS key not checked" in flat, flat
    assert "kms:DescribeKey on " in flat and "AccessDeniedException (HTTP 400)" in flat, flat
    assert "Allow kms:DescribeKey on the key to the provider's role" in flat, flat


def test_without_kms_describe_key_an_alias_on_an_identity_is_refused_for_its_grant(config_workspace, management,
                                                                                  emulator_url, make_eks_cluster):
    """The role's grant needs the key ARN, which only DescribeKey can give for an alias."""
    _, alias = key_with_alias(management, "kms-story-denied-alias")
    ws = config_workspace(identity("kms-denied-alias", make_eks_cluster("kms-denied-alias-eks"), kms_key_id=alias))
    faults = Faults(emulator_url)
    faults.arm("kms", "DescribeKey", status=400, code="AccessDeniedException", count=50, message="not authorized")
    try:
        result = ws.expect_error(PLAN, r"KMS alias not resolved")
    finally:
        faults.clear()
    flat = pinned_error(result.output, "KMS alias not resolved", "kms_key_id")
    assert "Allow kms:DescribeKey on the key to the provider's role, or give the key ARN" in flat, flat
