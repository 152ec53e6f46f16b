"""Acceptance tests for the management side of the certificate flow: `maestro_agent_key` stages
a key, a certificate is issued for its CSR in the regional account, and
`maestro_agent_identity` completes the credential secret with it and writes the config secret.

The certificate is issued here with boto3 (CreateCertificateFromCsr in the regional account),
exactly what `maestro_consumer` does, so these tests pin the management side alone; the flows
through `maestro_consumer` are in test_flows.py. At every step the current bundle is checked:
it never pairs a key with another key's certificate.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness import credentials as creds
from harness import hcl
from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, REGION, REGIONAL_ACCOUNT_ID

pytestmark = pytest.mark.acceptance

KEY = "maestro_agent_key.k"
IDENTITY = "maestro_agent_identity.x"
ENDPOINT = "example-ats.iot.us-east-1.amazonaws.com"


def blocks(cluster_id: str, eks: str, *, certificate_pem: str | None = None, triggers: str = "1",
           broker_endpoint: str | None = ENDPOINT, **identity: Any) -> str:
    key = hcl.resource("maestro_agent_key", "k", {"cluster_id": cluster_id, "rotation_triggers": {"generation": triggers}},
                       provider="maestro.management")
    # The secret name comes from the key, so the key is created first.
    arguments: dict[str, Any] = {"cluster_id": cluster_id, "regional_account_id": REGIONAL_ACCOUNT_ID,
                                 "eks_cluster_name": eks,
                                 "mqtt_cert_secret_name": hcl.Raw("maestro_agent_key.k.secret_name"), **identity}
    if broker_endpoint:
        arguments["broker_endpoint"] = broker_endpoint
    if certificate_pem:
        arguments["certificate_pem"] = certificate_pem
    ident = hcl.resource("maestro_agent_identity", "x", arguments, provider="maestro.management")
    return key + "\n" + ident


@pytest.fixture
def flow(make_workspace, provider_preamble, management, regional, make_eks_cluster, leak_guard):
    """A workspace with a key and an identity, and helpers to re-configure it."""
    class Flow:
        def __init__(self, cluster_id: str):
            self.cluster_id = cluster_id
            self.eks = make_eks_cluster(f"{cluster_id}-eks")
            self.ws = make_workspace(cluster_id)
            self.issued: list[str] = []

        def configure(self, **kwargs: Any) -> None:
            self.ws.set_config(provider_preamble + blocks(self.cluster_id, self.eks, **kwargs))

        def key(self) -> dict[str, Any]:
            return self.ws.state_resource(KEY)

        def identity(self) -> dict[str, Any]:
            return self.ws.state_resource(IDENTITY)

        def issue(self) -> str:
            certificate_id, pem = creds.issue_certificate(regional, self.key()["csr_pem"])
            self.issued.append(certificate_id)
            return pem

        def start(self) -> None:
            """Key and identity applied, no certificate yet."""
            self.configure()
            self.ws.init()
            self.ws.apply()

        def complete(self) -> str:
            """start(), then a certificate issued for the key and applied; returns it."""
            self.start()
            cert = self.issue()
            self.configure(certificate_pem=cert)
            self.ws.apply()
            return cert

        def current(self) -> creds.Bundle | None:
            return creds.assert_current_coherent(management, self.key()["secret_arn"], guard=leak_guard)

    made: list[Flow] = []

    def make(cluster_id: str) -> Flow:
        f = Flow(cluster_id)
        made.append(f)
        return f

    yield make
    for f in made:
        for certificate_id in f.issued:
            try:
                creds.revoke_certificate(regional, certificate_id)
            except Exception:  # noqa: BLE001 - best-effort cleanup of hand-issued certificates
                pass


def config_secret(management, name: str) -> dict[str, Any]:
    import json
    return json.loads(management.secretsmanager.get_secret_value(SecretId=name)["SecretString"])


def test_without_a_certificate_the_plan_warns_and_the_config_secret_is_written(flow, management):
    f = flow("cred-warn")
    f.configure()
    f.ws.init()
    plan = f.ws.plan()
    assert "The agent has no certificate yet" in plan.result.output
    f.ws.apply()
    f.ws.assert_plan_empty()
    ident = f.identity()
    assert ident["credential_version_id"] is None
    assert ident["certificate_fingerprint"] is None
    # The key-only bundle is all there is; nothing claims a certificate.
    current = f.current()
    assert current.certificate is None

    cfg = config_secret(management, f"{f.cluster_id}/maestro/agent-config")
    assert set(cfg) == {"config", "consumerName"}
    assert cfg["consumerName"] == f.cluster_id
    assert cfg["config"] == ident["agent_config"]
    assert f'brokerHost: "{ENDPOINT}:8883"' in cfg["config"]
    assert f'sourceEvents: "sources/maestro/consumers/{f.cluster_id}/sourceevents"' in cfg["config"]
    assert f'agentEvents: "sources/maestro/consumers/{f.cluster_id}/agentevents"' in cfg["config"]
    assert ident["config_secret_arn"].startswith(
        f"arn:aws:secretsmanager:{REGION}:{MANAGEMENT_ACCOUNT_ID}:secret:{f.cluster_id}/maestro/agent-config-")


def test_certificate_completes_the_bundle_and_rotation_has_no_gap(flow, management):
    f = flow("cred-rotate")
    f.start()

    first_cert = f.issue()
    f.configure(certificate_pem=first_cert)
    f.ws.assert_plan_changes({IDENTITY: "update"}, attributes={IDENTITY: {"certificate_pem"}})
    f.ws.apply()
    f.ws.assert_plan_empty()
    ident = f.identity()
    current = f.current()
    creds.assert_bundle_shape(current, complete=True)
    assert current.certificate == first_cert
    assert current.version_id == ident["credential_version_id"]
    assert current.key_fingerprint == f.key()["public_key_fingerprint"] == ident["certificate_fingerprint"]
    assert "AWSPENDING" not in str(creds.versions(management, f.key()["secret_arn"])), "AWSPENDING left behind"
    first_fingerprint = current.key_fingerprint

    # Rotate the key: the new one is staged; the agent keeps its working bundle.
    f.configure(certificate_pem=first_cert, triggers="2")
    f.ws.apply()
    f.ws.assert_plan_empty()
    staged = creds.read_bundle(management, f.key()["secret_arn"], "AWSPENDING")
    assert staged is not None and staged.key_fingerprint == f.key()["public_key_fingerprint"] != first_fingerprint
    still = f.current()
    assert still.certificate == first_cert and still.key_fingerprint == first_fingerprint

    # The new certificate arrives: promoted, the old bundle kept as AWSPREVIOUS.
    second_cert = f.issue()
    f.configure(certificate_pem=second_cert, triggers="2")
    f.ws.apply()
    f.ws.assert_plan_empty()
    promoted = f.current()
    assert promoted.certificate == second_cert
    assert promoted.key_fingerprint == f.key()["public_key_fingerprint"]
    previous = creds.read_bundle(management, f.key()["secret_arn"], "AWSPREVIOUS")
    assert previous.certificate == first_cert and previous.is_coherent()
    assert creds.read_bundle(management, f.key()["secret_arn"], "AWSPENDING") is None


def test_a_certificate_for_another_key_is_refused(flow, management, regional):
    f = flow("cred-mismatch")
    f.start()
    before = f.current()
    # A certificate for a CSR made by somebody else.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    other = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "intruder")])).sign(other, hashes.SHA256())
    from cryptography.hazmat.primitives import serialization
    certificate_id, foreign = creds.issue_certificate(regional, csr.public_bytes(serialization.Encoding.PEM).decode())
    f.issued.append(certificate_id)

    f.configure(certificate_pem=foreign)
    f.ws.expect_error(["apply", "-auto-approve", "-input=false", "-no-color"], r"Certificate does not match the agent's key")
    after = f.current()
    assert after.version_id == before.version_id and after.certificate is None
    # Still planned, so the next apply retries once the right certificate is configured.
    f.ws.assert_plan_changes({IDENTITY: "update"})


def test_secret_drift_is_repaired(flow, management):
    f = flow("cred-drift")
    cert = f.complete()
    good = f.current()

    # Somebody overwrites the current bundle by hand, and deletes the config secret.
    management.secretsmanager.put_secret_value(SecretId=f.key()["secret_arn"], SecretString='{"privateKey": "", "note": "oops"}')
    management.secretsmanager.delete_secret(SecretId=f.identity()["config_secret_arn"], ForceDeleteWithoutRecovery=True)
    f.ws.assert_plan_changes({IDENTITY: "update"}, attributes={IDENTITY: {"credential_version_id", "config_secret_arn"}})
    f.ws.apply()
    f.ws.assert_plan_empty()
    repaired = f.current()
    assert repaired.certificate == cert and repaired.key_fingerprint == good.key_fingerprint
    assert config_secret(management, f"{f.cluster_id}/maestro/agent-config")["consumerName"] == f.cluster_id

    # Config edited by hand: shown in the plan, put back by apply.
    management.secretsmanager.put_secret_value(SecretId=f"{f.cluster_id}/maestro/agent-config",
                                               SecretString='{"config": "brokerHost: \\"evil:8883\\"\\n", "consumerName": "cred-drift"}')
    plan = f.ws.assert_plan_changes({IDENTITY: "update"}, attributes={IDENTITY: {"agent_config"}})
    assert "evil" in plan.resource_change(IDENTITY)["change"]["before"]["agent_config"]
    f.ws.apply()
    assert ENDPOINT in config_secret(management, f"{f.cluster_id}/maestro/agent-config")["config"]


def test_import_recovers_broker_endpoint_and_certificate(flow, management):
    f = flow("cred-import")
    cert = f.complete()
    original = f.identity()
    imported = f.ws.verify_import(IDENTITY, f.cluster_id)
    f.ws.assert_plan_empty()
    for name in ("broker_endpoint", "certificate_pem", "credential_version_id", "config_secret_arn", "config_secret_name",
                 "agent_config", "secrets_policy"):
        assert imported[name] == original[name], name


def test_destroy_schedules_the_config_secret_and_leaves_the_credential_secret_to_the_key(flow, management):
    f = flow("cred-destroy")
    f.start()
    config_arn = f.identity()["config_secret_arn"]
    credential_arn = f.key()["secret_arn"]
    f.ws.destroy()
    assert creds.deletion_scheduled(management, config_arn) is not None
    assert creds.deletion_scheduled(management, credential_arn) is not None


def test_a_failed_promotion_is_retried_by_the_next_apply(flow, management, emulator_url):
    from harness.faults import Faults
    f = flow("cred-fault")
    f.start()
    cert = f.issue()
    f.configure(certificate_pem=cert)
    faults = Faults(emulator_url)
    faults.arm("secretsmanager", "PutSecretValue", code="InvalidRequestException")
    try:
        f.ws.expect_error(["apply", "-auto-approve", "-input=false", "-no-color"], r"PutSecretValue")
    finally:
        faults.clear()
    assert f.current().certificate is None, "nothing was promoted"
    f.ws.assert_plan_changes({IDENTITY: "update"}, attributes={IDENTITY: {"certificate_pem"}})
    f.ws.apply()
    f.ws.assert_plan_empty()
    assert f.current().certificate == cert
