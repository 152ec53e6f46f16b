"""Extensions to moto 5.2.5 for terraform-provider-maestro's acceptance tests.

moto is the AWS emulator the acceptance tests run against, but it lacks or
gets wrong a few things our resources depend on.  Each submodule fixes one
gap by patching moto's backends/response classes in this process; nothing is
forked, so every other moto service keeps working unchanged at the same
endpoint.

Call :func:`install` once, before the first request is served (moto builds
its per-service Flask routing lazily on first use, so URL patterns added
before that are picked up).  ``run_server.py`` does this for you.
"""

from __future__ import annotations

import threading

from . import settings

SUPPORTED_MOTO_VERSION = "5.2.5"

_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Apply every extension.  Safe to call more than once."""
    global _installed
    with _install_lock:
        if _installed:
            return
        import moto

        # The patches reach into moto internals (method names, model
        # attributes, URL tables).  A different moto version may have moved
        # them, so refuse loudly instead of half-working.
        if moto.__version__ != SUPPORTED_MOTO_VERSION:
            raise RuntimeError(
                f"maestro_emulator targets moto {SUPPORTED_MOTO_VERSION}, "
                f"found {moto.__version__}"
            )

        from . import (
            eks_pod_identity,
            iam_documents,
            iot_certificates,
            iot_endpoint,
            iot_tags,
            iot_things,
            kms_keys,
            paging,
            s3_conditional_writes,
            secretsmanager_deletion,
            secretsmanager_kms,
            secretsmanager_tokens,
            secretsmanager_versions,
            sts_sessions,
        )

        extensions = {
            "eks_pod_identity": eks_pod_identity.install,
            "iam_documents": iam_documents.install,
            "iot_certificates": iot_certificates.install,
            "iot_endpoint": iot_endpoint.install,
            "iot_tags": iot_tags.install,
            "iot_things": iot_things.install,
            "kms_keys": kms_keys.install,
            "paging": paging.install,
            "s3_conditional_writes": s3_conditional_writes.install,
            "secretsmanager_deletion": secretsmanager_deletion.install,
            "secretsmanager_kms": secretsmanager_kms.install,
            "secretsmanager_tokens": secretsmanager_tokens.install,
            "secretsmanager_versions": secretsmanager_versions.install,
            "sts_sessions": sts_sessions.install,
        }
        # Switching one extension off lets a test prove that plain moto
        # really misbehaves (i.e. that the extension is still needed).
        disabled = settings.disabled_extensions()
        unknown = disabled - extensions.keys()
        if unknown:
            raise RuntimeError(f"unknown extensions in {settings.DISABLE_ENV}: {sorted(unknown)}")
        for name, apply in extensions.items():
            if name not in disabled:
                apply()
        _installed = True


__all__ = ["install", "settings", "SUPPORTED_MOTO_VERSION"]
