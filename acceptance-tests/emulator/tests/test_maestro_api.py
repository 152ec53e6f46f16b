"""Maestro's consumer REST API and the platform API's SigV4-checking API Gateway front, driven
over HTTP the way a client does: plain requests for Maestro, requests signed by botocore's
SigV4Auth (what awscurl and the AWS CLI use) for the gateway."""

from __future__ import annotations

import datetime
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from emulator_harness import DEFAULT_ACCOUNT, MANAGEMENT_ACCOUNT, REGION, unique

CONSUMERS = "/api/maestro/v1/consumers"
CLUSTERS = "/prod/api/v0/management_clusters"
CONTROL = "/maestro-emulator/maestro-api"


def call(base: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
         context: ssl.SSLContext | None = None) -> tuple[int, Any, dict[str, str]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            raw, status, got = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as refused:
        raw, status, got = refused.read(), refused.code, dict(refused.headers)
    return status, (json.loads(raw) if raw else None), got


def signed(base: str, method: str, path: str, credentials: dict[str, str], body: Any = None,
           region: str = REGION, service: str = "execute-api") -> tuple[int, Any, dict[str, str]]:
    data = json.dumps(body).encode() if body is not None else b""
    request = AWSRequest(method=method, url=base + path, data=data, headers={"Content-Type": "application/json"} if data else {})
    SigV4Auth(Credentials(credentials["aws_access_key_id"], credentials["aws_secret_access_key"],
                          credentials.get("aws_session_token")), service, region).add_auth(request)
    return call(base, method, path, body, headers=dict(request.headers.items()))


@pytest.fixture
def maestro(emulator):  # type: ignore[no-untyped-def]
    """The emulator's URL, with the Maestro API back to its defaults after the test."""
    call(emulator.endpoint, "DELETE", CONTROL)
    yield emulator.endpoint
    call(emulator.endpoint, "POST", CONTROL + "/config", {"bearerToken": None, "privilegedAccounts": [DEFAULT_ACCOUNT], "region": REGION})
    call(emulator.endpoint, "DELETE", CONTROL)


def test_consumers_are_created_read_patched_and_deleted_with_maestros_codes(maestro: str) -> None:
    name = unique("mc")
    status, created, headers = call(maestro, "POST", CONSUMERS, {"name": name, "labels": {"cluster_type": "management"}})
    assert status == 201 and headers["Content-Type"] == "application/json"
    assert created["kind"] == "Consumer" and created["name"] == name and created["labels"] == {"cluster_type": "management"}
    assert created["href"] == f"{CONSUMERS}/{created['id']}" and created["created_at"].endswith("Z")
    status, again, _ = call(maestro, "POST", CONSUMERS, {"name": name})
    assert status == 409 and again["code"] == "maestro-6" and again["kind"] == "Error" and again["reason"] == "This Consumer already exists"
    assert again["href"] == "/api/maestro/v1/errors/6" and again["id"] == "6"
    assert call(maestro, "GET", f"{CONSUMERS}/{created['id']}")[1] == created
    status, by_name, _ = call(maestro, "GET", f"{CONSUMERS}/{name}")
    assert status == 404 and by_name["code"] == "maestro-7" and name in by_name["reason"]
    status, patched, _ = call(maestro, "PATCH", f"{CONSUMERS}/{created['id']}", {"name": "renamed", "labels": {"env": "prod"}})
    assert status == 200 and patched["labels"] == {"env": "prod"} and patched["name"] == name
    status, cleared, _ = call(maestro, "PATCH", f"{CONSUMERS}/{created['id']}", {"labels": {}})
    assert status == 200 and "labels" not in cleared
    assert call(maestro, "DELETE", f"{CONSUMERS}/{created['id']}")[0] == 204
    assert call(maestro, "GET", f"{CONSUMERS}/{created['id']}")[0] == 404
    assert call(maestro, "DELETE", f"{CONSUMERS}/{created['id']}")[0] == 204, "Maestro answers 204 for a missing id"
    assert call(maestro, "PATCH", f"{CONSUMERS}/{created['id']}", {"labels": {}})[0] == 404
    assert call(maestro, "PUT", f"{CONSUMERS}/{created['id']}", {})[0] == 405


@pytest.mark.parametrize("body, status, code", [
    ({"name": "Rest_Cluster"}, 500, "maestro-9"),
    ({"name": "a" * 64}, 500, "maestro-9"),
    ({"name": "x", "id": "given"}, 400, "maestro-8"),
    ({"name": "x", "labels": {"n": 1}}, 400, "maestro-17"),
    ({"name": "nul-label", "labels": {"k": "a\u0000b"}}, 500, "maestro-9"),
])
def test_bad_consumers_are_refused_as_maestro_refuses_them(maestro: str, body: dict[str, Any], status: int, code: str) -> None:
    got, error, _ = call(maestro, "POST", CONSUMERS, body)
    assert (got, error["code"]) == (status, code), error


def test_malformed_json_is_400_maestro_17(maestro: str) -> None:
    request = urllib.request.Request(maestro + CONSUMERS, data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400 and json.loads(refused.value.read())["code"] == "maestro-17"


def test_lists_page_and_search_by_name(maestro: str) -> None:
    names = [unique("ls") for _ in range(3)]
    for name in names:
        call(maestro, "POST", CONSUMERS, {"name": name})
    status, first, _ = call(maestro, "GET", CONSUMERS + "?page=1&size=2")
    assert status == 200 and first["kind"] == "ConsumerList" and (first["page"], first["size"], first["total"]) == (1, 2, 3)
    second = call(maestro, "GET", CONSUMERS + "?page=2&size=2")[1]
    assert (second["size"], second["total"]) == (1, 3)
    assert {c["name"] for c in first["items"] + second["items"]} == set(names)
    assert call(maestro, "GET", CONSUMERS + "?page=99&size=1")[1]["items"] == []
    assert call(maestro, "GET", CONSUMERS + "?size=-1")[1]["size"] == 3
    found = call(maestro, "GET", CONSUMERS + "?search=" + urllib.request.quote(f"name = '{names[1]}'"))[1]
    assert [c["name"] for c in found["items"]] == [names[1]] and found["total"] == 1
    found = call(maestro, "GET", CONSUMERS + "?search=" + urllib.request.quote(f"name in ('{names[0]}','{names[2]}')"))[1]
    assert sorted(c["name"] for c in found["items"]) == sorted([names[0], names[2]])
    status, error, _ = call(maestro, "GET", CONSUMERS + "?search=" + urllib.request.quote("labels.env = 'prod'"))
    assert (status, error["code"]) == (400, "maestro-21")
    status, error, _ = call(maestro, "GET", CONSUMERS + "?search=" + urllib.request.quote("nosuchcolumn = 'x'"))
    assert (status, error["code"]) == (500, "maestro-9")
    status, error, _ = call(maestro, "GET", CONSUMERS + "?search=" + urllib.request.quote("name = "))
    assert (status, error["code"]) == (400, "maestro-21")


def test_a_consumer_with_work_cannot_be_deleted_until_the_agent_confirms_its_removal(maestro: str) -> None:
    name = unique("busy")
    consumer = call(maestro, "POST", CONSUMERS, {"name": name})[1]
    status, bundle, _ = call(maestro, "POST", CONTROL + "/resource-bundles", {"consumer_name": name})
    assert status == 201 and bundle["consumer_name"] == name
    status, error, _ = call(maestro, "DELETE", f"{CONSUMERS}/{consumer['id']}")
    assert (status, error["code"]) == (403, "maestro-4") and "fk_resources_consumers" in error["reason"]
    listed = call(maestro, "GET", "/api/maestro/v1/resource-bundles?search=" + urllib.request.quote(f"consumer_name = '{name}'"))[1]
    assert [b["id"] for b in listed["items"]] == [bundle["id"]]
    # A bundle DELETE is soft until the agent confirms: the consumer is still refused.
    assert call(maestro, "DELETE", f"/api/maestro/v1/resource-bundles/{bundle['id']}")[0] == 204
    assert call(maestro, "DELETE", f"{CONSUMERS}/{consumer['id']}")[0] == 403
    assert call(maestro, "DELETE", f"{CONTROL}/resource-bundles?consumer_name={name}")[1] == {"removed": 1}
    assert call(maestro, "DELETE", f"{CONSUMERS}/{consumer['id']}")[0] == 204
    status, error, _ = call(maestro, "POST", CONTROL + "/resource-bundles", {"consumer_name": name})
    assert (status, error["code"]) == (500, "maestro-9"), "work for an unregistered consumer is refused"


def test_a_configured_bearer_token_is_required(maestro: str) -> None:
    call(maestro, "POST", CONTROL + "/config", {"bearerToken": "s3cret"})
    status, error, _ = call(maestro, "GET", CONSUMERS)
    assert (status, error["code"]) == (401, "maestro-15")
    assert call(maestro, "GET", CONSUMERS, headers={"Authorization": "Bearer wrong"})[0] == 401
    assert call(maestro, "GET", CONSUMERS, headers={"Authorization": "Bearer s3cret"})[0] == 200
    seen = call(maestro, "GET", CONTROL)[1]["requests"]
    assert [r["status"] for r in seen] == [401, 401, 200] and "s3cret" not in json.dumps(seen)


def test_injected_faults_answer_the_next_requests_then_stop(maestro: str) -> None:
    call(maestro, "POST", CONTROL + "/faults", {"status": 503, "count": 2, "method": "GET"})
    call(maestro, "POST", CONTROL + "/faults", {"status": 429, "count": 1, "method": "POST"})
    assert [call(maestro, "GET", CONSUMERS)[0] for _ in range(3)] == [503, 503, 200]
    status, _, headers = call(maestro, "POST", CONSUMERS, {"name": unique("f")})
    assert status == 429 and headers["Retry-After"] == "1"
    assert call(maestro, "POST", CONSUMERS, {"name": unique("f")})[0] == 201
    call(maestro, "POST", CONTROL + "/faults", {"effect": "close", "count": 1})
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(maestro + CONSUMERS, timeout=10)
    assert call(maestro, "GET", CONSUMERS)[0] == 200


def test_tls_with_a_private_ca_verifies_only_with_that_ca(maestro: str) -> None:
    tls = call(maestro, "POST", CONTROL + "/tls")[1]
    assert tls["url"].startswith("https://127.0.0.1:") and "BEGIN CERTIFICATE" in tls["caPem"]
    assert call(maestro, "POST", CONTROL + "/tls")[1] == tls, "one listener"
    trusting = ssl.create_default_context(cadata=tls["caPem"])
    assert call(tls["url"], "POST", CONSUMERS, {"name": unique("tls")}, context=trusting)[0] == 201
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(tls["url"] + CONSUMERS, timeout=10, context=ssl.create_default_context())
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)


def test_the_gateway_serves_callers_signed_with_an_assumed_role_of_a_privileged_account(maestro: str, emulator) -> None:  # type: ignore[no-untyped-def]
    regional = emulator.assume(f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/platform", "gateway")
    name = unique("mgmt")
    status, created, _ = signed(maestro, "POST", CLUSTERS, regional, {"name": name, "labels": {"cluster_type": "management"}})
    assert status == 201 and created["name"] == name and created["kind"] == "Consumer"
    assert signed(maestro, "GET", f"{CLUSTERS}/{created['id']}", regional)[1] == created
    listed = signed(maestro, "GET", CLUSTERS + "?page=1&size=500", regional)[1]
    assert listed["kind"] == "ConsumerList" and name in [c["name"] for c in listed["items"]]
    status, conflict, _ = signed(maestro, "POST", CLUSTERS, regional, {"name": name})
    assert (status, conflict["code"], conflict["reason"]) == (502, "maestro-6", "This Consumer already exists")
    status, missing, _ = signed(maestro, "GET", f"{CLUSTERS}/nope", regional)
    assert (status, missing["code"]) == (404, "not-found")
    status, bad_name, _ = signed(maestro, "POST", CLUSTERS, regional, {"name": "Bad_Name"})
    assert (status, bad_name["code"]) == (502, "maestro-9")
    # Static keys moto knows sign too.
    assert signed(maestro, "GET", CLUSTERS, {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"})[0] == 200


def _refusal(result: tuple[int, Any, dict[str, str]]) -> tuple[int, str, str]:
    status, body, headers = result
    return status, headers.get("x-amzn-ErrorType", ""), body.get("message", "")


def test_the_gateway_refuses_unsigned_and_wrongly_signed_requests(maestro: str, emulator) -> None:  # type: ignore[no-untyped-def]
    regional = emulator.assume(f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/platform", "gateway")
    status, kind, message = _refusal(call(maestro, "POST", CLUSTERS, {"name": unique("u")}))
    assert (status, kind, message) == (403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    wrong_secret = dict(regional, aws_secret_access_key="not-the-secret")
    status, kind, message = _refusal(signed(maestro, "POST", CLUSTERS, wrong_secret, {"name": unique("w")}))
    assert (status, kind) == (403, "InvalidSignatureException") and message.startswith("The request signature we calculated does not match")
    wrong_token = dict(regional, aws_session_token="FQoGZXIvYXdzEBYaDnotthetoken")
    assert _refusal(signed(maestro, "GET", CLUSTERS, wrong_token)) == (403, "AccessDeniedException", "The security token included in the request is invalid.")
    no_token = {k: v for k, v in regional.items() if k != "aws_session_token"}
    assert _refusal(signed(maestro, "GET", CLUSTERS, no_token))[1] == "AccessDeniedException"
    unknown = {"aws_access_key_id": "AKIAUNKNOWNKEY000000", "aws_secret_access_key": "x"}
    assert _refusal(signed(maestro, "GET", CLUSTERS, unknown))[1] == "AccessDeniedException"
    status, kind, message = _refusal(signed(maestro, "GET", CLUSTERS, regional, region="eu-west-1"))
    assert (status, kind) == (403, "InvalidSignatureException") and "eu-west-1" in message
    status, kind, message = _refusal(signed(maestro, "GET", CLUSTERS, regional, service="iot"))
    assert (status, kind) == (403, "InvalidSignatureException") and "execute-api" in message
    # The platform API has no DELETE or PATCH: API Gateway has no route for them.
    assert _refusal(signed(maestro, "DELETE", f"{CLUSTERS}/x", regional))[1] == "MissingAuthenticationTokenException"
    assert call(maestro, "GET", CONTROL)[1]["consumers"] == [], "nothing refused reached Maestro"


def test_the_gateway_refuses_a_signature_older_than_15_minutes(maestro: str, emulator, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    regional = emulator.assume(f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/platform", "gateway")
    signed_at = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: signed_at)
    status, kind, message = _refusal(signed(maestro, "GET", CLUSTERS, regional))
    assert (status, kind) == (403, "InvalidSignatureException") and message.startswith("Signature expired: ")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: signed_at + datetime.timedelta(minutes=8))
    assert signed(maestro, "GET", CLUSTERS, regional)[0] == 200, "12 minutes of skew is accepted"


def test_the_platform_api_refuses_accounts_not_privileged(maestro: str, emulator) -> None:  # type: ignore[no-untyped-def]
    management = emulator.assume(f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:role/platform", "gateway")
    status, error, _ = signed(maestro, "POST", CLUSTERS, management, {"name": unique("np")})
    assert (status, error) == (403, {"kind": "Error", "code": "account-not-allowed", "reason": "account not allowed"})
    call(maestro, "POST", CONTROL + "/config", {"privilegedAccounts": [MANAGEMENT_ACCOUNT]})
    assert signed(maestro, "POST", CLUSTERS, management, {"name": unique("np")})[0] == 201
