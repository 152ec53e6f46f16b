"""The Maestro server's side of the wire, made by the harness the way the deployed regional
modules make it (maestro-on-aws.md, "The server side as deployed"), until the provider has a
server resource: a certificate issued by the regional IoT Core from a CSR (the key stays in this
process, unlike the old modules' CreateKeysAndCertificate), the policy
`<name>-maestro-server-policy`, and the files the server's SecretProviderClass mounts.

The deployed server policy grants Subscribe on `topicfilter/<prefix>/*/agentevents`; IoT treats
`+` in a filter literally and `*` as a policy wildcard, so that covers the filter
`<prefix>/+/agentevents` — but not `$share/<group>/...`, which needs its own topicfilter
resource. The server config here subscribes without `$share`, as that policy allows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .aws_accounts import AwsAccount

DEFAULT_PREFIX = "sources/maestro/consumers"
SERVER_CLIENT_ID = "maestro-0"  # the chart's `maestro-$(POD_NAME)` style, matched by client/maestro-*


@dataclass
class ServerIdentity:
    name: str
    certificate_id: str
    certificate_pem: str
    policy_name: str
    private_key_pem: str = field(repr=False)
    topic_prefix: str = DEFAULT_PREFIX

    @property
    def source_id(self) -> str:
        return self.topic_prefix.split("/")[1]


def server_policy(region: str, account_id: str, prefix: str) -> dict[str, Any]:
    base = f"arn:aws:iot:{region}:{account_id}"
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{base}:client/maestro-*"},
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{base}:topic/{prefix}/*/sourceevents"},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{base}:topicfilter/{prefix}/*/agentevents"},
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": f"{base}:topic/{prefix}/*/agentevents"},
    ]}


def issue_server_identity(regional: AwsAccount, name: str = "wire", topic_prefix: str = DEFAULT_PREFIX,
                          guard: Any = None) -> ServerIdentity:
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    if guard is not None:
        guard.register_secret(key_pem, f"harness server key {name}")
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}-maestro-server")]))
           .sign(key, hashes.SHA256()))
    iot = regional.client("iot")
    issued = iot.create_certificate_from_csr(
        certificateSigningRequest=csr.public_bytes(serialization.Encoding.PEM).decode(), setAsActive=True)
    policy_name = f"{name}-maestro-server-policy"
    iot.create_policy(policyName=policy_name, policyDocument=json.dumps(
        server_policy("us-east-1", regional.account_id, topic_prefix)))
    iot.attach_policy(policyName=policy_name, target=issued["certificateArn"])
    return ServerIdentity(name, issued["certificateId"], issued["certificatePem"], policy_name, key_pem, topic_prefix)


def remove_server_identity(regional: AwsAccount, server: ServerIdentity) -> None:
    """The cleanup order IoT requires: detach, deactivate, delete; then the policy."""
    iot = regional.client("iot")
    arn = iot.describe_certificate(certificateId=server.certificate_id)["certificateDescription"]["certificateArn"]
    iot.detach_policy(policyName=server.policy_name, target=arn)
    iot.update_certificate(certificateId=server.certificate_id, newStatus="INACTIVE")
    iot.delete_certificate(certificateId=server.certificate_id)
    iot.delete_policy(policyName=server.policy_name)


def server_config_yaml(endpoint: str, prefix: str) -> str:
    """The server's config.yaml: the agent's keys, with `+` in the consumer level."""
    return (f'brokerHost: "{endpoint}:8883"\n'
            'username: ""\npassword: ""\n'
            'clientCertFile: "/mnt/secrets-store/certificate"\n'
            'clientKeyFile: "/mnt/secrets-store/privateKey"\n'
            'caFile: "/mnt/secrets-store/ca.crt"\n'
            "topics:\n"
            f'  sourceEvents: "{prefix}/+/sourceevents"\n'
            f'  agentEvents: "{prefix}/+/agentevents"\n')


def mount_server_files(server: ServerIdentity, endpoint: str, ca_pem: str, target: Path) -> Path:
    """What the server pod's CSI mount holds (certificate, privateKey, ca.crt, config.yaml)."""
    target.mkdir(parents=True, exist_ok=False)
    for name, content in (("certificate", server.certificate_pem), ("privateKey", server.private_key_pem),
                          ("ca.crt", ca_pem), ("config.yaml", server_config_yaml(endpoint, server.topic_prefix))):
        path = target / name
        path.write_text(content, encoding="utf-8")
        path.chmod(0o600)
    return target
