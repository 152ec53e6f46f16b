"""IoT CreateCertificateFromCsr that certifies the CSR's own key.

moto 5.2.5 reads the CSR only for its subject and signs a certificate for a
freshly generated RSA key.  A client holding the CSR's private key could then
never use that certificate (the TLS handshake would fail), and a test
comparing the certificate's key with the CSR's key fails.  Real AWS IoT
issues a certificate whose subject public key is the CSR's key, signed by an
Amazon CA.  We do the same with a CA key kept for the life of the process.

Everything after signing (IDs, ARN, ACTIVE/INACTIVE status, storage) is left
to moto's own ``register_certificate`` so the rest of moto's IoT
certificate API keeps working on these certificates.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from moto.core.config import default_user_config
from moto.core.utils import utcnow
from moto.iot.exceptions import InvalidRequestException
from moto.iot.models import FakeCertificate, IoTBackend

# How long issued certificates are valid.  AWS uses far longer lifetimes;
# a year is plenty for tests and keeps "notAfter" obviously synthetic.
CERT_VALIDITY = timedelta(days=365)

# Key types AWS IoT accepts in a CSR.
_ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_MIN_RSA_BITS = 2048

_ca_lock = threading.Lock()
_ca: tuple[rsa.RSAPrivateKey, x509.Certificate] | None = None


def issuing_ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """The per-process CA (key, self-signed certificate), created on first use."""
    global _ca
    with _ca_lock:
        if _ca is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            name = x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "maestro emulator"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "maestro emulator IoT CA"),
                ]
            )
            now = utcnow()
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(
                    x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                    critical=False,
                )
                .sign(key, hashes.SHA256())
            )
            _ca = (key, cert)
        return _ca


def issuing_ca_pem() -> str:
    """PEM of the CA, for tests that want to verify the chain."""
    return issuing_ca()[1].public_bytes(serialization.Encoding.PEM).decode()


def _check_csr(csr: x509.CertificateSigningRequest) -> None:
    if not csr.is_signature_valid:
        raise InvalidRequestException("The certificate signing request signature is invalid.")
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise InvalidRequestException(
                f"RSA keys must be at least {_MIN_RSA_BITS} bits."
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _ALLOWED_CURVES):
            raise InvalidRequestException(f"Unsupported EC curve {key.curve.name}.")
    else:
        raise InvalidRequestException("Unsupported public key type in the CSR.")


def sign_csr(csr_pem: str) -> x509.Certificate:
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode("utf-8"))
    except (ValueError, TypeError, AttributeError):
        raise InvalidRequestException("The certificate signing request is not valid.")
    _check_csr(csr)
    ca_key, ca_cert = issuing_ca()
    now = utcnow()
    return (
        x509.CertificateBuilder()
        # AWS ignores the CSR subject and names every certificate the same.
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AWS IoT Certificate")]))
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + CERT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def create_certificate_from_csr(
    self: IoTBackend, csr: str, set_as_active: bool | str | None
) -> FakeCertificate:
    cert = sign_csr(csr)
    # setAsActive arrives as the query string's text ("true"/"false"); bool("false") is True.
    if isinstance(set_as_active, str):
        set_as_active = set_as_active.strip().lower() == "true"
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("utf-8")
    fake = self.register_certificate(
        pem, ca_certificate_pem=None, set_as_active=bool(set_as_active), status="INACTIVE"
    )
    # moto invents a +/- 1 day validity window; report the certificate's own.
    fake.validity_not_before = cert.not_valid_before_utc.replace(tzinfo=None)
    fake.validity_not_after = cert.not_valid_after_utc.replace(tzinfo=None)
    return fake


def install() -> None:
    # AWS's certificateId is the SHA-256 of the DER certificate.  moto only
    # computes it that way when this switch is on (its default hashes the PEM
    # text); all our certificates are real, so the accurate mode is safe.
    default_user_config.setdefault("iot", {})["use_valid_cert"] = True  # type: ignore[typeddict-item]
    IoTBackend.create_certificate_from_csr = create_certificate_from_csr  # type: ignore[method-assign]
