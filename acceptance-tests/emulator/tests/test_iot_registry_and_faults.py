"""The IoT registry behaviours maestro_consumer relies on, and the fault-injection endpoint."""

from __future__ import annotations

import json
from urllib.request import Request, urlopen

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import ec
from emulator_harness import Emulator, start_emulator, unique
from test_emulator import error_of, make_csr

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]})


def faults(emulator: Emulator, method: str = "GET", body: dict | None = None, query: str = "") -> object:
    req = Request(emulator.endpoint + "/maestro-emulator/faults" + query, method=method,
                  data=json.dumps(body).encode() if body is not None else None,
                  headers={"Content-Type": "application/json"})
    with urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture(autouse=True)
def no_faults_left(emulator: Emulator):
    yield
    faults(emulator, "DELETE")


def new_cert(iot) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    out = iot.create_certificate_from_csr(certificateSigningRequest=make_csr(ec.generate_private_key(ec.SECP256R1())),
                                          setAsActive=True)
    return out["certificateId"], out["certificateArn"]


# --------------------------------------------------------------------------
# CreateThing
# --------------------------------------------------------------------------


def test_create_thing_returns_the_same_thing_or_conflicts(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    name = unique("thing")
    attrs = {"attributes": {"management_account_id": "987654321098"}}
    first = iot.create_thing(thingName=name, attributePayload=attrs)
    # The same configuration again: AWS answers with the existing thing.
    again = iot.create_thing(thingName=name, attributePayload=attrs)
    assert again["thingArn"] == first["thingArn"] and again["thingId"] == first["thingId"]
    with pytest.raises(ClientError) as err:
        iot.create_thing(thingName=name, attributePayload={"attributes": {"management_account_id": "111122223333"}})
    assert error_of(err)[:2] == (409, "ResourceAlreadyExistsException")
    assert iot.describe_thing(thingName=name)["attributes"] == {"management_account_id": "987654321098"}


def test_plain_moto_overwrites_an_existing_thing() -> None:
    """The moto bug iot_things fixes: a second CreateThing silently replaces the attributes."""
    emu = start_emulator({"MAESTRO_EMULATOR_DISABLE": "iot_things"})
    try:
        iot = emu.client("iot")
        iot.create_thing(thingName="t", attributePayload={"attributes": {"a": "1"}})
        iot.create_thing(thingName="t", attributePayload={"attributes": {"a": "2"}})
        assert iot.describe_thing(thingName="t")["attributes"] == {"a": "2"}
    finally:
        emu.stop()


# --------------------------------------------------------------------------
# What moto already gets right and the resource depends on (guards)
# --------------------------------------------------------------------------


def test_certificate_deletion_needs_detach_and_deactivate_first(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    thing, policy = unique("thing"), unique("policy")
    iot.create_thing(thingName=thing)
    iot.create_policy(policyName=policy, policyDocument=POLICY)
    cert_id, cert_arn = new_cert(iot)
    iot.attach_policy(policyName=policy, target=cert_arn)
    iot.attach_thing_principal(thingName=thing, principal=cert_arn)
    assert iot.list_thing_principals(thingName=thing)["principals"] == [cert_arn]
    assert iot.list_principal_things(principal=cert_arn)["things"] == [thing]
    assert [p["policyName"] for p in iot.list_attached_policies(target=cert_arn)["policies"]] == [policy]

    with pytest.raises(ClientError) as err:
        iot.delete_certificate(certificateId=cert_id)
    assert error_of(err)[1] == "CertificateStateException"
    iot.update_certificate(certificateId=cert_id, newStatus="INACTIVE")
    with pytest.raises(ClientError) as err:
        iot.delete_certificate(certificateId=cert_id)
    assert error_of(err)[1] == "DeleteConflictException"
    with pytest.raises(ClientError) as err:
        iot.delete_thing(thingName=thing)
    assert error_of(err)[1] == "InvalidRequestException" and "attached" in error_of(err)[2]
    with pytest.raises(ClientError) as err:
        iot.delete_policy(policyName=policy)
    assert error_of(err)[1] == "DeleteConflictException"

    iot.detach_policy(policyName=policy, target=cert_arn)
    iot.detach_thing_principal(thingName=thing, principal=cert_arn)
    iot.delete_certificate(certificateId=cert_id)
    iot.delete_thing(thingName=thing)
    iot.delete_policy(policyName=policy)
    with pytest.raises(ClientError) as err:
        iot.describe_certificate(certificateId=cert_id)
    assert error_of(err)[:2] == (404, "ResourceNotFoundException")


def test_policy_versions_are_limited_to_five(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    policy = unique("policy")
    iot.create_policy(policyName=policy, policyDocument=POLICY)
    for _ in range(4):
        iot.create_policy_version(policyName=policy, policyDocument=POLICY, setAsDefault=True)
    with pytest.raises(ClientError) as err:
        iot.create_policy_version(policyName=policy, policyDocument=POLICY, setAsDefault=True)
    assert error_of(err)[1] == "VersionsLimitExceededException"
    versions = iot.list_policy_versions(policyName=policy)["policyVersions"]
    assert len(versions) == 5 and sum(v["isDefaultVersion"] for v in versions) == 1
    with pytest.raises(ClientError) as err:
        iot.delete_policy(policyName=policy)
    assert error_of(err)[1] == "DeleteConflictException"
    for v in versions:
        if not v["isDefaultVersion"]:
            iot.delete_policy_version(policyName=policy, policyVersionId=v["versionId"])
    iot.delete_policy(policyName=policy)


# --------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------


def test_fault_fails_the_next_matching_rest_json_requests(emulator: Emulator) -> None:
    iot = emulator.client("iot")  # a 400 is not retried by botocore, so each call is one request
    thing = unique("thing")
    iot.create_thing(thingName=thing)
    _, cert_arn = new_cert(iot)
    armed = faults(emulator, "POST", {"service": "iot", "action": "AttachThingPrincipal", "count": 2,
                                      "status": 400, "code": "InvalidRequestException", "message": "injected twice"})
    for _ in range(2):
        with pytest.raises(ClientError) as err:
            iot.attach_thing_principal(thingName=thing, principal=cert_arn)
        assert error_of(err) == (400, "InvalidRequestException", "injected twice")
    # Other operations of the same service were never affected; the third call goes through.
    assert iot.list_thing_principals(thingName=thing)["principals"] == []
    iot.attach_thing_principal(thingName=thing, principal=cert_arn)
    assert iot.list_thing_principals(thingName=thing)["principals"] == [cert_arn]
    listed = faults(emulator)
    assert [(f["id"], f["fired"], f["count"]) for f in listed] == [(armed["id"], 2, 0)]


def test_fault_after_lets_the_request_happen_and_loses_the_answer(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    before = {c["certificateId"] for c in iot.list_certificates()["certificates"]}
    faults(emulator, "POST", {"service": "iot", "action": "CreateCertificateFromCsr", "status": 400,
                              "code": "InvalidRequestException", "message": "answer lost", "when": "after"})
    with pytest.raises(ClientError) as err:
        iot.create_certificate_from_csr(certificateSigningRequest=make_csr(ec.generate_private_key(ec.SECP256R1())),
                                        setAsActive=True)
    assert error_of(err)[2] == "answer lost"
    issued = {c["certificateId"]: c["status"] for c in iot.list_certificates()["certificates"]
              if c["certificateId"] not in before}
    assert list(issued.values()) == ["ACTIVE"], issued


@pytest.mark.parametrize("service, action, call, protocol", [
    ("secretsmanager", "GetSecretValue", lambda c: c.get_secret_value(SecretId="x"), "json"),
    ("iam", "GetRole", lambda c: c.get_role(RoleName="x"), "query"),
    ("eks", "ListClusters", lambda c: c.list_clusters(), "rest-json"),
])
def test_fault_errors_are_shaped_for_each_protocol(emulator: Emulator, service, action, call, protocol) -> None:
    client = emulator.client(service)
    faults(emulator, "POST", {"service": service, "action": action, "status": 409,
                              "code": "ConflictingThingException", "message": f"{protocol} fault"})
    with pytest.raises(ClientError) as err:
        call(client)
    assert error_of(err) == (409, "ConflictingThingException", f"{protocol} fault")


def test_faults_can_be_cleared_and_bad_requests_are_refused(emulator: Emulator) -> None:
    iam = emulator.client("iam")
    armed = faults(emulator, "POST", {"service": "iam", "action": "ListRoles", "count": 5})
    faults(emulator, "DELETE", query=f"?id={armed['id']}")
    assert faults(emulator) == []
    iam.list_roles()
    req = Request(emulator.endpoint + "/maestro-emulator/faults", method="POST", data=b'{"service": "iam"}',
                  headers={"Content-Type": "application/json"})
    with pytest.raises(Exception) as err:
        urlopen(req, timeout=10)
    assert getattr(err.value, "code", None) == 400
