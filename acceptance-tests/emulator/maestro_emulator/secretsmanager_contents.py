"""What every secret holds at rest, for tests that must prove where a key was (never) written.

    GET /maestro-emulator/secretsmanager/contents
        {"secrets": [{"account", "region", "arn", "name", "scheduledForDeletion",
                      "replicaRegions": [...], "hasResourcePolicy", "kmsKeyId",
                      "versions": [{"versionId", "stages": [...], "secretString"?, "secretBinary"?}]}]}

Every secret of every account and region, with every version's value, including the secrets
scheduled for deletion (whose values GetSecretValue refuses to return) and the versions
without staging labels. A replica is listed once, as its primary's `replicaRegions` (it holds
the primary's versions). Answered before call counting and fault injection: it is not an AWS
call. The values are secret material: the caller keeps them in memory, never in a file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

PATH = "/maestro-emulator/secretsmanager/contents"


def snapshot() -> list[dict[str, Any]]:
    from moto.secretsmanager.models import FakeSecret, secretsmanager_backends  # noqa: PLC0415 - moto internals, loaded late

    found: list[dict[str, Any]] = []
    for account_id, regions in list(secretsmanager_backends.items()):
        for region, backend in list(regions.items()):
            for secret in list(dict.values(backend.secrets)):
                if not isinstance(secret, FakeSecret):
                    continue
                versions = []
                for version_id, version in list(secret.versions.items()):
                    entry: dict[str, Any] = {"versionId": version_id, "stages": list(version.get("version_stages") or [])}
                    if "secret_string" in version:
                        entry["secretString"] = version["secret_string"]
                    if "secret_binary" in version:
                        binary = version["secret_binary"]
                        entry["secretBinary"] = binary.decode("latin-1") if isinstance(binary, bytes) else binary
                    versions.append(entry)
                found.append({
                    "account": account_id,
                    "region": region,
                    "arn": secret.arn,
                    "name": secret.name,
                    "scheduledForDeletion": secret.is_deleted(),
                    "replicaRegions": [replica.region for replica in secret.replicas],
                    "hasResourcePolicy": secret.policy is not None,
                    "kmsKeyId": secret.kms_key_id,
                    "versions": versions,
                })
    return found


def wrap(inner: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware answering PATH (GET only) and passing everything else on."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return inner(environ, start_response)
        if environ.get("REQUEST_METHOD") != "GET":
            start_response("405 Method Not Allowed", [("Content-Type", "application/json"), ("Allow", "GET")])
            return [json.dumps({"message": "GET only"}).encode()]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"secrets": snapshot()}).encode()]

    return app
