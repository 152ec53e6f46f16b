"""A ClientRequestToken already used for a version with a value is never reused for other content.

In Secrets Manager the ClientRequestToken of CreateSecret, PutSecretValue and UpdateSecret
becomes the new version's VersionId, and versions are immutable: a request whose token names an
existing version is ignored when it carries the same SecretString/SecretBinary (the call is
idempotent) and fails with ResourceExistsException when it carries anything else ("you cannot
modify an existing version"). moto 5.2.5 does this for most versions, but treats a version that
carries AWSPENDING as writable: a second PutSecretValue with the same token and another value
silently replaces the value (and a repeat with the same value re-stages it). That is how moto
lets a rotation Lambda fill in the placeholder RotateSecret made; a placeholder has no value,
so it is left to moto here.

The provider derives the token of every version holding a private key from that key (its
custody proof), so a version's ID must keep naming the value it was made with.
"""

from __future__ import annotations

from typing import Any

from moto.secretsmanager.exceptions import ResourceExistsException
from moto.secretsmanager.models import ReplicaSecret, SecretsManagerBackend

_original = SecretsManagerBackend._check_with_existing_secrets_and_versions


def _check_with_existing_secrets_and_versions(
    self: SecretsManagerBackend,
    secret_name: str,
    client_request_token: str | None,
    secret_string: str | None,
    secret_binary: str | None,
    on_create: bool = False,
) -> Any:
    if client_request_token and secret_name in self.secrets:
        existing = self.secrets[secret_name]
        if not isinstance(existing, ReplicaSecret):
            version = existing.versions.get(client_request_token)
            if version is not None and ("secret_string" in version or "secret_binary" in version):
                if version.get("secret_string") == secret_string and version.get("secret_binary") == secret_binary:
                    return existing  # the same write again: ignored
                raise ResourceExistsException(
                    f"You can't use ClientRequestToken {client_request_token} because that value is "
                    f"already in use for a version of secret {existing.arn}."
                )
    return _original(self, secret_name, client_request_token, secret_string, secret_binary, on_create)


def install() -> None:
    SecretsManagerBackend._check_with_existing_secrets_and_versions = _check_with_existing_secrets_and_versions  # type: ignore[method-assign]
