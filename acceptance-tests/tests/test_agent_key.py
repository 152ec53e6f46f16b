"""Acceptance tests for `maestro_agent_key`: the key pair is generated inside the provider and
lands only in the management account's credential secret.

Each test reads the secret back with boto3 and checks the cryptographic facts (the CSR is
signed by the key in the secret, the fingerprint is that key's), and registers the key with the
leak guard, whose scan after the test proves the key never reached a state, plan or log.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from harness import credentials as creds
from harness import hcl
from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, REGION

pytestmark = pytest.mark.acceptance

RESOURCE_TYPE = "maestro_agent_key"
ADDRESS = f"{RESOURCE_TYPE}.k"
DEFAULT_TAGS = {"managed-by": "acceptance"}


def key_block(cluster_id: str, **arguments: Any) -> str:
    return hcl.resource(RESOURCE_TYPE, "k", {"cluster_id": cluster_id, **arguments}, provider="maestro.management")


def default_secret(cluster_id: str) -> str:
    return f"{cluster_id}/maestro/agent-mqtt-cert"


def assert_key_matches_state(management, state: dict[str, Any], guard, stage: str = "AWSCURRENT") -> creds.Bundle:
    """The version at `stage` holds the key whose CSR and fingerprint the state shows."""
    bundle = creds.read_bundle(management, state["secret_arn"], stage, guard=guard)
    assert bundle is not None, f"no {stage} version in {state['secret_name']}"
    assert bundle.version_id == state["key_version_id"]
    assert bundle.key_fingerprint == state["public_key_fingerprint"]
    assert creds.csr_fingerprint(state["csr_pem"]) == state["public_key_fingerprint"], \
        "the CSR was not made from the key in the secret"
    assert creds.csr_common_name(state["csr_pem"]) == f"{state['cluster_id']}-work-agent"
    return bundle


def test_create_writes_the_key_only_into_the_secret(config_workspace, management, leak_guard):
    cluster_id = "key-basic"
    ws = config_workspace(key_block(cluster_id, tags={"team": "mgmt"}))
    ws.apply()
    ws.assert_plan_empty()

    state = ws.state_resource(ADDRESS)
    assert state["secret_name"] == default_secret(cluster_id)
    assert state["secret_arn"].startswith(f"arn:aws:secretsmanager:{REGION}:{MANAGEMENT_ACCOUNT_ID}:secret:{default_secret(cluster_id)}-")
    assert state["id"] == state["secret_arn"]
    assert state["algorithm"] == "ECDSA_P256"
    assert state["tags_all"] == {**DEFAULT_TAGS, "team": "mgmt"}
    bundle = assert_key_matches_state(management, state, leak_guard)
    # No certificate yet: the key-only bundle names no certificate at all.
    creds.assert_bundle_shape(bundle, complete=False)
    assert "BEGIN EC PRIVATE KEY" not in bundle.private_key
    described = management.secretsmanager.describe_secret(SecretId=state["secret_arn"])
    assert {t["Key"]: t["Value"] for t in described["Tags"]} == {**DEFAULT_TAGS, "team": "mgmt"}
    assert "key-basic" in described["Description"]
    assert dt.datetime.fromisoformat(state["key_created_at"].replace("Z", "+00:00")) > \
        dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)


@pytest.mark.parametrize("algorithm,key_type", [("ECDSA_P384", "secp384r1"), ("RSA_2048", 2048)])
def test_algorithm_is_selectable(config_workspace, management, leak_guard, algorithm, key_type):
    from cryptography.hazmat.primitives import serialization
    cluster_id = f"key-{algorithm.lower().replace('_', '-')}"
    ws = config_workspace(key_block(cluster_id, algorithm=algorithm))
    ws.apply()
    state = ws.state_resource(ADDRESS)
    bundle = assert_key_matches_state(management, state, leak_guard)
    key = serialization.load_pem_private_key(bundle.private_key.encode(), None)
    if isinstance(key_type, int):
        assert key.key_size == key_type
    else:
        assert key.curve.name == key_type


def test_rotation_stages_a_pending_key_and_keeps_the_current_one(config_workspace, provider_preamble, management, leak_guard):
    cluster_id = "key-rotate"
    ws = config_workspace(key_block(cluster_id, rotation_triggers={"generation": "1"}))
    ws.apply()
    first = ws.state_resource(ADDRESS)
    current_before = creds.read_bundle(management, first["secret_arn"], guard=leak_guard)

    ws.set_config(provider_preamble + key_block(cluster_id, rotation_triggers={"generation": "2"}))
    plan = ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"csr_pem", "public_key_fingerprint"}})
    assert plan.resource_change(ADDRESS)["change"]["after_unknown"].get("csr_pem") is True
    ws.apply()
    ws.assert_plan_empty()
    second = ws.state_resource(ADDRESS)
    assert second["secret_arn"] == first["secret_arn"], "rotation must not replace the secret"
    assert second["public_key_fingerprint"] != first["public_key_fingerprint"]
    pending = assert_key_matches_state(management, second, leak_guard, stage="AWSPENDING")
    assert "AWSCURRENT" not in pending.stages
    current_after = creds.read_bundle(management, first["secret_arn"], guard=leak_guard)
    assert current_after.version_id == current_before.version_id, "rotation touched the current version"
    assert current_after.key_fingerprint == first["public_key_fingerprint"]

    # Changing only tags rotates nothing.
    ws.set_config(provider_preamble + key_block(cluster_id, rotation_triggers={"generation": "2"}, tags={"x": "1"}))
    ws.apply()
    assert ws.state_resource(ADDRESS)["public_key_fingerprint"] == second["public_key_fingerprint"]


def test_destroy_schedules_deletion_with_the_recovery_window(config_workspace, management):
    ws = config_workspace(key_block("key-destroy", recovery_window_in_days=10))
    ws.apply()
    arn = ws.state_resource(ADDRESS)["secret_arn"]
    ws.destroy()
    deleted = creds.deletion_scheduled(management, arn)
    assert deleted is not None, "the secret was not scheduled for deletion"
    days = (deleted - dt.datetime.now(deleted.tzinfo)).total_seconds() / 86400
    assert 9.5 < days <= 10.01, f"recovery window of {days:.2f} days, expected 10"


def test_force_delete_removes_the_secret_at_once(config_workspace, management):
    ws = config_workspace(key_block("key-force", force_delete_without_recovery=True))
    ws.apply()
    arn = ws.state_resource(ADDRESS)["secret_arn"]
    ws.destroy()
    with pytest.raises(management.secretsmanager.exceptions.ResourceNotFoundException):
        management.secretsmanager.describe_secret(SecretId=arn)


def test_secret_deleted_out_of_band_is_restored_with_a_new_pending_key(config_workspace, management, leak_guard):
    cluster_id = "key-drift"
    ws = config_workspace(key_block(cluster_id))
    ws.apply()
    first = ws.state_resource(ADDRESS)
    management.secretsmanager.delete_secret(SecretId=first["secret_arn"], RecoveryWindowInDays=7)

    # The secret state records (same ARN) is ours to restore: the plan rotates the key in place.
    ws.assert_plan_changes({ADDRESS: "update"})
    ws.apply()
    ws.assert_plan_empty()
    second = ws.state_resource(ADDRESS)
    assert second["secret_arn"] == first["secret_arn"]
    assert creds.deletion_scheduled(management, second["secret_arn"]) is None
    assert second["public_key_fingerprint"] != first["public_key_fingerprint"]
    # What the restored secret served stays current; the new key waits as AWSPENDING.
    assert_key_matches_state(management, second, leak_guard, stage="AWSPENDING")
    assert creds.read_bundle(management, second["secret_arn"], guard=leak_guard).key_fingerprint == first["public_key_fingerprint"]


def test_import_by_secret_name_recovers_the_key_facts(config_workspace, provider_preamble, management, leak_guard):
    cluster_id = "key-import"
    ws = config_workspace(key_block(cluster_id, tags={"team": "mgmt"}))
    ws.apply()
    original = ws.state_resource(ADDRESS)
    ws.state_rm(ADDRESS)

    ws.import_resource(ADDRESS, default_secret(cluster_id))
    ws.assert_plan_empty()
    imported = ws.state_resource(ADDRESS)
    for name in ("secret_arn", "secret_name", "public_key_fingerprint", "key_version_id", "algorithm", "tags_all"):
        assert imported[name] == original[name], name
    assert creds.csr_fingerprint(imported["csr_pem"]) == original["public_key_fingerprint"]
    assert_key_matches_state(management, imported, leak_guard)


def test_import_of_a_missing_secret_says_so(config_workspace):
    ws = config_workspace(key_block("key-missing"))
    ws.expect_error(["import", ADDRESS, "key-missing/maestro/agent-mqtt-cert"], r"No secret .*key-missing")


@pytest.mark.parametrize("arguments,attribute,message", [
    ({"algorithm": "DSA_1024"}, "algorithm", r"must be one of ECDSA_P256"),
    ({"recovery_window_in_days": 3}, "recovery_window_in_days", r"between 7 and 30"),
    ({"rotate_after_days": 0}, "rotate_after_days", r"between 1 and 3650"),
    ({"secret_name": "bad name!"}, "secret_name", r"Secrets Manager secret name"),
])
def test_bad_input_is_rejected_at_validate(config_workspace, management, arguments, attribute, message):
    cluster_id = "key-bad"
    ws = config_workspace(key_block(cluster_id, **arguments))
    result = ws.expect_error(["validate"], message)
    assert attribute in result.output
    with pytest.raises(management.secretsmanager.exceptions.ResourceNotFoundException):
        management.secretsmanager.describe_secret(SecretId=default_secret(cluster_id))


def test_the_leak_check_catches_this_key_when_planted(config_workspace, management, leak_guard):
    """The scan that runs after every test would see this very key in a real artifact: plant
    it in the real state file (as a leaky provider would, raw and without its PEM armour) and
    in the real trace log, and check each plant is reported; then put the artifacts back."""
    import base64
    import json as _json
    from cryptography.hazmat.primitives import serialization

    ws = config_workspace(key_block("key-planted"))
    ws.apply()
    state = ws.state_resource(ADDRESS)
    bundle = creds.read_bundle(management, state["secret_arn"], guard=leak_guard)
    assert leak_guard.scan() == [], "clean artifacts must pass before planting"

    state_file = ws.root / "terraform.tfstate"
    original = state_file.read_text()
    der = serialization.load_pem_private_key(bundle.private_key.encode(), None).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    plants = {
        "PEM in a state attribute": bundle.private_key,
        "bare base64 DER in a state attribute": base64.b64encode(der).decode(),
    }
    for what, planted in plants.items():
        doc = _json.loads(original)
        doc["resources"][0]["instances"][0]["attributes"]["csr_pem"] = planted
        state_file.write_text(_json.dumps(doc))
        findings = leak_guard.scan()
        assert any(f.source.startswith(str(state_file)) for f in findings), f"{what} was not found: {findings}"
    state_file.write_text(original)

    logs = sorted(ws.root.rglob("*.log"))
    assert logs, "no tofu trace log to plant into"
    log_text = logs[-1].read_text()
    logs[-1].write_text(log_text + '\n2026-01-01T00:00:00Z [TRACE] provider: body="' +
                        _json.dumps(bundle.raw)[1:-1].replace('"', '\\"') + '"\n')
    assert any(f.source.startswith(str(logs[-1])) for f in leak_guard.scan()), "the bundle escaped inside a log line was not found"
    logs[-1].write_text(log_text)
    assert leak_guard.scan() == []


def test_a_create_whose_answer_is_lost_adopts_the_secret_it_made(config_workspace, management, emulator_url, leak_guard):
    """CreateSecret succeeds in AWS but every answer is lost (the SDK retries, then finds the
    secret existing): the resource adopts its own secret instead of failing or leaving it."""
    from harness.faults import Faults
    faults = Faults(emulator_url)
    faults.arm("secretsmanager", "CreateSecret", when="after", status=500, code="InternalServiceError")
    try:
        ws = config_workspace(key_block("key-lost"))
        ws.apply()
        assert faults.fired("secretsmanager", "CreateSecret") == 1
    finally:
        faults.clear()
    ws.assert_plan_empty()
    state = ws.state_resource(ADDRESS)
    # The SDK's retry repeats the request with the same idempotency token, so AWS may answer it
    # as the same create (the key is current) or the resource adopts the secret (staged).
    stages = creds.versions(management, state["secret_arn"]).get(state["key_version_id"], [])
    assert stages, "the key's version is not in the secret"
    assert_key_matches_state(management, state, leak_guard, stage=stages[0])
    listed = management.secretsmanager.list_secrets(Filters=[{"Key": "name", "Values": ["key-lost/"]}])["SecretList"]
    assert [s["Name"] for s in listed] == [default_secret("key-lost")]


def test_a_secret_of_someone_else_is_not_taken_over(config_workspace, management):
    management.secretsmanager.create_secret(Name=default_secret("key-foreign"), SecretString="{}", Description="not ours")
    ws = config_workspace(key_block("key-foreign"))
    ws.expect_error(["apply", "-auto-approve", "-input=false", "-no-color"], r"Secret already exists")
    assert management.secretsmanager.get_secret_value(SecretId=default_secret("key-foreign"))["SecretString"] == "{}"
    management.secretsmanager.delete_secret(SecretId=default_secret("key-foreign"), ForceDeleteWithoutRecovery=True)


def test_rotate_after_days_plans_a_new_key_once_the_key_is_old_enough(config_workspace, provider_preamble, management, leak_guard):
    """The age check runs at plan time against `key_created_at`; the key's recorded creation
    time is moved back in the state (tofu state push) instead of waiting 30 days."""
    import json as _json
    cluster_id = "key-age"
    ws = config_workspace(key_block(cluster_id, rotate_after_days=30))
    ws.apply()
    ws.assert_plan_empty()
    before = ws.state_resource(ADDRESS)

    state = _json.loads(ws.run("state", "pull").stdout)
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")
    state["resources"][0]["instances"][0]["attributes"]["key_created_at"] = old
    state["serial"] += 1
    ws.write_file("aged.tfstate", _json.dumps(state))
    ws.run("state", "push", "aged.tfstate")
    ws.remove_file("aged.tfstate")

    plan = ws.assert_plan_changes({ADDRESS: "update"})
    assert plan.resource_change(ADDRESS)["change"]["after_unknown"].get("csr_pem") is True
    ws.apply()
    ws.assert_plan_empty()
    after = ws.state_resource(ADDRESS)
    assert after["public_key_fingerprint"] != before["public_key_fingerprint"]
    assert after["key_created_at"] > old
    assert_key_matches_state(management, after, leak_guard, stage="AWSPENDING")
