"""The machinery of the bad-input catalogue (tests/test_bad_input_catalogue.py): configuration
templates with one line per settable attribute, the key material bad CSRs are made of, the
CLI's JSON diagnostics, and the emulator's count of the AWS calls it served.

A template renders a complete, valid configuration from its good values. A case swaps exactly
one attribute (a provider-block argument, a resource or data-source attribute, a function
argument) for a bad value, written either as a literal (what `validate` sees) or through an
input variable given with `-var` (what only `plan` sees). Every templated line ends with the
marker `# case:<path>`, so a test can tell which line a diagnostic's source range must cover.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from . import hcl, settings
from .emulator import emulator_calls  # noqa: F401  (the catalogue counts calls through this module)

STS = "sts"

# ---------------------------------------------------------------- key material


@dataclass(frozen=True)
class Material:
    """A value made of generated keys (CSRs, certificates), built when first used: an RSA-4096
    key takes a while, and collecting the tests must stay quick."""
    name: str


@dataclass
class Made:
    value: str
    private_keys: list[str]


def _private_pem(key: Any) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _csr(key: Any, algorithm: hashes.HashAlgorithm | None = None, common_name: str = "bad-input-work-agent") -> Made:
    if algorithm is None and not isinstance(key, ed25519.Ed25519PrivateKey):
        algorithm = hashes.SHA256()
    built = x509.CertificateSigningRequestBuilder().subject_name(_name(common_name)).sign(key, algorithm)
    return Made(built.public_bytes(serialization.Encoding.PEM).decode(), [_private_pem(key)])


def _certificate(common_name: str, ca: bool) -> Made:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    built = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .sign(key, hashes.SHA256()))
    return Made(built.public_bytes(serialization.Encoding.PEM).decode(), [_private_pem(key)])


def _der(tag: int, content: bytes) -> bytes:
    """One DER TLV (definite length)."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _pem(label: str, der: bytes) -> str:
    body = base64.b64encode(der).decode()
    return f"-----BEGIN {label}-----\n" + "\n".join(body[i:i + 64] for i in range(0, len(body), 64)) + f"\n-----END {label}-----\n"


def _rsa_csr_signed_with_sha1() -> Made:
    """An RSA-2048 CSR correctly signed with sha1WithRSAEncryption. cryptography no longer signs
    requests with SHA-1, so the request info it built is signed here and the request assembled
    by hand: SEQUENCE { info, AlgorithmIdentifier { 1.2.840.113549.1.1.5, NULL }, BIT STRING }."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info = x509.load_pem_x509_csr(_csr(key).value.encode()).tbs_certrequest_bytes
    signature = key.sign(info, padding.PKCS1v15(), hashes.SHA1())
    sha1_with_rsa = _der(0x06, bytes([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05]))
    der = _der(0x30, info + _der(0x30, sha1_with_rsa + _der(0x05, b"")) + _der(0x03, b"\x00" + signature))
    return Made(_pem("CERTIFICATE REQUEST", der), [_private_pem(key)])


def _csr_with_broken_signature() -> Made:
    """A P-256 CSR whose subject was changed after signing: well-formed DER, a key IoT accepts,
    and a signature that no longer verifies (what a CSR corrupted in transit looks like)."""
    made = _csr(ec.generate_private_key(ec.SECP256R1()), common_name="bad-input-signed-agent")
    der = x509.load_pem_x509_csr(made.value.encode()).public_bytes(serialization.Encoding.DER)
    tampered = der.replace(b"bad-input-signed-agent", b"bad-input-forged-agent", 1)
    assert tampered != der and len(tampered) == len(der)
    return Made(_pem("CERTIFICATE REQUEST", tampered), made.private_keys)


MATERIAL_RECIPES: dict[str, Callable[[], Made]] = {
    "csr_p256": lambda: _csr(ec.generate_private_key(ec.SECP256R1())),
    "csr_p521": lambda: _csr(ec.generate_private_key(ec.SECP521R1()), hashes.SHA512()),
    "csr_secp256k1": lambda: _csr(ec.generate_private_key(ec.SECP256K1())),
    "csr_ed25519": lambda: _csr(ed25519.Ed25519PrivateKey.generate()),
    "csr_rsa1024": lambda: _csr(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
    "csr_rsa4096": lambda: _csr(rsa.generate_private_key(public_exponent=65537, key_size=4096)),
    "csr_rsa2048_sha1": _rsa_csr_signed_with_sha1,
    "csr_bad_signature": _csr_with_broken_signature,
    "certificate": lambda: _certificate("bad-input-work-agent", ca=False),
    "ca_certificate": lambda: _certificate("bad-input-broker-ca", ca=True),
}
_made: dict[str, Made] = {}


def made_private_keys() -> list[str]:
    """Every private key generated for Material so far (for scans outside a test's leak guard)."""
    return [key for made in _made.values() for key in made.private_keys]


def resolve(item: Any, register_secret: Callable[[str, str], None]) -> Any:
    """The value itself, with Material built (once per session) and its private keys handed to
    the leak guard: a CSR's key must appear nowhere, although nothing here ever writes it."""
    if not isinstance(item, Material):
        return item
    if item.name not in _made:
        _made[item.name] = MATERIAL_RECIPES[item.name]()
    made = _made[item.name]
    for key in made.private_keys:
        register_secret(key, f"private key behind {item.name}")
    return made.value


# ---------------------------------------------------------------- templates


def hcl_type(good: Any) -> str:
    """The type of the input variable a value of this kind arrives through."""
    if isinstance(good, bool):
        return "bool"
    if isinstance(good, (int, float)):
        return "number"
    if isinstance(good, (list, tuple)):
        return "list(string)"
    if isinstance(good, dict):
        return "map(string)"
    return "string"


def cli_var_value(item: Any) -> str:
    """How `-var name=VALUE` spells it: strings raw, everything else as an HCL literal."""
    return item if isinstance(item, str) else hcl.value(item)


def variable_name(path: str) -> str:
    return "in_" + re.sub(r"[^a-z0-9]+", "_", path.lower())


def marker(path: str) -> str:
    return f"# case:{path}"


def _body(expressions: dict[str, str], indent: str, prefix: str = "") -> list[str]:
    """`name = expr  # case:path` lines; dotted paths become nested blocks (`assume_role.role_arn`)."""
    order: list[str] = []
    nested: dict[str, dict[str, str]] = {}
    for path, expression in expressions.items():
        head, _, rest = path.partition(".")
        if rest:
            if head not in nested:
                nested[head] = {}
                order.append(head)
            nested[head][rest] = expression
        else:
            order.append(path)
    lines: list[str] = []
    for name in order:
        if name in nested:
            lines.append(f"{indent}{name} {{")
            lines += _body(nested[name], indent + "  ", f"{prefix}{name}.")
            lines.append(f"{indent}}}")
        else:
            lines.append(f"{indent}{name} = {expressions[name]}  {marker(prefix + name)}")
    return lines


@dataclass
class Template:
    """One configuration a case edits.

    kind: "provider" (the block is `provider "maestro"`), "resource", "data", "ephemeral" or
    "function" (the block is an output calling `provider::maestro::<type_name>`).
    fixed: HCL expressions no case changes (the `provider` meta-argument).
    good: every attribute any case changes, with a value that is right, in line order.
    refused_before_configure: a bad value is refused before the provider is configured, so even
    sts is never called (provider-block arguments, provider functions).
    plan_tolerated: an error a plan with good values may end in after the provider accepted
    every argument (the ephemeral bundle's secret does not exist).
    """
    name: str
    kind: str
    type_name: str
    preamble: str
    good: dict[str, Any]
    fixed: dict[str, str] = field(default_factory=dict)
    extra: str = ""
    refused_before_configure: bool = False
    plan_tolerated: str | None = None

    def resolved(self, register_secret: Callable[[str, str], None]) -> Template:
        """This template with its Material values built (see `resolve`)."""
        return dataclasses.replace(self, good={p: resolve(v, register_secret) for p, v in self.good.items()})

    def expressions(self, overrides: dict[str, str] | None = None, exclude: frozenset[str] = frozenset()) -> dict[str, str]:
        """Path → HCL expression: the good values, with `overrides` in their place. Paths in
        `exclude` are left out; an override of a path the good values lack is added (a second
        account guard next to the first)."""
        overrides = overrides or {}
        found = dict(self.fixed)
        for path, good in self.good.items():
            if path not in exclude:
                found[path] = overrides[path] if path in overrides else hcl.value(good)
        found.update({path: expr for path, expr in overrides.items() if path not in found})
        return found

    def render(self, overrides: dict[str, str] | None = None, variables: dict[str, str] | None = None,
               exclude: frozenset[str] = frozenset()) -> str:
        """The configuration with `overrides` (path → HCL expression) in place of the good
        values and `variables` (name → HCL type) declared."""
        declared = "".join(f'variable "{name}" {{\n  type = {type_}\n}}\n' for name, type_ in (variables or {}).items())
        return self.preamble + "\n" + self.block(self.expressions(overrides, exclude)) + self.extra + declared

    def block(self, expressions: dict[str, str], label: str = "bad") -> str:
        """The one block a case edits, labelled `label`; its marked lines are `# case:<path>`
        for the label "bad" and `# case:<label>:<path>` for any other (several in one file)."""
        tag = "" if label == "bad" else f"{label}:"
        if self.kind == "function":
            last = len(expressions) - 1
            arguments = [f"    {expr}{',' if i < last else ''}  {marker(tag + path)}"
                         for i, (path, expr) in enumerate(expressions.items())]
            name = "value" if label == "bad" else label
            return (f'output "{name}" {{\n  value = provider::maestro::{self.type_name}(\n'
                    + "\n".join(arguments) + "\n  )\n}\n")
        assert self.kind != "provider" or label == "bad", "provider blocks are not labelled"
        header = {"provider": 'provider "maestro"', "resource": f'resource "{self.type_name}" "{label}"',
                  "data": f'data "{self.type_name}" "{label}"',
                  "ephemeral": f'ephemeral "{self.type_name}" "{label}"'}[self.kind]
        return header + " {\n" + "\n".join(_body(expressions, "  ", tag)) + "\n}\n"

    def schema_block(self, schema: dict[str, Any]) -> dict[str, Any] | None:
        """This template's block in `providers schema -json`; None for functions."""
        provider = schema["provider_schemas"][settings.PROVIDER_SOURCE]
        if self.kind == "function":
            return None
        if self.kind == "provider":
            return provider["provider"]["block"]
        section = {"resource": "resource_schemas", "data": "data_source_schemas",
                   "ephemeral": "ephemeral_resource_schemas"}[self.kind]
        return provider.get(section, {}).get(self.type_name, {}).get("block")

    def is_sensitive(self, schema: dict[str, Any], path: str) -> bool:
        block = self.schema_block(schema)
        found = attribute_schema(block, path) if block is not None else None
        return bool(found and found.get("sensitive"))

    def missing(self, schema: dict[str, Any], paths: set[str]) -> frozenset[str]:
        """Which of `paths` this binary's schema lacks. Every one of them is a failure: a renamed
        or removed attribute must take its cases with it, never skip them."""
        if self.kind == "function":
            function = schema["provider_schemas"][settings.PROVIDER_SOURCE].get("functions", {}).get(self.type_name, {})
            parameters = function.get("parameters", []) + [function.get("variadic_parameter") or {}]
            names = {parameter.get("name") for parameter in parameters}
            return frozenset(p for p in paths if p not in names)
        block = self.schema_block(schema)
        return frozenset(p for p in paths if block is None or not has_attribute(block, p))


def attribute_schema(block: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The schema JSON of the attribute at `path` (dotted through nested blocks), if any."""
    head, _, rest = path.partition(".")
    if not rest:
        return block.get("attributes", {}).get(head)
    nested = block.get("block_types", {}).get(head)
    return attribute_schema(nested["block"], rest) if nested is not None else None


@dataclass
class Batch:
    """Several copies of a template's block in one configuration, each with one bad value, for
    one `validate` run: the diagnostics of every copy, and the line span each copy occupies."""
    config: str
    spans: dict[str, tuple[int, int]]      # label → (first line, last line)

    def line(self, label: str, path: str) -> int:
        return line_of(self.config, f"{label}:{path}")

    def diagnostics_of(self, label: str, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
        """Those within the label's block, and those with no source range at all (which
        could be anyone's, so every case sees them)."""
        first, last = self.spans[label]
        return [d for d in diagnostics if d.start_line is None or (first <= d.start_line and (d.end_line or 0) <= last)]


def batch(template: Template, overrides_by_label: dict[str, dict[str, str]], exclude: frozenset[str]) -> Batch:
    """`template`'s preamble and one block per label (a resource, data source, ephemeral
    resource or function call each; unreferenced provider blocks are not validated, so provider
    cases run one by one)."""
    assert template.kind != "provider"
    config = template.preamble + "\n"
    spans = {}
    for label, overrides in overrides_by_label.items():
        first = config.count("\n") + 1
        config += template.block(template.expressions(overrides, exclude), label)
        spans[label] = (first, config.count("\n"))
    return Batch(config, spans)


def has_attribute(block: dict[str, Any], path: str) -> bool:
    return attribute_schema(block, path) is not None


def line_of(config: str, path: str) -> int:
    """1-based number of the line that sets `path`."""
    hits = [n for n, text in enumerate(config.splitlines(), start=1) if text.rstrip().endswith(marker(path))]
    assert len(hits) == 1, f"expected one line marked {marker(path)!r}, found {hits}:\n{config}"
    return hits[0]


# ---------------------------------------------------------------- diagnostics


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    summary: str
    detail: str
    start_line: int | None
    end_line: int | None
    code: str

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", f"{self.summary}: {self.detail}")

    def covers(self, line: int) -> bool:
        return self.start_line is not None and self.end_line is not None and self.start_line <= line <= self.end_line

    def describe(self) -> str:
        where = f"lines {self.start_line}-{self.end_line}" if self.start_line else "no source range"
        return f"[{self.severity}] {self.text} ({where})"

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Diagnostic:
        source = item.get("range") or {}
        return cls(item.get("severity", ""), item.get("summary", ""), item.get("detail", ""),
                   (source.get("start") or {}).get("line"), (source.get("end") or {}).get("line"),
                   (item.get("snippet") or {}).get("code", ""))


def validate_diagnostics(stdout: str) -> list[Diagnostic]:
    """The diagnostics of `validate -json` (one JSON document)."""
    return [Diagnostic.from_json(d) for d in json.loads(stdout).get("diagnostics", [])]


def streamed_diagnostics(stdout: str) -> list[Diagnostic]:
    """The diagnostics of `plan -json` (one JSON message per line)."""
    found = []
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if message.get("type") == "diagnostic":
            found.append(Diagnostic.from_json(message["diagnostic"]))
    return found


# ---------------------------------------------------------------- AWS calls




def split_sts(calls: Counter[str]) -> tuple[Counter[str], Counter[str]]:
    """(calls to sts, calls to every other service)."""
    sts = Counter({k: v for k, v in calls.items() if k.startswith(STS + ":")})
    return sts, Counter({k: v for k, v in calls.items() if not k.startswith(STS + ":")})
