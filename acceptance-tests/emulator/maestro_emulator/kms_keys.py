"""DescribeKey answers a key ARN or alias ARN of another account.

KMS lets a caller name a key of another account, by key ARN or alias ARN only, in DescribeKey
(and in the cryptographic operations Secrets Manager calls), when that key's key policy allows
it; a key ID or alias name always means a key of the caller's own account. moto 5.2.5 looks
every KeyId up in the caller's account, so an ARN of another account is answered
NotFoundException even when the key exists. Here a key or alias ARN naming another account is
looked up in that account's KMS (of the request's region: KMS keys are regional, and an ARN of
another region stays unknown to the region asked), with moto's NotFoundException shapes as KMS
documents them (`Key '<arn>' does not exist`, `Alias <arn> is not found.`). Key policies are
evaluated only as moto does (its own check after the lookup), not for cross-account grants.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.kms.responses import KmsResponse

_original: Callable[[KmsResponse], str] = KmsResponse.describe_key


def _owner_of(key_id: str, region: str) -> str | None:
    """The account a key or alias ARN of `region` names; None for IDs, names and other regions."""
    if not key_id.startswith("arn:"):
        return None
    parts = key_id.split(":", 5)
    if len(parts) != 6 or parts[2] != "kms" or parts[3] != region:
        return None
    if not (parts[5].startswith("key/") or parts[5].startswith("alias/")):
        return None
    return parts[4]


def describe_key(self: KmsResponse) -> Any:
    owner = _owner_of(self._get_param("KeyId") or "", self.region)
    if owner is None or owner == self.current_account:
        return _original(self)
    # The response's account selects the backend (kms_backend) and the ARNs in its messages.
    caller = self.current_account
    self.current_account = owner
    try:
        return _original(self)
    finally:
        self.current_account = caller


def install() -> None:
    KmsResponse.describe_key = describe_key  # type: ignore[method-assign]
