"""Secrets Manager as the provider's key custody relies on it (tests/test_custody.py): resource
policies, replicas, the KMS key DescribeSecret reports, ClientRequestToken as the VersionId, and
what a secret scheduled for deletion refuses. Where moto 5.2.5 is wrong, an extension fixes it
(maestro_emulator/secretsmanager_{tokens,deletion,kms}.py) and a `test_plain_moto_*` test
documents the bug (if one of those fails, moto fixed it and the extension can go). Also the
emulator's view of every secret at rest (secretsmanager_contents.py).
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.request import Request, urlopen

import boto3
import pytest
from botocore.exceptions import ClientError
from emulator_harness import MANAGEMENT_ACCOUNT, Emulator, start_emulator, unique
from test_emulator import error_of

OTHER_ACCOUNT = "111122223333"
REPLICA_REGION = "eu-west-1"
POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
                   "Action": "secretsmanager:GetSecretValue", "Resource": "*"}],
})
CONTENTS = "/maestro-emulator/secretsmanager/contents"


def token() -> str:
    return str(uuid.uuid4())


def raw_answers(client: Any) -> list[dict[str, Any]]:
    """The JSON bodies of the client's answers, as sent (botocore drops null members)."""
    bodies: list[dict[str, Any]] = []

    def keep(http_response: Any, **_: Any) -> None:
        bodies.append(json.loads(http_response.content or b"{}"))

    client.meta.events.register("after-call.secretsmanager.*", keep)
    return bodies


def contents(emulator: Emulator) -> list[dict[str, Any]]:
    with urlopen(Request(emulator.endpoint + CONTENTS), timeout=10) as response:
        return json.loads(response.read())["secrets"]


def purge(sm: Any, name: str) -> None:
    """Replicas first (a replicated secret cannot be deleted), then the secret."""
    try:
        regions = [r["Region"] for r in sm.describe_secret(SecretId=name).get("ReplicationStatus", [])]
        if regions:
            sm.remove_regions_from_replication(SecretId=name, RemoveReplicaRegions=regions)
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    except ClientError:
        pass


# ---------------------------------------------------------------- what moto already does as AWS


def test_get_resource_policy_has_no_policy_member_until_one_is_put(emulator: Emulator) -> None:
    sm = emulator.client("secretsmanager")
    bodies = raw_answers(sm)
    name = unique("custody-policy")
    arn = sm.create_secret(Name=name, SecretString="{}")["ARN"]
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=name)
    assert set(bodies[-1]) == {"ARN", "Name"}, bodies[-1]
    sm.put_resource_policy(SecretId=name, ResourcePolicy=POLICY)
    got = sm.get_resource_policy(SecretId=arn)
    assert json.loads(got["ResourcePolicy"]) == json.loads(POLICY)
    sm.delete_resource_policy(SecretId=name)
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=name)
    purge(sm, name)


def test_describe_secret_reports_the_replica_regions(emulator: Emulator) -> None:
    sm = emulator.client("secretsmanager")
    name = unique("custody-replica")
    sm.create_secret(Name=name, SecretString="{}")
    assert "ReplicationStatus" not in sm.describe_secret(SecretId=name)
    replicated = sm.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": REPLICA_REGION}])
    assert [r["Region"] for r in replicated["ReplicationStatus"]] == [REPLICA_REGION]
    described = sm.describe_secret(SecretId=name)
    assert [(r["Region"], r["Status"]) for r in described["ReplicationStatus"]] == [(REPLICA_REGION, "InSync")]
    # The replica exists in its region and names its primary's region.
    in_replica_region = boto3.client("secretsmanager", endpoint_url=emulator.endpoint, region_name=REPLICA_REGION,
                                     aws_access_key_id="testing", aws_secret_access_key="testing")
    assert in_replica_region.describe_secret(SecretId=name)["PrimaryRegion"] == "us-east-1"
    # A replicated secret cannot be deleted until its replicas are removed (as in AWS).
    with pytest.raises(ClientError):
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    sm.remove_regions_from_replication(SecretId=name, RemoveReplicaRegions=[REPLICA_REGION])
    assert "ReplicationStatus" not in sm.describe_secret(SecretId=name)
    purge(sm, name)


def test_client_request_token_becomes_the_version_id(emulator: Emulator) -> None:
    sm = emulator.client("secretsmanager")
    name = unique("custody-token")
    first = token()
    assert sm.create_secret(Name=name, SecretString="one", ClientRequestToken=first)["VersionId"] == first
    # The same create again (a retry after a lost answer) is the same version, not an error.
    assert sm.create_secret(Name=name, SecretString="one", ClientRequestToken=first)["VersionId"] == first
    second = token()
    put = sm.put_secret_value(SecretId=name, SecretString="two", ClientRequestToken=second, VersionStages=["AWSPENDING"])
    assert put["VersionId"] == second
    assert sm.describe_secret(SecretId=name)["VersionIdsToStages"] == {first: ["AWSCURRENT"], second: ["AWSPENDING"]}
    assert sm.get_secret_value(SecretId=name, VersionId=second)["SecretString"] == "two"
    purge(sm, name)


def test_kms_key_id_is_reported_for_a_customer_key(emulator: Emulator) -> None:
    sm, kms = emulator.client("secretsmanager"), emulator.client("kms")
    key_arn = kms.create_key(Description="someone else's key")["KeyMetadata"]["Arn"]
    name = unique("custody-cmk")
    sm.create_secret(Name=name, SecretString="{}", KmsKeyId=key_arn)
    assert sm.describe_secret(SecretId=name)["KmsKeyId"] == key_arn
    listed = [s for s in sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"] if s["Name"] == name]
    assert [s.get("KmsKeyId") for s in listed] == [key_arn]
    purge(sm, name)


# ---------------------------------------------------------------- secretsmanager_kms


def test_kms_key_id_is_omitted_for_the_aws_managed_key(emulator: Emulator) -> None:
    sm = emulator.client("secretsmanager")
    bodies = raw_answers(sm)
    name = unique("custody-default-key")
    sm.create_secret(Name=name, SecretString="{}")
    sm.describe_secret(SecretId=name)
    assert "KmsKeyId" not in bodies[-1], bodies[-1]
    sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])
    assert all("KmsKeyId" not in s for s in bodies[-1]["SecretList"]), bodies[-1]
    # Back to the AWS-managed key after a customer key: omitted again.
    key_arn = emulator.client("kms").create_key()["KeyMetadata"]["Arn"]
    sm.update_secret(SecretId=name, KmsKeyId=key_arn)
    assert sm.describe_secret(SecretId=name)["KmsKeyId"] == key_arn
    sm.update_secret(SecretId=name, KmsKeyId="alias/aws/secretsmanager")
    sm.describe_secret(SecretId=name)
    assert "KmsKeyId" not in bodies[-1], bodies[-1]
    purge(sm, name)


# ---------------------------------------------------------------- secretsmanager_tokens


def test_a_token_in_use_is_not_reused_for_other_content_even_on_a_pending_version(emulator: Emulator) -> None:
    sm = emulator.client("secretsmanager")
    name = unique("custody-reuse")
    current = token()
    sm.create_secret(Name=name, SecretString="current", ClientRequestToken=current)
    pending = token()
    sm.put_secret_value(SecretId=name, SecretString="staged", ClientRequestToken=pending, VersionStages=["AWSPENDING"])
    for used in (current, pending):
        with pytest.raises(ClientError) as caught:
            sm.put_secret_value(SecretId=name, SecretString="other", ClientRequestToken=used, VersionStages=["AWSPENDING"])
        status, code, message = error_of(caught)
        assert (status, code) == (400, "ResourceExistsException"), message
        assert used in message
    with pytest.raises(ClientError) as caught:
        sm.update_secret(SecretId=name, SecretString="other", ClientRequestToken=pending)
    assert error_of(caught)[1] == "ResourceExistsException"
    # The same write again is ignored: the value, the labels and the date stay.
    before = sm.get_secret_value(SecretId=name, VersionId=pending)
    again = sm.put_secret_value(SecretId=name, SecretString="staged", ClientRequestToken=pending)
    assert again["VersionId"] == pending
    after = sm.get_secret_value(SecretId=name, VersionId=pending)
    assert (after["SecretString"], after["VersionStages"], after["CreatedDate"]) == \
        (before["SecretString"], before["VersionStages"], before["CreatedDate"]) == ("staged", ["AWSPENDING"], before["CreatedDate"])
    assert sm.get_secret_value(SecretId=name)["VersionId"] == current
    purge(sm, name)


def test_plain_moto_overwrites_a_pending_version_with_a_reused_token() -> None:
    """Documents the moto bug `secretsmanager_tokens` fixes; if this fails, moto fixed it."""
    emu = start_emulator({"MAESTRO_EMULATOR_DISABLE": "secretsmanager_tokens"})
    try:
        sm = emu.client("secretsmanager")
        sm.create_secret(Name="plain", SecretString="current")
        pending = token()
        sm.put_secret_value(SecretId="plain", SecretString="staged", ClientRequestToken=pending, VersionStages=["AWSPENDING"])
        sm.put_secret_value(SecretId="plain", SecretString="other", ClientRequestToken=pending, VersionStages=["AWSPENDING"])
        assert sm.get_secret_value(SecretId="plain", VersionId=pending)["SecretString"] == "other"
    finally:
        emu.stop()


# ---------------------------------------------------------------- secretsmanager_deletion


def test_a_secret_scheduled_for_deletion_is_not_written_and_its_name_not_reused(emulator: Emulator) -> None:
    sm = emulator.client("secretsmanager")
    name = unique("custody-deleted")
    arn = sm.create_secret(Name=name, SecretString="kept")["ARN"]
    versions = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    writes = {
        "PutSecretValue": lambda: sm.put_secret_value(SecretId=name, SecretString="new"),
        "PutSecretValue with a token": lambda: sm.put_secret_value(SecretId=arn, SecretString="new", ClientRequestToken=token(),
                                                                   VersionStages=["AWSPENDING"]),
        "UpdateSecretVersionStage": lambda: sm.update_secret_version_stage(SecretId=name, VersionStage="AWSPENDING",
                                                                           MoveToVersionId=next(iter(versions))),
        "PutResourcePolicy": lambda: sm.put_resource_policy(SecretId=name, ResourcePolicy=POLICY),
        "ReplicateSecretToRegions": lambda: sm.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": REPLICA_REGION}]),
        "UpdateSecret": lambda: sm.update_secret(SecretId=name, SecretString="new"),
    }
    for what, write in writes.items():
        with pytest.raises(ClientError) as caught:
            write()
        status, code, message = error_of(caught)
        assert (status, code) == (400, "InvalidRequestException"), f"{what}: {code} {message}"
        assert "marked for deletion" in message, f"{what}: {message}"
    for create in (lambda: sm.create_secret(Name=name, SecretString="new"),
                   lambda: sm.create_secret(Name=name, SecretString="new", ClientRequestToken=token())):
        with pytest.raises(ClientError) as caught:
            create()
        status, code, message = error_of(caught)
        assert (status, code) == (400, "InvalidRequestException"), message
        assert "already scheduled for deletion" in message
    described = sm.describe_secret(SecretId=name)
    assert described["DeletedDate"] is not None
    assert described["VersionIdsToStages"] == versions, "a refused write left a version behind"
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=name)
    assert "ReplicationStatus" not in described
    # Restored, it is writable again.
    sm.restore_secret(SecretId=name)
    sm.put_secret_value(SecretId=name, SecretString="new")
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "new"
    purge(sm, name)


def test_plain_moto_writes_into_a_secret_scheduled_for_deletion() -> None:
    """Documents the moto bug `secretsmanager_deletion` fixes; if this fails, moto fixed it."""
    emu = start_emulator({"MAESTRO_EMULATOR_DISABLE": "secretsmanager_deletion"})
    try:
        sm = emu.client("secretsmanager")
        sm.create_secret(Name="plain", SecretString="kept")
        sm.delete_secret(SecretId="plain", RecoveryWindowInDays=7)
        sm.put_secret_value(SecretId="plain", SecretString="written while deleted")
        sm.put_resource_policy(SecretId="plain", ResourcePolicy=POLICY)
        with pytest.raises(ClientError) as caught:
            sm.create_secret(Name="plain", SecretString="new")
        assert error_of(caught)[1] == "ResourceExistsException"
    finally:
        emu.stop()


def test_plain_moto_answers_a_null_kms_key_id() -> None:
    """Documents the moto bug `secretsmanager_kms` fixes; if this fails, moto fixed it."""
    emu = start_emulator({"MAESTRO_EMULATOR_DISABLE": "secretsmanager_kms"})
    try:
        sm = emu.client("secretsmanager")
        bodies = raw_answers(sm)
        sm.create_secret(Name="plain", SecretString="{}")
        sm.describe_secret(SecretId="plain")
        assert "KmsKeyId" in bodies[-1] and bodies[-1]["KmsKeyId"] is None, bodies[-1]
    finally:
        emu.stop()


# ---------------------------------------------------------------- secretsmanager_contents


def test_contents_lists_every_version_of_every_secret_deleted_ones_included(emulator: Emulator) -> None:
    sm = emulator.client("secretsmanager")
    other = emulator.client("secretsmanager", **emulator.assume(f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:role/contents"))
    live, deleted, elsewhere = unique("contents-live"), unique("contents-deleted"), unique("contents-other")
    first = sm.create_secret(Name=live, SecretString="one")["VersionId"]
    second = sm.put_secret_value(SecretId=live, SecretString="two", VersionStages=["AWSPENDING"])["VersionId"]
    # A version that lost every label is still at rest.
    sm.update_secret_version_stage(SecretId=live, VersionStage="AWSPENDING", RemoveFromVersionId=second)
    sm.put_resource_policy(SecretId=live, ResourcePolicy=POLICY)
    sm.replicate_secret_to_regions(SecretId=live, AddReplicaRegions=[{"Region": REPLICA_REGION}])
    sm.create_secret(Name=deleted, SecretString="gone")
    sm.delete_secret(SecretId=deleted, RecoveryWindowInDays=7)
    other.create_secret(Name=elsewhere, SecretBinary=b"\x00binary")

    found = {(s["account"], s["name"]): s for s in contents(emulator)}
    entry = found[("123456789012", live)]
    assert entry["region"] == "us-east-1" and entry["hasResourcePolicy"] and entry["replicaRegions"] == [REPLICA_REGION]
    assert not entry["scheduledForDeletion"]
    assert {v["versionId"]: (v["stages"], v.get("secretString")) for v in entry["versions"]} == \
        {first: (["AWSCURRENT"], "one"), second: ([], "two")}
    # Listed once: the replica in eu-west-1 holds the same versions.
    assert [s["region"] for s in contents(emulator) if s["name"] == live] == ["us-east-1"]
    gone = found[("123456789012", deleted)]
    assert gone["scheduledForDeletion"] and [v.get("secretString") for v in gone["versions"]] == ["gone"]
    assert [v.get("secretBinary") for v in found[(MANAGEMENT_ACCOUNT, elsewhere)]["versions"]] == ["AGJpbmFyeQ=="]
    # Not an AWS call: it needs no credentials and a POST is refused.
    with pytest.raises(Exception):
        urlopen(Request(emulator.endpoint + CONTENTS, data=b"{}", method="POST"), timeout=10)

    sm.delete_resource_policy(SecretId=live)
    purge(sm, live)
    sm.delete_secret(SecretId=deleted, ForceDeleteWithoutRecovery=True)
    other.delete_secret(SecretId=elsewhere, ForceDeleteWithoutRecovery=True)


# ---------------------------------------------------------------- secretsmanager_kms: the key must exist


def _encryption_failure(call, **kwargs) -> str:
    with pytest.raises(ClientError) as refused:
        call(**kwargs)
    error = refused.value.response["Error"]
    assert error["Code"] == "EncryptionFailure", error
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Message"]


def test_a_value_is_stored_only_under_a_kms_key_that_exists_in_the_secrets_region(emulator: Emulator) -> None:
    sm, kms = emulator.client("secretsmanager"), emulator.client("kms")
    name = unique("custody-no-key")
    missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    for key_id in ("alias/no-such-key", "00000000-0000-0000-0000-000000000000", missing):
        assert "does not exist" in _encryption_failure(sm.create_secret, Name=name, SecretString="{}", KmsKeyId=key_id)
    # A real key of another region is not one Secrets Manager here can use either.
    key = kms.create_key(Description="a key")["KeyMetadata"]
    elsewhere = key["Arn"].replace(":us-east-1:", ":eu-west-1:")
    assert "region us-east-1" in _encryption_failure(sm.create_secret, Name=name, SecretString="{}", KmsKeyId=elsewhere)
    with pytest.raises(ClientError):
        sm.describe_secret(SecretId=name)  # nothing was created

    kms.create_alias(AliasName=f"alias/{name}", TargetKeyId=key["KeyId"])
    for key_id in (key["KeyId"], key["Arn"], f"alias/{name}"):
        sm.create_secret(Name=f"{name}-{len(key_id)}", SecretString="{}", KmsKeyId=key_id)
        purge(sm, f"{name}-{len(key_id)}")
    # Without a value there is nothing to encrypt, as in Secrets Manager.
    sm.create_secret(Name=name, KmsKeyId="alias/no-such-key")
    purge(sm, name)


def test_a_disabled_key_refuses_new_versions(emulator: Emulator) -> None:
    sm, kms = emulator.client("secretsmanager"), emulator.client("kms")
    key = kms.create_key(Description="soon disabled")["KeyMetadata"]
    name = unique("custody-disabled-key")
    sm.create_secret(Name=name, SecretString="one", KmsKeyId=key["Arn"])
    kms.disable_key(KeyId=key["KeyId"])
    assert "disabled" in _encryption_failure(sm.put_secret_value, SecretId=name, SecretString="two")
    assert "disabled" in _encryption_failure(sm.update_secret, SecretId=name, SecretString="two")
    kms.enable_key(KeyId=key["KeyId"])
    sm.put_secret_value(SecretId=name, SecretString="two")
    purge(sm, name)


def test_plain_moto_stores_a_value_under_a_key_that_does_not_exist() -> None:
    """Documents the moto gap `secretsmanager_kms` fills; if this fails, moto filled it."""
    emu = start_emulator({"MAESTRO_EMULATOR_DISABLE": "secretsmanager_kms"})
    try:
        sm = emu.client("secretsmanager")
        sm.create_secret(Name="plain", SecretString="{}", KmsKeyId="alias/no-such-key")
        assert sm.get_secret_value(SecretId="plain")["SecretString"] == "{}"
    finally:
        emu.stop()
