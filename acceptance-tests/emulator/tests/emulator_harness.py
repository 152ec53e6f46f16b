"""Starts run_server.py as a real subprocess and offers small helpers.

The tests talk to the emulator over HTTP with boto3, the way the provider
and the acceptance harness do, so routing, serialisation and per-account
credentials are all exercised for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from urllib.request import Request, urlopen

import boto3

EMULATOR_DIR = Path(__file__).resolve().parent.parent
RUN_SERVER = EMULATOR_DIR / "run_server.py"
REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
MANAGEMENT_ACCOUNT = "987654321098"
STARTUP_TIMEOUT = 60.0


class Emulator:
    def __init__(self, proc: subprocess.Popen[str], endpoint: str, log: Path, iot_data: str | None = None):
        self.proc = proc
        self.endpoint = endpoint
        self.log = log
        # host:port of the IoT data-plane broker (the IOT-DATA line), if one was started.
        self.iot_data = iot_data

    def client(self, service: str, **credentials: str):  # type: ignore[no-untyped-def]
        creds = credentials or {
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION, **creds
        )

    def assume(self, role_arn: str, session: str = "pytest") -> dict[str, str]:
        out = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session)
        c = out["Credentials"]
        return {
            "aws_access_key_id": c["AccessKeyId"],
            "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"],
        }

    def config(self, **changes: object) -> dict[str, object]:
        data = json.dumps(changes).encode() if changes else None
        req = Request(
            self.endpoint + "/maestro-emulator/config",
            data=data,
            method="POST" if changes else "GET",
            headers={"Content-Type": "application/json"},
        )
        with urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.unlink(missing_ok=True)


def start_emulator(extra_env: dict[str, str] | None = None, extra_args: list[str] | None = None) -> Emulator:
    env = dict(os.environ)
    env.pop("MAESTRO_EMULATOR_IAM_PROPAGATION_SECONDS", None)
    env.pop("MAESTRO_EMULATOR_DISABLE", None)
    env.pop("MAESTRO_EMULATOR_IOT_DATA_BROKER", None)
    env.update(extra_env or {})
    # stderr goes to a file: werkzeug logs every request there, and an
    # undrained pipe would eventually block the server.
    log = Path(tempfile.mkstemp(prefix="maestro-emulator-", suffix=".log")[1])
    log_handle = log.open("w")
    proc = subprocess.Popen(
        [sys.executable, str(RUN_SERVER), "--host", "127.0.0.1", "--port", "0", *(extra_args or [])],
        stdout=subprocess.PIPE,
        stderr=log_handle,
        text=True,
        env=env,
    )
    log_handle.close()

    # readline() blocks; read on a thread so a hung start-up times out. An IOT-DATA line (the
    # broker's address, with --iot-data-broker) comes before READY.
    lines: list[str] = []

    def read_until_ready() -> None:
        for raw in proc.stdout:  # type: ignore[union-attr]
            lines.append(raw.strip())
            if raw.startswith("READY "):
                return

    reader = threading.Thread(target=read_until_ready, daemon=True)
    reader.start()
    reader.join(STARTUP_TIMEOUT)
    first = lines[-1] if lines else ""
    iot_data = next((line.split(" ", 1)[1] for line in lines if line.startswith("IOT-DATA ")), None)
    if not first.startswith("READY "):
        proc.kill()
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        text = log.read_text()
        log.unlink(missing_ok=True)
        raise RuntimeError(f"emulator did not start (got {first!r}); log:\n{text}")
    return Emulator(proc, first.split(" ", 1)[1], log, iot_data)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }
)


def make_role(iam, name: str | None = None) -> str:  # type: ignore[no-untyped-def]
    role = iam.create_role(
        RoleName=name or unique("role"), AssumeRolePolicyDocument=TRUST_POLICY
    )
    return role["Role"]["Arn"]


def make_cluster(eks, account: str = DEFAULT_ACCOUNT) -> str:  # type: ignore[no-untyped-def]
    name = unique("cluster")
    eks.create_cluster(
        name=name,
        roleArn=f"arn:aws:iam::{account}:role/eks-cluster",
        resourcesVpcConfig={},
    )
    return name
