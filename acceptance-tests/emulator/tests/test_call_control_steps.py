"""The ordered call trace and the step rules (maestro_emulator/call_control.py): every call in
arrival order with who made it and what it names (never a secret value), and a rule acting on
exactly the Nth matching call - an AWS-shaped error, a TCP reset, or a hold until released."""

from __future__ import annotations

import json
import threading
import time
from urllib.request import Request, urlopen

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from emulator_harness import MANAGEMENT_ACCOUNT, REGION, Emulator, make_role, unique
from test_emulator import error_of

# No SDK retries: each boto3 call here is exactly one HTTP request, so the trace can be counted.
ONE_ATTEMPT = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=30, connect_timeout=5)
CONNECTION_LOST = (ConnectionClosedError, EndpointConnectionError, ConnectionResetError)


def control(emulator: Emulator, path: str, method: str = "GET", body: dict | None = None, query: str = "") -> object:
    req = Request(emulator.endpoint + "/maestro-emulator/" + path + query, method=method,
                  data=json.dumps(body).encode() if body is not None else None,
                  headers={"Content-Type": "application/json"})
    with urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def client(emulator: Emulator, service: str, **credentials: str):  # type: ignore[no-untyped-def]
    creds = credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, endpoint_url=emulator.endpoint, region_name=REGION, config=ONE_ATTEMPT, **creds)


def csr_for(common_name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])).sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def in_background(call) -> tuple[threading.Thread, dict[str, object]]:  # type: ignore[no-untyped-def]
    """Runs `call` on a thread; the dict gets its "result" or its "error"."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except Exception as error:  # noqa: BLE001 - reported to the test
            outcome["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    return worker, outcome


def wait_until_held(emulator: Emulator) -> dict:
    for _ in range(200):
        held = [r["held"] for r in control(emulator, "call-rules") if r["held"]]  # type: ignore[union-attr]
        if held:
            return held[0]
        time.sleep(0.05)
    raise AssertionError("no call was held")


def calls_since(emulator: Emulator, since: int) -> list[dict]:
    return control(emulator, "call-trace", query=f"?since={since}")["calls"]  # type: ignore[index]


def trace_mark(emulator: Emulator) -> int:
    return control(emulator, "call-trace")["next"]  # type: ignore[index]


@pytest.fixture(autouse=True)
def no_rules_left(emulator: Emulator):
    yield
    control(emulator, "call-rules", "DELETE")


def test_trace_lists_calls_in_order_with_session_and_names_but_no_secret_value(emulator: Emulator) -> None:
    credentials = emulator.assume(f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:role/maestro-management", session="fm-key-session")
    secrets = client(emulator, "secretsmanager", **credentials)
    iam = client(emulator, "iam", **credentials)
    iot = client(emulator, "iot")
    name, role = unique("trace/secret"), unique("trace-role")
    marker = "-----BEGIN PRIVATE KEY----- trace-must-not-hold-this"
    csr_common_name = unique("trace-agent")

    start = trace_mark(emulator)
    secrets.create_secret(Name=name, SecretString=json.dumps({"privateKey": marker}))
    make_role(iam, role)
    iot.create_certificate_from_csr(certificateSigningRequest=csr_for(csr_common_name), setAsActive=True)
    calls = calls_since(emulator, start)

    assert [(c["service"], c["action"]) for c in calls] == [
        ("secretsmanager", "CreateSecret"), ("iam", "CreateRole"), ("iot", "CreateCertificateFromCsr")]
    assert [c["seq"] for c in calls] == sorted(c["seq"] for c in calls)
    create_secret, create_role, create_certificate = calls
    assert create_secret["account"] == MANAGEMENT_ACCOUNT and create_secret["session"] == "fm-key-session"
    assert create_secret["subject"] == f"Name={name}"
    assert create_role["subject"] == f"RoleName={role}" and create_role["session"] == "fm-key-session"
    # Base credentials: the default account, no assumed-role session.
    assert create_certificate["account"] == "123456789012" and create_certificate["session"] == ""
    assert create_certificate["subject"].startswith("POST /certificates")
    assert f"csr-cn={csr_common_name}" in create_certificate["subject"]
    assert all(c["status"] == 200 and c["clientPort"] > 0 and c["rule"] is None for c in calls)
    assert marker not in json.dumps(control(emulator, "call-trace"))

    control(emulator, "call-trace", "DELETE")
    assert calls_since(emulator, 0) == []


def test_fail_acts_on_the_nth_matching_call_only_and_after_lets_aws_act(emulator: Emulator) -> None:
    secrets = client(emulator, "secretsmanager")
    first, second, other = unique("nth/a"), unique("nth/b"), unique("nth/other")
    rule = control(emulator, "call-rules", "POST", {
        "service": "secretsmanager", "action": "CreateSecret", "subject": r"Name=nth/b", "nth": 1,
        "effect": "fail", "when": "after", "status": 500, "code": "InternalServiceError", "message": "lost"})
    start = trace_mark(emulator)
    secrets.create_secret(Name=first, SecretString="{}")     # does not match the subject
    with pytest.raises(ClientError) as err:
        secrets.create_secret(Name=second, SecretString="{}")  # the 1st match: moto acts, the answer is lost
    assert error_of(err) == (500, "InternalServiceError", "lost")
    secrets.create_secret(Name=other, SecretString="{}")
    with pytest.raises(ClientError) as again:
        secrets.create_secret(Name=second, SecretString="{}")  # the rule acted once: AWS's own answer now
    assert error_of(again)[1] == "ResourceExistsException"
    assert secrets.describe_secret(SecretId=second)["Name"] == second

    calls = [c for c in calls_since(emulator, start) if c["action"] == "CreateSecret"]
    assert [(c["status"], c["rule"]) for c in calls] == [(200, None), (500, rule["id"]), (200, None), (400, None)]
    [listed] = control(emulator, "call-rules")  # type: ignore[misc]
    assert (listed["seen"], listed["fired"]) == (1, 1)


def test_fail_before_never_reaches_aws_and_counts_to_the_nth_call(emulator: Emulator) -> None:
    iam = client(emulator, "iam")
    roles = [unique("nth-role") for _ in range(3)]
    control(emulator, "call-rules", "POST", {"service": "iam", "action": "CreateRole", "nth": 2, "effect": "fail",
                                             "status": 400, "code": "Throttling", "message": "Rate exceeded"})
    make_role(iam, roles[0])
    with pytest.raises(ClientError) as err:
        make_role(iam, roles[1])
    assert error_of(err) == (400, "Throttling", "Rate exceeded")
    make_role(iam, roles[2])
    existing = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert roles[0] in existing and roles[2] in existing and roles[1] not in existing


def test_reset_after_aws_acted_drops_the_connection(emulator: Emulator) -> None:
    iot = client(emulator, "iot")
    thing = unique("reset-thing")
    control(emulator, "call-rules", "POST", {"service": "iot", "action": "CreateThing", "subject": f"/things/{thing}$",
                                             "effect": "reset", "when": "after"})
    start = trace_mark(emulator)
    with pytest.raises(CONNECTION_LOST):
        iot.create_thing(thingName=thing)
    assert iot.describe_thing(thingName=thing)["thingName"] == thing, "the call did not take effect"
    [call] = [c for c in calls_since(emulator, start) if c["action"] == "CreateThing"]
    assert call["status"] == "reset"
    # The server is unharmed: the next call on a new connection is answered.
    assert iot.describe_thing(thingName=thing)["thingName"] == thing


def test_hold_keeps_the_call_in_flight_until_released(emulator: Emulator) -> None:
    iam = client(emulator, "iam")
    held_role, reset_role = unique("held-role"), unique("held-reset-role")
    rule = control(emulator, "call-rules", "POST", {"service": "iam", "action": "CreateRole", "subject": f"RoleName={held_role}$",
                                                    "effect": "hold", "when": "before"})
    worker, outcome = in_background(lambda: make_role(iam, held_role))
    held = wait_until_held(emulator)
    assert held["clientPort"] > 0
    [call] = [c for c in calls_since(emulator, held["seq"]) if c["seq"] == held["seq"]]
    assert call["status"] is None and call["rule"] == rule["id"]
    # Held before moto: the role does not exist yet.
    assert held_role not in {r["RoleName"] for r in client(emulator, "iam").list_roles()["Roles"]}
    assert control(emulator, "call-rules/release", "POST", {"id": rule["id"]}) == {"released": 1}
    worker.join(30)
    assert "result" in outcome, outcome
    assert held_role in {r["RoleName"] for r in iam.list_roles()["Roles"]}

    # Held after moto acted, then released as a reset: the role exists, the caller never learns it.
    control(emulator, "call-rules", "POST", {"service": "iam", "action": "CreateRole", "subject": f"RoleName={reset_role}$",
                                             "effect": "hold", "when": "after"})
    worker, outcome = in_background(lambda: make_role(iam, reset_role))
    wait_until_held(emulator)
    assert reset_role in {r["RoleName"] for r in client(emulator, "iam").list_roles()["Roles"]}
    control(emulator, "call-rules/release", "POST", {"then": "reset"})
    worker.join(30)
    assert isinstance(outcome.get("error"), CONNECTION_LOST), outcome


def test_a_hold_ends_by_itself_and_bad_rules_are_refused(emulator: Emulator) -> None:
    iam = client(emulator, "iam")
    role = unique("hold-timeout-role")
    control(emulator, "call-rules", "POST", {"service": "iam", "action": "CreateRole", "effect": "hold", "holdSeconds": 0.5})
    started = time.monotonic()
    make_role(iam, role)
    assert 0.4 < time.monotonic() - started < 20
    for bad in ({"service": "iam", "action": "CreateRole"},
                {"service": "iam", "action": "CreateRole", "effect": "explode"},
                {"service": "iam", "action": "CreateRole", "effect": "fail", "nth": 0},
                {"service": "iam", "action": "CreateRole", "effect": "fail", "subject": "("}):
        req = Request(emulator.endpoint + "/maestro-emulator/call-rules", method="POST", data=json.dumps(bad).encode())
        with pytest.raises(Exception) as refused:
            urlopen(req, timeout=10)
        assert getattr(refused.value, "code", None) == 400, bad
