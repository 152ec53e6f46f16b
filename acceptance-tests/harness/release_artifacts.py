"""Release artifacts as a user's `tofu init` sees them: scripts/release-local's output, a
filesystem mirror in the packed layout, and the hashes the dependency lock file records.

The packed layout is `HOST/NAMESPACE/TYPE/terraform-provider-TYPE_VERSION_OS_ARCH.zip`: the
registry's zip itself, unmodified, which is what `tofu providers mirror` produces for users
who install without network access.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import settings

RELEASE_LOCAL = settings.REPO_ROOT / "scripts" / "release-local"
REGISTRY_MANIFEST = {"version": 1, "metadata": {"protocol_versions": ["6.0"]}}


@dataclass
class ReleaseOutput:
    directory: Path
    version: str
    platform: str
    zip: Path
    manifest: Path
    sums: Path
    log: str

    @property
    def binary_name(self) -> str:
        return f"{settings.PROVIDER_BINARY_NAME}_v{self.version}"

    def sums_entries(self) -> dict[str, str]:
        """file name -> sha256 hex, from the SHA256SUMS file."""
        entries = {}
        for line in self.sums.read_text(encoding="utf-8").splitlines():
            match = re.fullmatch(r"([0-9a-f]{64})  (\S+)", line)
            if not match:
                raise AssertionError(f"malformed line in {self.sums.name}: {line!r}")
            entries[match.group(2)] = match.group(1)
        return entries


def release_local(out: Path, version: str, binary: Path | None = None, profile: str = "dev") -> ReleaseOutput:
    command = ["bash", str(RELEASE_LOCAL), "--profile", profile, "--version", version, "--out", str(out)]
    if binary is not None:
        command += ["--binary", str(binary)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=settings.REPO_ROOT)
    log = f"$ {' '.join(command)}\n--- stdout\n{completed.stdout}\n--- stderr\n{completed.stderr}"
    if completed.returncode != 0:
        raise AssertionError(f"release-local failed ({completed.returncode}):\n{log}")
    reported = dict(line.split("=", 1) for line in completed.stdout.splitlines() if "=" in line)
    platform = settings.target_platform()
    prefix = f"{settings.PROVIDER_BINARY_NAME}_{version}"
    expected = {"ZIP": out / f"{prefix}_{platform}.zip", "MANIFEST": out / f"{prefix}_manifest.json",
                "SHA256SUMS": out / f"{prefix}_SHA256SUMS"}
    for key, path in expected.items():
        if Path(reported.get(key, "")) != path:
            raise AssertionError(f"release-local reported {key}={reported.get(key)!r}, expected {path}\n{log}")
    return ReleaseOutput(out, version, platform, expected["ZIP"], expected["MANIFEST"], expected["SHA256SUMS"], log)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def h1_of_zip(path: Path) -> str:
    """The lock file's `h1:` hash of a provider zip, computed independently of tofu: Go's
    dirhash "Hash1" over the archive's files (sha256 of the sorted "<sha256>  <name>\\n" lines)."""
    lines = []
    with zipfile.ZipFile(path) as archive:
        for name in sorted(info.filename for info in archive.infolist() if not info.is_dir()):
            lines.append(f"{hashlib.sha256(archive.read(name)).hexdigest()}  {name}\n")
    return "h1:" + base64.b64encode(hashlib.sha256("".join(lines).encode()).digest()).decode()


class PackedMirror:
    """A filesystem mirror holding release zips as they are, plus a CLI config that installs
    only from it (no dev_overrides, no registry)."""

    def __init__(self, root: Path):
        self.root = root
        self.mirror_dir = root / "mirror"
        self.cli_config = root / "tofu.tfrc"

    @property
    def provider_dir(self) -> Path:
        return self.mirror_dir / settings.PROVIDER_HOST / settings.PROVIDER_NAMESPACE / settings.PROVIDER_TYPE

    def add(self, release_zip: Path) -> Path:
        self.provider_dir.mkdir(parents=True, exist_ok=True)
        destination = self.provider_dir / release_zip.name
        shutil.copy2(release_zip, destination)
        return destination

    def write_cli_config(self) -> Path:
        path = str(self.mirror_dir).replace("\\", "\\\\").replace('"', '\\"')
        self.cli_config.write_text(
            "provider_installation {\n"
            "  filesystem_mirror {\n"
            f"    path = \"{path}\"\n"
            "  }\n"
            "}\n",
            encoding="utf-8",
        )
        return self.cli_config


def lock_entry(lock_file: Path, source: str = settings.PROVIDER_SOURCE) -> dict:
    """version, constraints and hashes of one provider block of a .terraform.lock.hcl."""
    text = lock_file.read_text(encoding="utf-8")
    match = re.search(r'^provider "' + re.escape(source) + r'" \{\n(?P<body>.*?)^\}', text, re.MULTILINE | re.DOTALL)
    if not match:
        raise AssertionError(f"{lock_file} has no provider \"{source}\" block:\n{text}")
    body = match.group("body")
    version = re.search(r'^\s*version\s*=\s*"([^"]*)"', body, re.MULTILINE)
    constraints = re.search(r'^\s*constraints\s*=\s*"([^"]*)"', body, re.MULTILINE)
    hashes_block = re.search(r"^\s*hashes\s*=\s*\[(.*?)\]", body, re.MULTILINE | re.DOTALL)
    return {
        "version": version.group(1) if version else None,
        "constraints": constraints.group(1) if constraints else None,
        "hashes": re.findall(r'"([^"]+)"', hashes_block.group(1)) if hashes_block else [],
    }


def lock_file_text(version: str, constraints: str, hashes: list[str], source: str = settings.PROVIDER_SOURCE) -> str:
    """A lock file as a team commits it after installing from the registry."""
    rendered = "".join(f'    "{h}",\n' for h in hashes)
    return (f'provider "{source}" {{\n  version     = "{version}"\n  constraints = "{constraints}"\n'
            f"  hashes = [\n{rendered}  ]\n}}\n")
