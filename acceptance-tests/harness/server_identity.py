"""What `maestro_server_identity` must leave in the regional account, written from the brief (not
from the provider), and the boto3 reads that check it.

The Maestro server's identity: an IoT certificate issued from a CSR whose key is generated inside
the provider and lands only in the certificate secret (`{certificate, privateKey, caCert}`), the
IoT policy `<name>-maestro-server-policy` on that certificate, the config secret
(`{config: <YAML>}`), and an IAM role `<name>-maestro-server` for EKS Pod Identity with the inline
policies `maestro-server-secrets` and `maestro-server-iot`, bound to the server's service account
by a Pod Identity association on the regional EKS cluster.

The server's topics (Maestro's `server --message-broker-type=mqtt`): it publishes work to
`<prefix>/<consumer>/sourceevents`, subscribes with the config's `agentEvents` as written
(`$share/<group>/<prefix>/+/agentevents` when shared, `<prefix>/+/agentevents` when broadcast)
and receives `<prefix>/<consumer>/agentevents`. IoT authorises a subscription by its filter as
written (`+` literal in a `topicfilter/` resource), so the policy names exactly that filter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import aws_inspect
from . import credentials as creds
from . import policy_documents as docs
from .aws_accounts import REGION, REGIONAL_ACCOUNT_ID, AwsAccount

RESOURCE_TYPE = "maestro_server_identity"
DEFAULT_PREFIX = "sources/maestro/consumers"
DEFAULT_CERT_SECRET = "maestro/server-cert"
DEFAULT_CONFIG_SECRET = "maestro/server-config"
DEFAULT_NAMESPACE = "maestro-server"
DEFAULT_SERVICE_ACCOUNT = "maestro-server"
DEFAULT_CLIENT_ID_PREFIX = "maestro"
DEFAULT_GROUP = "statussubscribers"
SECRETS_POLICY_NAME = "maestro-server-secrets"
IOT_POLICY_NAME = "maestro-server-iot"
# Where the deployed server chart mounts its secrets and points --message-broker-config-file.
CONFIG_FILE = "/mnt/secrets-store/config.yaml"
MOUNTED_FILES = {"clientCertFile": "/mnt/secrets-store/certificate",
                 "clientKeyFile": "/mnt/secrets-store/privateKey",
                 "caFile": "/mnt/secrets-store/ca.crt"}
MQTT_PORT = 8883


def role_name(name: str) -> str:
    return f"{name}-maestro-server"


def policy_name(name: str) -> str:
    return f"{name}-maestro-server-policy"


def iot_arn(kind: str, resource: str, account_id: str = REGIONAL_ACCOUNT_ID) -> str:
    return f"arn:aws:iot:{REGION}:{account_id}:{kind}/{resource}"


# ---------------------------------------------------------------- the server's settings


@dataclass(frozen=True)
class Expected:
    """The arguments that decide every derived name, topic and document."""
    name: str
    eks_cluster_name: str
    topic_prefix: str = DEFAULT_PREFIX
    client_id_prefix: str = DEFAULT_CLIENT_ID_PREFIX
    subscription_type: str = "shared"
    group: str = DEFAULT_GROUP
    namespace: str = DEFAULT_NAMESPACE
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    cert_secret: str = DEFAULT_CERT_SECRET
    config_secret: str = DEFAULT_CONFIG_SECRET
    tags_all: tuple[tuple[str, str], ...] = ()

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.tags_all)

    @property
    def role_name(self) -> str:
        return role_name(self.name)

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{REGIONAL_ACCOUNT_ID}:role/{self.role_name}"

    @property
    def policy_name(self) -> str:
        return policy_name(self.name)

    @property
    def source_id(self) -> str:
        return self.topic_prefix.split("/")[1]

    @property
    def source_events_topic(self) -> str:
        return f"{self.topic_prefix}/+/sourceevents"

    @property
    def agent_events_topic(self) -> str:
        plain = f"{self.topic_prefix}/+/agentevents"
        return f"$share/{self.group}/{plain}" if self.subscription_type == "shared" else plain

    def iot_policy(self) -> dict[str, Any]:
        """Connect as `<prefix>` or `<prefix>-*`, publish work, subscribe with exactly the config's
        agentEvents filter, receive status events: nothing wider."""
        return {"Version": docs.POLICY_VERSION, "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect",
             "Resource": [iot_arn("client", self.client_id_prefix), iot_arn("client", f"{self.client_id_prefix}-*")]},
            {"Effect": "Allow", "Action": "iot:Publish", "Resource": iot_arn("topic", f"{self.topic_prefix}/*/sourceevents")},
            {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": iot_arn("topicfilter", self.agent_events_topic)},
            {"Effect": "Allow", "Action": "iot:Receive", "Resource": iot_arn("topic", f"{self.topic_prefix}/*/agentevents")},
        ]}

    def secrets_policy(self) -> dict[str, Any]:
        return docs.secrets_policy(REGION, REGIONAL_ACCOUNT_ID, self.cert_secret, self.config_secret)

    def server_flags(self) -> list[str]:
        return ["--message-broker-type=mqtt", f"--message-broker-config-file={CONFIG_FILE}",
                f"--source-id={self.source_id}", f"--client-id={self.client_id_prefix}-$(POD_NAME)",
                f"--subscription-type={self.subscription_type}"]

    def helm_values(self) -> dict[str, Any]:
        """The deployed server chart's layout (rosa-regional-platform regional-cluster/maestro-server).
        `dbCredentialsSecretName` is left out: no database secret is configured in these tests."""
        return {
            "global": {"region": REGION},
            "maestroServer": {
                "maestro": {"serviceAccount": self.service_account},
                "broker": {"type": "mqtt", "configFile": CONFIG_FILE, "topicPrefix": self.topic_prefix},
                "aws": {"podIdentity": {"enabled": True, "roleArn": self.role_arn}},
                "externalSecrets": {"mqttCertSecretName": self.cert_secret},
            },
        }

    def derived_state(self) -> dict[str, Any]:
        """The attributes that follow from the arguments alone (known at plan time)."""
        return {
            "id": self.name, "name": self.name, "eks_cluster_name": self.eks_cluster_name,
            "namespace": self.namespace, "service_account": self.service_account,
            "topic_prefix": self.topic_prefix, "client_id_prefix": self.client_id_prefix,
            "subscription_type": self.subscription_type,
            "certificate_secret_name": self.cert_secret, "config_secret_name": self.config_secret,
            "source_id": self.source_id, "source_events_topic": self.source_events_topic,
            "agent_events_topic": self.agent_events_topic, "server_flags": self.server_flags(),
            "policy_name": self.policy_name, "policy_arn": iot_arn("policy", self.policy_name),
            "role_name": self.role_name, "role_arn": self.role_arn, "tags_all": self.tags,
        }


def assert_helm_values(actual: dict[str, Any], expected: Expected) -> None:
    want = expected.helm_values()
    got = json.loads(json.dumps(actual))
    db = (got.get("maestroServer") or {}).get("externalSecrets", {}).pop("dbCredentialsSecretName", None)
    assert not db, f"dbCredentialsSecretName {db!r} without a database secret configured"
    assert got == want, f"helm_values differ:\n  actual   {json.dumps(actual, sort_keys=True)}\n  expected {json.dumps(want, sort_keys=True)}"


def assert_derived_state(state: dict[str, Any], expected: Expected) -> None:
    want = expected.derived_state()
    wrong = {k: (state.get(k, "<missing>"), v) for k, v in want.items() if state.get(k, "<missing>") != v}
    assert not wrong, "state attributes differ (actual, expected):\n" + "\n".join(
        f"  {k}: {a!r} != {w!r}" for k, (a, w) in wrong.items())
    docs.assert_same_policy(state["policy_document"], expected.iot_policy(), "policy_document attribute")
    docs.assert_same_policy(state["trust_policy"], docs.trust_policy(), "trust_policy attribute")
    docs.assert_same_policy(state["secrets_policy"], expected.secrets_policy(), "secrets_policy attribute")
    docs.assert_same_policy(state["iot_policy"], expected.iot_policy(), "iot_policy attribute")
    assert_helm_values(state["helm_values"], expected)


# ---------------------------------------------------------------- IoT reads


def iot(regional: AwsAccount) -> Any:
    return regional.client("iot")


def endpoint(regional: AwsAccount) -> str:
    return iot(regional).describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]


def _absent(error: ClientError) -> bool:
    return aws_inspect.error_code(error) in ("ResourceNotFoundException", "NotFoundException")


def get_iot_policy(regional: AwsAccount, name: str) -> dict[str, Any] | None:
    try:
        return iot(regional).get_policy(policyName=name)
    except ClientError as error:
        if _absent(error):
            return None
        raise


def policy_versions(regional: AwsAccount, name: str) -> dict[str, bool]:
    """version ID -> is default."""
    listed = iot(regional).list_policy_versions(policyName=name)["policyVersions"]
    return {v["versionId"]: v["isDefaultVersion"] for v in listed}


def default_policy_version(regional: AwsAccount, name: str) -> str:
    [default] = [v for v, is_default in policy_versions(regional, name).items() if is_default]
    return default


def policy_targets(regional: AwsAccount, name: str) -> set[str]:
    return set(iot(regional).list_targets_for_policy(policyName=name, pageSize=250)["targets"])


def certificate(regional: AwsAccount, certificate_id: str) -> dict[str, Any] | None:
    try:
        return iot(regional).describe_certificate(certificateId=certificate_id)["certificateDescription"]
    except ClientError as error:
        if _absent(error):
            return None
        raise


def attached_policy_names(regional: AwsAccount, certificate_arn: str) -> list[str]:
    return sorted(p["policyName"] for p in iot(regional).list_attached_policies(target=certificate_arn)["policies"])


def certificate_der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


def certificates_certifying(regional: AwsAccount, key_fingerprint: str) -> dict[str, str]:
    """certificate ID -> status of every certificate in the account for the key with this
    SubjectPublicKeyInfo SHA-256."""
    found: dict[str, str] = {}
    marker = None
    while True:
        page = iot(regional).list_certificates(pageSize=250, **({"marker": marker} if marker else {}))
        for summary in page["certificates"]:
            described = certificate(regional, summary["certificateId"])
            if described and creds.certificate_fingerprint(described["certificatePem"]) == key_fingerprint:
                found[summary["certificateId"]] = described["status"]
        marker = page.get("nextMarker")
        if not marker:
            return found


def all_certificate_ids(regional: AwsAccount) -> set[str]:
    return {c["certificateId"] for c in aws_inspect.every_item(iot(regional), "list_certificates", "certificates")}


def all_policy_names(regional: AwsAccount) -> set[str]:
    return {p["policyName"] for p in aws_inspect.every_item(iot(regional), "list_policies", "policies")}


# ---------------------------------------------------------------- Secrets Manager reads


def describe_secret(regional: AwsAccount, secret_id: str) -> dict[str, Any] | None:
    try:
        return regional.secretsmanager.describe_secret(SecretId=secret_id)
    except ClientError as error:
        if aws_inspect.error_code(error) == "ResourceNotFoundException":
            return None
        raise


def all_secret_names(regional: AwsAccount) -> set[str]:
    names: set[str] = set()
    for page in regional.secretsmanager.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True):
        names.update(s["Name"] for s in page["SecretList"])
    return names


@dataclass
class ServerConfig:
    version_id: str
    raw: dict[str, Any]

    @property
    def text(self) -> str:
        return self.raw["config"]

    @property
    def parsed(self) -> dict[str, Any]:
        return yaml.safe_load(self.text)


def read_config(regional: AwsAccount, secret_id: str) -> ServerConfig:
    value = regional.secretsmanager.get_secret_value(SecretId=secret_id)
    return ServerConfig(value["VersionId"], json.loads(value["SecretString"]))


def force_delete_secret(regional: AwsAccount, secret_id: str) -> None:
    """Gone at once, also when already scheduled for deletion (AWS and moto both allow that)."""
    try:
        regional.secretsmanager.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)
    except ClientError as error:
        if aws_inspect.error_code(error) != "ResourceNotFoundException":
            raise


# ---------------------------------------------------------------- the whole identity


def assert_server_in_aws(regional: AwsAccount, state: dict[str, Any], expected: Expected, guard: Any) -> creds.Bundle:
    """Every object the resource owns, read with boto3, against the brief and against its state.
    Returns the current certificate bundle (its private key registered with the leak guard)."""
    assert_derived_state(state, expected)
    host = endpoint(regional)
    assert state["endpoint"] == host

    # IoT policy on the certificate.
    policy = get_iot_policy(regional, expected.policy_name)
    assert policy is not None, f"IoT policy {expected.policy_name} missing"
    assert policy["policyArn"] == state["policy_arn"]
    docs.assert_same_policy(policy["policyDocument"], expected.iot_policy(), "IoT policy in IoT Core")

    # The current certificate, and the ones in their grace period.
    cert = certificate(regional, state["certificate_id"])
    assert cert is not None, f"certificate {state['certificate_id']} missing"
    assert cert["status"] == "ACTIVE" and state["certificate_status"] == "ACTIVE", cert["status"]
    assert cert["certificateArn"] == state["certificate_arn"]
    assert certificate_der(cert["certificatePem"]) == certificate_der(state["certificate_pem"])
    assert attached_policy_names(regional, cert["certificateArn"]) == [expected.policy_name]
    previous = state["previous_certificates"] or []
    for item in previous:
        old = certificate(regional, item["certificate_id"])
        assert old is not None and old["status"] == "ACTIVE", f"previous certificate {item} is not ACTIVE: {old and old['status']}"
        assert old["certificateArn"] == item["certificate_arn"]
        assert attached_policy_names(regional, item["certificate_arn"]) == [expected.policy_name], \
            "a certificate in its grace period must keep the policy, or it cannot connect"
    assert policy_targets(regional, expected.policy_name) == {state["certificate_arn"]} | {p["certificate_arn"] for p in previous}

    # The IAM role.
    name = expected.role_name
    role = aws_inspect.get_role(regional, name)
    assert role is not None, f"IAM role {name} missing"
    assert role["Arn"] == state["role_arn"] == expected.role_arn
    docs.assert_same_policy(aws_inspect.as_document(role["AssumeRolePolicyDocument"]), docs.trust_policy(), "trust policy in IAM")
    assert aws_inspect.inline_policy_names(regional, name) == sorted([SECRETS_POLICY_NAME, IOT_POLICY_NAME])
    assert aws_inspect.attached_policy_arns(regional, name) == []
    docs.assert_same_policy(aws_inspect.inline_policy(regional, name, SECRETS_POLICY_NAME), expected.secrets_policy(),
                            f"{SECRETS_POLICY_NAME} in IAM")
    docs.assert_same_policy(aws_inspect.inline_policy(regional, name, IOT_POLICY_NAME), expected.iot_policy(),
                            f"{IOT_POLICY_NAME} in IAM")
    assert aws_inspect.role_tags(regional, name) == expected.tags

    # The Pod Identity association.
    matching = aws_inspect.associations_for(regional, expected.eks_cluster_name, expected.namespace, expected.service_account)
    assert len(matching) == 1, f"expected one association for {expected.namespace}/{expected.service_account}: {matching}"
    [association] = matching
    assert association.role_arn == expected.role_arn
    assert (association.association_id, association.association_arn) == (state["association_id"], state["association_arn"])
    assert association.tags == expected.tags

    # The certificate secret: the bundle the server mounts.
    described = describe_secret(regional, expected.cert_secret)
    assert described is not None and not described.get("DeletedDate"), f"{expected.cert_secret} missing or deleted"
    assert described["ARN"] == state["certificate_secret_arn"]
    assert {t["Key"]: t["Value"] for t in described.get("Tags") or []} == expected.tags
    bundle = creds.read_bundle(regional, expected.cert_secret, guard=guard)
    assert bundle is not None, f"no AWSCURRENT version in {expected.cert_secret}"
    creds.assert_bundle_shape(bundle, complete=True)
    assert bundle.version_id == state["credential_version_id"]
    assert certificate_der(bundle.certificate) == certificate_der(cert["certificatePem"]), \
        "the bundle's certificate is not the IoT certificate"
    assert bundle.key_fingerprint == creds.certificate_fingerprint(cert["certificatePem"]), \
        "the bundle's private key is not the key the certificate certifies"
    assert state["public_key_fingerprint"] == bundle.key_fingerprint

    # The config secret.
    described = describe_secret(regional, expected.config_secret)
    assert described is not None and not described.get("DeletedDate"), f"{expected.config_secret} missing or deleted"
    assert described["ARN"] == state["config_secret_arn"]
    assert {t["Key"]: t["Value"] for t in described.get("Tags") or []} == expected.tags
    config = read_config(regional, expected.config_secret)
    assert set(config.raw) == {"config"}, f"config secret keys {sorted(config.raw)}"
    assert config.text == state["server_config"]
    parsed = config.parsed
    assert parsed["brokerHost"] == f"{host}:{MQTT_PORT}", parsed
    assert parsed["topics"] == {"sourceEvents": expected.source_events_topic, "agentEvents": expected.agent_events_topic}, parsed
    for key, path in MOUNTED_FILES.items():
        assert parsed[key] == path, parsed
    return bundle


def assert_nothing_left(regional: AwsAccount, expected: Expected, certificate_ids: list[str], key_fingerprints: list[str],
                        force_deleted: bool, recovery_days: int = 7) -> None:
    """After destroy: certificates deleted, policy, role and association gone, secrets scheduled
    for deletion with the recovery window (or gone when force-deleted)."""
    import datetime as dt

    for certificate_id in certificate_ids:
        assert certificate(regional, certificate_id) is None, f"certificate {certificate_id} still exists"
    for fingerprint in key_fingerprints:
        assert certificates_certifying(regional, fingerprint) == {}, "a certificate for a server key is left"
    assert get_iot_policy(regional, expected.policy_name) is None, f"IoT policy {expected.policy_name} still exists"
    assert aws_inspect.get_role(regional, expected.role_name) is None, f"role {expected.role_name} still exists"
    assert aws_inspect.associations_for(regional, expected.eks_cluster_name, expected.namespace, expected.service_account) == []
    for secret in (expected.cert_secret, expected.config_secret):
        described = describe_secret(regional, secret)
        if force_deleted:
            assert described is None, f"{secret} still exists after destroy with force_delete_without_recovery"
            continue
        assert described is not None and described.get("DeletedDate"), f"{secret} not scheduled for deletion"
        deleted = described["DeletedDate"]
        days = (deleted - dt.datetime.now(deleted.tzinfo)).total_seconds() / 86400
        assert recovery_days - 0.5 < days <= recovery_days + 0.01, f"{secret}: recovery window {days:.2f} days"
