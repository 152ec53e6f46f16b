"""The two emulated AWS accounts, reached the way the provider reaches them: sts:AssumeRole.

The emulator serves every account from one endpoint; credentials returned by AssumeRole for a
role ARN in account X act in account X. Test code therefore holds one boto3 session per account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

REGION = "us-east-1"
BASE_ACCESS_KEY_ID = "testing"
BASE_SECRET_ACCESS_KEY = "testing"

REGIONAL_ACCOUNT_ID = "123456789012"
REGIONAL_ROLE_ARN = f"arn:aws:iam::{REGIONAL_ACCOUNT_ID}:role/maestro-regional"
MANAGEMENT_ACCOUNT_ID = "987654321098"
MANAGEMENT_ROLE_ARN = f"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:role/maestro-management"

# Few, quick retries: the emulator is local, and a slow failure only hides the real error.
_CLIENT_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60)


class AccountMismatch(RuntimeError):
    pass


@dataclass
class AwsAccount:
    name: str
    account_id: str
    role_arn: str
    endpoint_url: str
    session: boto3.Session
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """A cached client for `service` in this account, pointed at the emulator."""
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service, endpoint_url=self.endpoint_url, region_name=REGION, config=_CLIENT_CONFIG
            )
        return self._clients[service]

    @property
    def iam(self) -> Any:
        return self.client("iam")

    @property
    def eks(self) -> Any:
        return self.client("eks")

    @property
    def secretsmanager(self) -> Any:
        return self.client("secretsmanager")


def base_session() -> boto3.Session:
    """The static test credentials every tofu command also gets through the environment."""
    return boto3.Session(
        aws_access_key_id=BASE_ACCESS_KEY_ID,
        aws_secret_access_key=BASE_SECRET_ACCESS_KEY,
        region_name=REGION,
    )


def assume_account(endpoint_url: str, name: str, role_arn: str, expected_account_id: str) -> AwsAccount:
    sts = base_session().client("sts", endpoint_url=endpoint_url, region_name=REGION, config=_CLIENT_CONFIG)
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=f"acceptance-{name}")["Credentials"]
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )
    account = AwsAccount(name, expected_account_id, role_arn, endpoint_url, session)
    # Guard the premise every test relies on: these credentials really act in that account.
    actual = account.client("sts").get_caller_identity()["Account"]
    if actual != expected_account_id:
        raise AccountMismatch(f"{role_arn} acts in account {actual}, expected {expected_account_id}")
    return account


def regional_account(endpoint_url: str) -> AwsAccount:
    return assume_account(endpoint_url, "regional", REGIONAL_ROLE_ARN, REGIONAL_ACCOUNT_ID)


def management_account(endpoint_url: str) -> AwsAccount:
    return assume_account(endpoint_url, "management", MANAGEMENT_ROLE_ARN, MANAGEMENT_ACCOUNT_ID)
