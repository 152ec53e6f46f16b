"""Proves the leak check finds real private keys in every encoding it claims to cover, stays
quiet on clean artifacts, and never echoes the secret it found. Needs neither tofu nor the
provider."""

from __future__ import annotations

import base64
import datetime
import json
import zipfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from harness.leak_check import LeakDetected, LeakScanner, assert_no_leaks


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def certificate_pem(ec_key: ec.EllipticCurvePrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "management-01-work-agent")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ec_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1)).sign(ec_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def pem(key, fmt: serialization.PrivateFormat, password: bytes | None = None) -> str:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()


def der(key, fmt: serialization.PrivateFormat, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.DER, fmt, encryption)


def fake_trace_log(payload: str) -> str:
    """Lines shaped like a TF_LOG=trace log with the payload buried in the middle."""
    return (
        "2025-11-23T09:30:00.123Z [TRACE] provider.terraform-provider-maestro_v0.1.0: ApplyResourceChange: "
        "tf_resource_type=maestro_agent_identity tf_rpc=ApplyResourceChange\n"
        "2025-11-23T09:30:00.124Z [DEBUG] provider.terraform-provider-maestro_v0.1.0: request body: "
        f"{payload} @module=maestro\n"
        "2025-11-23T09:30:00.125Z [TRACE] provider: plugin process exited: plugin=terraform-provider-maestro\n"
    )


def fake_state(attribute_value: str) -> str:
    return json.dumps({
        "version": 4, "terraform_version": "1.12.6",
        "resources": [{"mode": "managed", "type": "maestro_agent_identity", "name": "x",
                       "instances": [{"attributes": {"cluster_id": "management-01", "note": attribute_value}}]}],
    }, indent=2)


def kinds(findings) -> set[str]:
    return {finding.kind for finding in findings}


# ---------------------------------------------------------------- PEM


@pytest.mark.parametrize("fmt", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8])
def test_pem_keys_in_log_and_state_are_found(ec_key, rsa_key, fmt):
    scanner = LeakScanner()
    for key in (ec_key, rsa_key):
        key_pem = pem(key, fmt)
        log_findings = scanner.scan_text(fake_trace_log(key_pem), "trace.log")
        state_findings = scanner.scan_text(fake_state(key_pem), "terraform.tfstate")
        assert "PEM private key header" in kinds(log_findings)
        assert "PEM private key header" in kinds(state_findings)
        # The body alone is found too, through the DER parse (in the state it is JSON-escaped).
        assert "base64 DER private key" in kinds(log_findings)
        assert "base64 DER private key" in kinds(state_findings)


def test_encrypted_pem_is_found(rsa_key):
    findings = LeakScanner().scan_text(
        fake_trace_log(pem(rsa_key, serialization.PrivateFormat.PKCS8, b"correct horse")), "trace.log")
    assert "PEM private key header" in kinds(findings)
    assert "base64 DER private key" in kinds(findings)


def test_pem_offset_points_at_the_header(ec_key):
    text = fake_trace_log(pem(ec_key, serialization.PrivateFormat.TraditionalOpenSSL))
    findings = [f for f in LeakScanner().scan_text(text, "trace.log") if f.kind == "PEM private key header"]
    assert len(findings) == 1
    assert text.encode()[findings[0].offset:].startswith(b"-----BEGIN EC PRIVATE KEY-----")


# ---------------------------------------------------------------- base64 DER without armour


@pytest.mark.parametrize("fmt", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8])
def test_base64_der_without_pem_armour_is_found(ec_key, rsa_key, fmt):
    scanner = LeakScanner()
    for key in (ec_key, rsa_key):
        encoded = base64.b64encode(der(key, fmt)).decode()
        # Embedded in a longer base64-looking run, as if concatenated to other data.
        for payload in (encoded, f'"{encoded}"', "QUJD" + encoded + "QUJD", f"key={encoded}&x=1"):
            findings = scanner.scan_text(fake_trace_log(payload), "trace.log")
            assert kinds(findings) == {"base64 DER private key"}, payload[:20]


def test_url_safe_and_wrapped_base64_are_found(rsa_key):
    encoded = base64.b64encode(der(rsa_key, serialization.PrivateFormat.PKCS8)).decode()
    url_safe = base64.urlsafe_b64encode(der(rsa_key, serialization.PrivateFormat.PKCS8)).decode()
    wrapped = "\\n".join(encoded[i:i + 64] for i in range(0, len(encoded), 64))  # escaped newlines
    scanner = LeakScanner()
    for payload in (url_safe, wrapped, wrapped.replace("\\n", "\n")):
        assert "base64 DER private key" in kinds(scanner.scan_text(fake_state(payload), "state"))


def test_hex_byte_list_and_raw_der_are_found(ec_key):
    key_der = der(ec_key, serialization.PrivateFormat.PKCS8)
    scanner = LeakScanner()
    assert "hex DER private key" in kinds(scanner.scan_text(fake_trace_log(key_der.hex()), "log"))
    byte_list = "[" + ", ".join(str(b) for b in key_der) + "]"
    assert "byte-list DER private key" in kinds(scanner.scan_text(fake_trace_log(byte_list), "log"))
    raw = b"prefix\x00\x01" + der(ec_key, serialization.PrivateFormat.TraditionalOpenSSL) + b"suffix"
    assert "raw DER private key" in kinds(scanner.scan_text(raw, "blob"))


# ---------------------------------------------------------------- agent secret JSON shape


def test_agent_secret_bundle_is_found_in_every_escaping(ec_key, certificate_pem):
    bundle = {"certificate": certificate_pem,
              "privateKey": pem(ec_key, serialization.PrivateFormat.PKCS8), "caCert": certificate_pem}
    once = json.dumps(bundle)
    twice = json.dumps(once)
    scanner = LeakScanner()
    for text in (once, twice, fake_state(once), fake_trace_log(twice)):
        assert '"privateKey" member with a value' in kinds(scanner.scan_text(text, "x"))


def test_private_key_member_with_placeholder_value_is_found():
    # Even a value that is not key material means a bundle is being handled where it must not be.
    findings = LeakScanner().scan_text('{"certificate": "c", "privateKey": "redacted?"}', "x")
    assert kinds(findings) == {'"privateKey" member with a value'}


def test_empty_or_null_private_key_member_is_not_a_leak():
    scanner = LeakScanner()
    assert scanner.scan_text('{"privateKey": ""}', "x") == []
    assert scanner.scan_text('{"privateKey": null}', "x") == []
    assert scanner.scan_text("the secret holds certificate, privateKey and caCert", "x") == []


# ---------------------------------------------------------------- registered secrets


def test_registered_secret_is_found_raw_and_json_escaped():
    secret = 'pa"ss\nword-0123456789'
    scanner = LeakScanner()
    scanner.register_secret(secret, "db password")
    assert [f.kind for f in scanner.scan_text(f"x {secret} y", "log")] == ["db password"]
    assert [f.kind for f in scanner.scan_text(json.dumps({"v": secret}), "state")] == ["db password"]
    assert [f.kind for f in scanner.scan_text(json.dumps(json.dumps({"v": secret})), "plan")] == ["db password"]
    assert scanner.scan_text("password-0123456789", "log") == []


def test_too_short_secret_is_refused():
    with pytest.raises(ValueError):
        LeakScanner().register_secret("abc")


# ---------------------------------------------------------------- clean text


def test_clean_artifacts_pass(certificate_pem, ec_key):
    public_pem = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    certificate_der_b64 = base64.b64encode(
        x509.load_pem_x509_certificate(certificate_pem.encode()).public_bytes(serialization.Encoding.DER)).decode()
    clean = "\n".join([
        fake_state(certificate_pem),
        fake_trace_log(public_pem),
        fake_trace_log(certificate_der_b64),
        fake_trace_log(json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                   "Action": "iot:Connect", "Resource": "arn:aws:iot:us-east-1:123456789012:client/x"}]})),
        "A" * 500, "M" * 300, "0123456789abcdef" * 40, "[" + ", ".join(["48"] * 80) + "]",
        "2025-11-23T09:00:00.000Z 10.0.0.1 00:00:00 0:0 0.0",
        base64.b64encode(bytes(range(256)) * 4).decode(),
    ])
    assert LeakScanner().scan_text(clean, "clean") == []


# ---------------------------------------------------------------- files and reporting


def test_scan_tree_reports_file_and_offset_and_looks_inside_plan_zips(tmp_path: Path, ec_key, rsa_key):
    workspace = tmp_path / "ws"
    (workspace / "artifacts").mkdir(parents=True)
    (workspace / ".terraform" / "providers").mkdir(parents=True)
    (workspace / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    log_text = fake_trace_log(pem(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL))
    (workspace / "artifacts" / "001-apply.log").write_text(log_text)
    with zipfile.ZipFile(workspace / "artifacts" / "plan-002.tfplan", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("tfstate", fake_state(base64.b64encode(der(ec_key, serialization.PrivateFormat.PKCS8)).decode()))
    # Binaries under .terraform/providers are not artifacts of the run.
    (workspace / ".terraform" / "providers" / "blob").write_text(pem(ec_key, serialization.PrivateFormat.PKCS8))

    findings = LeakScanner().scan_tree(workspace)
    sources = {f.source for f in findings}
    assert sources == {str(workspace / "artifacts" / "001-apply.log"),
                       str(workspace / "artifacts" / "plan-002.tfplan") + "!tfstate"}
    pem_finding = next(f for f in findings if f.kind == "PEM private key header")
    assert pem_finding.offset == log_text.encode().index(b"-----BEGIN RSA PRIVATE KEY-----")


def test_failure_message_names_location_but_never_the_secret(ec_key):
    key_pem = pem(ec_key, serialization.PrivateFormat.PKCS8)
    body_line = key_pem.splitlines()[1]
    scanner = LeakScanner()
    scanner.register_secret("s3cr3t-value-xyz", "agent password")
    findings = scanner.scan_text(fake_trace_log(key_pem + " s3cr3t-value-xyz"), "artifacts/003-apply.log")
    with pytest.raises(LeakDetected) as raised:
        assert_no_leaks(findings)
    message = str(raised.value)
    assert "artifacts/003-apply.log: byte offset" in message
    assert "agent password" in message
    assert body_line not in message
    assert "s3cr3t-value-xyz" not in message
    assert "BEGIN" not in message.replace("PEM private key header", "")


def test_no_findings_passes():
    assert_no_leaks([])
