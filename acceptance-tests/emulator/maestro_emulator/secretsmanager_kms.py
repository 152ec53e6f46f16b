"""DescribeSecret and ListSecrets omit KmsKeyId for a secret under the AWS-managed key.

Secrets Manager leaves KmsKeyId out of DescribeSecret (and ListSecrets) when the secret is
encrypted with the AWS-managed key aws/secretsmanager. moto 5.2.5 leaves it out only when the
secret was created naming that key's alias; a secret created without KmsKeyId (the usual case)
is answered with `"KmsKeyId": null`. SDKs read both as "no key", but a parser that does not is
told nothing by the emulator. The provider's custody check compares this field with the
configured key, so the emulator answers as AWS does.

Secrets Manager encrypts a secret value with the secret's KMS key when the value is stored
(CreateSecret or UpdateSecret with a value, PutSecretValue). moto 5.2.5 stores the value under
any KmsKeyId, even one no account has. Here the key must exist in KMS, in the secret's region
(KMS keys are regional), in the account the ID names (its own account for a key ID or an alias
name; the ARN's for a key or alias ARN, which is how another account's key is given), and be
enabled; otherwise the request fails with `EncryptionFailure` (400), the error Secrets Manager
documents for a KMS key it cannot encrypt with ("Check that the KMS key is available, enabled,
and not in an invalid state"). Key policies are not evaluated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.secretsmanager.exceptions import SecretsManagerClientError
from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend

_original = FakeSecret.to_dict


class EncryptionFailure(SecretsManagerClientError):
    def __init__(self, message: str):
        super().__init__("EncryptionFailure", message)


def _check_key(backend: SecretsManagerBackend, kms_key_id: str | None) -> None:
    """Raises EncryptionFailure unless `kms_key_id` names an enabled key KMS can use in the
    secret's region. None and the AWS-managed key's alias always can."""
    if not kms_key_id or kms_key_id == SecretsManagerBackend.DEFAULT_KMS_KEY_ALIAS:
        return
    from moto.kms.models import kms_backends  # noqa: PLC0415 - moto internals, loaded late

    account = backend.account_id
    if kms_key_id.startswith("arn:"):
        parts = kms_key_id.split(":", 5)
        if len(parts) < 6 or parts[2] != "kms" or parts[3] != backend.region_name:
            raise EncryptionFailure(f"Secrets Manager can't encrypt the secret value: Key '{kms_key_id}' does not exist in region {backend.region_name}")
        account = parts[4]
    kms = kms_backends[account][backend.region_name]
    try:
        key = kms.keys[kms.any_id_to_key_id(kms_key_id)]
    except (KeyError, TypeError, AttributeError):
        raise EncryptionFailure(f"Secrets Manager can't encrypt the secret value: Key '{kms_key_id}' does not exist") from None
    if key.key_state != "Enabled":
        raise EncryptionFailure(f"Secrets Manager can't encrypt the secret value: {key.arn} is {key.key_state.lower()}")


def _deleted(backend: SecretsManagerBackend, secret_id: str) -> bool:
    """A secret pending deletion: its own refusal (secretsmanager_deletion) comes first."""
    secret = backend.secrets.get(secret_id) if backend._is_valid_identifier(secret_id) else None
    return secret is not None and secret.is_deleted()


def _wrap_create(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_secret(self: SecretsManagerBackend, name: str, secret_string: str | None, secret_binary: str | None,
                      description: Any, tags: Any, kms_key_id: str | None, *args: Any, **kwargs: Any) -> Any:
        if (secret_string is not None or secret_binary is not None) and not _deleted(self, name):
            _check_key(self, kms_key_id)
        return original(self, name, secret_string, secret_binary, description, tags, kms_key_id, *args, **kwargs)

    return create_secret


def _wrap_update(original: Callable[..., Any]) -> Callable[..., Any]:
    def update_secret(self: SecretsManagerBackend, secret_id: str, secret_string: str | None = None,
                      secret_binary: str | None = None, client_request_token: str | None = None,
                      kms_key_id: str | None = None, description: str | None = None) -> Any:
        stores_value = secret_string is not None or secret_binary is not None
        if stores_value and secret_id in self.secrets and not _deleted(self, secret_id):
            _check_key(self, kms_key_id or self.secrets[secret_id].kms_key_id)
        return original(self, secret_id, secret_string, secret_binary, client_request_token, kms_key_id, description)

    return update_secret


def _wrap_put(original: Callable[..., Any]) -> Callable[..., Any]:
    def put_secret_value(self: SecretsManagerBackend, secret_id: str, *args: Any, **kwargs: Any) -> Any:
        if self._is_valid_identifier(secret_id) and not _deleted(self, secret_id):
            _check_key(self, getattr(self.secrets[secret_id], "kms_key_id", None))
        return original(self, secret_id, *args, **kwargs)

    return put_secret_value


def to_dict(self: FakeSecret) -> dict[str, Any]:
    answer = _original(self)
    if answer.get("KmsKeyId") is None:
        answer.pop("KmsKeyId", None)
    return answer


def install() -> None:
    FakeSecret.to_dict = to_dict  # type: ignore[method-assign]
    # Around what is installed already (secretsmanager_deletion's refusals), not moto's originals.
    SecretsManagerBackend.create_secret = _wrap_create(SecretsManagerBackend.create_secret)  # type: ignore[method-assign]
    SecretsManagerBackend.update_secret = _wrap_update(SecretsManagerBackend.update_secret)  # type: ignore[method-assign]
    SecretsManagerBackend.put_secret_value = _wrap_put(SecretsManagerBackend.put_secret_value)  # type: ignore[method-assign]
