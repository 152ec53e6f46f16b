"""ListSecretVersionIds reports when each version was created.

moto 5.2.5 answers every ListSecretVersionIds with the current time as each version's
CreatedDate, so a version made an hour ago looks brand new. In AWS, CreatedDate is the moment
the version was stored (the same date GetSecretValue returns for it), and import relies on it:
`maestro_server_identity` recovers when its key was made from the date of the bundle's version.
"""

from __future__ import annotations

import json
import time

from moto.secretsmanager.models import SecretsManagerBackend

_original = SecretsManagerBackend.list_secret_version_ids


def list_secret_version_ids(self: SecretsManagerBackend, secret_id: str) -> str:
    answer = json.loads(_original(self, secret_id))
    secret = self.secrets[secret_id]
    for version in answer.get("Versions", []):
        stored = secret.versions.get(version["VersionId"], {})
        version["CreatedDate"] = stored.get("createdate", int(time.time()))
    return json.dumps(answer)


def install() -> None:
    SecretsManagerBackend.list_secret_version_ids = list_secret_version_ids  # type: ignore[method-assign]
