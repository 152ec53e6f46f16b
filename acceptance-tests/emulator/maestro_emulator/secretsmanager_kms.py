"""DescribeSecret and ListSecrets omit KmsKeyId for a secret under the AWS-managed key.

Secrets Manager leaves KmsKeyId out of DescribeSecret (and ListSecrets) when the secret is
encrypted with the AWS-managed key aws/secretsmanager. moto 5.2.5 leaves it out only when the
secret was created naming that key's alias; a secret created without KmsKeyId (the usual case)
is answered with `"KmsKeyId": null`. SDKs read both as "no key", but a parser that does not is
told nothing by the emulator. The provider's custody check compares this field with the
configured key, so the emulator answers as AWS does.
"""

from __future__ import annotations

from typing import Any

from moto.secretsmanager.models import FakeSecret

_original = FakeSecret.to_dict


def to_dict(self: FakeSecret) -> dict[str, Any]:
    answer = _original(self)
    if answer.get("KmsKeyId") is None:
        answer.pop("KmsKeyId", None)
    return answer


def install() -> None:
    FakeSecret.to_dict = to_dict  # type: ignore[method-assign]
