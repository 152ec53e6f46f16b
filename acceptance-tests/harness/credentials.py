"""Reading the agent's secrets back from the emulated management account, and checking the
cryptographic facts the provider promises: the key in the secret is the one whose CSR was
signed, and a current bundle's certificate certifies its own key.

The tests that use this are the only place a private key exists outside the provider, and
only in this process's memory: they register it with the leak guard so the scan proves it
never reached a state, plan or log.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .aws_accounts import AwsAccount

AMAZON_ROOT_CA_1_SHA256 = "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e"


def spki_fingerprint(public_key: Any) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def key_fingerprint(private_key_pem: str) -> str:
    return spki_fingerprint(serialization.load_pem_private_key(private_key_pem.encode(), None).public_key())


def certificate_fingerprint(certificate_pem: str) -> str:
    return spki_fingerprint(x509.load_pem_x509_certificate(certificate_pem.encode()).public_key())


def csr_fingerprint(csr_pem: str) -> str:
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.is_signature_valid, "the CSR's self-signature does not verify"
    return spki_fingerprint(csr.public_key())


def csr_common_name(csr_pem: str) -> str:
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    return csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value


def ca_fingerprint(ca_pem: str) -> str:
    cert = x509.load_pem_x509_certificate(ca_pem.encode())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass
class Bundle:
    version_id: str
    stages: list[str]
    raw: dict[str, Any]

    @property
    def private_key(self) -> str:
        return self.raw["privateKey"]

    @property
    def certificate(self) -> str | None:
        return self.raw.get("certificate")

    @property
    def key_fingerprint(self) -> str:
        return key_fingerprint(self.private_key)

    def is_coherent(self) -> bool:
        """A certificate is present and certifies this bundle's key."""
        return bool(self.certificate) and certificate_fingerprint(self.certificate) == self.key_fingerprint


def versions(account: AwsAccount, secret_id: str) -> dict[str, list[str]]:
    """Version ID → staging labels."""
    return dict(account.secretsmanager.describe_secret(SecretId=secret_id).get("VersionIdsToStages") or {})


def read_bundle(account: AwsAccount, secret_id: str, stage: str = "AWSCURRENT", guard: Any = None) -> Bundle | None:
    """The bundle at `stage`, or None. With a leak guard, its private key is registered so the
    test's artifacts are scanned for it."""
    labelled = [v for v, stages in versions(account, secret_id).items() if stage in stages]
    if not labelled:
        return None
    value = account.secretsmanager.get_secret_value(SecretId=secret_id, VersionId=labelled[0])
    raw = json.loads(value["SecretString"])
    bundle = Bundle(labelled[0], versions(account, secret_id)[labelled[0]], raw)
    if guard is not None and raw.get("privateKey"):
        guard.register_secret(raw["privateKey"], f"private key in {secret_id} ({stage})")
    return bundle


def assert_bundle_shape(bundle: Bundle, *, complete: bool, ca_pem: str | None = None) -> None:
    """The keys the agent's CSI mount expects, and nothing else."""
    expected = {"certificate", "privateKey", "caCert"} if complete else {"privateKey", "caCert"}
    assert set(bundle.raw) == expected, f"bundle keys {sorted(bundle.raw)} != {sorted(expected)}"
    assert bundle.private_key.startswith("-----BEGIN PRIVATE KEY-----"), "privateKey is not PKCS#8 PEM"
    if ca_pem is None:
        assert ca_fingerprint(bundle.raw["caCert"]) == AMAZON_ROOT_CA_1_SHA256, "caCert is not Amazon Root CA 1"
    else:
        assert ca_fingerprint(bundle.raw["caCert"]) == ca_fingerprint(ca_pem), "caCert is not the configured broker CA"


def assert_current_coherent(account: AwsAccount, secret_id: str, guard: Any = None) -> Bundle | None:
    """The invariant: a current bundle either has no certificate yet or pairs the key with its
    own certificate."""
    current = read_bundle(account, secret_id, guard=guard)
    if current is not None and current.certificate:
        assert current.is_coherent(), f"current bundle {current.version_id} of {secret_id} pairs a key with another key's certificate"
    return current


def issue_certificate(regional: AwsAccount, csr_pem: str) -> tuple[str, str]:
    """What maestro_consumer does, done by hand: IoT Core signs the CSR. (certificate_id, pem)"""
    out = regional.client("iot").create_certificate_from_csr(certificateSigningRequest=csr_pem, setAsActive=True)
    return out["certificateId"], out["certificatePem"]


def revoke_certificate(regional: AwsAccount, certificate_id: str) -> None:
    iot = regional.client("iot")
    iot.update_certificate(certificateId=certificate_id, newStatus="INACTIVE")
    iot.delete_certificate(certificateId=certificate_id)


def deletion_scheduled(account: AwsAccount, secret_id: str) -> Any:
    """The secret's DeletedDate (None when not scheduled for deletion); raises when it is gone."""
    return account.secretsmanager.describe_secret(SecretId=secret_id).get("DeletedDate")
