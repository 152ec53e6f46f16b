"""examples/complete/ applied against the emulator: the variables that point it there, and the
checks, made through the AWS APIs of both accounts, that what it built works for the agent.

Shared by the acceptance test (tests/test_examples.py) and the README's demo (demo.py), so the
demo shows exactly what the test proves. The private key is read into this process's memory
only, to compare fingerprints, and is registered with the caller's leak scanner so a scan of
the workspace proves it reached no state, plan, output or log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import credentials as creds
from . import settings
from .aws_accounts import AwsAccount

EXAMPLE_DIR = settings.REPO_ROOT / "examples" / "complete"


def write_variables(workspace_root: Path, endpoint_url: str, cluster_id: str, eks_cluster_name: str,
                    key_generation: str = "1", broker_ca_pem: str | None = None) -> Path:
    """An auto-loaded tfvars file, so apply, plan and the teardown destroy all see the same values.
    `broker_ca_pem` is the emulator broker's CA, so the agent's `ca.crt` verifies that broker."""
    path = workspace_root / "emulator.auto.tfvars.json"
    path.write_text(json.dumps({"aws_endpoint": endpoint_url, "cluster_id": cluster_id,
                                "eks_cluster_name": eks_cluster_name, "key_generation": key_generation,
                                "broker_ca_pem": broker_ca_pem}, indent=2),
                    encoding="utf-8")
    return path


def verify(management: AwsAccount, regional: AwsAccount, cluster_id: str, outputs: dict[str, Any],
           scanner: Any, broker_ca_pem: str | None = None) -> list[str]:
    """Checks the example's outputs against both accounts; returns a report (no secret in it).
    `scanner` has register_secret(value, label): a LeakScanner or the tests' leak guard."""
    secrets, fingerprints, mqtt = outputs["secrets"], outputs["fingerprints"], outputs["mqtt"]
    assert outputs["fingerprints_match"] is True, f"fingerprints differ: {fingerprints}"

    # The current credential bundle pairs the key with its own certificate.
    bundle = creds.assert_current_coherent(management, secrets["credentials"], guard=scanner)
    assert bundle is not None and bundle.certificate, f"{secrets['credentials']} has no complete current bundle"
    creds.assert_bundle_shape(bundle, complete=True, ca_pem=broker_ca_pem)
    assert bundle.key_fingerprint == fingerprints["key"] == fingerprints["certificate"] == fingerprints["installed"], \
        f"key in the secret {bundle.key_fingerprint} vs outputs {fingerprints}"

    # The regional account holds that certificate, ACTIVE, on the consumer's thing.
    iot = regional.client("iot")
    thing = f"{cluster_id}-maestro-agent"
    certificates = []
    for principal in iot.list_thing_principals(thingName=thing)["principals"]:
        described = iot.describe_certificate(certificateId=principal.rsplit("/", 1)[-1])["certificateDescription"]
        certificates.append((described["status"], creds.certificate_fingerprint(described["certificatePem"])))
    assert ("ACTIVE", bundle.key_fingerprint) in certificates, f"no ACTIVE certificate for the key on {thing}: {certificates}"

    # The config secret names the broker and the topics the IoT policy grants.
    config = json.loads(management.secretsmanager.get_secret_value(SecretId=secrets["config"])["SecretString"])
    assert config["consumerName"] == cluster_id
    for expected in (f'brokerHost: "{mqtt["endpoint"]}:8883"', f'sourceEvents: "{mqtt["source_topic"]}"',
                     f'agentEvents: "{mqtt["agent_topic"]}"'):
        assert expected in config["config"], f"{expected} not in the config secret:\n{config['config']}"

    return [
        f"credential secret {secrets['credentials']}: current version {bundle.version_id} {sorted(bundle.stages)}, "
        f"keys {sorted(bundle.raw)}",
        "  the key in the secret, maestro_agent_key, the IoT certificate and the installed certificate "
        f"share the public key {bundle.key_fingerprint}",
        f"IoT thing {thing}: certificate ACTIVE for that key",
        f"config secret {secrets['config']}: consumerName {config['consumerName']}, brokerHost {mqtt['endpoint']}:8883",
        f"  topics {mqtt['source_topic']} (subscribe) and {mqtt['agent_topic']} (publish), client ID {mqtt['client_id']}",
    ]
