"""Runtime knobs of the emulator.

The IAM propagation delay is read from the environment on every request, so
the value a server was started with is honoured without any set-up call.  A
test may also change it while the server runs (``run_server.py`` exposes
``/maestro-emulator/config``); that override wins over the environment until
it is cleared, which lets one long-lived server run both "fast" tests and the
ones exercising the provider's retry loop.
"""

from __future__ import annotations

import os
import threading

IAM_PROPAGATION_ENV = "MAESTRO_EMULATOR_IAM_PROPAGATION_SECONDS"
# Comma-separated extension names to leave out (tests of plain moto only).
DISABLE_ENV = "MAESTRO_EMULATOR_DISABLE"

_lock = threading.Lock()
_override: float | None = None


def _parse_seconds(raw: str | None) -> float:
    if raw is None or raw.strip() == "":
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        # A typo in the environment must not take the whole emulator down;
        # treating it as "off" keeps ordinary tests running.
        return 0.0
    return value if value > 0 else 0.0


def disabled_extensions() -> set[str]:
    raw = os.environ.get(DISABLE_ENV, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def iam_propagation_seconds() -> float:
    """Seconds a new IAM role stays invisible to EKS (0 = feature off)."""
    with _lock:
        if _override is not None:
            return _override
    return _parse_seconds(os.environ.get(IAM_PROPAGATION_ENV))


def set_iam_propagation_seconds(value: float | None) -> None:
    """Override the environment value; ``None`` returns to the environment."""
    global _override
    with _lock:
        _override = None if value is None else max(float(value), 0.0)


def snapshot() -> dict[str, object]:
    with _lock:
        override = _override
    return {
        "iamPropagationSeconds": iam_propagation_seconds(),
        "iamPropagationOverride": override,
        "iamPropagationEnv": os.environ.get(IAM_PROPAGATION_ENV),
    }
