"""Builds the Go programs the acceptance tests run beside the provider: the emulator's IoT Core
data plane (an MQTT broker) and `maestro-wire`, which runs Maestro's own MQTT clients
(open-cluster-management.io/sdk-go, from the Go module proxy).

Each is its own Go module in this repository with a committed go.sum, so the versions are pinned.
`go build` runs every time: Go's build cache (GOCACHE, outside the clone) makes an unchanged
rebuild take about a second, and a changed source can never be served stale.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from . import settings


class GoBuildError(RuntimeError):
    pass


def _source_digest(module_dir: Path) -> str:
    """A digest of the module's Go sources, go.mod and go.sum: part of the binary's name, so
    clones with different sources sharing one $TPM_CACHE never run each other's build."""
    digest = hashlib.sha256()
    for path in sorted(module_dir.rglob("*")):
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            digest.update(str(path.relative_to(module_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def build_go_binary(module_dir: Path, name: str, package: str = ".", log_path: Path | None = None) -> Path:
    """`go build` `package` of the module at `module_dir` into `$TPM_CACHE/bin/<name>-<digest>`."""
    out_dir = settings.tpm_cache() / "bin"
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / f"{name}-{_source_digest(module_dir)}"
    partial = out_dir / f"{binary.name}.partial-{os.getpid()}"
    # GOFLAGS=-mod=readonly: the committed go.mod/go.sum are the pin; a build must never
    # rewrite them. GOWORK=off: no go.work above the clone may change what is built.
    env = dict(os.environ, GOFLAGS="-mod=readonly", GOWORK="off", CGO_ENABLED="0")
    completed = subprocess.run(
        ["go", "build", "-trimpath", "-o", str(partial), package],
        cwd=module_dir, env=env, capture_output=True, text=True, check=False,
    )
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(completed.stdout + completed.stderr, encoding="utf-8")
    if completed.returncode != 0:
        raise GoBuildError(f"go build of {module_dir} ({package}) failed:\n{completed.stderr[-4000:]}")
    partial.replace(binary)
    return binary


EMULATOR_IOT_DATA_DIR = settings.ACCEPTANCE_DIR / "emulator" / "iot_data"
MAESTRO_WIRE_DIR = settings.ACCEPTANCE_DIR / "harness" / "maestro_wire"


def iot_data_broker() -> Path:
    """The emulator's IoT Core data plane (`emulator/iot_data`)."""
    return build_go_binary(EMULATOR_IOT_DATA_DIR, "maestro-iot-data-broker")


def maestro_wire() -> Path:
    """sdk-go's agent and source clients and the probe (`harness/maestro_wire`)."""
    return build_go_binary(MAESTRO_WIRE_DIR, "maestro-wire-sdk-go")
