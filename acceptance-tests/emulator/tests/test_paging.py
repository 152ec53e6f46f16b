"""Every list call the provider makes pages as AWS documents it (maestro_emulator/paging.py).

Each call lists more objects than one page, by hand and with boto3's paginator, and checks that
every object comes exactly once, the page sizes (the default one and asked ones, and the
model's maximum), the order, and that a token that is malformed or belongs to another listing
is refused with the service's error. They run on an emulator of their own (run_server.py's
application served from this process, so bulk objects can be made straight in moto's
backends), one region per call, so the hundreds of objects made here reach no other test's
listing. The last test shows plain moto (the extension disabled) answering ListCertificates
in one page, oldest first.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.paginate import Paginator
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from emulator_harness import DEFAULT_ACCOUNT, EMULATOR_DIR, TRUST_POLICY, Emulator, start_emulator, unique
from test_emulator import error_of

POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}
)
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class InProcess:
    """run_server.py's application, served from this process so that objects can be made
    straight through moto's backends where the API is slow (moto's CreateCluster builds a
    boto3 session to check the role ARN: 60 ms of CPU a cluster)."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint


@pytest.fixture(scope="module")
def emu() -> Iterator[InProcess]:
    if str(EMULATOR_DIR) not in sys.path:
        sys.path.insert(0, str(EMULATOR_DIR))
    import run_server
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    os.environ.pop("MAESTRO_EMULATOR_DISABLE", None)  # every extension, as start_emulator() does
    server = make_server("127.0.0.1", 0, run_server.build_app(), threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield InProcess(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


def client(emu: Emulator | InProcess, service: str, region: str, validate: bool = True):  # type: ignore[no-untyped-def]
    """A client in its own region; validate=False sends what boto3 would refuse (pageSize=0)."""
    config = Config(parameter_validation=validate, retries={"max_attempts": 1})
    return boto3.client(service, endpoint_url=emu.endpoint, region_name=region, config=config, **CREDENTIALS)


def in_bulk(function: Callable[[Any], Any], items: Any) -> list[Any]:
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(function, items))


def by_hand(
    call: Callable[..., dict[str, Any]], items: str, token_in: str, token_out: str, start: str | None = None, **kwargs: Any
) -> list[list[Any]]:
    """Every page of a listing (from the token `start`), following its token by hand."""
    pages: list[list[Any]] = []
    token = start
    while True:
        answer = call(**kwargs, **({token_in: token} if token else {}))
        pages.append(answer[items])
        if "IsTruncated" in answer:  # IAM: a Marker exactly when truncated
            assert answer["IsTruncated"] == ("Marker" in answer), answer
        token = answer.get(token_out)
        if not token:
            return pages
        assert len(pages) < 100, "the listing never ends"


# botocore's paginators-1.json has no entry for ListSecretVersionIds (the model pages it all the
# same); boto3's paginator machinery is given the one its members call for.
_EXTRA_PAGINATORS = {
    "list_secret_version_ids": {
        "input_token": "NextToken", "output_token": "NextToken", "limit_key": "MaxResults", "result_key": "Versions",
    },
}


def by_paginator(api: Any, operation: str, items: str, **kwargs: Any) -> list[list[Any]]:
    """Every page of a listing, as boto3's paginator follows it."""
    if operation in _EXTRA_PAGINATORS:
        model = api.meta.service_model.operation_model(api.meta.method_to_api_mapping[operation])
        paginator = Paginator(getattr(api, operation), _EXTRA_PAGINATORS[operation], model)
    else:
        paginator = api.get_paginator(operation)
    return [page[items] for page in paginator.paginate(**kwargs)]


def flat(pages: list[list[Any]]) -> list[Any]:
    return [item for page in pages for item in page]


def once(listed: list[Any], expected: set[Any] | list[Any]) -> None:
    """Every expected item listed, each exactly once, and nothing else."""
    assert len(listed) == len(set(listed)), "an item was listed twice"
    assert set(listed) == set(expected)


def sizes(total: int, size: int) -> list[int]:
    return [size] * (total // size) + ([total % size] if total % size else [])


def refused(call: Callable[..., Any], **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as excinfo:
        call(**kwargs)
    return error_of(excinfo)


# --------------------------------------------------------------------------
# IoT
# --------------------------------------------------------------------------

_KEY = ec.generate_private_key(ec.SECP256R1())


def certificate_pems(count: int) -> list[str]:
    """Self-signed certificates (one key, distinct subjects): cheap to make and register."""
    now = datetime.datetime.now(datetime.timezone.utc)
    pems = []
    for _ in range(count):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, unique("paging"))])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(_KEY.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(_KEY, hashes.SHA256())
        )
        pems.append(cert.public_bytes(serialization.Encoding.PEM).decode())
    return pems


def register_certificates(region: str, count: int) -> list[str]:
    """`count` ACTIVE certificates, made straight in the (in-process) backend; ARNs, oldest first."""
    from moto.iot.models import iot_backends

    backend = iot_backends[DEFAULT_ACCOUNT][region]
    return [backend.register_certificate_without_ca(pem, "ACTIVE").arn for pem in certificate_pems(count)]


def make_policies(iot, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    names = [unique("policy") for _ in range(count)]
    for name in names:  # one at a time: ListPolicies orders by creation
        iot.create_policy(policyName=name, policyDocument=POLICY)
    return names


def iot_bad_tokens(call: Callable[..., Any], token_member: str, other_token: str, **kwargs: Any) -> None:
    """A malformed token, one this emulator never issued and one of another listing: refused."""
    for token in ("not a marker!", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=", other_token, "A" * 1025):
        status, code, _ = refused(call, **kwargs, **{token_member: token})
        assert (status, code) == (400, "InvalidRequestException"), token


def iot_page_size_limits(call: Callable[..., Any], size_member: str, **kwargs: Any) -> None:
    assert refused(call, **kwargs, **{size_member: 251})[:2] == (400, "InvalidRequestException")
    status, code, message = refused(call, **kwargs, **{size_member: 0})
    assert (status, code) == (400, "InvalidRequestException")
    assert "greater than or equal to 1" in message


def test_list_certificates_newest_first_in_pages_of_25(emu: Emulator) -> None:
    iot = client(emu, "iot", "eu-west-1")
    raw = client(emu, "iot", "eu-west-1", validate=False)
    arns = register_certificates("eu-west-1", 260)

    # Default: pages of 25 (ListCertificates' documented default), newest first.
    pages = by_hand(iot.list_certificates, "certificates", "marker", "nextMarker")
    assert [len(p) for p in pages] == sizes(260, 25)
    listed = [c["certificateArn"] for c in flat(pages)]
    once(listed, arns)
    assert listed == arns[::-1]
    dates = [c["creationDate"] for c in flat(pages)]
    assert dates == sorted(dates, reverse=True)

    # isAscendingOrder=true: oldest first; pageSize up to 250.
    pages = by_hand(iot.list_certificates, "certificates", "marker", "nextMarker", ascendingOrder=True, pageSize=250)
    assert [len(p) for p in pages] == [250, 10]
    assert [c["certificateArn"] for c in flat(pages)] == arns

    # boto3's paginator, asked pages of 40.
    pages = by_paginator(iot, "list_certificates", "certificates", PaginationConfig={"PageSize": 40})
    assert [len(p) for p in pages] == sizes(260, 40)
    assert [c["certificateArn"] for c in flat(pages)] == arns[::-1]

    # A certificate made now is the first of the default listing.
    newest = register_certificates("eu-west-1", 1)[0]
    assert iot.list_certificates()["certificates"][0]["certificateArn"] == newest

    iot_page_size_limits(raw.list_certificates, "pageSize")
    descending = iot.list_certificates(pageSize=5)["nextMarker"]
    ascending = iot.list_certificates(pageSize=5, ascendingOrder=True)["nextMarker"]
    # The order is part of the listing: a newest-first marker does not resume an oldest-first one.
    iot_bad_tokens(iot.list_certificates, "marker", descending, ascendingOrder=True)
    iot_bad_tokens(iot.list_certificates, "marker", ascending)
    # Another region's listing.
    other = client(emu, "iot", "eu-west-2")
    register_certificates("eu-west-2", 2)
    iot_bad_tokens(other.list_certificates, "marker", descending, pageSize=1)


def test_list_certificates_resumes_after_deletions(emu: Emulator) -> None:
    iot = client(emu, "iot", "eu-north-1")
    arns = register_certificates("eu-north-1", 30)
    first = iot.list_certificates(pageSize=10)
    seen = [c["certificateArn"] for c in first["certificates"]]
    assert seen == arns[::-1][:10]
    # Delete the last one seen and the next one not seen yet: no other is skipped or repeated.
    for arn in (seen[-1], arns[::-1][10]):
        cert_id = arn.rsplit("/", 1)[1]
        iot.update_certificate(certificateId=cert_id, newStatus="INACTIVE")
        iot.delete_certificate(certificateId=cert_id)
    rest = by_hand(iot.list_certificates, "certificates", "marker", "nextMarker", pageSize=10, start=first["nextMarker"])
    assert [c["certificateArn"] for c in flat(rest)] == arns[::-1][11:]


def test_list_policies_newest_first(emu: Emulator) -> None:
    iot = client(emu, "iot", "eu-west-3")
    raw = client(emu, "iot", "eu-west-3", validate=False)
    names = make_policies(iot, 60)

    pages = by_hand(iot.list_policies, "policies", "marker", "nextMarker")
    assert [len(p) for p in pages] == [25, 25, 10]
    assert [p["policyName"] for p in flat(pages)] == names[::-1]

    pages = by_paginator(iot, "list_policies", "policies", ascendingOrder=True, PaginationConfig={"PageSize": 7})
    assert [len(p) for p in pages] == sizes(60, 7)
    assert [p["policyName"] for p in flat(pages)] == names
    assert [len(p) for p in by_hand(iot.list_policies, "policies", "marker", "nextMarker", pageSize=250)] == [60]

    iot_page_size_limits(raw.list_policies, "pageSize")
    certificates = iot.list_certificates(pageSize=1)  # none here: no marker
    assert "nextMarker" not in certificates
    register_certificates("eu-west-3", 2)
    certificates_marker = iot.list_certificates(pageSize=1)["nextMarker"]
    iot_bad_tokens(iot.list_policies, "marker", certificates_marker)


def test_list_attached_policies_by_name_and_recursive(emu: Emulator) -> None:
    iot = client(emu, "iot", "ap-south-1")
    raw = client(emu, "iot", "ap-south-1", validate=False)
    cert, other_cert = register_certificates("ap-south-1", 2)
    names = make_policies(iot, 60)
    in_bulk(lambda name: iot.attach_policy(policyName=name, target=cert), names)
    iot.attach_policy(policyName=names[0], target=other_cert)
    iot.attach_policy(policyName=names[1], target=other_cert)

    pages = by_hand(iot.list_attached_policies, "policies", "marker", "nextMarker", target=cert)
    assert [len(p) for p in pages] == [25, 25, 10]
    assert [p["policyName"] for p in flat(pages)] == sorted(names)
    pages = by_paginator(iot, "list_attached_policies", "policies", target=cert, PaginationConfig={"PageSize": 11})
    assert [len(p) for p in pages] == sizes(60, 11)
    once([p["policyName"] for p in flat(pages)], names)

    # recursive: a thing group's policies and those of the groups above it.
    iot.create_thing_group(thingGroupName="paging-parent")
    child = iot.create_thing_group(thingGroupName="paging-child", parentGroupName="paging-parent")["thingGroupArn"]
    parent = iot.describe_thing_group(thingGroupName="paging-parent")["thingGroupArn"]
    for name in names[:3]:
        iot.attach_policy(policyName=name, target=parent)
    for name in names[3:5]:
        iot.attach_policy(policyName=name, target=child)
    assert [p["policyName"] for p in flat(by_hand(iot.list_attached_policies, "policies", "marker", "nextMarker", target=child))] \
        == sorted(names[3:5])
    pages = by_hand(iot.list_attached_policies, "policies", "marker", "nextMarker", target=child, recursive=True, pageSize=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [p["policyName"] for p in flat(pages)] == sorted(names[:5])

    iot_page_size_limits(raw.list_attached_policies, "pageSize", target=cert)
    marker = iot.list_attached_policies(target=cert, pageSize=1)["nextMarker"]
    iot_bad_tokens(iot.list_attached_policies, "marker", marker, target=other_cert)  # another target
    recursive_marker = iot.list_attached_policies(target=child, recursive=True, pageSize=1)["nextMarker"]
    iot_bad_tokens(iot.list_attached_policies, "marker", recursive_marker, target=child)


def test_list_targets_for_policy(emu: Emulator) -> None:
    iot = client(emu, "iot", "ap-northeast-1")
    raw = client(emu, "iot", "ap-northeast-1", validate=False)
    certs = register_certificates("ap-northeast-1", 60)
    policy, other = make_policies(iot, 2)
    in_bulk(lambda arn: iot.attach_policy(policyName=policy, target=arn), certs)
    iot.attach_policy(policyName=other, target=certs[0])
    iot.attach_policy(policyName=other, target=certs[1])

    pages = by_hand(iot.list_targets_for_policy, "targets", "marker", "nextMarker", policyName=policy)
    assert [len(p) for p in pages] == [25, 25, 10]
    assert flat(pages) == sorted(certs)
    pages = by_paginator(iot, "list_targets_for_policy", "targets", policyName=policy, PaginationConfig={"PageSize": 250})
    assert [len(p) for p in pages] == [60]
    once(flat(pages), certs)

    iot_page_size_limits(raw.list_targets_for_policy, "pageSize", policyName=policy)
    marker = iot.list_targets_for_policy(policyName=policy, pageSize=1)["nextMarker"]
    iot_bad_tokens(iot.list_targets_for_policy, "marker", marker, policyName=other)


def test_list_thing_principals(emu: Emulator) -> None:
    iot = client(emu, "iot", "ap-northeast-2")
    raw = client(emu, "iot", "ap-northeast-2", validate=False)
    certs = register_certificates("ap-northeast-2", 60)
    iot.create_thing(thingName="paging-thing")
    iot.create_thing(thingName="other-thing")
    in_bulk(lambda arn: iot.attach_thing_principal(thingName="paging-thing", principal=arn), certs)
    iot.attach_thing_principal(thingName="other-thing", principal=certs[0])
    iot.attach_thing_principal(thingName="other-thing", principal=certs[1])

    pages = by_hand(iot.list_thing_principals, "principals", "nextToken", "nextToken", thingName="paging-thing")
    assert [len(p) for p in pages] == [25, 25, 10]
    assert flat(pages) == sorted(certs)
    pages = by_paginator(iot, "list_thing_principals", "principals", thingName="paging-thing", PaginationConfig={"PageSize": 13})
    assert [len(p) for p in pages] == sizes(60, 13)
    once(flat(pages), certs)

    iot_page_size_limits(raw.list_thing_principals, "maxResults", thingName="paging-thing")
    token = iot.list_thing_principals(thingName="paging-thing", maxResults=1)["nextToken"]
    iot_bad_tokens(iot.list_thing_principals, "nextToken", token, thingName="other-thing")


def test_list_principal_things(emu: Emulator) -> None:
    iot = client(emu, "iot", "ap-southeast-1")
    raw = client(emu, "iot", "ap-southeast-1", validate=False)
    cert, other_cert = register_certificates("ap-southeast-1", 2)
    things = [unique("thing") for _ in range(60)]
    in_bulk(lambda name: iot.create_thing(thingName=name), things)
    in_bulk(lambda name: iot.attach_thing_principal(thingName=name, principal=cert), things)
    iot.attach_thing_principal(thingName=things[0], principal=other_cert)
    iot.attach_thing_principal(thingName=things[1], principal=other_cert)

    pages = by_hand(iot.list_principal_things, "things", "nextToken", "nextToken", principal=cert)
    assert [len(p) for p in pages] == [25, 25, 10]
    assert flat(pages) == sorted(things)
    pages = by_paginator(iot, "list_principal_things", "things", principal=cert, PaginationConfig={"PageSize": 250})
    assert [len(p) for p in pages] == [60]
    once(flat(pages), things)

    iot_page_size_limits(raw.list_principal_things, "maxResults", principal=cert)
    token = iot.list_principal_things(principal=cert, maxResults=1)["nextToken"]
    iot_bad_tokens(iot.list_principal_things, "nextToken", token, principal=other_cert)


# --------------------------------------------------------------------------
# IAM
# --------------------------------------------------------------------------


def iam_bad_markers(call: Callable[..., Any], other_marker: str, **kwargs: Any) -> None:
    for marker in ("0", "not-a-marker", other_marker):
        assert refused(call, **kwargs, Marker=marker) == (400, "ValidationError", "Invalid Marker."), marker
    status, code, message = refused(call, **kwargs, Marker="x" * 321)
    assert (status, code) == (400, "ValidationError") and "less than or equal to 320" in message


def test_list_roles_pages_of_100(emu: Emulator) -> None:
    iam = client(emu, "iam", "us-east-1")
    raw = client(emu, "iam", "us-east-1", validate=False)
    from moto.iam.models import iam_backends

    names = [unique("paging-role") for _ in range(230)]
    for name in names:  # straight in the (in-process) backend
        iam_backends[DEFAULT_ACCOUNT]["global"].create_role(name, TRUST_POLICY, "/paging/", None, "", [], None)

    pages = by_hand(iam.list_roles, "Roles", "Marker", "Marker", PathPrefix="/paging/")
    assert [len(p) for p in pages] == [100, 100, 30]
    listed = flat(pages)
    once([r["RoleName"] for r in listed], names)
    assert [r["RoleId"] for r in listed] == sorted(r["RoleId"] for r in listed)  # moto's order, kept
    # Without a prefix: every role of the account, once (others may exist), pages of 100.
    pages = by_hand(iam.list_roles, "Roles", "Marker", "Marker")
    assert all(len(p) == 100 for p in pages[:-1]) and len(pages[-1]) <= 100
    everyone = [r["RoleName"] for r in flat(pages)]
    assert len(everyone) == len(set(everyone)) and set(names) <= set(everyone)
    pages = by_paginator(iam, "list_roles", "Roles", PathPrefix="/paging/", PaginationConfig={"PageSize": 1000})
    assert [len(p) for p in pages] == [230]
    pages = by_paginator(iam, "list_roles", "Roles", PathPrefix="/paging/", PaginationConfig={"PageSize": 64})
    assert [len(p) for p in pages] == sizes(230, 64)

    status, code, message = refused(raw.list_roles, MaxItems=1001)
    assert (status, code) == (400, "ValidationError") and "less than or equal to 1000" in message
    assert refused(raw.list_roles, MaxItems=0)[:2] == (400, "ValidationError")
    # A marker of another prefix, and one of ListRolePolicies, belong to other listings.
    iam_bad_markers(iam.list_roles, iam.list_roles(MaxItems=1)["Marker"], PathPrefix="/paging/")
    iam.put_role_policy(RoleName=names[0], PolicyName="a", PolicyDocument=POLICY)
    iam.put_role_policy(RoleName=names[0], PolicyName="b", PolicyDocument=POLICY)
    iam_bad_markers(iam.list_roles, iam.list_role_policies(RoleName=names[0], MaxItems=1)["Marker"])

    # A role deleted between two pages shifts nothing (moto's position markers skipped one).
    first = iam.list_roles(PathPrefix="/paging/", MaxItems=100)
    seen = [r["RoleName"] for r in first["Roles"]]
    iam.delete_role_policy(RoleName=names[0], PolicyName="a")
    iam.delete_role_policy(RoleName=names[0], PolicyName="b")
    for name in seen[:5]:
        iam.delete_role(RoleName=name)
    rest = by_hand(iam.list_roles, "Roles", "Marker", "Marker", PathPrefix="/paging/", start=first["Marker"])
    once(seen + [r["RoleName"] for r in flat(rest)], names)


def test_list_role_policies(emu: Emulator) -> None:
    iam = client(emu, "iam", "us-east-1")
    raw = client(emu, "iam", "us-east-1", validate=False)
    role, other = unique("inline"), unique("inline")
    for name in (role, other):
        iam.create_role(RoleName=name, Path="/inline/", AssumeRolePolicyDocument=TRUST_POLICY)
    policies = [f"policy-{i:03d}" for i in range(120)]
    in_bulk(lambda p: iam.put_role_policy(RoleName=role, PolicyName=p, PolicyDocument=POLICY), policies)
    iam.put_role_policy(RoleName=other, PolicyName="x", PolicyDocument=POLICY)
    iam.put_role_policy(RoleName=other, PolicyName="y", PolicyDocument=POLICY)

    pages = by_hand(iam.list_role_policies, "PolicyNames", "Marker", "Marker", RoleName=role)
    assert [len(p) for p in pages] == [100, 20]
    assert flat(pages) == sorted(policies)
    pages = by_paginator(iam, "list_role_policies", "PolicyNames", RoleName=role, PaginationConfig={"PageSize": 50})
    assert [len(p) for p in pages] == [50, 50, 20]
    once(flat(pages), policies)
    assert iam.list_role_policies(RoleName=role, MaxItems=1000)["IsTruncated"] is False

    assert refused(raw.list_role_policies, RoleName=role, MaxItems=1001)[:2] == (400, "ValidationError")
    iam_bad_markers(iam.list_role_policies, iam.list_role_policies(RoleName=other, MaxItems=1)["Marker"], RoleName=role)
    assert refused(iam.list_role_policies, RoleName="no-such-role")[:2] == (404, "NoSuchEntity")


# --------------------------------------------------------------------------
# Secrets Manager
# --------------------------------------------------------------------------


def sm_bad_tokens(call: Callable[..., Any], other_token: str, **kwargs: Any) -> None:
    for token in ("0", "not a token", other_token):
        status, code, _ = refused(call, **kwargs, NextToken=token)
        assert (status, code) == (400, "InvalidNextTokenException"), token


def test_list_secrets_pages_of_100(emu: Emulator) -> None:
    sm = client(emu, "secretsmanager", "sa-east-1")
    raw = client(emu, "secretsmanager", "sa-east-1", validate=False)
    names = [f"paging/{i:03d}-{unique('s')}" for i in range(150)]
    in_bulk(lambda name: sm.create_secret(Name=name, SecretString="v"), names)

    pages = by_hand(sm.list_secrets, "SecretList", "NextToken", "NextToken")
    assert [len(p) for p in pages] == [100, 50]
    listed = flat(pages)
    once([s["Name"] for s in listed], names)
    keys = [(s["CreatedDate"], s["ARN"]) for s in listed]
    assert keys == sorted(keys)  # by CreatedDate, ascending
    pages = by_paginator(sm, "list_secrets", "SecretList", PaginationConfig={"PageSize": 40})
    assert [len(p) for p in pages] == [40, 40, 40, 30]
    once([s["Name"] for s in flat(pages)], names)
    by_name = flat(by_hand(sm.list_secrets, "SecretList", "NextToken", "NextToken", SortBy="name", SortOrder="desc", MaxResults=33))
    assert [s["Name"] for s in by_name] == sorted(names, reverse=True)

    # Filters and IncludePlannedDeletion pick the listing.
    sm.delete_secret(SecretId=names[0], RecoveryWindowInDays=7)
    once([s["Name"] for s in flat(by_hand(sm.list_secrets, "SecretList", "NextToken", "NextToken"))], names[1:])
    with_deleted = flat(by_hand(sm.list_secrets, "SecretList", "NextToken", "NextToken", IncludePlannedDeletion=True, MaxResults=7))
    once([s["Name"] for s in with_deleted], names)
    filtered = by_hand(sm.list_secrets, "SecretList", "NextToken", "NextToken", MaxResults=4,
                       Filters=[{"Key": "name", "Values": ["paging/01"]}])
    once([s["Name"] for s in flat(filtered)], [n for n in names if n.startswith("paging/01")])

    status, code, message = refused(raw.list_secrets, MaxResults=101)
    assert (status, code) == (400, "ValidationException") and "less than or equal to 100" in message
    assert refused(raw.list_secrets, MaxResults=0)[:2] == (400, "ValidationException")
    filtered_token = sm.list_secrets(MaxResults=1, Filters=[{"Key": "name", "Values": ["paging/"]}])["NextToken"]
    sm_bad_tokens(sm.list_secrets, filtered_token)
    sm_bad_tokens(sm.list_secrets, sm.list_secrets(MaxResults=1, SortOrder="desc")["NextToken"])


def test_list_secret_version_ids(emu: Emulator) -> None:
    sm = client(emu, "secretsmanager", "ca-central-1")
    raw = client(emu, "secretsmanager", "ca-central-1", validate=False)
    arn = sm.create_secret(Name=unique("versions"), SecretString="v0")["ARN"]
    labelled = [
        sm.put_secret_value(SecretId=arn, SecretString=f"v{i}", VersionStages=[f"L{i}"])["VersionId"]
        for i in range(110)
    ]
    current = sm.get_secret_value(SecretId=arn)["VersionId"]
    # Five more versions made current in turn: the older ones lose every label (deprecated).
    made = [sm.put_secret_value(SecretId=arn, SecretString=f"c{i}")["VersionId"] for i in range(5)]
    labelled_now = set(labelled) | set(made[-2:])  # AWSCURRENT and AWSPREVIOUS
    deprecated = {current} | set(made[:-2])

    pages = by_hand(sm.list_secret_version_ids, "Versions", "NextToken", "NextToken", SecretId=arn)
    assert [len(p) for p in pages] == [100, 12]
    once([v["VersionId"] for v in flat(pages)], labelled_now)
    pages = by_hand(sm.list_secret_version_ids, "Versions", "NextToken", "NextToken", SecretId=arn, IncludeDeprecated=True, MaxResults=50)
    assert [len(p) for p in pages] == [50, 50, 16]
    once([v["VersionId"] for v in flat(pages)], labelled_now | deprecated)
    pages = by_paginator(sm, "list_secret_version_ids", "Versions", SecretId=arn, PaginationConfig={"PageSize": 30})
    assert [len(p) for p in pages] == [30, 30, 30, 22]
    once([v["VersionId"] for v in flat(pages)], labelled_now)
    answer = sm.list_secret_version_ids(SecretId=arn, MaxResults=100, IncludeDeprecated=True)
    assert answer["ARN"] == arn and answer["NextToken"]
    last = sm.list_secret_version_ids(SecretId=arn, MaxResults=100, NextToken=answer["NextToken"], IncludeDeprecated=True)
    assert "NextToken" not in last  # moto answered "" on every call

    assert refused(raw.list_secret_version_ids, SecretId=arn, MaxResults=101)[:2] == (400, "ValidationException")
    other = sm.create_secret(Name=unique("versions"), SecretString="x")["ARN"]
    sm.put_secret_value(SecretId=other, SecretString="y", VersionStages=["X"])
    sm_bad_tokens(sm.list_secret_version_ids, sm.list_secret_version_ids(SecretId=other, MaxResults=1)["NextToken"], SecretId=arn)
    sm_bad_tokens(sm.list_secret_version_ids, answer["NextToken"], SecretId=arn)  # IncludeDeprecated differs
    sm_bad_tokens(sm.list_secrets, answer["NextToken"])
    # moto raised a KeyError (500) for a secret that does not exist.
    assert refused(sm.list_secret_version_ids, SecretId="no-such-secret")[1] == "ResourceNotFoundException"


# --------------------------------------------------------------------------
# EKS
# --------------------------------------------------------------------------


def eks_bad_tokens(call: Callable[..., Any], other_token: str, **kwargs: Any) -> None:
    for token in ("not-a-token", "QUJD", other_token):
        status, code, _ = refused(call, **kwargs, nextToken=token)
        assert (status, code) == (400, "InvalidParameterException"), token


def eks_size_limits(call: Callable[..., Any], **kwargs: Any) -> None:
    status, code, message = refused(call, **kwargs, maxResults=101)
    assert (status, code) == (400, "InvalidParameterException") and "less than or equal to 100" in message
    assert refused(call, **kwargs, maxResults=0)[:2] == (400, "InvalidParameterException")


def make_clusters(region: str, count: int) -> list[str]:
    """`count` EKS clusters, made straight in the (in-process) backend."""
    from moto.eks.models import Cluster, eks_backends

    backend = eks_backends[DEFAULT_ACCOUNT][region]
    names = [unique("cluster") for _ in range(count)]
    for name in names:
        backend.clusters[name] = Cluster(
            name=name,
            role_arn=f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/eks",
            resources_vpc_config={},
            account_id=DEFAULT_ACCOUNT,
            region_name=region,
            aws_partition="aws",
        )
    return names


def test_list_clusters_pages_of_100(emu: Emulator) -> None:
    eks = client(emu, "eks", "eu-central-1")
    raw = client(emu, "eks", "eu-central-1", validate=False)
    names = make_clusters("eu-central-1", 120)

    pages = by_hand(eks.list_clusters, "clusters", "nextToken", "nextToken")
    assert [len(p) for p in pages] == [100, 20]
    assert flat(pages) == sorted(names)
    pages = by_paginator(eks, "list_clusters", "clusters", PaginationConfig={"PageSize": 50})
    assert [len(p) for p in pages] == [50, 50, 20]
    once(flat(pages), names)

    # The cluster a position-or-name token would point at is deleted: paging goes on.
    first = eks.list_clusters(maxResults=10)
    eks.delete_cluster(name=sorted(names)[10])
    rest = by_hand(eks.list_clusters, "clusters", "nextToken", "nextToken", start=first["nextToken"])
    assert first["clusters"] + flat(rest) == sorted(names)[:10] + sorted(names)[11:]

    eks_size_limits(raw.list_clusters)
    other = client(emu, "eks", "eu-central-2")
    make_clusters("eu-central-2", 2)
    eks_bad_tokens(eks.list_clusters, other.list_clusters(maxResults=1)["nextToken"])


def test_list_pod_identity_associations_pages_of_100(emu: Emulator) -> None:
    eks = client(emu, "eks", "us-west-1")
    raw = client(emu, "eks", "us-west-1", validate=False)
    role = client(emu, "iam", "us-east-1").create_role(RoleName=unique("pia"), AssumeRolePolicyDocument=TRUST_POLICY)["Role"]["Arn"]
    cluster, other = make_clusters("us-west-1", 2)
    made = in_bulk(
        lambda i: eks.create_pod_identity_association(
            clusterName=cluster, namespace=f"ns{i % 2}", serviceAccount=f"sa{i:03d}", roleArn=role
        )["association"]["associationId"],
        range(120),
    )
    for i in range(2):
        eks.create_pod_identity_association(clusterName=other, namespace="ns0", serviceAccount=f"sa{i}", roleArn=role)

    pages = by_hand(eks.list_pod_identity_associations, "associations", "nextToken", "nextToken", clusterName=cluster)
    assert [len(p) for p in pages] == [100, 20]
    assert [a["associationId"] for a in flat(pages)] == sorted(made)
    pages = by_paginator(eks, "list_pod_identity_associations", "associations", clusterName=cluster, namespace="ns1",
                         PaginationConfig={"PageSize": 25})
    assert [len(p) for p in pages] == [25, 25, 10]
    once([a["associationId"] for a in flat(pages)], made[1::2])

    eks_size_limits(raw.list_pod_identity_associations, clusterName=cluster)
    other_token = eks.list_pod_identity_associations(clusterName=other, maxResults=1)["nextToken"]
    eks_bad_tokens(eks.list_pod_identity_associations, other_token, clusterName=cluster)
    filtered = eks.list_pod_identity_associations(clusterName=cluster, namespace="ns0", maxResults=1)["nextToken"]
    eks_bad_tokens(eks.list_pod_identity_associations, filtered, clusterName=cluster)
    # The IDs a token used to be are no tokens any more.
    eks_bad_tokens(eks.list_pod_identity_associations, sorted(made)[50], clusterName=cluster)


# --------------------------------------------------------------------------


def test_plain_moto_lists_certificates_in_one_page_oldest_first() -> None:
    """Without the extension, moto 5.2.5 answers ListCertificates as the module says."""
    plain = start_emulator({"MAESTRO_EMULATOR_DISABLE": "paging"})
    try:
        iot = client(plain, "iot", "us-east-1")
        arns = [
            iot.register_certificate_without_ca(certificatePem=pem, status="ACTIVE")["certificateArn"]
            for pem in certificate_pems(30)
        ]
        answer = iot.list_certificates(pageSize=10)
        assert [c["certificateArn"] for c in answer["certificates"]] == arns
        assert "nextMarker" not in answer
    finally:
        plain.stop()
