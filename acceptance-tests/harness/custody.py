"""Key custody in a shared account: what tests/test_custody.py plants in Secrets Manager, and
how it proves afterwards that no private key landed anywhere it should not.

Someone else in the account can create a secret of the name the provider will use, put a
resource policy or replicas on it, encrypt it under their own KMS key, or schedule it for
deletion; they can read this provider's source, so they can also write its description and
its custody proof (`proof_token`). The helpers here do exactly that with boto3, in either
account.

The at-rest scan reads every version of every secret of every account and region from the
emulator (`GET /maestro-emulator/secretsmanager/contents`, which also sees the secrets
scheduled for deletion that GetSecretValue refuses to read) and compares it with a snapshot
taken before the command under test: a version that is new or changed since, and that holds
private-key material, is a finding. Values stay in this process's memory; findings name the
secret and the version, never the value.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from . import aws_inspect
from . import credentials as creds
from .aws_accounts import AwsAccount
from .leak_check import LeakScanner

CONTENTS_PATH = "/maestro-emulator/secretsmanager/contents"
# An account that is neither of the two the tests use: whoever a planted policy lets in.
OTHER_ACCOUNT_ID = "111122223333"
OTHER_PRINCIPAL = f"arn:aws:iam::{OTHER_ACCOUNT_ID}:root"
REPLICA_REGION = "eu-west-1"
AWS_MANAGED_KEY = "alias/aws/secretsmanager"

# The provider's descriptions (src/resources/agent_key/model.rs, src/resources/server_identity/secrets.rs).
AGENT_DESCRIPTION = "Maestro agent MQTT credentials for cluster {cluster_id} (managed by terraform-provider-maestro)"
SERVER_DESCRIPTION = "Maestro server MQTT credentials for {name} (managed by terraform-provider-maestro)"

# src/resources/aws/custody/proof.rs: domain separation of the proof and of a vouch.
PROOF_CONTEXT = b"terraform-provider-maestro custody proof v1"
VOUCH_CONTEXT = b"terraform-provider-maestro custody vouch v1"


def agent_secret_name(cluster_id: str) -> str:
    return f"{cluster_id}/maestro/agent-mqtt-cert"


def agent_description(cluster_id: str) -> str:
    return AGENT_DESCRIPTION.format(cluster_id=cluster_id)


def server_description(name: str) -> str:
    return SERVER_DESCRIPTION.format(name=name)


# ---------------------------------------------------------------- the proof


def _keyed_token(context: bytes, key_pem: str, bundle: dict[str, Any], secret_name: str, owner: str) -> str:
    def text(name: str) -> str:
        value = bundle.get(name)
        return value if isinstance(value, str) and value.strip() else ""

    mac = hmac.new(key_pem.encode(), digestmod=hashlib.sha256)
    for part in (context, secret_name.encode(), owner.encode(), bundle["privateKey"].encode(),
                 text("certificate").encode(), text("caCert").encode()):
        mac.update(len(part).to_bytes(8, "big"))
        mac.update(part)
    h = mac.digest()[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def proof_token(bundle: dict[str, Any], secret_name: str, owner: str) -> str:
    """The version ID the provider gives a key-bearing version it writes on its own authority
    (custody::proof_token): HMAC-SHA256 keyed with the bundle's private key over the secret's
    name, the owner (agent cluster ID, server name) and the bundle, each part length-prefixed,
    the first 16 bytes UUID-shaped. Keyed with the key in the version, it is made as easily by
    anyone who chose that key; test_custody checks it against what the provider really writes."""
    return _keyed_token(PROOF_CONTEXT, bundle["privateKey"], bundle, secret_name, owner)


def vouched_token(voucher_pem: str, bundle: dict[str, Any], secret_name: str, owner: str) -> str:
    """The version ID of a key staged while `voucher_pem` (the key state records) is in the
    secret (custody::vouched_token): the same HMAC keyed with that key. Only a reader of the
    secret can make it."""
    return _keyed_token(VOUCH_CONTEXT, voucher_pem, bundle, secret_name, owner)


# ---------------------------------------------------------------- someone else's key


@dataclass(frozen=True)
class ForeignKey:
    """A key pair someone else made (and knows): what they plant as a bundle."""
    private_key_pem: str

    @classmethod
    def generate(cls) -> "ForeignKey":
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        return cls(pem)

    @property
    def fingerprint(self) -> str:
        return creds.key_fingerprint(self.private_key_pem)

    def bundle(self) -> dict[str, Any]:
        return {"privateKey": self.private_key_pem}

    def csr_pem(self, common_name: str) -> str:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        key = serialization.load_pem_private_key(self.private_key_pem.encode(), None)
        csr = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])).sign(key, hashes.SHA256())
        return csr.public_bytes(serialization.Encoding.PEM).decode()


# ---------------------------------------------------------------- planting


def create_customer_key(account: AwsAccount, description: str = "someone else's key") -> str:
    """A customer-managed KMS key in the account (its owner could decrypt what it protects)."""
    return account.client("kms").create_key(Description=description)["KeyMetadata"]["Arn"]


def policy_granting(principal: str = OTHER_PRINCIPAL) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "LetThemRead", "Effect": "Allow", "Principal": {"AWS": principal},
                       "Action": "secretsmanager:GetSecretValue", "Resource": "*"}],
    })


def plant(account: AwsAccount, name: str, description: str, value: dict[str, Any], *,
          token: str | None = None, kms_key_id: str | None = None) -> str:
    """CreateSecret as someone else would; returns the ARN."""
    arguments: dict[str, Any] = {"Name": name, "Description": description, "SecretString": json.dumps(value)}
    if token is not None:
        arguments["ClientRequestToken"] = token
    if kms_key_id is not None:
        arguments["KmsKeyId"] = kms_key_id
    return account.secretsmanager.create_secret(**arguments)["ARN"]


def put_policy(account: AwsAccount, secret_id: str, principal: str = OTHER_PRINCIPAL) -> None:
    account.secretsmanager.put_resource_policy(SecretId=secret_id, ResourcePolicy=policy_granting(principal))


def replicate(account: AwsAccount, secret_id: str, region: str = REPLICA_REGION) -> None:
    account.secretsmanager.replicate_secret_to_regions(SecretId=secret_id, AddReplicaRegions=[{"Region": region}])


def schedule_deletion(account: AwsAccount, secret_id: str, days: int = 7) -> None:
    account.secretsmanager.delete_secret(SecretId=secret_id, RecoveryWindowInDays=days)


def undo_exposure(account: AwsAccount, secret_id: str) -> None:
    """Takes a resource policy and every replica off the secret (if it still exists)."""
    sm = account.secretsmanager
    try:
        described = sm.describe_secret(SecretId=secret_id)
    except ClientError as error:
        if aws_inspect.error_code(error) == "ResourceNotFoundException":
            return
        raise
    regions = [r["Region"] for r in described.get("ReplicationStatus") or []]
    if regions:
        sm.remove_regions_from_replication(SecretId=secret_id, RemoveReplicaRegions=regions)
    if described.get("DeletedDate") is None:
        sm.delete_resource_policy(SecretId=secret_id)


def purge(account: AwsAccount, secret_id: str) -> None:
    """Gone at once, whatever was put on it: replicas first (a replicated secret cannot be
    deleted), then a forced delete (also of one scheduled for deletion)."""
    undo_exposure(account, secret_id)
    try:
        account.secretsmanager.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)
    except ClientError as error:
        if aws_inspect.error_code(error) != "ResourceNotFoundException":
            raise


def versions(account: AwsAccount, secret_id: str) -> dict[str, list[str]]:
    """Version ID → staging labels (DescribeSecret works on a secret scheduled for deletion)."""
    return {k: sorted(v) for k, v in (account.secretsmanager.describe_secret(SecretId=secret_id)
                                      .get("VersionIdsToStages") or {}).items()}


def resource_policy(account: AwsAccount, secret_id: str) -> str | None:
    return account.secretsmanager.get_resource_policy(SecretId=secret_id).get("ResourcePolicy")


# ---------------------------------------------------------------- what is at rest


@dataclass(frozen=True)
class StoredVersion:
    account: str
    region: str
    arn: str
    name: str
    version_id: str
    stages: tuple[str, ...]
    digest: str
    value: str  # kept in memory only; never printed

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.account, self.region, self.arn, self.version_id)

    def describe(self) -> str:
        return (f"account {self.account} {self.region} secret {self.name} version {self.version_id} "
                f"{list(self.stages)}")


@dataclass(frozen=True)
class AtRest:
    """Every version of every secret in the emulator at one moment."""
    versions: dict[tuple[str, str, str, str], StoredVersion]
    secrets: dict[str, dict[str, Any]]  # ARN → the secret's metadata (no values)

    def changed_since(self, before: "AtRest") -> list[StoredVersion]:
        """Versions that are new, or whose value changed, since `before`."""
        return [v for k, v in self.versions.items() if k not in before.versions or before.versions[k].digest != v.digest]

    def of_secret(self, arn: str) -> dict[str, str]:
        """Version ID → value digest, for one secret."""
        return {v.version_id: v.digest for v in self.versions.values() if v.arn == arn}


def at_rest(emulator_url: str) -> AtRest:
    with urllib.request.urlopen(emulator_url.rstrip("/") + CONTENTS_PATH, timeout=30) as response:
        listed = json.loads(response.read())["secrets"]
    found: dict[tuple[str, str, str, str], StoredVersion] = {}
    secrets: dict[str, dict[str, Any]] = {}
    for secret in listed:
        secrets[secret["arn"]] = {k: v for k, v in secret.items() if k != "versions"}
        for version in secret["versions"]:
            value = version.get("secretString")
            if value is None:
                value = version.get("secretBinary") or ""
            stored = StoredVersion(secret["account"], secret["region"], secret["arn"], secret["name"],
                                   version["versionId"], tuple(version.get("stages") or ()),
                                   hashlib.sha256(value.encode()).hexdigest(), value)
            found[stored.key] = stored
    return AtRest(found, secrets)


def holds_key_material(value: str) -> list[str]:
    """What the leak scanner sees in one value: kinds only (PEM armour, a "privateKey" member
    with a value, DER in any encoding)."""
    return sorted({finding.kind for finding in LeakScanner().scan_text(value, "value")})


def new_key_material(before: AtRest, after: AtRest, allowed_arns: Iterable[str] = ()) -> list[str]:
    """Versions written since `before` that hold private-key material, outside the secrets in
    `allowed_arns` (those the provider owns in state). Descriptions only, never values."""
    allowed = set(allowed_arns)
    findings = []
    for version in after.changed_since(before):
        if version.arn in allowed:
            continue
        kinds = holds_key_material(version.value)
        if kinds:
            changed = "new" if version.key not in before.versions else "rewritten"
            findings.append(f"{version.describe()} ({changed}): {', '.join(kinds)}")
    return findings


def state_secret_arns(resources: dict[str, dict[str, Any]]) -> set[str]:
    """Every secret ARN the state records (any attribute named *secret_arn)."""
    found = set()
    for values in resources.values():
        for name, value in values.items():
            if name.endswith("secret_arn") and isinstance(value, str) and value:
                found.add(value)
    return found

