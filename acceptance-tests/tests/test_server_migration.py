"""The migration guide's server side (docs/guides/migrating-from-modules.md, S1-S4), step by step,
against a Maestro server identity made EXACTLY the way the old hand-written regional module
makes it (rosa-regional-platform `terraform/modules/maestro-infrastructure/{iot,secrets,iam}.tf`),
through the real CLI (MAESTRO_TEST_CLI) and provider binary against the emulator.

What the old module makes, done here with boto3 in the regional account, call for call as the
AWS provider's resources make them:

- `aws_iot_certificate.maestro_server` (`active = true`): CreateKeysAndCertificate(setAsActive),
  so IoT Core generates the key and returns it: it sat in the old state (and in the bundle's
  `secret_string`). Real IoT and the emulator both hand out an RSA 2048 key in PKCS#1 PEM;
- `aws_iot_policy.maestro_server` `<base>-maestro-server-policy`: Connect `client/*`, Publish
  `topic/sources/maestro/consumers/*/sourceevents` and `.../*/agentevents`, Subscribe
  `topicfilter/sources/maestro/consumers/*/agentevents`, Receive
  `topic/sources/maestro/consumers/*/agentevents`, tagged; `aws_iot_policy_attachment`
  (AttachPolicy);
- `aws_secretsmanager_secret(_version).maestro_server_cert` `maestro/server-cert`
  (CreateSecret, then PutSecretValue of `jsonencode({certificate, privateKey, caCert})`);
  `.maestro_server_config` `maestro/server-config` (`jsonencode({config = <<-EOT ... EOT})`,
  the YAML with the module's comments and unquoted paths); `.maestro_db_credentials`
  `maestro/db-credentials`;
- `aws_iam_role.maestro_server` `<base>-maestro-server` (Pod Identity trust, tagged) with the
  inline policies `<base>-maestro-server-iot-policy` and `<base>-maestro-server-secrets-policy`;
- `aws_eks_pod_identity_association.maestro_server`: `maestro-server`/`maestro-server` on the
  regional EKS cluster, tagged.

`caCert` is `data.http.aws_iot_root_ca` in the module: the CA of the broker's server
certificate, Amazon Root CA 1 at IoT Core. The emulator's broker presents a certificate of its
own CA, so that CA stands in for Amazon Root CA 1 here: the old bundle holds it, and the
configuration sets `broker_ca_pem` to it (with real IoT Core it is the provider's default, and
the line is not needed), as tests/test_wire.py does.

The certificate: moto's CreateKeysAndCertificate signs it with its own key under the issuer name
"Moto" (not with the emulator's IoT CA, which signs only CreateCertificateFromCsr); the
emulator's broker, like IoT Core for a certificate registered without a CA, identifies a client
certificate by its registration (SHA-256 of the DER) and needs no chain, so it accepts it.

Not exercised: S2's `removed` blocks. Nothing of the old module is in a state here (the
objects are made with boto3, and the offline provider mirror has no AWS provider), so the
configuration starts at the provider's resource and its import block.

The old private key is registered with the leak guard before the first tofu command: the scan of
every state, plan, CLI output and trace log of the test proves that import reads the key in
memory only. The CSI mounts of the wire checks hold private keys by design and live outside
the workspace.
"""

from __future__ import annotations

import json
import re
import secrets as pysecrets
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import aws_inspect, hcl, old_modules, wire, wire_flow
from harness import credentials as creds
from harness import policy_documents as docs
from harness import server_identity as si
from harness.aws_accounts import REGION, REGIONAL_ACCOUNT_ID
from harness.leak_check import assert_no_leaks

# The existing server identity tests' fixtures: a regional EKS cluster, secrets force-deleted
# after the teardown destroy, an initialised workspace with the standard providers.
from test_server_identity import make_regional_cluster, purge_secrets, server_workspace  # noqa: F401

pytestmark = pytest.mark.acceptance

ADDRESS = f"{si.RESOURCE_TYPE}.server"
NOT_AUTHORIZED = 0x87
PREFIX = si.DEFAULT_PREFIX
DB_SECRET = "maestro/db-credentials"
# The old module's tags (local.common_tags merged with a Name and Component per resource).
COMMON_TAGS = {"ManagedBy": "terraform", "Module": "maestro-infrastructure"}
# What the deployed server chart runs the server with before the migration: it passes neither
# --client-id nor --source-id (Maestro's defaults `maestro`), and the old config subscribes with
# the plain filter, which the wire harness runs as a broadcast subscription.
OLD_SERVER = {
    "server_flags": ["--message-broker-type=mqtt", f"--message-broker-config-file={si.CONFIG_FILE}",
                     "--source-id=maestro", "--client-id=maestro", "--subscription-type=broadcast"],
    "agent_events_topic": f"{PREFIX}/+/agentevents",
}


def iot_arn(kind: str, resource: str) -> str:
    return f"arn:aws:iot:{REGION}:{REGIONAL_ACCOUNT_ID}:{kind}/{resource}"


# ---------------------------------------------------------------- the old module's objects


def old_iot_policy() -> dict[str, Any]:
    """iot.tf `aws_iot_policy.maestro_server`."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": [iot_arn("client", "*")]},
        {"Effect": "Allow", "Action": ["iot:Publish"], "Resource": [
            iot_arn("topic", f"{PREFIX}/*/sourceevents"), iot_arn("topic", f"{PREFIX}/*/agentevents")]},
        {"Effect": "Allow", "Action": ["iot:Subscribe"], "Resource": [iot_arn("topicfilter", f"{PREFIX}/*/agentevents")]},
        {"Effect": "Allow", "Action": ["iot:Receive"], "Resource": [iot_arn("topic", f"{PREFIX}/*/agentevents")]},
    ]}


def old_role_iot_policy(base: str) -> dict[str, Any]:
    """iam.tf `aws_iam_role_policy.maestro_server_iot` (mqtt_topic_prefix = the default prefix)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive"],
        "Resource": [iot_arn("client", f"{base}-maestro-server-*"), iot_arn("topic", f"{PREFIX}/*"),
                     iot_arn("topicfilter", f"{PREFIX}/*")]}]}


def old_role_secrets_policy(*secret_arns: str) -> dict[str, Any]:
    """iam.tf `aws_iam_role_policy.maestro_server_secrets`."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        "Resource": list(secret_arns)}]}


def old_server_config(endpoint: str) -> str:
    """secrets.tf `aws_secretsmanager_secret_version.maestro_server_config`: the `<<-EOT` heredoc
    with its indentation stripped, as Terraform writes it."""
    return old_modules.old_mqtt_config_yaml(
        endpoint,
        ("Server publishes to all consumer topics", f"{PREFIX}/+/sourceevents"),
        ("Server subscribes to all agent events", f"{PREFIX}/+/agentevents"))


def jsonencode(value: dict[str, Any]) -> str:
    """Terraform's jsonencode: keys sorted, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


@dataclass
class OldServer:
    base: str
    eks: str
    certificate_id: str
    certificate_arn: str
    certificate_pem: str
    private_key: str
    cert_secret_arn: str
    cert_version_id: str
    config_secret_arn: str
    config_version_id: str
    config_text: str
    db_secret_arn: str
    association_id: str
    association_tags: dict[str, str]
    role_tags: dict[str, str]
    old_inline_policies: list[str] = field(default_factory=list)

    @property
    def key_fingerprint(self) -> str:
        return creds.key_fingerprint(self.private_key)


def make_old_module_server(regional, base: str, eks: str, ca_pem: str, guard) -> OldServer:
    """Everything the old module's server side creates, in the order Terraform would."""
    iot = si.iot(regional)
    sm = regional.secretsmanager
    endpoint = si.endpoint(regional)  # data.aws_iot_endpoint.mqtt

    # aws_iot_certificate.maestro_server: IoT Core makes the key and hands it out.
    made = iot.create_keys_and_certificate(setAsActive=True)
    private_key = made["keyPair"]["PrivateKey"]
    guard.register_secret(private_key, "the old module's server key (CreateKeysAndCertificate)")

    # aws_iot_policy.maestro_server + aws_iot_policy_attachment.maestro_server
    policy_name = si.policy_name(base)
    iot.create_policy(policyName=policy_name, policyDocument=json.dumps(old_iot_policy()),
                      tags=tag_list({**COMMON_TAGS, "Name": policy_name, "Component": "maestro-server"}))
    iot.attach_policy(policyName=policy_name, target=made["certificateArn"])

    # The secrets: aws_secretsmanager_secret (CreateSecret), then _version (PutSecretValue).
    def secret(name: str, description: str, tag_name: str, value: dict[str, Any]) -> tuple[str, str]:
        arn = sm.create_secret(Name=name, Description=description,
                               Tags=tag_list({**COMMON_TAGS, "Name": tag_name, "Component": "maestro-server"}))["ARN"]
        version = sm.put_secret_value(SecretId=arn, SecretString=jsonencode(value))["VersionId"]
        return arn, version

    cert_arn, cert_version = secret(si.DEFAULT_CERT_SECRET, "MQTT certificate material for Maestro Server",
                                    "maestro-server-cert",
                                    {"certificate": made["certificatePem"], "privateKey": private_key, "caCert": ca_pem})
    config_text = old_server_config(endpoint)
    config_arn, config_version = secret(si.DEFAULT_CONFIG_SECRET, "MQTT configuration for Maestro Server",
                                        "maestro-server-config", {"config": config_text})
    db_password = pysecrets.token_urlsafe(24)
    guard.register_secret(db_password, "the database password")
    db_arn, _ = secret(DB_SECRET, "PostgreSQL database credentials for Maestro Server", f"{base}-maestro-db-credentials",
                       {"username": "maestro", "password": db_password, "host": "maestro.example.internal",
                        "port": "5432", "database": "maestro"})

    # aws_iam_role.maestro_server and its two aws_iam_role_policy resources.
    role = si.role_name(base)
    role_tags = {**COMMON_TAGS, "Name": f"{base}-maestro-server-role", "Component": "maestro-server"}
    role_arn = regional.iam.create_role(
        RoleName=role, Description="IAM role for Maestro Server with access to RDS, IoT, and Secrets Manager",
        AssumeRolePolicyDocument=json.dumps(aws_inspect.POD_IDENTITY_TRUST), Tags=tag_list(role_tags))["Role"]["Arn"]
    old_inline = {f"{base}-maestro-server-iot-policy": old_role_iot_policy(base),
                  f"{base}-maestro-server-secrets-policy": old_role_secrets_policy(cert_arn, config_arn, db_arn)}
    for policy, document in old_inline.items():
        regional.iam.put_role_policy(RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(document))

    # aws_eks_pod_identity_association.maestro_server (EKS may not see the new role at once).
    association_tags = {**COMMON_TAGS, "Name": f"{base}-maestro-server-pod-identity", "Component": "maestro-server"}
    association = aws_inspect.retry_while(
        lambda: regional.eks.create_pod_identity_association(
            clusterName=eks, namespace=si.DEFAULT_NAMESPACE, serviceAccount=si.DEFAULT_SERVICE_ACCOUNT,
            roleArn=role_arn, tags=association_tags),
        codes={"InvalidParameterException"})["association"]

    return OldServer(base, eks, made["certificateId"], made["certificateArn"], made["certificatePem"], private_key,
                     cert_arn, cert_version, config_arn, config_version, config_text, db_arn,
                     association["associationId"], association_tags, role_tags, sorted(old_inline))


def remove_old_module_server(regional, old: OldServer) -> None:
    """Whatever of the old objects is still there when the test ends (a failed step): certificate,
    policy, role, association. Secrets are purged by `purge_secrets`."""
    iot = si.iot(regional)
    for association in aws_inspect.associations(regional, old.eks):
        if association.role_arn.endswith(f":role/{si.role_name(old.base)}"):
            aws_inspect.delete_association(regional, old.eks, association.association_id)
    if aws_inspect.get_role(regional, si.role_name(old.base)) is not None:
        aws_inspect.delete_role_completely(regional, si.role_name(old.base))
    policy_name = si.policy_name(old.base)
    if si.get_iot_policy(regional, policy_name) is not None:
        for target in si.policy_targets(regional, policy_name):
            iot.detach_policy(policyName=policy_name, target=target)
        for version, is_default in si.policy_versions(regional, policy_name).items():
            if not is_default:
                iot.delete_policy_version(policyName=policy_name, policyVersionId=version)
        iot.delete_policy(policyName=policy_name)
    if si.certificate(regional, old.certificate_id) is not None:
        iot.update_certificate(certificateId=old.certificate_id, newStatus="INACTIVE")
        iot.delete_certificate(certificateId=old.certificate_id)


# ---------------------------------------------------------------- the guide's configuration


VARIABLES = 'variable "broker_ca_pem" {\n  type = string\n}\n'


def guide_config(base: str, eks: str, db_arn: str, **arguments: Any) -> str:
    """S2's configuration: the resource with the arguments the old module had, its import block
    and the helm_values output. `broker_ca_pem`: the emulator's broker CA (see the docstring)."""
    resource = hcl.resource(si.RESOURCE_TYPE, "server", {
        "name": base, "eks_cluster_name": eks, "db_credentials_secret_arn": db_arn,
        "broker_ca_pem": hcl.Raw("var.broker_ca_pem"), **arguments}, provider="maestro.regional")
    return (VARIABLES + resource
            + f'\nimport {{\n  to = {ADDRESS}\n  id = {hcl.string(base)}\n}}\n'
            + f'\noutput "server_helm_values" {{\n  value = {ADDRESS}.helm_values\n}}\n')


@dataclass(frozen=True)
class Migrated(si.Expected):
    """What the resource must hold after the migration: the harness's expectations plus the
    database secret the guide's configuration names."""
    db_secret_arn: str = ""

    def secrets_policy(self) -> dict[str, Any]:
        document = super().secrets_policy()
        document["Statement"][0]["Resource"].append(self.db_secret_arn)
        return document


PKCS1 = "-----BEGIN RSA PRIVATE KEY-----"  # the old module's key (CreateKeysAndCertificate)
PKCS8 = "-----BEGIN PRIVATE KEY-----"  # the provider's


def assert_migrated_in_aws(regional, state: dict[str, Any], expected: Migrated, guard, ca_pem: str,
                           key_header: str) -> creds.Bundle:
    """harness/server_identity.py's full check of every object, with two adjustments for the
    migration: the database secret (its name in helm_values, its ARN in the secrets policy via
    `Migrated`), and the bundle's shape: caCert is the broker CA this configuration has (the
    harness assumes Amazon Root CA 1) and, until the rotation, the key is the old module's PKCS#1
    (the harness assumes the provider's PKCS#8)."""
    external = state["helm_values"]["maestroServer"]["externalSecrets"]
    assert external.get("dbCredentialsSecretName") == DB_SECRET, state["helm_values"]
    assert state["db_credentials_secret_arn"] == expected.db_secret_arn
    without_db = json.loads(json.dumps(state))
    del without_db["helm_values"]["maestroServer"]["externalSecrets"]["dbCredentialsSecretName"]

    def bundle_shape(bundle: creds.Bundle, *, complete: bool, **given: Any) -> None:
        assert complete and given.get("ca_pem") is None, given
        assert set(bundle.raw) == {"certificate", "privateKey", "caCert"}, f"bundle keys {sorted(bundle.raw)}"
        assert bundle.private_key.startswith(key_header), f"privateKey is not {key_header}"
        assert creds.ca_fingerprint(bundle.raw["caCert"]) == creds.ca_fingerprint(ca_pem), "caCert is not the broker CA"

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(creds, "assert_bundle_shape", bundle_shape)
        return si.assert_server_in_aws(regional, without_db, expected, guard)


# ---------------------------------------------------------------- the wire


@dataclass
class Wire:
    binary: Path
    data: wire_flow.IotData
    regional: Any
    mounts: Path
    logs: Path
    guard: Any

    def mount(self, tag: str) -> Path:
        """The deployed server chart's CSI mount of `maestro/server-cert` and `maestro/server-config`
        as they are now."""
        return wire_flow.mount_deployed_chart_server(self.regional, self.mounts / tag, guard=self.guard)

    def server(self, server: dict[str, Any], tag: str) -> wire.WireClient:
        """A server started from the secrets as they are now; returns once connected and
        subscribed with the config's agentEvents, the broker having granted it."""
        return wire_flow.start_deployed_chart_server(self.binary, self.data, self.regional, server,
                                                     self.mounts / tag, self.logs / tag, guard=self.guard)

    def probe(self, mount: Path, client_id: str, subscribe: tuple[str, ...] = ()) -> dict[str, Any]:
        events = wire.probe(self.binary, mount, self.data.address, client_id, subscribe=subscribe,
                            listen_seconds=0, log_dir=self.logs)
        by_kind: dict[str, Any] = {e["event"]: e for e in events}
        by_kind["subacks"] = {e["filter"]: e["reasonCode"] for e in events if e["event"] == "suback"}
        by_kind["events"] = events
        return by_kind

    def connects(self, mount: Path, client_id: str) -> bool:
        result = self.probe(mount, client_id)
        code = result.get("connack", {}).get("reasonCode")
        return code is not None and code < 0x80


def run_server_once(w: Wire, server: dict[str, Any], tag: str, expected_fingerprint: str) -> dict[str, Any]:
    """Starts a server from the secrets as they are now, checks the mounted certificate certifies
    `expected_fingerprint` (the guide's S3 check of the mounted file), and stops it."""
    with w.server(server, tag) as client:
        connected = [e for e in client.events() if e["event"] == "connected"][0]
        subscribed = [e for e in client.events() if e["event"] == "subscribed"][0]
    mounted = (w.mounts / tag / "certificate").read_text(encoding="utf-8")
    assert creds.certificate_fingerprint(mounted) == expected_fingerprint, \
        "the mounted certificate is not the one expected"
    return {"connected": connected, "subscribed": subscribed}


def untag_requests(emulator, resource_arn: str) -> list[list[str]]:
    """The tag keys of every EKS UntagResource call on `resource_arn` the emulator served, from
    its request log (`DELETE /tags/<arn>?tagKeys=...`)."""
    quoted = urllib.parse.quote(resource_arn, safe=":")
    found = []
    for line in Path(emulator.stderr_log).read_text(encoding="utf-8", errors="replace").splitlines():
        match = re.search(r'"DELETE /tags/([^? ]+)\?([^ ]*) HTTP', line)
        if match and match.group(1) in (quoted, resource_arn):
            found.append(urllib.parse.parse_qs(match.group(2)).get("tagKeys", []))
    return found


def assert_association_tags_removed(regional, emulator, association_arn: str, old_tags: dict[str, str]) -> None:
    """The apply removes the old module's tags from the association in ONE UntagResource call
    with every key (as EKS takes them), and the association is left with none."""
    asked = untag_requests(emulator, association_arn)
    assert any(set(keys) == set(old_tags) for keys in asked), \
        f"the apply did not ask EKS to remove the old tags {sorted(old_tags)} from the association: {asked}"
    [association] = [a for a in aws_inspect.associations(regional, association_arn.split("/")[-2])
                     if a.association_arn == association_arn]
    assert association.tags == {}, f"the association still has tags {association.tags}"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------- the test


# What the guide's S2 says the import plan changes (in place, `certificate_id` staying):
# - "the IoT policy gets the provider's document as a new default version": policy_document;
# - "the config secret gets the provider's YAML": server_config;
# - "the inline policies are written under the provider's names": iot_policy, secrets_policy;
# - "The subscription": import records `broadcast`, the default `shared` in the configuration
#   shows the switch in agent_events_topic, policy_document and server_config (and in
#   subscription_type itself).
# ("default tags are added": the regional provider here has no default_tags.)
GUIDE_S2_CHANGES = {"policy_document", "server_config", "iot_policy", "secrets_policy",
                    "subscription_type", "agent_events_topic"}
# Not listed by the guide, but plain consequences of what it says: server_flags carries
# --subscription-type; the configuration it shows sets db_credentials_secret_arn, which import
# reads only from a `maestro-server-secrets` policy (the old module's is named otherwise), so the
# argument is added, and with it helm_values' dbCredentialsSecretName, the database object of the
# SecretProviderClass in kubernetes_manifests (and the secrets policy).
IMPLIED_S2_CHANGES = {"server_flags", "db_credentials_secret_arn", "helm_values", "kubernetes_manifests",
                      "kubernetes_manifests_yaml"}
# NOT in the guide: import reads the role's tags into `tags` (docs/resources/server_identity.md,
# Import), the guide's configuration sets none, so the plan removes the old module's tags from
# the role, the association and both secrets. Keeping them takes a `tags` argument.
UNDOCUMENTED_S2_CHANGES = {"tags", "tags_all"}
# The S3 plan, as the guide lists it.
GUIDE_S3_UNKNOWN = {"certificate_id", "certificate_pem", "public_key_fingerprint", "key_created_at",
                    "credential_version_id"}


@pytest.fixture
def old_module(purge_secrets, regional, make_regional_cluster, iot_data, leak_guard):
    """Makes the old module's server side for `base` (on the EKS cluster `<base>-eks`). What of it
    the provider did not take over (a failed step) is removed at teardown, which runs after the
    workspaces' teardown destroy: this fixture is requested before `server_workspace`."""
    made: list[OldServer] = []

    def make(base: str) -> OldServer:
        eks = make_regional_cluster(f"{base}-eks")
        purge_secrets(si.DEFAULT_CERT_SECRET, si.DEFAULT_CONFIG_SECRET, DB_SECRET)
        old = make_old_module_server(regional, base, eks, iot_data.ca_pem, leak_guard)
        made.append(old)
        return old

    yield make
    for old in made:
        remove_old_module_server(regional, old)


@pytest.fixture
def wire_view(maestro_wire, iot_data, regional, tmp_path, leak_guard) -> Wire:
    w = Wire(maestro_wire, iot_data, regional, tmp_path / "mounts", tmp_path / "wire-logs", leak_guard)
    leak_guard.extra_trees.append(w.logs)
    return w


def import_plan(ws, old: OldServer, listed: set[str]):
    """S2's plan: the import, an in-place update changing exactly `listed`, the old certificate
    and key kept. Returns (plan, imported values, planned values)."""
    plan = ws.plan()
    assert plan.exit_code == 2, plan.describe()
    change = plan.resource_change(ADDRESS)["change"]
    assert change.get("importing", {}).get("id") == old.base, f"the plan does not import {old.base}:\n{plan.describe()}"
    assert plan.actions() == {ADDRESS: ["update"]}, f"import must be an in-place update, not a replacement:\n{plan.describe()}"
    assert not change.get("replace_paths"), plan.describe()
    changed = plan.changed_attributes(ADDRESS)
    assert changed == listed, (
        "the import plan changes other attributes than the guide lists:\n"
        f"  not listed: {sorted(changed - listed)}\n"
        f"  listed, but unchanged: {sorted(listed - changed)}\n{plan.describe()}")
    imported, planned = change["before"], change["after"]
    # Read back from what the old module made.
    assert imported["topic_prefix"] == planned["topic_prefix"] == PREFIX
    assert imported["subscription_type"] == "broadcast"
    assert imported["agent_events_topic"] == f"{PREFIX}/+/agentevents"
    assert imported["client_id_prefix"] == planned["client_id_prefix"] == "maestro"
    assert imported["algorithm"] == planned["algorithm"] == "RSA_2048"
    assert imported["certificate_id"] == planned["certificate_id"] == old.certificate_id, "no new certificate"
    assert imported["public_key_fingerprint"] == old.key_fingerprint
    assert imported["credential_version_id"] == old.cert_version_id
    assert (imported["namespace"], imported["service_account"]) == (si.DEFAULT_NAMESPACE, si.DEFAULT_SERVICE_ACCOUNT)
    assert imported["eks_cluster_name"] == old.eks
    assert imported["previous_certificates"] == []
    assert imported["tags"] == imported["tags_all"] == old.role_tags
    assert planned["tags"] is None and planned["tags_all"] == {}, plan.describe()
    assert not change["after_unknown"].get("certificate_pem"), "the plan makes a new key"
    return plan, imported, planned


def apply_import(ws, regional, old: OldServer, emulator, expected: Migrated, leak_guard, ca_pem: str) -> dict[str, Any]:
    """S2's apply and what the guide says to do after it (delete the module's inline policies);
    the objects are taken over, not made again, and every one is what the provider promises."""
    role_created = aws_inspect.get_role(regional, expected.role_name)["CreateDate"]
    old_default_version = si.default_policy_version(regional, expected.policy_name)
    ws.apply()
    ws.assert_plan_empty()
    state = ws.state_resource(ADDRESS)
    assert state["certificate_id"] == old.certificate_id and state["credential_version_id"] == old.cert_version_id
    assert state["association_id"] == old.association_id
    assert aws_inspect.get_role(regional, expected.role_name)["CreateDate"] == role_created, "the role was recreated"
    versions = si.policy_versions(regional, expected.policy_name)
    assert old_default_version in versions and not versions[old_default_version] and len(versions) == 2, \
        f"the IoT policy should have the old version and a new default one: {versions}"
    config = si.read_config(regional, si.DEFAULT_CONFIG_SECRET)
    assert config.version_id != old.config_version_id and config.text == state["server_config"] != old.config_text
    # "After the apply, list the role's inline policies and delete any the module made under other names."
    assert aws_inspect.inline_policy_names(regional, expected.role_name) == sorted(
        old.old_inline_policies + [si.IOT_POLICY_NAME, si.SECRETS_POLICY_NAME])
    for policy in old.old_inline_policies:
        regional.iam.delete_role_policy(RoleName=expected.role_name, PolicyName=policy)
    ws.assert_plan_empty()
    # The module's tags are gone from the role (and the secrets: checked below). The association: see there.
    assert aws_inspect.role_tags(regional, expected.role_name) == {}
    assert_association_tags_removed(regional, emulator, state["association_arn"], old.association_tags)
    assert_migrated_in_aws(regional, state, expected, leak_guard, ca_pem, PKCS1)
    # The key was read to find the certificate and went nowhere: state and plans are clean now.
    assert_no_leaks(leak_guard.scan(), context="after the import's plan and apply")
    assert ws.run("state", "pull").stdout.count("PRIVATE KEY") == 0, "S4's check: the current state holds a private key"
    return state


def test_the_guides_server_migration_takes_over_the_old_module_and_retires_its_key(
        old_module, server_workspace, provider_preamble, regional, iot_data, wire_view, leak_guard, emulator):
    old = old_module("acc-srv-migrate")
    base, eks, w = old.base, old.eks, wire_view
    expected = Migrated(base, eks, db_secret_arn=old.db_secret_arn)

    # ------------------------------------------------ before: the old objects are real
    assert old.private_key.startswith(PKCS1), "CreateKeysAndCertificate: PKCS#1 RSA"
    assert isinstance(x509.load_pem_x509_certificate(old.certificate_pem.encode()).public_key(), rsa.RSAPublicKey)
    assert si.certificate(regional, old.certificate_id)["status"] == "ACTIVE"
    old_mount = w.mount("old")  # what the server pod mounts before the migration
    before = run_server_once(w, OLD_SERVER, "server-before", old.key_fingerprint)
    assert before["connected"]["clientId"] == "maestro"
    assert before["subscribed"]["topics"] == [f"{PREFIX}/+/agentevents"]

    # ------------------------------------------------ S1 + S2: import with the guide's configuration
    ws = server_workspace(guide_config(base, eks, old.db_secret_arn, algorithm="RSA_2048"))
    ws.write_file("broker.auto.tfvars.json", json.dumps({"broker_ca_pem": iot_data.ca_pem}))
    _, _, planned = import_plan(ws, old, GUIDE_S2_CHANGES | IMPLIED_S2_CHANGES | UNDOCUMENTED_S2_CHANGES)
    assert planned["subscription_type"] == "shared"
    assert planned["agent_events_topic"] == f"$share/{si.DEFAULT_GROUP}/{PREFIX}/+/agentevents"
    docs.assert_same_policy(planned["policy_document"], expected.iot_policy(), "planned policy_document")
    docs.assert_same_policy(planned["secrets_policy"], expected.secrets_policy(), "planned secrets_policy")
    state = apply_import(ws, regional, old, emulator, expected, leak_guard, iot_data.ca_pem)

    # The wire after S2: a server still running with the old config is refused at its next
    # SUBSCRIBE (the policy grants only the shared filter now); one started from the migrated
    # secrets (the old certificate, the provider's config) connects and subscribes.
    refused = w.probe(old_mount, "maestro", subscribe=(f"{PREFIX}/+/agentevents",))
    assert refused["subacks"] == {f"{PREFIX}/+/agentevents": NOT_AUTHORIZED}, refused["events"]
    run_server_once(w, state, "server-imported", old.key_fingerprint)

    # ------------------------------------------------ S3: rotate the key that was in state
    ws.set_config(provider_preamble + "\n" + guide_config(base, eks, old.db_secret_arn,
                                                           rotation_triggers={"generation": "1"}))
    plan = ws.plan()
    assert plan.actions() == {ADDRESS: ["update"]}, plan.describe()
    change = plan.resource_change(ADDRESS)["change"]
    unknown = {name for name, marker in change["after_unknown"].items() if marker is True}
    assert GUIDE_S3_UNKNOWN <= unknown, f"not unknown: {sorted(GUIDE_S3_UNKNOWN - unknown)}\n{plan.describe()}"
    assert [p["certificate_id"] for p in change["after"]["previous_certificates"]] == [old.certificate_id], \
        f"the old certificate does not move into previous_certificates:\n{plan.describe()}"
    assert change["after"]["algorithm"] == "ECDSA_P256"
    started = datetime.now(timezone.utc).replace(microsecond=0)
    ws.apply()
    ws.assert_plan_empty()
    rotated = ws.state_resource(ADDRESS)
    bundle = assert_migrated_in_aws(regional, rotated, expected, leak_guard, iot_data.ca_pem, PKCS8)
    assert rotated["certificate_id"] != old.certificate_id
    assert bundle.key_fingerprint != old.key_fingerprint and bundle.private_key != old.private_key
    assert rotated["algorithm"] == "ECDSA_P256"
    assert creds.read_bundle(regional, si.DEFAULT_CERT_SECRET, stage="AWSPREVIOUS").version_id == old.cert_version_id
    [previous] = rotated["previous_certificates"]
    assert (previous["certificate_id"], previous["certificate_arn"]) == (old.certificate_id, old.certificate_arn)
    retire_after = parse_time(previous["retire_after"])
    assert started + timedelta(hours=24) <= retire_after <= datetime.now(timezone.utc) + timedelta(hours=24), retire_after
    # Grace: the old certificate stays ACTIVE with the policy, so the old pods keep connecting;
    # a server started from the new files connects and subscribes with the new key.
    assert si.certificates_certifying(regional, old.key_fingerprint) == {old.certificate_id: "ACTIVE"}
    assert si.attached_policy_names(regional, old.certificate_arn) == [expected.policy_name]
    assert w.connects(old_mount, "maestro"), "the old certificate must keep connecting during the grace period"
    after = run_server_once(w, rotated, "server-rotated", rotated["public_key_fingerprint"])
    assert after["connected"]["clientId"] == wire_flow.server_command(rotated["server_flags"]).client_id

    # ------------------------------------------------ the retiring apply
    ws.set_config(provider_preamble + "\n" + guide_config(base, eks, old.db_secret_arn,
                                                           rotation_triggers={"generation": "1"},
                                                           certificate_grace_period_hours=0))
    plan = ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"previous_certificates"}})
    assert plan.resource_change(ADDRESS)["change"]["after"]["previous_certificates"] == [], plan.describe()
    ws.apply()
    ws.assert_plan_empty()
    retired = ws.state_resource(ADDRESS)
    assert retired["previous_certificates"] == []
    assert (retired["certificate_id"], retired["credential_version_id"]) == \
        (rotated["certificate_id"], rotated["credential_version_id"])
    assert si.certificate(regional, old.certificate_id) is None, "the old certificate still exists in IoT"
    assert si.certificates_certifying(regional, old.key_fingerprint) == {}, "a certificate for the old key is left"
    assert_migrated_in_aws(regional, retired, expected, leak_guard, iot_data.ca_pem, PKCS8)
    # The old key opens nothing any more; the new one still does.
    for client_id in ("maestro", wire_flow.server_command(retired["server_flags"]).client_id):
        refused = w.probe(old_mount, client_id)
        assert refused.get("connack", {}).get("reasonCode") == NOT_AUTHORIZED, refused["events"]
    run_server_once(w, retired, "server-retired", retired["public_key_fingerprint"])
    assert ws.run("state", "pull").stdout.count("PRIVATE KEY") == 0


def test_with_subscription_type_broadcast_the_import_changes_nothing_on_the_wire_and_shared_comes_later(
        old_module, server_workspace, provider_preamble, regional, iot_data, wire_view, leak_guard, emulator):
    """S2's alternative: "To change nothing on the wire during the migration, set
    subscription_type = "broadcast" now and move to shared later as a change of its own"."""
    old = old_module("acc-srv-migrate-bc")
    base, eks, w = old.base, old.eks, wire_view
    old_mount = w.mount("old")
    plain, shared = f"{PREFIX}/+/agentevents", f"$share/{si.DEFAULT_GROUP}/{PREFIX}/+/agentevents"
    ws = server_workspace(guide_config(base, eks, old.db_secret_arn, algorithm="RSA_2048", subscription_type="broadcast"))
    ws.write_file("broker.auto.tfvars.json", json.dumps({"broker_ca_pem": iot_data.ca_pem}))
    # The guide's list without the subscription switch: the policy (narrower Connect, no Publish
    # on agentevents, the exact filter) and the config (the provider's YAML, the same topics).
    listed = (GUIDE_S2_CHANGES - {"subscription_type", "agent_events_topic"}) \
        | (IMPLIED_S2_CHANGES - {"server_flags"}) | UNDOCUMENTED_S2_CHANGES
    _, _, planned = import_plan(ws, old, listed)
    assert planned["agent_events_topic"] == plain
    state = apply_import(ws, regional, old, emulator,
                         Migrated(base, eks, subscription_type="broadcast", db_secret_arn=old.db_secret_arn),
                         leak_guard, iot_data.ca_pem)
    assert si.read_config(regional, si.DEFAULT_CONFIG_SECRET).parsed["topics"] == \
        {"sourceEvents": f"{PREFIX}/+/sourceevents", "agentEvents": plain}
    # A server still running with the old config subscribes as before; so does one started now.
    granted = w.probe(old_mount, "maestro", subscribe=(plain,))
    assert 0 <= granted["subacks"][plain] < 0x80, granted["events"]
    run_server_once(w, state, "server-imported", old.key_fingerprint)

    # Later, on its own: shared. The plan shows exactly the switch; after it, the old filter is refused.
    ws.set_config(provider_preamble + "\n" + guide_config(base, eks, old.db_secret_arn, algorithm="RSA_2048"))
    plan = ws.assert_plan_changes({ADDRESS: "update"})
    assert plan.changed_attributes(ADDRESS) == {"subscription_type", "agent_events_topic", "policy_document",
                                                "iot_policy", "server_config", "server_flags"}, plan.describe()
    ws.apply()
    ws.assert_plan_empty()
    switched = ws.state_resource(ADDRESS)
    assert switched["agent_events_topic"] == shared
    assert switched["certificate_id"] == old.certificate_id, "the switch must not rotate"
    subacks = w.probe(old_mount, "maestro", subscribe=(plain, shared))["subacks"]
    assert subacks[plain] == NOT_AUTHORIZED and 0 <= subacks[shared] < 0x80, subacks
    run_server_once(w, switched, "server-shared", old.key_fingerprint)
