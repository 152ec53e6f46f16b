"""Proof that each emulator extension behaves like the AWS API it stands in for."""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import datetime
from urllib.error import HTTPError
from urllib.parse import quote, unquote
from urllib.request import Request, urlopen

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from emulator_harness import (
    DEFAULT_ACCOUNT,
    MANAGEMENT_ACCOUNT,
    REGION,
    TRUST_POLICY,
    Emulator,
    make_cluster,
    make_role,
    start_emulator,
    unique,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

ASSOCIATION_ID = re.compile(r"^a-[a-z0-9]{17}$")
ROLE_MISSING = "Role provided in the request does not exist"
MANAGEMENT_ROLE = f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:role/maestro-management"
REGIONAL_ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/maestro-regional"


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    resp = excinfo.value.response
    return (
        resp["ResponseMetadata"]["HTTPStatusCode"],
        resp["Error"]["Code"],
        resp["Error"]["Message"],
    )


def raw_recorder(client):  # type: ignore[no-untyped-def]
    """Collects (operation, status, headers, body) of every response."""
    seen: list[tuple[str, int, dict[str, str], str]] = []

    def hook(http_response, model, **_):  # type: ignore[no-untyped-def]
        seen.append(
            (model.name, http_response.status_code, dict(http_response.headers), http_response.text)
        )

    client.meta.events.register("after-call", hook)
    return seen


def signed_request(emulator: Emulator, service: str, method: str, path: str, body: str | None = None) -> tuple[int, str]:
    """Send a SigV4-signed request with a path encoded exactly as given.

    boto3 leaves ':' unescaped in path labels; the Rust SDK escapes it (and
    '/') so this lets a test send what the provider will send.
    """
    url = emulator.endpoint + path
    headers = {"Content-Type": "application/json"} if body is not None else {}
    aws_req = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(Credentials("testing", "testing"), service, REGION).add_auth(aws_req)
    req = Request(url, data=body.encode() if body is not None else None, method=method, headers=dict(aws_req.headers))
    try:
        with urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except HTTPError as err:
        return err.code, err.read().decode()


# --------------------------------------------------------------------------
# EKS Pod Identity associations
# --------------------------------------------------------------------------


def test_pod_identity_association_lifecycle(emulator: Emulator) -> None:
    iam, eks = emulator.client("iam"), emulator.client("eks")
    cluster = make_cluster(eks)
    role = make_role(iam)
    role2 = make_role(iam)
    raw = raw_recorder(eks)

    created = eks.create_pod_identity_association(
        clusterName=cluster,
        namespace="maestro",
        serviceAccount="maestro-agent",
        roleArn=role,
        tags={"team": "maestro"},
    )["association"]
    assoc_id = created["associationId"]
    assert ASSOCIATION_ID.match(assoc_id)
    assert created["associationArn"] == (
        f"arn:aws:eks:{REGION}:{DEFAULT_ACCOUNT}:podidentityassociation/{cluster}/{assoc_id}"
    )
    assert created["clusterName"] == cluster
    assert created["namespace"] == "maestro"
    assert created["serviceAccount"] == "maestro-agent"
    assert created["roleArn"] == role
    assert created["tags"] == {"team": "maestro"}
    assert created["disableSessionTags"] is False
    assert created["createdAt"] == created["modifiedAt"]
    for absent in ("targetRoleArn", "externalId", "policy", "ownerArn"):
        assert absent not in created

    # Wire format: REST-JSON with epoch-second numbers, as the Rust SDK expects.
    op, status, _, body = raw[-1]
    assert (op, status) == ("CreatePodIdentityAssociation", 200)
    wire = json.loads(body)["association"]
    assert isinstance(wire["createdAt"], (int, float))
    assert isinstance(wire["modifiedAt"], (int, float))

    described = eks.describe_pod_identity_association(
        clusterName=cluster, associationId=assoc_id
    )["association"]
    assert described == created

    time.sleep(0.01)
    session_policy = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
    )
    target = "arn:aws:iam::111122223333:role/target"
    updated = eks.update_pod_identity_association(
        clusterName=cluster,
        associationId=assoc_id,
        roleArn=role2,
        disableSessionTags=True,
        policy=session_policy,
        targetRoleArn=target,
    )["association"]
    assert updated["associationId"] == assoc_id
    assert updated["roleArn"] == role2
    assert updated["disableSessionTags"] is True
    assert updated["policy"] == session_policy
    assert updated["targetRoleArn"] == target
    assert updated["externalId"]
    assert updated["createdAt"] == created["createdAt"]
    assert updated["modifiedAt"] > created["modifiedAt"]

    # Fields left out of an update keep their values; "" clears optional ones.
    cleared = eks.update_pod_identity_association(
        clusterName=cluster, associationId=assoc_id, targetRoleArn="", policy=""
    )["association"]
    assert cleared["roleArn"] == role2
    assert cleared["disableSessionTags"] is True
    for absent in ("targetRoleArn", "externalId", "policy"):
        assert absent not in cleared

    deleted = eks.delete_pod_identity_association(
        clusterName=cluster, associationId=assoc_id
    )["association"]
    assert deleted["associationId"] == assoc_id
    assert eks.list_pod_identity_associations(clusterName=cluster)["associations"] == []

    for call in (
        eks.describe_pod_identity_association,
        eks.delete_pod_identity_association,
    ):
        with pytest.raises(ClientError) as err:
            call(clusterName=cluster, associationId=assoc_id)
        assert error_of(err)[:2] == (404, "ResourceNotFoundException")


def test_pod_identity_association_errors(emulator: Emulator) -> None:
    iam, eks = emulator.client("iam"), emulator.client("eks")
    cluster = make_cluster(eks)
    role = make_role(iam)
    raw = raw_recorder(eks)

    # Unknown cluster -> 404 for every operation.
    with pytest.raises(ClientError) as err:
        eks.create_pod_identity_association(
            clusterName="no-such-cluster", namespace="n", serviceAccount="s", roleArn=role
        )
    assert error_of(err) == (404, "ResourceNotFoundException", "No cluster found for name: no-such-cluster.")
    with pytest.raises(ClientError) as err:
        eks.list_pod_identity_associations(clusterName="no-such-cluster")
    assert error_of(err)[:2] == (404, "ResourceNotFoundException")

    # restJson error shape: the SDKs read x-amzn-ErrorType and body.message.
    _, status, headers, body = raw[-1]
    assert status == 404
    assert {k.lower(): v for k, v in headers.items()}["x-amzn-errortype"] == "ResourceNotFoundException"
    assert "message" in json.loads(body)

    # Unknown association -> 404; malformed id -> 400 like real EKS.
    with pytest.raises(ClientError) as err:
        eks.describe_pod_identity_association(clusterName=cluster, associationId="a-0123456789abcdefg")
    assert error_of(err)[:2] == (404, "ResourceNotFoundException")
    with pytest.raises(ClientError) as err:
        eks.update_pod_identity_association(clusterName=cluster, associationId="a-0123456789abcdefg", roleArn=role)
    assert error_of(err)[:2] == (404, "ResourceNotFoundException")
    with pytest.raises(ClientError) as err:
        eks.describe_pod_identity_association(clusterName=cluster, associationId="a-short")
    assert error_of(err)[:2] == (400, "InvalidParameterException")

    # Role missing from IAM (other name, other account) -> 400 with AWS's text.
    for bad_role in (
        f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/does-not-exist",
        role.replace(DEFAULT_ACCOUNT, MANAGEMENT_ACCOUNT),
    ):
        with pytest.raises(ClientError) as err:
            eks.create_pod_identity_association(
                clusterName=cluster, namespace="n", serviceAccount="s", roleArn=bad_role
            )
        assert error_of(err) == (400, "InvalidParameterException", ROLE_MISSING)

    created = eks.create_pod_identity_association(
        clusterName=cluster, namespace="n", serviceAccount="s", roleArn=role
    )["association"]

    # Same namespace + service account -> 409 naming the existing association.
    with pytest.raises(ClientError) as err:
        eks.create_pod_identity_association(
            clusterName=cluster, namespace="n", serviceAccount="s", roleArn=role
        )
    assert error_of(err) == (
        409,
        "ResourceInUseException",
        f"Association already exists: {created['associationId']}",
    )

    # Update to a missing role -> same 400; the association is unchanged.
    with pytest.raises(ClientError) as err:
        eks.update_pod_identity_association(
            clusterName=cluster,
            associationId=created["associationId"],
            roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/does-not-exist",
        )
    assert error_of(err) == (400, "InvalidParameterException", ROLE_MISSING)
    assert (
        eks.describe_pod_identity_association(
            clusterName=cluster, associationId=created["associationId"]
        )["association"]["roleArn"]
        == role
    )

    # A session policy needs session tags disabled.
    with pytest.raises(ClientError) as err:
        eks.create_pod_identity_association(
            clusterName=cluster, namespace="n2", serviceAccount="s", roleArn=role, policy="{}"
        )
    assert error_of(err)[:2] == (400, "InvalidParameterException")


def test_pod_identity_list_filters_and_pagination(emulator: Emulator) -> None:
    iam, eks = emulator.client("iam"), emulator.client("eks")
    cluster = make_cluster(eks)
    other_cluster = make_cluster(eks)
    role = make_role(iam)
    made = {}
    for ns, sa in [("alpha", "a1"), ("alpha", "a2"), ("alpha", "shared"), ("beta", "shared"), ("beta", "b1")]:
        made[(ns, sa)] = eks.create_pod_identity_association(
            clusterName=cluster, namespace=ns, serviceAccount=sa, roleArn=role
        )["association"]
    eks.create_pod_identity_association(
        clusterName=other_cluster, namespace="alpha", serviceAccount="a1", roleArn=role
    )

    def ids(**kw):  # type: ignore[no-untyped-def]
        return sorted(a["associationId"] for a in eks.list_pod_identity_associations(clusterName=cluster, **kw)["associations"])

    def expected(pred):  # type: ignore[no-untyped-def]
        return sorted(a["associationId"] for k, a in made.items() if pred(*k))

    assert ids() == expected(lambda ns, sa: True)
    assert ids(namespace="alpha") == expected(lambda ns, sa: ns == "alpha")
    assert ids(serviceAccount="shared") == expected(lambda ns, sa: sa == "shared")
    assert ids(namespace="beta", serviceAccount="shared") == expected(lambda ns, sa: (ns, sa) == ("beta", "shared"))
    assert ids(namespace="gamma") == []

    summaries = eks.list_pod_identity_associations(clusterName=cluster)["associations"]
    assert {frozenset(s) for s in summaries} == {
        frozenset({"clusterName", "namespace", "serviceAccount", "associationArn", "associationId"})
    }
    by_id = {a["associationId"]: a for a in made.values()}
    for s in summaries:
        full = by_id[s["associationId"]]
        assert s == {k: full[k] for k in s}

    first = eks.list_pod_identity_associations(clusterName=cluster, maxResults=2)
    assert len(first["associations"]) == 2 and first["nextToken"]
    paged: list[str] = []
    token = None
    while True:
        kw = {"maxResults": 2}
        if token:
            kw["nextToken"] = token
        page = eks.list_pod_identity_associations(clusterName=cluster, **kw)
        paged += [a["associationId"] for a in page["associations"]]
        token = page.get("nextToken")
        if not token:
            break
    assert sorted(paged) == ids() and len(paged) == len(set(paged)) == 5

    paginator = eks.get_paginator("list_pod_identity_associations")
    pages = list(paginator.paginate(clusterName=cluster, namespace="alpha", PaginationConfig={"PageSize": 1}))
    assert sorted(a["associationId"] for p in pages for a in p["associations"]) == ids(namespace="alpha")


def test_pod_identity_client_request_token_is_idempotent(emulator: Emulator) -> None:
    iam, eks = emulator.client("iam"), emulator.client("eks")
    cluster = make_cluster(eks)
    role, role2 = make_role(iam), make_role(iam)
    params = dict(clusterName=cluster, namespace="maestro", serviceAccount="agent", roleArn=role)

    first = eks.create_pod_identity_association(clientRequestToken="token-1", **params)["association"]
    again = eks.create_pod_identity_association(clientRequestToken="token-1", **params)["association"]
    assert again == first
    assert len(eks.list_pod_identity_associations(clusterName=cluster)["associations"]) == 1

    # A fresh token for the same service account is a genuine duplicate.
    with pytest.raises(ClientError) as err:
        eks.create_pod_identity_association(clientRequestToken="token-2", **params)
    assert error_of(err)[:2] == (409, "ResourceInUseException")
    # Reusing a token with other parameters is rejected.
    with pytest.raises(ClientError) as err:
        eks.create_pod_identity_association(
            clientRequestToken="token-1", **{**params, "serviceAccount": "other"}
        )
    assert error_of(err)[:2] == (400, "InvalidRequestException")

    upd = dict(clusterName=cluster, associationId=first["associationId"], roleArn=role2)
    u1 = eks.update_pod_identity_association(clientRequestToken="u-1", **upd)["association"]
    time.sleep(0.01)
    u2 = eks.update_pod_identity_association(clientRequestToken="u-1", **upd)["association"]
    assert u1 == u2 and u2["roleArn"] == role2


def test_pod_identity_association_tags(emulator: Emulator) -> None:
    iam, eks = emulator.client("iam"), emulator.client("eks")
    cluster = make_cluster(eks)
    arn = eks.create_pod_identity_association(
        clusterName=cluster, namespace="n", serviceAccount="s", roleArn=make_role(iam), tags={"a": "1"}
    )["association"]["associationArn"]
    eks.tag_resource(resourceArn=arn, tags={"b": "2"})
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1", "b": "2"}
    eks.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    # Several keys in one call (`?tagKeys=x&tagKeys=y`) all go, as in AWS (moto took the first).
    eks.tag_resource(resourceArn=arn, tags={"x": "1", "y": "2"})
    eks.untag_resource(resourceArn=arn, tagKeys=["x", "y"])
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    assoc_id = arn.rsplit("/", 1)[1]
    assert eks.describe_pod_identity_association(clusterName=cluster, associationId=assoc_id)["association"]["tags"] == {"b": "2"}

    # The ARN fully percent-encoded in the path, as the Rust SDK sends it.
    encoded = quote(arn, safe="")
    status, _ = signed_request(emulator, "eks", "POST", f"/tags/{encoded}", json.dumps({"tags": {"rust": "sdk"}}))
    assert status == 200
    status, body = signed_request(emulator, "eks", "GET", f"/tags/{encoded}")
    assert (status, json.loads(body)) == (200, {"tags": {"b": "2", "rust": "sdk"}})

    # moto's own cluster tagging still works behind the wrapper.
    cluster_arn = eks.describe_cluster(name=cluster)["cluster"]["arn"]
    eks.tag_resource(resourceArn=cluster_arn, tags={"c": "3"})
    assert eks.list_tags_for_resource(resourceArn=cluster_arn)["tags"] == {"c": "3"}


def test_cluster_delete_removes_its_associations(emulator: Emulator) -> None:
    iam, eks = emulator.client("iam"), emulator.client("eks")
    cluster = make_cluster(eks)
    role = make_role(iam)
    eks.create_pod_identity_association(clusterName=cluster, namespace="n", serviceAccount="s", roleArn=role)
    eks.delete_cluster(name=cluster)
    eks.create_cluster(name=cluster, roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/eks", resourcesVpcConfig={})
    assert eks.list_pod_identity_associations(clusterName=cluster)["associations"] == []


# --------------------------------------------------------------------------
# IAM eventual-consistency fault injection
# --------------------------------------------------------------------------


def test_iam_propagation_fault_injection_from_environment() -> None:
    delay = 2.0
    emu = start_emulator({"MAESTRO_EMULATOR_IAM_PROPAGATION_SECONDS": str(delay)})
    try:
        iam, eks = emu.client("iam"), emu.client("eks")
        cluster = make_cluster(eks)
        role = make_role(iam)
        created_at = time.monotonic()
        with pytest.raises(ClientError) as err:
            eks.create_pod_identity_association(
                clusterName=cluster, namespace="n", serviceAccount="s", roleArn=role
            )
        assert error_of(err) == (400, "InvalidParameterException", ROLE_MISSING)

        time.sleep(max(0.0, delay + 0.2 - (time.monotonic() - created_at)))
        assoc = eks.create_pod_identity_association(
            clusterName=cluster, namespace="n", serviceAccount="s", roleArn=role
        )["association"]

        # Update to a brand-new role hits the same transient error.
        fresh = make_role(iam)
        with pytest.raises(ClientError) as err:
            eks.update_pod_identity_association(
                clusterName=cluster, associationId=assoc["associationId"], roleArn=fresh
            )
        assert error_of(err) == (400, "InvalidParameterException", ROLE_MISSING)
        time.sleep(delay + 0.2)
        updated = eks.update_pod_identity_association(
            clusterName=cluster, associationId=assoc["associationId"], roleArn=fresh
        )["association"]
        assert updated["roleArn"] == fresh
        assert emu.config()["iamPropagationSeconds"] == delay
    finally:
        emu.stop()


def test_iam_propagation_can_be_toggled_at_runtime(emulator: Emulator) -> None:
    iam, eks = emulator.client("iam"), emulator.client("eks")
    cluster = make_cluster(eks)
    assert emulator.config()["iamPropagationSeconds"] == 0
    emulator.config(iamPropagationSeconds=30)
    try:
        role = make_role(iam)
        with pytest.raises(ClientError) as err:
            eks.create_pod_identity_association(clusterName=cluster, namespace="n", serviceAccount="s", roleArn=role)
        assert error_of(err) == (400, "InvalidParameterException", ROLE_MISSING)
    finally:
        emulator.config(iamPropagationSeconds=None)
    assert emulator.config()["iamPropagationSeconds"] == 0
    eks.create_pod_identity_association(clusterName=cluster, namespace="n", serviceAccount="s", roleArn=role)


# --------------------------------------------------------------------------
# IoT CreateCertificateFromCsr
# --------------------------------------------------------------------------


def make_csr(key) -> str:  # type: ignore[no-untyped-def]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "management-01-work-agent")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def spki(key) -> bytes:  # type: ignore[no-untyped-def]
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


KEY_FACTORIES = {
    "ec-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ec-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "rsa-2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "rsa-3072": lambda: rsa.generate_private_key(public_exponent=65537, key_size=3072),
}


@pytest.mark.parametrize("kind", sorted(KEY_FACTORIES))
def test_certificate_from_csr_certifies_the_csr_key(emulator: Emulator, kind: str) -> None:
    iot = emulator.client("iot")
    key = KEY_FACTORIES[kind]()
    out = iot.create_certificate_from_csr(certificateSigningRequest=make_csr(key), setAsActive=True)
    cert = x509.load_pem_x509_certificate(out["certificatePem"].encode())

    assert spki(cert.public_key()) == spki(key.public_key())
    der = cert.public_bytes(serialization.Encoding.DER)
    assert out["certificateId"] == hashlib.sha256(der).hexdigest()
    assert out["certificateArn"] == f"arn:aws:iot:{REGION}:{DEFAULT_ACCOUNT}:cert/{out['certificateId']}"
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 360 <= lifetime.days <= 366

    desc = iot.describe_certificate(certificateId=out["certificateId"])["certificateDescription"]
    assert desc["status"] == "ACTIVE"
    assert desc["certificatePem"] == out["certificatePem"]
    assert abs(desc["validity"]["notAfter"].timestamp() - cert.not_valid_after_utc.timestamp()) < 1

    # Not idempotent, like AWS: the same CSR gives a second certificate.
    second = iot.create_certificate_from_csr(certificateSigningRequest=make_csr(key))
    assert second["certificateId"] != out["certificateId"]
    assert iot.describe_certificate(certificateId=second["certificateId"])["certificateDescription"]["status"] == "INACTIVE"
    # setAsActive=false travels as the text "false", which must not read as true.
    third = iot.create_certificate_from_csr(certificateSigningRequest=make_csr(key), setAsActive=False)
    assert iot.describe_certificate(certificateId=third["certificateId"])["certificateDescription"]["status"] == "INACTIVE"


def test_certificate_from_csr_rejects_weak_keys(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ClientError) as err:
        iot.create_certificate_from_csr(certificateSigningRequest=make_csr(weak))
    assert error_of(err)[:2] == (400, "InvalidRequestException")


def test_plain_moto_certifies_a_different_key() -> None:
    """Documents the moto bug the extension fixes: with it switched off the
    issued certificate carries some other key.  If this starts failing, moto
    has fixed the bug and the extension can go."""
    emu = start_emulator({"MAESTRO_EMULATOR_DISABLE": "iot_certificates"})
    try:
        key = ec.generate_private_key(ec.SECP256R1())
        out = emu.client("iot").create_certificate_from_csr(certificateSigningRequest=make_csr(key))
        cert = x509.load_pem_x509_certificate(out["certificatePem"].encode())
        assert spki(cert.public_key()) != spki(key.public_key())
    finally:
        emu.stop()


def test_iot_data_ats_endpoint_is_stable(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    first = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
    assert re.match(rf"^[a-z0-9]{{14}}-ats\.iot\.{REGION}\.amazonaws\.com$", first)
    assert iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"] == first
    legacy = iot.describe_endpoint(endpointType="iot:Data")["endpointAddress"]
    assert legacy == first.replace("-ats.", ".")
    other_account = emulator.client("iot", **emulator.assume(MANAGEMENT_ROLE))
    assert other_account.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"] != first


def _version_dates(sm, name: str) -> dict[str, datetime]:
    return {v["VersionId"]: v["CreatedDate"] for v in sm.list_secret_version_ids(SecretId=name)["Versions"]}


def test_secret_version_ids_carry_their_creation_date(emulator: Emulator) -> None:
    sm = emulator.client("secretsmanager")
    name = unique("versions")
    first = sm.create_secret(Name=name, SecretString="one")["VersionId"]
    created = sm.get_secret_value(SecretId=name)["CreatedDate"]
    time.sleep(2.1)
    second = sm.put_secret_value(SecretId=name, SecretString="two")["VersionId"]
    dates = _version_dates(sm, name)
    # The date GetSecretValue gives the version, not the time of the listing.
    assert dates[first] == created
    assert (dates[second] - dates[first]).total_seconds() >= 2
    time.sleep(1.1)
    assert _version_dates(sm, name) == dates, "a later listing must not move the dates"
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def test_plain_moto_dates_every_version_now() -> None:
    """Documents the moto bug `secretsmanager_versions` fixes; if this fails, moto fixed it."""
    emu = start_emulator({"MAESTRO_EMULATOR_DISABLE": "secretsmanager_versions"})
    try:
        sm = emu.client("secretsmanager")
        sm.create_secret(Name="plain", SecretString="one")
        created = sm.get_secret_value(SecretId="plain")["CreatedDate"]
        time.sleep(2.1)
        [listed] = _version_dates(sm, "plain").values()
        assert (listed - created).total_seconds() >= 2
    finally:
        emu.stop()


# --------------------------------------------------------------------------
# Two accounts via STS AssumeRole
# --------------------------------------------------------------------------


def test_assume_role_credentials_act_in_the_role_account(emulator: Emulator) -> None:
    default_iam = emulator.client("iam")
    assert emulator.client("sts").get_caller_identity()["Account"] == DEFAULT_ACCOUNT

    mgmt = emulator.assume(MANAGEMENT_ROLE, "maestro-test")
    ident = emulator.client("sts", **mgmt).get_caller_identity()
    assert ident["Account"] == MANAGEMENT_ACCOUNT
    assert ident["Arn"] == f"arn:aws:sts::{MANAGEMENT_ACCOUNT}:assumed-role/maestro-management/maestro-test"

    regional = emulator.assume(REGIONAL_ROLE)
    assert emulator.client("sts", **regional).get_caller_identity()["Account"] == DEFAULT_ACCOUNT

    mgmt_iam = emulator.client("iam", **mgmt)
    name = unique("isolated")
    arn = make_role(mgmt_iam, name)
    assert arn == f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:role/{name}"
    assert mgmt_iam.get_role(RoleName=name)["Role"]["Arn"] == arn
    with pytest.raises(ClientError) as err:
        default_iam.get_role(RoleName=name)
    assert error_of(err)[:2] == (404, "NoSuchEntity")

    mgmt_eks = emulator.client("eks", **mgmt)
    cluster = make_cluster(mgmt_eks, MANAGEMENT_ACCOUNT)
    assert mgmt_eks.describe_cluster(name=cluster)["cluster"]["arn"] == (
        f"arn:aws:eks:{REGION}:{MANAGEMENT_ACCOUNT}:cluster/{cluster}"
    )
    assert cluster in mgmt_eks.list_clusters()["clusters"]
    assert cluster not in emulator.client("eks").list_clusters()["clusters"]

    assoc = mgmt_eks.create_pod_identity_association(
        clusterName=cluster, namespace="maestro", serviceAccount="maestro-agent", roleArn=arn
    )["association"]
    assert assoc["associationArn"].startswith(f"arn:aws:eks:{REGION}:{MANAGEMENT_ACCOUNT}:podidentityassociation/")
    # The same cluster name in the default account is a different cluster.
    with pytest.raises(ClientError) as err:
        emulator.client("eks").list_pod_identity_associations(clusterName=cluster)
    assert error_of(err)[:2] == (404, "ResourceNotFoundException")


# --------------------------------------------------------------------------
# IAM operations the first resource uses
# --------------------------------------------------------------------------


def test_get_role_policy_document_is_url_encoded_on_the_wire(emulator: Emulator) -> None:
    iam = emulator.client("iam")
    name = unique("policy-role")
    make_role(iam, name)
    # Characters that must survive: '+', '?', '/', '*', ':' and spaces.
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                    "Resource": f"arn:aws:secretsmanager:{REGION}:{DEFAULT_ACCOUNT}:secret:a+b/maestro/agent-mqtt-cert-??????",
                }
            ],
        },
        indent=2,
    )
    iam.put_role_policy(RoleName=name, PolicyName="maestro-agent-secrets", PolicyDocument=document)
    raw = raw_recorder(iam)
    got = iam.get_role_policy(RoleName=name, PolicyName="maestro-agent-secrets")
    assert got["PolicyDocument"] == json.loads(document)  # boto3 decodes it

    body = raw[-1][3]
    encoded = re.search(r"<PolicyDocument>(.*)</PolicyDocument>", body, re.S).group(1)  # type: ignore[union-attr]
    assert "{" not in encoded and "%7B" in encoded  # percent-encoded like IAM
    assert "+" not in encoded  # '+' is %2B, so form-decoding would be wrong
    assert unquote(encoded) == document  # submitted text, whitespace intact

    iam.get_role(RoleName=name)
    role_body = raw[-1][3]
    trust = re.search(r"<AssumeRolePolicyDocument>(.*)</AssumeRolePolicyDocument>", role_body, re.S).group(1)  # type: ignore[union-attr]
    assert json.loads(unquote(trust)) == json.loads(TRUST_POLICY)

    # ListRoles too (plain moto sends raw JSON there; see iam_documents.py).
    iam.list_roles()
    listed = re.findall(r"<AssumeRolePolicyDocument>(.*?)</AssumeRolePolicyDocument>", raw[-1][3], re.S)
    assert listed and all("{" not in d and "%7B" in d for d in listed)


def test_iam_role_operations(emulator: Emulator) -> None:
    iam = emulator.client("iam")
    name = unique("maestro-agent")
    created = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=TRUST_POLICY,
        Tags=[{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "test"}],
    )["Role"]
    assert isinstance(created["CreateDate"], datetime)
    assert iam.get_role(RoleName=name)["Role"]["Arn"] == created["Arn"]

    iam.tag_role(RoleName=name, Tags=[{"Key": "team", "Value": "b"}, {"Key": "new", "Value": "x"}])
    iam.untag_role(RoleName=name, TagKeys=["env"])
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]}
    assert tags == {"team": "b", "new": "x"}

    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]})
    iam.put_role_policy(RoleName=name, PolicyName="maestro-agent-iot", PolicyDocument=doc)
    iam.put_role_policy(RoleName=name, PolicyName="maestro-agent-secrets", PolicyDocument=doc)
    assert sorted(iam.list_role_policies(RoleName=name)["PolicyNames"]) == ["maestro-agent-iot", "maestro-agent-secrets"]

    with pytest.raises(ClientError) as err:
        iam.delete_role(RoleName=name)
    assert error_of(err)[:2] == (409, "DeleteConflict")

    iam.delete_role_policy(RoleName=name, PolicyName="maestro-agent-iot")
    with pytest.raises(ClientError) as err:
        iam.get_role_policy(RoleName=name, PolicyName="maestro-agent-iot")
    assert error_of(err)[:2] == (404, "NoSuchEntity")
    iam.delete_role_policy(RoleName=name, PolicyName="maestro-agent-secrets")
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as err:
        iam.get_role(RoleName=name)
    assert error_of(err)[:2] == (404, "NoSuchEntity")
    with pytest.raises(ClientError) as err:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=doc)
    assert error_of(err)[:2] == (404, "NoSuchEntity")


def test_eks_cluster_basics(emulator: Emulator) -> None:
    eks = emulator.client("eks")
    name = make_cluster(eks)
    cluster = eks.describe_cluster(name=name)["cluster"]
    assert cluster["status"] == "ACTIVE"
    assert name in eks.list_clusters()["clusters"]
    with pytest.raises(ClientError) as err:
        eks.create_cluster(name=unique("bad"), roleArn="not-an-arn", resourcesVpcConfig={})
    assert error_of(err)[:2] == (400, "InvalidParameterException")
    with pytest.raises(ClientError) as err:
        eks.describe_cluster(name="no-such-cluster")
    assert error_of(err)[:2] == (404, "ResourceNotFoundException")
