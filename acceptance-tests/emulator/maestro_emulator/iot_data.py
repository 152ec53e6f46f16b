"""The control-plane side of the emulated AWS IoT Core data plane.

The data plane itself is an MQTT broker written in Go (``acceptance-tests/emulator/iot_data``,
built by ``harness/go_tools.iot_data_broker()``).  It authorises like IoT Core, but the
registry it authorises against - certificates, their status, attached policies and things -
lives in moto, in this process.  This module gives the broker what it needs:

    POST /maestro-emulator/iot-data/principal   {"certificatePem": "...", "serverName": "..."}
        -> {"found": true, "accountId", "region", "certificateId", "status",
            "policies": [{"policyName", "document"}], "things": [...]}   or {"found": false}
    GET  /maestro-emulator/iot-data
        -> {"address": "127.0.0.1:N", "caPem": "..."}   (404 when no broker runs)

``serverName`` is the TLS SNI host the client asked for.  DescribeEndpoint gives every
account/region its own ``<id>-ats.iot.<region>.amazonaws.com`` (see ``iot_endpoint``); a host
of that shape selects that one backend, so a certificate registered in another account is
unknown there, as with IoT Core.  No SNI, or a host that names no backend, searches them all.

It also makes the broker's TLS material (a CA made for this process and a server certificate
for every ``*.iot.<region>.amazonaws.com``) and runs the broker as a child process.

These endpoints are emulator-internal: the layer answering them sits in front of call counting
and fault injection, and they carry no SigV4 signature, so they are never counted or failed as
AWS calls.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PATH = "/maestro-emulator/iot-data"
PRINCIPAL_PATH = PATH + "/principal"
BROKER_ENV = "MAESTRO_EMULATOR_IOT_DATA_BROKER"
STARTUP_TIMEOUT = 30.0

# The regions the server certificate must cover even if botocore's endpoint data changes.
_REQUIRED_REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1")
_CHINA_REGIONS = ("cn-north-1", "cn-northwest-1")

# <id>-ats.iot.<region>.amazonaws.com (ATS) or <id>.iot.<region>.amazonaws.com (legacy), the
# shapes moto's FakeEndpoint and iot_endpoint produce; .com.cn in the China partition.
_DATA_ENDPOINT = re.compile(r"^([a-z0-9]+)(?:-ats)?\.iot\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


# --------------------------------------------------------------------------
# Principal lookup
# --------------------------------------------------------------------------


def _certificate_id(certificate_pem: str) -> str | None:
    """IoT's certificateId: lowercase hex SHA-256 of the DER certificate (``use_valid_cert``)."""
    try:
        cert = x509.load_pem_x509_certificate(certificate_pem.encode("utf-8"))
    except (ValueError, TypeError):
        return None
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _all_backends() -> list[Any]:
    from moto.iot.models import iot_backends  # noqa: PLC0415 - moto internals, loaded late

    # Snapshots: request threads may create backends while we iterate.  Reading the existing
    # ones only; a lookup must never create an account or region.
    return [backend for per_account in list(iot_backends.values()) for backend in list(per_account.values())]


def _endpoint_ident(backend: Any) -> str | None:
    """The identifier iot_endpoint gives the backend's DescribeEndpoint hosts."""
    ident = getattr(backend, "_maestro_endpoint_id", None)
    if ident is None:
        # A backend whose DescribeEndpoint was never called still has its host, when
        # iot_endpoint derives identifiers from the account and region.
        from . import iot_endpoint  # noqa: PLC0415

        derive = getattr(iot_endpoint, "endpoint_id", None)
        ident = derive(backend.account_id, backend.region_name) if derive else None
    return ident


def _backends_for(server_name: str) -> list[Any]:
    backends = _all_backends()
    match = _DATA_ENDPOINT.match(server_name.strip().rstrip(".").lower())
    if match:
        ident, region = match.groups()
        chosen = [b for b in backends if b.region_name == region and _endpoint_ident(b) == ident]
        if chosen:
            return chosen
    return backends


def _default_document(policy: Any) -> str:
    document: Any = policy.document
    for version in list(getattr(policy, "versions", [])):
        if version.version_id == policy.default_version_id:
            document = version.document
            break
    # Stored as the JSON text of the request; CloudFormation-made policies hold a dict.
    return document if isinstance(document, str) else json.dumps(document)


def principal(certificate_pem: str, server_name: str = "") -> dict[str, Any]:
    """What IoT Core's registry knows about a client certificate, at the endpoint ``server_name``."""
    cert_id = _certificate_id(certificate_pem)
    if cert_id is None:
        return {"found": False}
    # .get(): a certificate may be deleted by a request thread while we look.
    found = [(b, c) for b in _backends_for(server_name) if (c := b.certificates.get(cert_id)) is not None]
    if not found:
        return {"found": False}
    # The same certificate may be registered in several accounts (multi-account registration);
    # without an endpoint to tell them apart, an ACTIVE registration is the one that can connect.
    backend, cert = next(((b, c) for b, c in found if c.status == "ACTIVE"), found[0])
    policies = [
        {"policyName": policy.name, "document": _default_document(policy)}
        for (target, _), (_, policy) in list(backend.principal_policies.items())
        if target == cert.arn
    ]
    things = [thing for (target, thing) in list(backend.principal_things.keys()) if target == cert.arn]
    return {
        "found": True,
        "accountId": backend.account_id,
        "region": backend.region_name,
        "certificateId": cert.certificate_id,
        "status": cert.status,
        "policies": policies,
        "things": things,
    }


# --------------------------------------------------------------------------
# The broker's TLS material
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class TLSMaterial:
    ca_pem: str
    cert_file: Path
    key_file: Path


def _iot_regions() -> tuple[list[str], list[str]]:
    """(regions, China regions) with an IoT endpoint, as botocore knows them."""
    regions: set[str] = set(_REQUIRED_REGIONS)
    china: set[str] = set(_CHINA_REGIONS)
    try:
        import botocore.session  # noqa: PLC0415

        session = botocore.session.get_session()
        regions.update(session.get_available_regions("iot", partition_name="aws"))
        china.update(session.get_available_regions("iot", partition_name="aws-cn"))
    except Exception:  # noqa: BLE001 - the required regions are enough to work with
        pass
    return sorted(regions), sorted(china)


def server_names() -> list[str]:
    """DNS names of the server certificate.  A wildcard covers one label, and the ATS host is
    ``<id>-ats.iot.<region>.amazonaws.com``, so ``*.iot.<region>.amazonaws.com`` covers it."""
    regions, china = _iot_regions()
    return ([f"*.iot.{r}.amazonaws.com" for r in regions]
            + [f"*.iot.{r}.amazonaws.com.cn" for r in china] + ["localhost"])


def make_tls_material(directory: Path) -> TLSMaterial:
    """A CA for this process and a server certificate it signs, written to ``directory``."""
    now = datetime.now(timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "maestro emulator"),
        x509.NameAttribute(NameOID.COMMON_NAME, "maestro emulator IoT data-plane CA"),
    ])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names()]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "*.iot.us-east-1.amazonaws.com")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    cert_file = directory / "server.pem"
    key_file = directory / "server-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return TLSMaterial(ca_cert.public_bytes(serialization.Encoding.PEM).decode(), cert_file, key_file)


# --------------------------------------------------------------------------
# The broker process
# --------------------------------------------------------------------------


class BrokerError(RuntimeError):
    pass


class Broker:
    """The Go broker as a child process.  Its stdin is a pipe it reads to end of file, so it
    stops with the emulator even if the emulator dies without calling :meth:`stop`."""

    def __init__(self, binary: str, control_url: str):
        self.binary = binary
        self.control_url = control_url
        self.address = ""
        self.ca_pem = ""
        self._dir: str | None = None
        self._proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        self._dir = tempfile.mkdtemp(prefix="maestro-iot-data-")
        tls = make_tls_material(Path(self._dir))
        self.ca_pem = tls.ca_pem
        try:
            # stderr is the emulator's: the broker's log lands wherever the emulator's goes.
            self._proc = subprocess.Popen(
                [self.binary, "--listen", "127.0.0.1:0", "--tls-cert", str(tls.cert_file),
                 "--tls-key", str(tls.key_file), "--control", self.control_url],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )
        except OSError as err:
            self.stop()
            raise BrokerError(f"cannot run the IoT data-plane broker {self.binary}: {err}") from err
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self._proc.stdout.readline()),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        reader.join(timeout)
        first = line[0].strip() if line else ""
        if not first.startswith("LISTENING "):
            code = self._proc.poll()
            self.stop()
            raise BrokerError(f"the IoT data-plane broker did not start (exit {code}, said {first!r})")
        self.address = first.split(" ", 1)[1]
        # The broker read its key and certificate before listening; removing them now leaves
        # nothing behind even if this process is killed.
        self._remove_files()
        # Nothing else is expected on stdout, but an undrained pipe would block the broker.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        stdout = self._proc.stdout if self._proc else None
        if stdout is not None:
            for _ in stdout:
                pass

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                try:
                    proc.stdin.close()  # the broker's signal to stop
                except OSError:
                    pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._remove_files()

    def _remove_files(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


_broker_lock = threading.Lock()
_broker: Broker | None = None


def start_broker(binary: str, control_url: str) -> Broker:
    """Start the broker and make it the one ``GET /maestro-emulator/iot-data`` reports."""
    global _broker
    broker = Broker(binary, control_url)
    broker.start()
    with _broker_lock:
        _broker = broker
    return broker


def stop_broker() -> None:
    global _broker
    with _broker_lock:
        broker, _broker = _broker, None
    if broker is not None:
        broker.stop()


# --------------------------------------------------------------------------
# WSGI
# --------------------------------------------------------------------------


def _json(start_response: Any, status: str, payload: Any) -> Iterable[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _principal_request(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    if environ.get("REQUEST_METHOD") != "POST":
        return _json(start_response, "405 Method Not Allowed", {"message": "POST a certificatePem"})
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        pem = body["certificatePem"]
        server_name = body.get("serverName") or ""
        if not isinstance(pem, str) or not isinstance(server_name, str):
            raise TypeError("certificatePem and serverName must be strings")
    except (ValueError, KeyError, TypeError) as err:
        return _json(start_response, "400 Bad Request", {"message": f"bad principal request: {err!r}"})
    return _json(start_response, "200 OK", principal(pem, server_name))


def _broker_request(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    with _broker_lock:
        broker = _broker
    if broker is None:
        return _json(start_response, "404 Not Found", {
            "message": f"no IoT data-plane broker runs in this emulator (start run_server.py with "
                       f"--iot-data-broker PATH or set {BROKER_ENV})"})
    return _json(start_response, "200 OK", {"address": broker.address, "caPem": broker.ca_pem})


def wrap(inner: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware answering the two data-plane control endpoints itself."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == PRINCIPAL_PATH:
            return _principal_request(environ, start_response)
        if path == PATH:
            return _broker_request(environ, start_response)
        return inner(environ, start_response)

    return app
