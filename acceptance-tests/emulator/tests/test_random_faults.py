"""Random faults (`probability` with a `seed`, any service or action, or a list of them), the
emulator's way to throttle a share of all traffic for load tests, and how the listing counts the
re-sends of the requests such a fault failed (by the SDK's retry or by the caller itself)."""

from __future__ import annotations

import json
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from emulator_harness import REGION, Emulator, unique
from test_emulator import error_of

# What IAM answers when it throttles (query protocol, HTTP 400).
IAM_THROTTLING = {"status": 400, "code": "Throttling", "message": "Rate exceeded"}


def faults(emulator: Emulator, method: str = "GET", body: dict | None = None) -> object:
    req = Request(emulator.endpoint + "/maestro-emulator/faults", method=method,
                  data=json.dumps(body).encode() if body is not None else None,
                  headers={"Content-Type": "application/json"})
    with urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def client(emulator: Emulator, service: str, attempts: int):  # type: ignore[no-untyped-def]
    """A boto3 client that sends each call at most `attempts` times (standard retry mode: it
    retries throttling with backoff and says which attempt it is in `amz-sdk-request`)."""
    return boto3.client(service, endpoint_url=emulator.endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}))


def answer(err: ClientError) -> tuple[int, str, str]:
    """Status, code and message of a caught ClientError (error_of takes pytest's ExceptionInfo)."""
    return err.response["ResponseMetadata"]["HTTPStatusCode"], err.response["Error"]["Code"], err.response["Error"]["Message"]


def only_fault(emulator: Emulator) -> dict:
    listed = faults(emulator)
    assert isinstance(listed, list) and len(listed) == 1, listed
    return listed[0]


@pytest.fixture(autouse=True)
def no_faults_left(emulator: Emulator):
    yield
    faults(emulator, "DELETE")


def throttled_pattern(iam, calls: int) -> list[bool]:  # type: ignore[no-untyped-def]
    """Which of `calls` ListRoles calls (sent once each) were refused; checks each refusal's shape."""
    pattern = []
    for _ in range(calls):
        try:
            iam.list_roles()
            pattern.append(False)
        except ClientError as err:
            assert answer(err) == (400, "Throttling", "Rate exceeded")
            pattern.append(True)
        # Another operation of the same service: not matched, so it never draws.
        iam.list_users()
    return pattern


def test_random_fault_fails_its_share_of_the_matching_requests_and_repeats_with_its_seed(emulator: Emulator) -> None:
    iam = client(emulator, "iam", attempts=1)
    armed = faults(emulator, "POST", {"service": "iam", "action": "ListRoles", "probability": 0.3, "seed": 11,
                                      **IAM_THROTTLING})
    assert armed["count"] is None and armed["probability"] == 0.3 and armed["seed"] == 11  # type: ignore[index]
    first = throttled_pattern(iam, 200)
    listed = only_fault(emulator)
    failed = sum(first)
    # 200 draws at 0.3: 60 expected, standard deviation 6.5; the bounds are 4.6 deviations out.
    assert 30 <= failed <= 90, failed
    assert (listed["seen"], listed["fired"], listed["fired_by"]) == (200, failed, {"iam:ListRoles": failed})
    # The SDK sent nothing again. Each ListRoles is the same request as the one before, so the
    # next one after a failure counts as sending it again - by the caller, not by the SDK.
    assert (listed["retried"], listed["sdk_retried"]) == (failed - first[-1], 0)

    faults(emulator, "DELETE")
    faults(emulator, "POST", {"service": "iam", "action": "ListRoles", "probability": 0.3, "seed": 11, **IAM_THROTTLING})
    assert throttled_pattern(iam, 200) == first
    faults(emulator, "DELETE")
    faults(emulator, "POST", {"service": "iam", "action": "ListRoles", "probability": 0.3, "seed": 12, **IAM_THROTTLING})
    assert throttled_pattern(iam, 200) != first


def test_a_fault_can_match_any_service_or_a_list_and_a_random_one_can_be_capped(emulator: Emulator) -> None:
    iot, eks, iam, sts = (client(emulator, s, attempts=1) for s in ("iot", "eks", "iam", "sts"))
    faults(emulator, "POST", {"service": ["iot", "eks"], "action": "*", "probability": 1.0, "count": 3,
                              "status": 400, "code": "ThrottlingException", "message": "Rate exceeded"})
    iam.list_roles()  # another service: never drawn for
    refused = []
    for call in (eks.list_clusters, iot.list_things, iot.list_policies, iot.list_things, eks.list_clusters):
        try:
            call()
        except ClientError as err:
            refused.append(answer(err)[:2])
    assert refused == [(400, "ThrottlingException")] * 3
    listed = only_fault(emulator)
    assert (listed["seen"], listed["fired"], listed["count"]) == (3, 3, 0)
    assert listed["fired_by"] == {"eks:ListClusters": 1, "iot:ListThings": 1, "iot:ListPolicies": 1}

    faults(emulator, "DELETE")
    faults(emulator, "POST", {"service": "*", "action": ["GetCallerIdentity"], "count": 1, **IAM_THROTTLING})
    iam.list_roles()
    with pytest.raises(ClientError) as err:
        sts.get_caller_identity()
    assert error_of(err)[:2] == (400, "Throttling")
    assert only_fault(emulator)["fired_by"] == {"sts:GetCallerIdentity": 1}


def test_re_sends_of_failed_requests_are_counted_and_told_apart_from_the_sdks(emulator: Emulator) -> None:
    name = unique("secret")
    client(emulator, "secretsmanager", attempts=1).create_secret(Name=name, SecretString="not-a-key")
    patient = client(emulator, "secretsmanager", attempts=10)
    faults(emulator, "POST", {"service": "secretsmanager", "action": "GetSecretValue", "probability": 0.3, "seed": 5,
                              "status": 400, "code": "ThrottlingException", "message": "Rate exceeded"})
    for _ in range(30):
        # 0.3 ** 10 per call: the SDK's retries always get through in the end.
        assert patient.get_secret_value(SecretId=name)["SecretString"] == "not-a-key"
    listed = only_fault(emulator)
    assert listed["fired"] > 0, listed
    # Every refused request came again, as a retry of the SDK (attempt 2, 3, ...).
    assert listed["retried"] == listed["sdk_retried"] == listed["fired"], listed
    assert listed["retried_by"] == listed["fired_by"] == {"secretsmanager:GetSecretValue": listed["fired"]}
    assert listed["seen"] == 30 + listed["fired"]

    faults(emulator, "DELETE")
    impatient = client(emulator, "secretsmanager", attempts=1)
    faults(emulator, "POST", {"service": "secretsmanager", "action": "GetSecretValue", "count": 1,
                              "status": 400, "code": "ThrottlingException", "message": "Rate exceeded"})
    with pytest.raises(ClientError):
        impatient.get_secret_value(SecretId=name)
    assert (only_fault(emulator)["fired"], only_fault(emulator)["retried"]) == (1, 0)
    # Another request of the same operation is no re-send of the failed one.
    with pytest.raises(ClientError):
        impatient.get_secret_value(SecretId=unique("missing"))
    assert only_fault(emulator)["retried"] == 0
    # The caller's own second try of the same request, after the fault is used up: a re-send,
    # but not one the SDK made.
    impatient.get_secret_value(SecretId=name)
    listed = only_fault(emulator)
    assert (listed["fired"], listed["retried"], listed["sdk_retried"]) == (1, 1, 0), listed


@pytest.mark.parametrize("spec", [
    {"service": "iam", "action": "ListRoles", "probability": 0},
    {"service": "iam", "action": "ListRoles", "probability": 1.5},
    {"service": [], "action": "ListRoles", "probability": 0.5},
    {"service": "iam", "action": ["ListRoles", 3], "probability": 0.5},
    {"service": "iam", "action": "ListRoles", "probability": 0.5, "count": 0},
])
def test_bad_random_faults_are_refused(emulator: Emulator, spec: dict) -> None:
    with pytest.raises(HTTPError) as err:
        faults(emulator, "POST", spec)
    assert err.value.code == 400
    assert faults(emulator) == []
