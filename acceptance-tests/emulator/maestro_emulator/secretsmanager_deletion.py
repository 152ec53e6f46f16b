"""A secret scheduled for deletion can be described, restored or deleted, not written.

In Secrets Manager a secret in its recovery window still exists (DescribeSecret shows its
DeletedDate) but refuses to be used: PutSecretValue, UpdateSecretVersionStage,
PutResourcePolicy and ReplicateSecretToRegions fail with InvalidRequestException ("You can't
perform this operation on the secret because it was marked for deletion."), and CreateSecret
of its name fails with InvalidRequestException ("You can't create this secret because a secret
with this name is already scheduled for deletion."). moto 5.2.5 refuses only GetSecretValue,
UpdateSecret and RotateSecret: it writes new versions, staging labels, policies and replicas
into a deleted secret, and answers CreateSecret of its name with ResourceExistsException, as
for a live one.

The provider must restore a deleted secret it owns before writing a key into it, and must never
write into (or restore) one it does not own; with moto's leniency a forgotten restore, or a
write into someone else's deleted secret, would pass unnoticed.
"""

from __future__ import annotations

from typing import Any, Callable

from moto.secretsmanager.exceptions import InvalidRequestException
from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend

MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion."
NAME_SCHEDULED_FOR_DELETION = (
    "You can't create this secret because a secret with this name is already scheduled for deletion."
)

# Operations that write to a secret; each takes the secret's ID (name or ARN) first.
_WRITES = ("put_secret_value", "update_secret_version_stage", "put_resource_policy", "replicate_secret_to_regions")


def _deleted(backend: SecretsManagerBackend, secret_id: str) -> bool:
    if not secret_id or secret_id not in backend.secrets:
        return False
    secret = backend.secrets[secret_id]
    return isinstance(secret, FakeSecret) and secret.is_deleted()


def _refusing(original: Callable[..., Any]) -> Callable[..., Any]:
    def write(self: SecretsManagerBackend, secret_id: str, *args: Any, **kwargs: Any) -> Any:
        if _deleted(self, secret_id):
            raise InvalidRequestException(MARKED_FOR_DELETION)
        return original(self, secret_id, *args, **kwargs)

    write.__name__ = original.__name__
    write.__doc__ = original.__doc__
    return write


def _create_refusing(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_secret(self: SecretsManagerBackend, name: str, *args: Any, **kwargs: Any) -> Any:
        if _deleted(self, name):
            raise InvalidRequestException(NAME_SCHEDULED_FOR_DELETION)
        return original(self, name, *args, **kwargs)

    return create_secret


def install() -> None:
    for name in _WRITES:
        setattr(SecretsManagerBackend, name, _refusing(getattr(SecretsManagerBackend, name)))
    SecretsManagerBackend.create_secret = _create_refusing(SecretsManagerBackend.create_secret)  # type: ignore[method-assign]
