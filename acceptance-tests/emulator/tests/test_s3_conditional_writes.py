"""S3 conditional writes as OpenTofu's `s3` backend uses them for its lock file
(`use_lockfile = true`): PutObject with `If-None-Match: *` stores the object only when none has
that name and answers 412 PreconditionFailed otherwise (S3 user guide, conditional requests);
of many such writes racing for one name exactly one succeeds. Deleting the object frees the name
again (the backend's unlock). moto 5.2.5 checks and writes in two steps on the server's threads:
on an idle machine 16 racers over 10 rounds never saw two winners, but a CI run on a loaded
machine did (round with two "stored"), so the emulator makes the check and the write one step
(maestro_emulator/s3_conditional_writes.py) and these tests keep it so."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from emulator_harness import Emulator, start_emulator, unique

RACERS = 16
ROUNDS = 10


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    server = start_emulator()
    yield server
    server.stop()


def put_if_absent(s3, bucket: str, key: str, body: str) -> str:
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), IfNoneMatch="*")
        return "stored"
    except ClientError as error:
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 412, error.response
        return error.response["Error"]["Code"]


def test_a_second_write_if_absent_is_refused_until_the_object_is_deleted(emulator: Emulator):
    s3 = emulator.client("s3")
    bucket = unique("locks")
    s3.create_bucket(Bucket=bucket)
    assert put_if_absent(s3, bucket, "state.tfstate.tflock", "first") == "stored"
    assert put_if_absent(s3, bucket, "state.tfstate.tflock", "second") == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="state.tfstate.tflock")["Body"].read() == b"first"
    # An unconditional write is not refused; an unlock deletes the object and frees the name.
    s3.put_object(Bucket=bucket, Key="state.tfstate", Body=b"{}")
    s3.put_object(Bucket=bucket, Key="state.tfstate", Body=b"{}")
    s3.delete_object(Bucket=bucket, Key="state.tfstate.tflock")
    assert put_if_absent(s3, bucket, "state.tfstate.tflock", "third") == "stored"


def test_of_racing_writes_if_absent_exactly_one_wins(emulator: Emulator):
    s3 = emulator.client("s3")
    bucket = unique("race")
    s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        for round_number in range(ROUNDS):
            key = f"round-{round_number}.tflock"
            outcomes = list(pool.map(lambda n, key=key: put_if_absent(s3, bucket, key, f"racer {n}"), range(RACERS)))
            assert outcomes.count("stored") == 1, f"round {round_number}: {outcomes}"
            winner = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
            assert winner.startswith("racer "), winner
