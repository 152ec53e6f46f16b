"""The files the Secrets Store CSI driver (AWS provider) would mount into a Maestro pod.

The deployed charts' SecretProviderClasses pick JSON keys out of Secrets Manager secrets
(jmesPath) and write each to a file under `/mnt/secrets-store`:

- agent (management account): the certificate secret's `certificate` → `certificate`,
  `privateKey` → `privateKey`, `caCert` → `ca.crt`; the config secret's `config` → `config.yaml`,
  `consumerName` → `consumerName`.
- server (regional account): `certificate`, `privateKey`, `caCert` → `ca.crt` and the config
  secret's `config` → `config.yaml` (its DB credentials are not needed on the wire).

The driver reads the AWSCURRENT version, and a missing key fails the whole mount (the pod never
starts), so a missing key fails here too: AssertionError naming the secret and the key.

The target directory must be OUTSIDE every tofu workspace: it holds a private key, and the leak
scanner walks workspace directories looking for exactly that. Pass a separate temporary
directory (e.g. `tmp_path / "mounts" / "agent"`, next to the workspaces, never inside one). The
directory is created fresh (it must not exist yet), mode 0700, every file 0600. config.yaml keeps
its `/mnt/secrets-store/...` paths as deployed; `maestro-wire --mount-path` maps them onto the
directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml  # PyYAML, installed with moto[server]: parses a SecretProviderClass's `objects` as the AWS provider does

MOUNT_PATH = "/mnt/secrets-store"

# (JSON key in the secret, file name under the mount), as each SecretProviderClass maps them.
AGENT_CERT_KEYS = (("certificate", "certificate"), ("privateKey", "privateKey"), ("caCert", "ca.crt"))
AGENT_CONFIG_KEYS = (("config", "config.yaml"), ("consumerName", "consumerName"))
SERVER_CERT_KEYS = AGENT_CERT_KEYS
SERVER_CONFIG_KEYS = (("config", "config.yaml"),)


def mount_agent_secrets(account: Any, cert_secret_id: str, config_secret_id: str, target_dir: Path,
                        guard: Any = None) -> Path:
    """Mount the agent's two secrets from `account` (a harness.aws_accounts.AwsAccount) into
    `target_dir`. With `guard` (anything with `register_secret(value, label)`) the private key is
    registered so the leak scan looks for it."""
    return _mount(account, ((cert_secret_id, AGENT_CERT_KEYS), (config_secret_id, AGENT_CONFIG_KEYS)),
                  Path(target_dir), guard, "agent")


def mount_server_secrets(account: Any, cert_secret_id: str, config_secret_id: str, target_dir: Path,
                         guard: Any = None) -> Path:
    """Mount the server's certificate and config secrets, as the server's SecretProviderClass."""
    return _mount(account, ((cert_secret_id, SERVER_CERT_KEYS), (config_secret_id, SERVER_CONFIG_KEYS)),
                  Path(target_dir), guard, "server")


def secret_provider_class_objects(spc: Mapping[str, Any], region: str | None = None) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """The (secret name, ((jmesPath path, objectAlias), ...)) entries of a SecretProviderClass
    manifest, checked the way the Secrets Store CSI driver's AWS provider reads it: kind and API
    version, `provider: aws`, Pod Identity, the region the secrets are in (when given), and
    `objects` as a YAML list of Secrets Manager objects with jmesPath mappings."""
    assert spc.get("apiVersion") == "secrets-store.csi.x-k8s.io/v1" and spc.get("kind") == "SecretProviderClass", \
        f"not a SecretProviderClass: {spc.get('apiVersion')} {spc.get('kind')}"
    spec = spc["spec"]
    assert spec.get("provider") == "aws", f"provider {spec.get('provider')!r}: the AWS provider mounts Secrets Manager secrets"
    parameters = spec["parameters"]
    assert parameters.get("usePodIdentity") == "true", "usePodIdentity must be the string \"true\" for EKS Pod Identity"
    if region is not None:
        assert parameters.get("region") == region, f"SecretProviderClass region {parameters.get('region')!r}, secrets are in {region!r}"
    entries = []
    for entry in yaml.safe_load(parameters["objects"]):
        assert entry.get("objectType") == "secretsmanager", entry
        aliases = tuple((m["path"], m["objectAlias"]) for m in entry["jmesPath"])
        entries.append((entry["objectName"], aliases))
    return tuple(entries)


def mount_secret_provider_class(account: Any, spc: Mapping[str, Any], target_dir: Path, guard: Any = None,
                                who: str = "pod", region: str | None = None) -> Path:
    """Mount every object of the SecretProviderClass manifest `spc` (a dict, e.g. a provider
    output's `kubernetes_manifests` entry decoded) from `account` into `target_dir`, as the CSI
    driver would: a secret it cannot read, or a key one lacks, fails the whole mount."""
    objects = secret_provider_class_objects(spc, region)
    return _mount(account, objects, Path(target_dir), guard, who)


def sync_external_secret(account: Any, external_secret: Mapping[str, Any], target_dir: Path, guard: Any = None,
                         who: str = "pod") -> Path:
    """What the External Secrets Operator makes of an ExternalSecret manifest (each `data` entry:
    the JSON key `remoteRef.property` of the Secrets Manager secret `remoteRef.key`, AWSCURRENT,
    into the Kubernetes Secret key `secretKey`), mounted as a Secret volume (one file per key)."""
    assert external_secret.get("apiVersion") == "external-secrets.io/v1" and external_secret.get("kind") == "ExternalSecret", \
        f"not an ExternalSecret: {external_secret.get('apiVersion')} {external_secret.get('kind')}"
    by_secret: dict[str, list[tuple[str, str]]] = {}
    for item in external_secret["spec"]["data"]:
        by_secret.setdefault(item["remoteRef"]["key"], []).append((item["remoteRef"]["property"], item["secretKey"]))
    objects = tuple((name, tuple(keys)) for name, keys in by_secret.items())
    return _mount(account, objects, Path(target_dir), guard, who)


def _mount(account: Any, objects: tuple[tuple[str, tuple[tuple[str, str], ...]], ...], target: Path,
           guard: Any, who: str) -> Path:
    _refuse_inside_workspace(target)
    # Everything is read and checked before anything is written: a failed mount leaves no files.
    files: dict[str, str] = {}
    for secret_id, keys in objects:
        document = _current_json(account, secret_id)
        for key, file_name in keys:
            assert key in document, (
                f"secret {secret_id} has no JSON key {key!r} (it has {sorted(document)}): the CSI driver "
                f"would fail the {who}'s mount")
            value = document[key]
            assert isinstance(value, str), (
                f"secret {secret_id} key {key!r} is {type(value).__name__}, not a string: the CSI driver "
                f"would fail the {who}'s mount")
            if key == "privateKey" and guard is not None:
                guard.register_secret(value, f"private key in {secret_id} (mounted for the {who})")
            files[file_name] = value
    target.parent.mkdir(parents=True, exist_ok=True)
    target.mkdir(mode=0o700)
    os.chmod(target, 0o700)  # whatever the umask
    for file_name, value in files.items():
        descriptor = os.open(target / file_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(value)
        os.chmod(target / file_name, 0o600)
    return target


def _current_json(account: Any, secret_id: str) -> dict[str, Any]:
    client = account.secretsmanager
    try:
        value = client.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
    except client.exceptions.ResourceNotFoundException:
        raise AssertionError(f"secret {secret_id} does not exist: the CSI driver would fail the mount") from None
    text = value.get("SecretString")
    assert text is not None, f"secret {secret_id} has no SecretString: the CSI driver's jmesPath needs JSON"
    try:
        document = json.loads(text)
    except ValueError as error:
        raise AssertionError(f"secret {secret_id} is not JSON ({error}): the CSI driver's jmesPath needs JSON") from None
    assert isinstance(document, dict), f"secret {secret_id} is JSON but not an object"
    return document


def _refuse_inside_workspace(target: Path) -> None:
    """A mount inside a tofu workspace would put a private key where the leak scan must find none."""
    for directory in [target.resolve(), *target.resolve().parents]:
        if not directory.is_dir():
            continue
        if (directory / ".terraform").exists() or (directory / "terraform.tfstate").exists() \
                or any(directory.glob("*.tf")):
            raise ValueError(f"{target} is inside the tofu workspace {directory}: mount the secrets outside it")
