"""Finds secret material in anything a tofu run leaves behind: state, plans, logs, output.

The provider's central promise is that private keys never reach Terraform state, plans or
logs. This module checks that promise after every acceptance test, over every artifact, in
the encodings a key can plausibly take on the way:
- PEM private-key armour of any kind (RSA, EC, ENCRYPTED, OPENSSH, plain PKCS#8);
- the agent certificate secret's JSON shape: a "privateKey" member with a non-empty value,
  also when that JSON is itself escaped inside another JSON string or log line;
- DER private keys (PKCS#1, SEC1, PKCS#8, encrypted PKCS#8) written as base64 (standard or
  URL-safe, possibly wrapped over lines or with escaped newlines), as hex, as a decimal byte
  list (a Rust `{:?}` of a Vec<u8>), or raw. Candidates are confirmed by parsing them with
  `cryptography`, so certificates and other base64 blobs do not raise false alarms;
- exact strings a test registers as secret (and their JSON-escaped form).

Findings name the file, a byte offset and the kind of match, never the matched text, so a
failing test cannot itself print the secret into CI logs.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import os
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_der_private_key

MIN_BASE64_RUN = 100
MIN_HEX_RUN = 120
MIN_KNOWN_SECRET_LENGTH = 8

PEM_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
# "privateKey": "x…", \"privateKey\":\"x…, privateKey: "x…, 'privateKey': 'x…  — but not an
# empty string or null, which carry nothing.
PRIVATE_KEY_MEMBER = re.compile(
    r"""(?<![A-Za-z0-9_])privateKey(?:\\*["'])?\s*[:=]\s*\\*["'](?!\\*["'])"""
)
# Base64 alphabet (both variants) plus the line breaks a wrapped or JSON-escaped body carries.
# Escaped line breaks may be escaped more than once (a PEM inside JSON inside a log string).
# The lookbehind starts a match only where a run begins, so the scan stays linear and short
# words never become match objects.
BASE64_RUN = re.compile(
    r"(?<![A-Za-z0-9+/_=-])(?:[A-Za-z0-9+/_=-]|\\+[nr]|\\+u000[aAdD]|\r|\n){%d,}" % MIN_BASE64_RUN
)
BASE64_SEPARATORS = re.compile(r"\\+[nr]|\\+u000[aAdD]|\r|\n")
HEX_RUN = re.compile(r"(?:[0-9a-fA-F]{2}){%d,}" % (MIN_HEX_RUN // 2))
BYTE_LIST = re.compile(r"\[(?:\s*\d{1,3}\s*,){40,}\s*\d{1,3}\s*\]")
# Raw DER: SEQUENCE, a length, then INTEGER 0 or 1 (the version every private-key form starts
# with) or, for long keys only, a nested SEQUENCE (encrypted PKCS#8 is never under 128 bytes;
# allowing it for short lengths would match every "0:0" in a log). Matched over latin-1 text.
RAW_DER_START = re.compile(
    r"0(?:\x82[\s\S]{2}|\x81[\s\S])(?:\x02\x01[\x00\x01]|0)|0[\x20-\x7f]\x02\x01[\x00\x01]"
)


@dataclass(frozen=True)
class LeakFinding:
    source: str
    offset: int
    kind: str

    def __str__(self) -> str:
        return f"{self.source}: byte offset {self.offset}: {self.kind}"


class LeakDetected(AssertionError):
    pass


def _der_length(header: bytes) -> int | None:
    """Total length (header + content) of the DER SEQUENCE starting `header`, if well formed."""
    if len(header) < 2 or header[0] != 0x30:
        return None
    first = header[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 3 or len(header) < 2 + count:
        return None
    return 2 + count + int.from_bytes(header[2:2 + count], "big")


def _looks_like_key_start(header: bytes) -> bool:
    if len(header) < 5 or header[0] != 0x30:
        return False
    first = header[1]
    body = 2 if first < 0x80 else 2 + (first & 0x7F)
    rest = header[body:body + 3]
    return rest[:1] == b"\x30" or rest in (b"\x02\x01\x00", b"\x02\x01\x01")


def is_der_private_key(candidate: bytes) -> bool:
    """True when `candidate` starts with a DER structure `cryptography` accepts as a private key."""
    total = _der_length(candidate[:6])
    if total is None or total > len(candidate) or total < 40:
        return False
    der = candidate[:total]
    try:
        load_der_private_key(der, password=None)
    except TypeError:
        return True  # parsed far enough to know it is an encrypted private key
    except UnsupportedAlgorithm:
        return True  # a well-formed key of an algorithm this build cannot use is still a key
    except ValueError:
        return False
    return True


def _b64decode(chars: str) -> bytes | None:
    chars = chars.replace("-", "+").replace("_", "/").rstrip("=")
    usable = len(chars) - len(chars) % 4
    remainder = chars[usable:]
    padded = chars[:usable] + (remainder + "=" * (4 - len(remainder)) if len(remainder) >= 2 else "")
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


class LeakScanner:
    def __init__(self, known_secrets: Iterable[str] = ()):
        self._known: list[tuple[str, list[str]]] = []
        for secret in known_secrets:
            self.register_secret(secret)

    def register_secret(self, secret: str, label: str | None = None) -> None:
        """Adds an exact value that must never appear. The label, not the value, is reported."""
        if len(secret) < MIN_KNOWN_SECRET_LENGTH:
            raise ValueError(f"a registered secret must have at least {MIN_KNOWN_SECRET_LENGTH} characters")
        label = label or f"registered secret #{len(self._known) + 1}"
        variants = {secret, json.dumps(secret)[1:-1], json.dumps(json.dumps(secret)[1:-1])[1:-1]}
        # Compare in the same latin-1 view the scanned bytes are decoded into.
        self._known.append((label, sorted(v.encode("utf-8").decode("latin-1") for v in variants)))

    # ---------------------------------------------------------------- scanning

    def scan_text(self, text: str | bytes, source: str) -> list[LeakFinding]:
        # latin-1 maps every byte to one character, so offsets are byte offsets and binary
        # content (zip members, raw DER) needs no special path.
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        else:
            text = text.encode("utf-8").decode("latin-1")
        findings: list[LeakFinding] = []
        findings += [LeakFinding(source, m.start(), "PEM private key header") for m in PEM_PRIVATE_KEY.finditer(text)]
        findings += [LeakFinding(source, m.start(), '"privateKey" member with a value')
                     for m in PRIVATE_KEY_MEMBER.finditer(text)]
        findings += self._scan_base64(text, source)
        findings += self._scan_hex(text, source)
        findings += self._scan_byte_lists(text, source)
        findings += self._scan_raw_der(text, source)
        for label, variants in self._known:
            for variant in variants:
                start = text.find(variant)
                while start != -1:
                    findings.append(LeakFinding(source, start, label))
                    start = text.find(variant, start + 1)
        return _dedupe(findings)

    def _scan_base64(self, text: str, source: str) -> list[LeakFinding]:
        findings = []
        for run in BASE64_RUN.finditer(text):
            raw = run.group(0)
            # Drop the line breaks, remembering where each unbroken piece started so a
            # position in the cleaned run maps back to a byte offset in the file.
            pieces: list[str] = []
            clean_starts: list[int] = []
            raw_starts: list[int] = []
            clean_length = 0
            index = 0
            for separator in BASE64_SEPARATORS.finditer(raw):
                if separator.start() > index:
                    clean_starts.append(clean_length)
                    raw_starts.append(index)
                    pieces.append(raw[index:separator.start()])
                    clean_length += separator.start() - index
                index = separator.end()
            if index < len(raw):
                clean_starts.append(clean_length)
                raw_starts.append(index)
                pieces.append(raw[index:])
                clean_length += len(raw) - index
            if clean_length < MIN_BASE64_RUN:
                continue
            cleaned = "".join(pieces)

            def file_offset(position: int) -> int:
                piece = bisect.bisect_right(clean_starts, position) - 1
                return run.start() + raw_starts[piece] + (position - clean_starts[piece])

            # Every DER key encodes to a leading "M" (0x30 = SEQUENCE); try each one as a start.
            start = cleaned.find("M")
            while start != -1:
                header = _b64decode(cleaned[start:start + 12])
                if header is not None and _looks_like_key_start(header):
                    total = _der_length(header)
                    if total is not None:
                        needed = -(-total // 3) * 4
                        decoded = _b64decode(cleaned[start:start + needed])
                        if decoded is not None and is_der_private_key(decoded):
                            findings.append(LeakFinding(source, file_offset(start), "base64 DER private key"))
                            start = cleaned.find("M", start + needed)
                            continue
                start = cleaned.find("M", start + 1)
        return findings

    def _scan_hex(self, text: str, source: str) -> list[LeakFinding]:
        findings = []
        for run in HEX_RUN.finditer(text):
            raw = run.group(0)
            for start in range(0, len(raw) - 10, 2):
                if raw[start:start + 2] != "30":
                    continue
                header = bytes.fromhex(raw[start:start + 12])
                if not _looks_like_key_start(header):
                    continue
                total = _der_length(header)
                if total is None or start + 2 * total > len(raw):
                    continue
                if is_der_private_key(bytes.fromhex(raw[start:start + 2 * total])):
                    findings.append(LeakFinding(source, run.start() + start, "hex DER private key"))
        return findings

    def _scan_byte_lists(self, text: str, source: str) -> list[LeakFinding]:
        findings = []
        for match in BYTE_LIST.finditer(text):
            numbers = [int(part) for part in match.group(0).strip("[]").split(",")]
            if any(number > 255 for number in numbers):
                continue
            data = bytes(numbers)
            for start in range(len(data)):
                if data[start] == 0x30 and _looks_like_key_start(data[start:start + 8]) and is_der_private_key(data[start:]):
                    findings.append(LeakFinding(source, match.start(), "byte-list DER private key"))
                    break
        return findings

    def _scan_raw_der(self, text: str, source: str) -> list[LeakFinding]:
        findings = []
        for match in RAW_DER_START.finditer(text):
            data = text[match.start():match.start() + 8192].encode("latin-1")
            if is_der_private_key(data):
                findings.append(LeakFinding(source, match.start(), "raw DER private key"))
        return findings

    # ---------------------------------------------------------------- files

    def scan_file(self, path: Path, label: str | None = None) -> list[LeakFinding]:
        label = label or str(path)
        if zipfile.is_zipfile(path):
            # Saved plans are zip archives; their state and config snapshots are compressed,
            # so a plain byte scan would see nothing.
            findings = []
            with zipfile.ZipFile(path) as archive:
                for member in archive.infolist():
                    if not member.is_dir():
                        findings += self.scan_text(archive.read(member), f"{label}!{member.filename}")
            return findings
        return self.scan_text(path.read_bytes(), label)

    def scan_tree(self, root: Path, skip_dirs: Iterable[str] = (".terraform/providers",)) -> list[LeakFinding]:
        skipped = {(root / skip).resolve() for skip in skip_dirs}
        findings: list[LeakFinding] = []
        for directory, subdirectories, files in os.walk(root):
            current = Path(directory)
            subdirectories[:] = sorted(d for d in subdirectories if (current / d).resolve() not in skipped)
            for name in sorted(files):
                path = current / name
                if path.is_symlink() or not path.is_file():
                    continue
                findings += self.scan_file(path)
        return findings


def _dedupe(findings: list[LeakFinding]) -> list[LeakFinding]:
    seen: set[tuple[str, int, str]] = set()
    unique = []
    for finding in sorted(findings, key=lambda f: (f.source, f.offset, f.kind)):
        key = (finding.source, finding.offset, finding.kind)
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique


def assert_no_leaks(findings: list[LeakFinding], context: str = "") -> None:
    if not findings:
        return
    shown = findings[:50]
    lines = [f"secret material found in {len(findings)} place(s){' ' + context if context else ''}:"]
    lines += [f"  {finding}" for finding in shown]
    if len(findings) > len(shown):
        lines.append(f"  ... and {len(findings) - len(shown)} more")
    raise LeakDetected("\n".join(lines))
