"""Acceptance tests for `maestro_consumer`: real tofu, real provider binary, emulated AWS.

Every test checks the regional account through boto3, not only what tofu says. The agent's
key pair is made here only because the CSR needs a signer (`maestro_agent_key` does this in
real configurations); each private key is registered with the leak guard, so the scan after
every test proves it never reached state, plans or logs — only its CSR travels.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness import aws_inspect, hcl, policy_documents as docs
from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, REGION, REGIONAL_ACCOUNT_ID
from harness.faults import Faults

pytestmark = pytest.mark.acceptance

RESOURCE_TYPE = "maestro_consumer"
ADDRESS = f"{RESOURCE_TYPE}.x"
DEFAULT_PREFIX = "sources/maestro/consumers"
PROVIDER_CRASH = re.compile(r"panicked at|Plugin did not respond|plugin crashed|unexpected EOF", re.IGNORECASE)


# ---------------------------------------------------------------- keys and CSRs


class AgentKey:
    """An agent key pair; the private half is registered with the leak guard at once."""

    def __init__(self, leak_guard, curve: ec.EllipticCurve | None = None) -> None:
        self.key = ec.generate_private_key(curve or ec.SECP256R1())
        pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()
        leak_guard.register_secret(pem, "agent private key behind the CSR")
        self.spki = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)

    def csr(self, common_name: str) -> str:
        """A fresh CSR: ECDSA signatures are randomised, so each call gives different text."""
        built = (x509.CertificateSigningRequestBuilder()
                 .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                 .sign(self.key, hashes.SHA256()))
        return built.public_bytes(serialization.Encoding.PEM).decode()

    def fingerprint(self) -> str:
        digest = hashes.Hash(hashes.SHA256())
        digest.update(self.spki)
        return digest.finalize().hex()


def cert_spki(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# ---------------------------------------------------------------- configuration and AWS helpers


def consumer_block(consumer_id: str, csr_pem: str, **extra: Any) -> str:
    arguments = {"consumer_id": consumer_id, "csr_pem": csr_pem, "management_account_id": MANAGEMENT_ACCOUNT_ID, **extra}
    return hcl.resource(RESOURCE_TYPE, "x", arguments, provider="maestro.regional")


@pytest.fixture
def faults(emulator_url):
    armed = Faults(emulator_url)
    yield armed
    armed.clear()


def iot(regional):
    return regional.client("iot")


def certificates_for(regional, spki: bytes) -> dict[str, str]:
    """certificate ID -> status of every certificate in the account for this public key."""
    found = {}
    for summary in aws_inspect.every_item(iot(regional), "list_certificates", "certificates"):
        pem = iot(regional).describe_certificate(certificateId=summary["certificateId"])["certificateDescription"]["certificatePem"]
        if cert_spki(pem) == spki:
            found[summary["certificateId"]] = summary["status"]
    return found


def thing_of(regional, consumer_id: str) -> dict[str, Any] | None:
    try:
        return iot(regional).describe_thing(thingName=f"{consumer_id}-maestro-agent")
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise


def policy_of(regional, consumer_id: str) -> dict[str, Any] | None:
    try:
        return iot(regional).get_policy(policyName=f"{consumer_id}-maestro-agent-policy")
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise


def assert_consumer_in_aws(regional, state: dict[str, Any], key: AgentKey, topic_prefix: str = DEFAULT_PREFIX) -> None:
    """Every object the resource owns, against the brief and against its state."""
    consumer_id = state["consumer_id"]
    thing_name, policy_name = f"{consumer_id}-maestro-agent", f"{consumer_id}-maestro-agent-policy"
    topics = f"{topic_prefix}/{consumer_id}"
    assert {k: state[k] for k in ("id", "thing_name", "policy_name", "client_id", "cloudevents_client_id",
                                  "source_events_topic", "agent_events_topic")} == {
        "id": consumer_id, "thing_name": thing_name, "policy_name": policy_name,
        "client_id": f"{consumer_id}-work-agent-client", "cloudevents_client_id": f"{consumer_id}-work-agent", "source_events_topic": f"{topics}/sourceevents",
        "agent_events_topic": f"{topics}/agentevents"}

    thing = thing_of(regional, consumer_id)
    assert thing is not None, f"thing {thing_name} missing"
    assert thing["thingArn"] == state["thing_arn"]
    assert thing["attributes"].get("management_account_id") == MANAGEMENT_ACCOUNT_ID

    policy = policy_of(regional, consumer_id)
    assert policy is not None, f"policy {policy_name} missing"
    assert policy["policyArn"] == state["policy_arn"]
    expected = docs.iot_policy(REGION, REGIONAL_ACCOUNT_ID, consumer_id, topic_prefix)
    docs.assert_same_policy(policy["policyDocument"], expected, "IoT policy in IoT Core")
    docs.assert_same_policy(state["policy_document"], expected, "policy_document attribute")

    cert = iot(regional).describe_certificate(certificateId=state["certificate_id"])["certificateDescription"]
    assert cert["status"] == "ACTIVE" and state["certificate_status"] == "ACTIVE"
    assert cert["certificateArn"] == state["certificate_arn"]
    assert cert["certificatePem"] == state["certificate_pem"]
    assert cert_spki(cert["certificatePem"]) == key.spki, "the certificate does not certify the CSR's key"
    assert state["certificate_public_key_fingerprint"] == key.fingerprint()
    assert state["certificate_attachments"] == {"policy": True, "thing": True}

    arn = state["certificate_arn"]
    assert [p["policyName"] for p in iot(regional).list_attached_policies(target=arn)["policies"]] == [policy_name]
    assert iot(regional).list_principal_things(principal=arn)["things"] == [thing_name]
    previous = {p["certificate_arn"] for p in state["previous_certificates"]}
    assert set(iot(regional).list_thing_principals(thingName=thing_name)["principals"]) == {arn} | previous
    assert state["endpoint"] == iot(regional).describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]


def assert_nothing_left(regional, consumer_id: str, keys: list[AgentKey]) -> None:
    assert thing_of(regional, consumer_id) is None
    assert policy_of(regional, consumer_id) is None
    for key in keys:
        assert certificates_for(regional, key.spki) == {}


# ---------------------------------------------------------------- lifecycle


def test_create_rotate_with_grace_and_destroy(config_workspace, provider_preamble, regional, leak_guard):
    consumer_id = "acc-consumer"
    key = AgentKey(leak_guard)
    ws = config_workspace(consumer_block(consumer_id, key.csr(f"{consumer_id}-work-agent")))

    plan = ws.assert_plan_changes({ADDRESS: "create"})
    planned = plan.resource_change(ADDRESS)["change"]
    # Known at plan time: the endpoint, names, the document, the new key's fingerprint.
    assert planned["after"]["endpoint"] and planned["after"]["certificate_public_key_fingerprint"] == key.fingerprint()
    assert planned["after_unknown"].get("certificate_pem") is True
    ws.apply()
    ws.assert_plan_empty()
    first = ws.state_resource(ADDRESS)
    assert first["previous_certificates"] == [] and first["certificate_grace_period_hours"] == 24
    assert_consumer_in_aws(regional, first, key)
    assert certificates_for(regional, key.spki) == {first["certificate_id"]: "ACTIVE"}

    # A new CSR for the same key: state only, no certificate call.
    ws.set_config(provider_preamble + consumer_block(consumer_id, key.csr(f"{consumer_id}-work-agent")))
    plan = ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"csr_pem"}})
    assert plan.changed_attributes(ADDRESS) == {"csr_pem"}, plan.describe()
    ws.apply()
    ws.assert_plan_empty()
    assert ws.state_resource(ADDRESS)["certificate_id"] == first["certificate_id"]
    assert certificates_for(regional, key.spki) == {first["certificate_id"]: "ACTIVE"}

    # A new key: a new certificate; the old one stays ACTIVE for the grace period.
    new_key = AgentKey(leak_guard)
    started = datetime.now(timezone.utc).replace(microsecond=0)
    ws.set_config(provider_preamble + consumer_block(consumer_id, new_key.csr(f"{consumer_id}-work-agent")))
    plan = ws.assert_plan_changes({ADDRESS: "update"},
                                  attributes={ADDRESS: {"certificate_pem", "certificate_id", "previous_certificates"}})
    assert plan.resource_change(ADDRESS)["change"]["after"]["certificate_public_key_fingerprint"] == new_key.fingerprint()
    ws.apply()
    ws.assert_plan_empty()
    rotated = ws.state_resource(ADDRESS)
    assert rotated["certificate_id"] != first["certificate_id"]
    assert_consumer_in_aws(regional, rotated, new_key)
    [previous] = rotated["previous_certificates"]
    assert (previous["certificate_id"], previous["certificate_arn"]) == (first["certificate_id"], first["certificate_arn"])
    retire_after = datetime.fromisoformat(previous["retire_after"].replace("Z", "+00:00"))
    assert started + timedelta(hours=24) <= retire_after <= datetime.now(timezone.utc) + timedelta(hours=24)
    assert certificates_for(regional, key.spki) == {first["certificate_id"]: "ACTIVE"}, "old certificate must stay ACTIVE"

    # No grace any more: the old certificate is due, and the next apply retires it.
    ws.set_config(provider_preamble + consumer_block(consumer_id, new_key.csr(f"{consumer_id}-work-agent"),
                                                     certificate_grace_period_hours=0))
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"previous_certificates"}})
    ws.apply()
    ws.assert_plan_empty()
    retired = ws.state_resource(ADDRESS)
    assert retired["previous_certificates"] == [] and retired["certificate_id"] == rotated["certificate_id"]
    assert certificates_for(regional, key.spki) == {}
    assert_consumer_in_aws(regional, retired, new_key)

    ws.destroy()
    assert ws.state_resources() == {}
    assert_nothing_left(regional, consumer_id, [key, new_key])


# ---------------------------------------------------------------- drift


def test_drift_is_shown_and_repaired(config_workspace, regional, leak_guard):
    consumer_id = "acc-consumer-drift"
    key = AgentKey(leak_guard)
    ws = config_workspace(consumer_block(consumer_id, key.csr(f"{consumer_id}-work-agent")))
    ws.apply()
    state = ws.state_resource(ADDRESS)
    thing_name, policy_name = state["thing_name"], state["policy_name"]
    client = iot(regional)

    # Certificate deactivated: reactivated in place.
    client.update_certificate(certificateId=state["certificate_id"], newStatus="INACTIVE")
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"certificate_status"}})
    ws.apply()
    ws.assert_plan_empty()
    assert ws.state_resource(ADDRESS)["certificate_id"] == state["certificate_id"]
    assert_consumer_in_aws(regional, ws.state_resource(ADDRESS), key)

    # Thing and policy detached from the certificate: attached again.
    client.detach_thing_principal(thingName=thing_name, principal=state["certificate_arn"])
    client.detach_policy(policyName=policy_name, target=state["certificate_arn"])
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"certificate_attachments"}})
    ws.apply()
    ws.assert_plan_empty()
    assert_consumer_in_aws(regional, ws.state_resource(ADDRESS), key)

    # Policy widened through new versions until IoT's limit of five: a sixth version (ours)
    # needs the oldest non-default one deleted first.
    widened = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}
    for _ in range(4):
        client.create_policy_version(policyName=policy_name, policyDocument=json.dumps(widened), setAsDefault=True)
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"policy_document"}})
    ws.apply()
    ws.assert_plan_empty()
    assert_consumer_in_aws(regional, ws.state_resource(ADDRESS), key)
    assert len(client.list_policy_versions(policyName=policy_name)["policyVersions"]) == 5

    # Certificate deleted (in the order IoT demands): a new one from csr_pem.
    old = ws.state_resource(ADDRESS)
    client.detach_thing_principal(thingName=thing_name, principal=old["certificate_arn"])
    client.detach_policy(policyName=policy_name, target=old["certificate_arn"])
    client.update_certificate(certificateId=old["certificate_id"], newStatus="INACTIVE")
    client.delete_certificate(certificateId=old["certificate_id"])
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"certificate_id", "certificate_pem"}})
    ws.apply()
    ws.assert_plan_empty()
    reissued = ws.state_resource(ADDRESS)
    assert reissued["certificate_id"] != old["certificate_id"] and reissued["previous_certificates"] == []
    assert_consumer_in_aws(regional, reissued, key)

    # Thing and policy deleted (detached first, as IoT demands): both created again.
    client.detach_thing_principal(thingName=thing_name, principal=reissued["certificate_arn"])
    client.delete_thing(thingName=thing_name)
    client.detach_policy(policyName=policy_name, target=reissued["certificate_arn"])
    for version in client.list_policy_versions(policyName=policy_name)["policyVersions"]:
        if not version["isDefaultVersion"]:
            client.delete_policy_version(policyName=policy_name, policyVersionId=version["versionId"])
    client.delete_policy(policyName=policy_name)
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"thing_arn", "policy_arn"}})
    ws.apply()
    ws.assert_plan_empty()
    repaired = ws.state_resource(ADDRESS)
    assert repaired["certificate_id"] == reissued["certificate_id"]
    assert_consumer_in_aws(regional, repaired, key)
    assert certificates_for(regional, key.spki) == {repaired["certificate_id"]: "ACTIVE"}


# ---------------------------------------------------------------- import


def test_import_by_consumer_id(config_workspace, regional, leak_guard):
    consumer_id = "acc-consumer-import"
    key = AgentKey(leak_guard)
    ws = config_workspace(consumer_block(consumer_id, key.csr(f"{consumer_id}-work-agent")))
    ws.apply()
    applied = ws.state_resource(ADDRESS)

    # Everything but the CSR (which AWS does not keep) comes back from AWS.
    imported = ws.verify_import(ADDRESS, consumer_id, ignore={"csr_pem"})
    assert imported["csr_pem"] is None
    # The configured CSR is for the current certificate's key: no new certificate, only the
    # CSR recorded in state.
    plan = ws.plan()
    if plan.exit_code == 2:
        assert plan.actions() == {ADDRESS: ["update"]} and plan.changed_attributes(ADDRESS) == {"csr_pem"}, plan.describe()
    ws.apply()
    ws.assert_plan_empty()
    assert ws.state_resource(ADDRESS) == applied
    assert certificates_for(regional, key.spki) == {applied["certificate_id"]: "ACTIVE"}


def test_import_of_missing_consumer_fails(config_workspace, leak_guard):
    key = AgentKey(leak_guard)
    ws = config_workspace(consumer_block("acc-consumer-missing", key.csr("x")))
    result = ws.expect_error(["import", "-input=false", "-no-color", ADDRESS, "acc-consumer-missing"],
                             r"(?i)(nothing to import|cannot import non-existent)")
    assert "acc-consumer-missing" in result.stderr
    assert not PROVIDER_CRASH.search(result.output)


# ---------------------------------------------------------------- failures


def test_failure_after_the_certificate_is_issued_records_it(config_workspace, regional, leak_guard, faults):
    consumer_id = "acc-consumer-fault"
    key = AgentKey(leak_guard)
    ws = config_workspace(consumer_block(consumer_id, key.csr(f"{consumer_id}-work-agent")))
    faults.arm("iot", "AttachThingPrincipal", message="injected after the certificate was issued")
    ws.expect_error(["apply", "-auto-approve", "-input=false", "-no-color"], r"injected after the certificate was issued")
    assert faults.fired("iot", "AttachThingPrincipal") == 1

    # The certificate is in state (tainted), so nothing ACTIVE is unaccounted for.
    raw = json.loads((ws.root / "terraform.tfstate").read_text())
    [instance] = [i for r in raw["resources"] if r["type"] == RESOURCE_TYPE for i in r["instances"]]
    assert instance.get("status") == "tainted"
    recorded = instance["attributes"]["certificate_id"]
    assert recorded and certificates_for(regional, key.spki) == {recorded: "ACTIVE"}

    ws.assert_plan_changes({ADDRESS: "replace"})
    ws.apply()
    ws.assert_plan_empty()
    state = ws.state_resource(ADDRESS)
    assert_consumer_in_aws(regional, state, key)
    assert certificates_for(regional, key.spki) == {state["certificate_id"]: "ACTIVE"}


def test_lost_certificate_answer_and_throttling(config_workspace, regional, leak_guard, faults):
    consumer_id = "acc-consumer-lost"
    key = AgentKey(leak_guard)
    ws = config_workspace(consumer_block(consumer_id, key.csr(f"{consumer_id}-work-agent")))
    # Throttled calls are retried (by the SDK, and by us for CreateCertificateFromCsr, whose
    # SDK retry is off); a CreateCertificateFromCsr whose answer is lost after IoT issued the
    # certificate must not leave a second, unrecorded one behind.
    faults.arm("iot", "CreateThing", count=2, code="ThrottlingException", message="Rate exceeded")
    faults.arm("iot", "CreateCertificateFromCsr", count=2, code="ThrottlingException", message="Rate exceeded")
    faults.arm("iot", "CreateCertificateFromCsr", status=500, code="InternalFailureException", when="after")
    ws.apply()
    ws.assert_plan_empty()
    assert faults.fired("iot", "CreateThing") == 2
    assert faults.fired("iot", "CreateCertificateFromCsr") == 3
    state = ws.state_resource(ADDRESS)
    assert_consumer_in_aws(regional, state, key)
    assert certificates_for(regional, key.spki) == {state["certificate_id"]: "ACTIVE"}


def test_foreign_thing_is_not_taken_over(config_workspace, regional, leak_guard):
    consumer_id = "acc-consumer-foreign"
    iot(regional).create_thing(thingName=f"{consumer_id}-maestro-agent", attributePayload={"attributes": {"owner": "someone"}})
    try:
        key = AgentKey(leak_guard)
        ws = config_workspace(consumer_block(consumer_id, key.csr("x")))
        ws.expect_error(["apply", "-auto-approve", "-input=false", "-no-color"], r"(?i)already exists.*import")
        assert ws.state_resources() == {}
        assert certificates_for(regional, key.spki) == {}
        assert thing_of(regional, consumer_id)["attributes"] == {"owner": "someone"}
    finally:
        iot(regional).delete_thing(thingName=f"{consumer_id}-maestro-agent")


INVALID_CSRS = [
    pytest.param("not a csr", r"(?i)csr|certificate signing request", id="not-pem"),
    pytest.param("-----BEGIN CERTIFICATE REQUEST-----\nMIIBAA==\n-----END CERTIFICATE REQUEST-----\n",
                 r"(?i)csr|der|certificate signing request", id="truncated"),
]


@pytest.mark.parametrize("csr, message", INVALID_CSRS)
def test_bad_csr_is_rejected_before_any_aws_call(config_workspace, regional, csr, message):
    consumer_id = "acc-consumer-badcsr"
    ws = config_workspace(consumer_block(consumer_id, csr))
    line = next(n for n, text in enumerate((ws.root / "main.tf").read_text().splitlines(), start=1)
                if re.match(r"\s*csr_pem\s*=", text))
    report = ws.validate_json()
    assert report["valid"] is False
    pinned = [d for d in report["diagnostics"]
              if d["severity"] == "error" and d.get("range", {}).get("start", {}).get("line") == line]
    assert pinned, json.dumps(report["diagnostics"], indent=1)
    assert "csr_pem" in " ".join(d["summary"] + d.get("detail", "") for d in pinned)
    assert re.search(message, " ".join(d["summary"] + d.get("detail", "") for d in pinned))
    ws.expect_error(["plan", "-no-color", "-input=false"], message)
    assert ws.state_resources() == {}
    assert thing_of(regional, consumer_id) is None and policy_of(regional, consumer_id) is None
