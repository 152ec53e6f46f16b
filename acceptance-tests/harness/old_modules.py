"""The agent side of a fleet as the hand-written modules and scripts left it, made with boto3
call for call as the AWS provider's resources (and the scripts' `aws` commands) make it.

Sources (rosa-regional-platform; the first two at openshift-online's HEAD, the newer chart at
theautoroboto/rosa-regional-platform commit dda6d6f, "deterministic resource naming and secret
namespacing"):

Regional account, two layouts of the agents' IoT objects:

- **one configuration per cluster**, `terraform/config/maestro-agent-iot-provisioning` calling
  `terraform/modules/maestro-agent-iot-provisioning`: `aws_iot_certificate.maestro_agent`
  (CreateKeysAndCertificate), `aws_iot_policy.maestro_agent` `<id>-maestro-agent-policy` (tags:
  the module's `common_tags` + `Name`, the configuration's `ProvisioningMethod`/`ManagedBy`, the
  provider's `default_tags`), `aws_iot_policy_attachment.maestro_agent`. No thing. Outputs
  `agent_cert` (`{certificate, privateKey, caCert}`, the key in clear) and `agent_config`
  (`{config, consumerName}`); `scripts/provision-maestro-agent-iot-regional.sh` writes both to
  `.maestro-certs/<id>/` and then DELETES the local state (`rm -f terraform.tfstate`);
- **one module over a list**, `terraform/modules/maestro-infrastructure` with
  `management_cluster_count`/`management_cluster_ids` (its README; the resources are those of an
  earlier `iot.tf` of that module): per index `aws_iot_thing.maestro_agent`
  `<id>-maestro-agent` (attributes component, cluster, regional_cluster),
  `aws_iot_certificate.maestro_agent` (CreateKeysAndCertificate),
  `aws_iot_thing_principal_attachment.maestro_agent`, `aws_iot_policy.maestro_agent`
  `<id>-maestro-agent-policy` (topic prefix `sources/maestro/consumers` written into the
  document), `aws_iot_policy_attachment.maestro_agent`; output `maestro_agent_certificates`, a
  map by cluster ID, keys in clear (docs/design/maestro-mqtt-resource-distribution.md).

Management account, three generations of the agent's secrets, each mounted by the chart of its
time (`argocd/config/management-cluster/maestro-agent/templates/secretproviderclass.yaml`; the
jmesPath aliases are the same in all three: `certificate`, `privateKey`, `caCert` -> `ca.crt`,
`config` -> `config.yaml`, `consumerName`):

- **older chart**: fixed names `maestro/agent-cert` and `maestro/agent-config`, created by
  `scripts/provision-maestro-agent-iot-management.sh` (`aws secretsmanager create-secret
  --secret-string file:///dev/stdin --description ...` from the two files above);
  `terraform/modules/maestro-agent` reads them as data sources and makes the role
  `<id>-maestro-agent` (tags `Component`, `ManagementCluster`, `ManagedBy`, `Name`), the inline
  policies `<id>-maestro-agent-secrets` (both secret ARNs) and `<id>-maestro-agent-iot`, and the
  Pod Identity association `maestro-agent`/`maestro-agent` (the ApplicationSet deploys the chart
  into the namespace named after its directory). Fixed names: one agent per account and region;
- **seed 001**: `<id>/maestro/agent-mqtt-cert`, created by hand from `cert.json`
  (`terraform output -json maestro_agent_certificates | jq '.["<id>"]'`, so jq's indented JSON);
  the config secret `<id>/maestro/agent-config`, by hand the same way; the seed's module binds
  the namespace `maestro` (its README: `helm upgrade --install ... -n maestro`). The seed names
  only the credential secret; the role here reads both, as a chart mounting both needs;
- **newer chart**: `<id>-maestro-agent-cert` / `<id>-maestro-agent-config`, made by the newer
  `maestro-agent` module itself (`aws_secretsmanager_secret` + `_version` from the sensitive
  input `maestro_agent_cert_json`: the key is in the MANAGEMENT state), same role, policies and
  association as the older chart's module.

`caCert` is `data.http.aws_iot_root_ca` (Amazon Root CA 1) in every module; the emulator's
broker has a CA of its own, which stands in for it here (as in tests/test_server_migration.py).
Every CreateKeysAndCertificate key is registered with the leak guard the moment it exists.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from . import aws_inspect, charts, csi_mount
from . import server_identity as si
from .aws_accounts import REGION, AwsAccount

TOPIC_PREFIX = "sources/maestro/consumers"
# The old configurations' provider `default_tags` (terraform/config/*/main.tf, tfvars example).
OLD_DEFAULT_TAGS = {"app-code": "APP001", "service-phase": "development", "cost-center": "123"}
SERVICE_ACCOUNT = "maestro-agent"


def jsonencode(value: Any) -> str:
    """Terraform's jsonencode, and `terraform output -json`: keys sorted, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


# ---------------------------------------------------------------- the three secret generations


@dataclass(frozen=True)
class Generation:
    """One generation of the agent's secrets and the management module that went with it."""
    label: str
    cert_template: str
    config_template: str
    namespace: str          # of the Pod Identity association the module made
    made_by: str            # "script", "hand" or "module"

    def cert_secret(self, cluster_id: str) -> str:
        return self.cert_template.format(cluster_id=cluster_id)

    def config_secret(self, cluster_id: str) -> str:
        return self.config_template.format(cluster_id=cluster_id)

    def mounted_objects(self, cluster_id: str) -> tuple[charts.MountedObject, charts.MountedObject]:
        """The chart's SecretProviderClass objects: this generation's names, the aliases all
        three charts share (the deployed chart's, recorded in harness/charts.py)."""
        cert, config = charts.DEPLOYED_AGENT_OBJECTS
        return (charts.MountedObject(self.cert_secret(cluster_id), cert.aliases),
                charts.MountedObject(self.config_secret(cluster_id), config.aliases))


OLDER_CHART = Generation("older chart", "maestro/agent-cert", "maestro/agent-config", "maestro-agent", "script")
SEED_001 = Generation("seed 001", "{cluster_id}/maestro/agent-mqtt-cert", "{cluster_id}/maestro/agent-config",
                      "maestro", "hand")
NEWER_CHART = Generation("newer chart", "{cluster_id}-maestro-agent-cert", "{cluster_id}-maestro-agent-config",
                         "maestro-agent", "module")

# The two layouts of the regional IoT objects.
PER_CLUSTER = "maestro-agent-iot-provisioning"
FLEET_COUNT = "maestro-infrastructure"


def old_mqtt_config_yaml(endpoint: str, source_events: tuple[str, str], agent_events: tuple[str, str]) -> str:
    """The MQTT config the old modules write (agent and server alike): their `<<-EOT` heredoc
    with its indentation stripped, comments and unquoted paths included. Each topic comes with
    the comment line the module puts above it."""
    return (
        "# MQTT Broker Configuration for AWS IoT Core\n"
        f'brokerHost: "{endpoint}:8883"\n'
        'username: ""\n'
        'password: ""\n'
        "# Certificate files mounted via ASCP CSI driver\n"
        "clientCertFile: /mnt/secrets-store/certificate\n"
        "clientKeyFile: /mnt/secrets-store/privateKey\n"
        "caFile: /mnt/secrets-store/ca.crt\n"
        "topics:\n"
        f"  # {source_events[0]}\n"
        f"  sourceEvents: {source_events[1]}\n"
        f"  # {agent_events[0]}\n"
        f"  agentEvents: {agent_events[1]}\n"
    )


def agent_config_yaml(endpoint: str, cluster_id: str, topic_prefix: str = TOPIC_PREFIX) -> str:
    """maestro-agent-iot-provisioning's `agent_config.config`."""
    return old_mqtt_config_yaml(
        endpoint,
        ("Agent subscribes to sourceevents for this specific cluster", f"{topic_prefix}/{cluster_id}/sourceevents"),
        ("Agent publishes agentevents back to server", f"{topic_prefix}/{cluster_id}/agentevents"))


def old_agent_policy(region: str, account_id: str, cluster_id: str, topic_prefix: str = TOPIC_PREFIX) -> dict[str, Any]:
    """`aws_iot_policy.maestro_agent` of both regional layouts: any client ID, the consumer's
    topics."""
    arn = f"arn:aws:iot:{region}:{account_id}"
    topics = f"{topic_prefix}/{cluster_id}"
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": [f"{arn}:client/*"]},
        {"Effect": "Allow", "Action": ["iot:Subscribe"], "Resource": [f"{arn}:topicfilter/{topics}/sourceevents"]},
        {"Effect": "Allow", "Action": ["iot:Receive"], "Resource": [f"{arn}:topic/{topics}/sourceevents"]},
        {"Effect": "Allow", "Action": ["iot:Publish"], "Resource": [f"{arn}:topic/{topics}/agentevents"]},
    ]}


# ---------------------------------------------------------------- regional account


@dataclass
class OldRegionalAgent:
    cluster_id: str
    layout: str
    certificate_id: str
    certificate_arn: str
    certificate_pem: str
    private_key: str = field(repr=False)
    policy_tags: dict[str, str]
    endpoint: str

    @property
    def policy_name(self) -> str:
        return f"{self.cluster_id}-maestro-agent-policy"

    @property
    def thing_name(self) -> str:
        return f"{self.cluster_id}-maestro-agent"

    @property
    def has_thing(self) -> bool:
        return self.layout == FLEET_COUNT

    def cert_json(self, ca_pem: str) -> dict[str, str]:
        """`agent_cert` (per-cluster layout) and the entry of `maestro_agent_certificates` the
        charts can mount: certificate, key and CA under the keys their jmesPaths read."""
        return {"certificate": self.certificate_pem, "privateKey": self.private_key, "caCert": ca_pem}


def make_regional_agent(regional: AwsAccount, cluster_id: str, layout: str, regional_name: str, guard: Any,
                        extra_tags: dict[str, str] | None = None) -> OldRegionalAgent:
    """One agent's IoT objects, in the order Terraform creates them in `layout`."""
    iot = si.iot(regional)
    endpoint = si.endpoint(regional)  # data.aws_iot_endpoint.mqtt
    policy_name = f"{cluster_id}-maestro-agent-policy"
    if layout == PER_CLUSTER:
        # var.tags of the configuration (ProvisioningMethod, ManagedBy) merged under the module's
        # common_tags, then Name; the provider adds its default_tags.
        tags = {**(extra_tags or {}), "ProvisioningMethod": "pipeline", "ManagedBy": "terraform",
                "Component": "maestro-agent", "ManagementCluster": cluster_id,
                "Module": "maestro-agent-iot-provisioning", "Name": policy_name, **OLD_DEFAULT_TAGS}
    elif layout == FLEET_COUNT:
        tags = {**(extra_tags or {}), "Module": "maestro-infrastructure", "ManagedBy": "terraform",
                "Name": policy_name, "Component": "maestro-agent", "ManagementCluster": cluster_id,
                **OLD_DEFAULT_TAGS}
        # aws_iot_thing.maestro_agent[count.index]
        iot.create_thing(thingName=f"{cluster_id}-maestro-agent", attributePayload={"attributes": {
            "component": "maestro-agent", "cluster": cluster_id, "regional_cluster": regional_name}})
    else:
        raise ValueError(f"unknown layout {layout!r}")
    # aws_iot_certificate.maestro_agent: IoT Core makes the key and hands it out.
    made = iot.create_keys_and_certificate(setAsActive=True)
    private_key = made["keyPair"]["PrivateKey"]
    guard.register_secret(private_key, f"the old module's key of {cluster_id} (CreateKeysAndCertificate)")
    if layout == FLEET_COUNT:
        # aws_iot_thing_principal_attachment.maestro_agent[count.index]
        iot.attach_thing_principal(thingName=f"{cluster_id}-maestro-agent", principal=made["certificateArn"])
    # aws_iot_policy.maestro_agent + aws_iot_policy_attachment.maestro_agent
    iot.create_policy(policyName=policy_name,
                      policyDocument=jsonencode(old_agent_policy(REGION, regional.account_id, cluster_id)),
                      tags=tag_list(tags))
    iot.attach_policy(policyName=policy_name, target=made["certificateArn"])
    return OldRegionalAgent(cluster_id, layout, made["certificateId"], made["certificateArn"], made["certificatePem"],
                            private_key, tags, endpoint)


def remove_regional_agent(regional: AwsAccount, cluster_id: str) -> None:
    """Whatever of an agent's IoT objects is left (the provider's destroy removes them when it
    manages them): the thing, the policy's certificates and the policy, in the order IoT demands."""
    iot = si.iot(regional)
    thing, policy = f"{cluster_id}-maestro-agent", f"{cluster_id}-maestro-agent-policy"
    certificates: set[str] = set()
    try:
        for principal in iot.list_thing_principals(thingName=thing)["principals"]:
            iot.detach_thing_principal(thingName=thing, principal=principal)
            certificates.add(principal)
        iot.delete_thing(thingName=thing)
    except ClientError as error:
        if aws_inspect.error_code(error) != "ResourceNotFoundException":
            raise
    if si.get_iot_policy(regional, policy) is not None:
        for target in si.policy_targets(regional, policy):
            iot.detach_policy(policyName=policy, target=target)
            certificates.add(target)
        for version, is_default in si.policy_versions(regional, policy).items():
            if not is_default:
                iot.delete_policy_version(policyName=policy, policyVersionId=version)
        iot.delete_policy(policyName=policy)
    for arn in certificates:
        certificate_id = arn.rsplit("/", 1)[-1]
        if si.certificate(regional, certificate_id) is not None:
            iot.update_certificate(certificateId=certificate_id, newStatus="INACTIVE")
            iot.delete_certificate(certificateId=certificate_id)


# ---------------------------------------------------------------- management account


@dataclass
class OldManagementAgent:
    cluster_id: str
    generation: Generation
    eks_cluster_name: str
    cert_secret_arn: str
    cert_version_id: str
    config_secret_arn: str
    config_version_id: str
    role_arn: str
    role_tags: dict[str, str]
    association_id: str
    inline_policies: tuple[str, ...]

    @property
    def role_name(self) -> str:
        return f"{self.cluster_id}-maestro-agent"

    @property
    def cert_secret(self) -> str:
        return self.generation.cert_secret(self.cluster_id)

    @property
    def config_secret(self) -> str:
        return self.generation.config_secret(self.cluster_id)


def old_role_iot_policy(region: str, regional_account_id: str, cluster_id: str) -> dict[str, Any]:
    """`aws_iam_role_policy.maestro_agent_iot` (terraform/modules/maestro-agent/iam.tf)."""
    arn = f"arn:aws:iot:{region}:{regional_account_id}"
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["iot:Connect", "iot:Subscribe", "iot:Receive", "iot:Publish"],
        "Resource": [f"{arn}:client/{cluster_id}-maestro-agent-*", f"{arn}:topic/{TOPIC_PREFIX}/{cluster_id}/*",
                     f"{arn}:topicfilter/{TOPIC_PREFIX}/{cluster_id}/*"]}]}


def old_role_secrets_policy(*secret_arns: str) -> dict[str, Any]:
    """`aws_iam_role_policy.maestro_agent_secrets`: the secrets' full ARNs (data sources or resources)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        "Resource": list(secret_arns)}]}


def make_management_agent(account: AwsAccount, cluster_id: str, generation: Generation, regional_agent: OldRegionalAgent,
                          regional_account_id: str, eks_cluster_name: str, ca_pem: str) -> OldManagementAgent:
    """The agent's secrets as its generation made them, then the management module's role,
    inline policies and Pod Identity association."""
    sm = account.secretsmanager
    cert_value = regional_agent.cert_json(ca_pem)
    config_value = {"config": agent_config_yaml(regional_agent.endpoint, cluster_id), "consumerName": cluster_id}
    cert_name, config_name = generation.cert_secret(cluster_id), generation.config_secret(cluster_id)
    if generation.made_by == "script":
        # `terraform output -json agent_cert` echoed into a file, piped to create-secret.
        cert = sm.create_secret(Name=cert_name, SecretString=jsonencode(cert_value) + "\n",
                                Description=f"Maestro Agent MQTT certificate material for {cluster_id}")
        config = sm.create_secret(Name=config_name, SecretString=jsonencode(config_value) + "\n",
                                  Description=f"Maestro Agent MQTT configuration for {cluster_id}")
    elif generation.made_by == "hand":
        # cert.json is jq's output: indented, in the order of the terraform output (sorted), and
        # the extra keys the design document lists for maestro_agent_certificates.
        document = {**cert_value, "consumerName": cluster_id, "endpoint": regional_agent.endpoint, "port": 8883}
        cert = sm.create_secret(Name=cert_name, SecretString=json.dumps(document, sort_keys=True, indent=2) + "\n")
        config = sm.create_secret(Name=config_name, SecretString=json.dumps(config_value, indent=2) + "\n")
    elif generation.made_by == "module":
        # aws_secretsmanager_secret (CreateSecret with the provider's default tags), then
        # aws_secretsmanager_secret_version (PutSecretValue of the variable as given).
        def secret(name: str, description: str, value: str) -> dict[str, Any]:
            arn = sm.create_secret(Name=name, Description=description, Tags=tag_list(OLD_DEFAULT_TAGS))["ARN"]
            return {"ARN": arn, "VersionId": sm.put_secret_value(SecretId=arn, SecretString=value)["VersionId"]}
        cert = secret(cert_name, f"Maestro Agent MQTT certificate material for {cluster_id}", jsonencode(cert_value))
        config = secret(config_name, f"Maestro Agent MQTT configuration for {cluster_id}", jsonencode(config_value))
    else:
        raise ValueError(generation.made_by)

    role = f"{cluster_id}-maestro-agent"
    common = {"Component": "maestro-agent", "ManagementCluster": cluster_id, "ManagedBy": "terraform"}
    role_tags = {**common, "Name": f"{role}-role", **OLD_DEFAULT_TAGS}
    role_arn = account.iam.create_role(
        RoleName=role, Description="IAM role for Maestro Agent with access to local Secrets Manager and regional IoT Core",
        AssumeRolePolicyDocument=jsonencode(aws_inspect.POD_IDENTITY_TRUST), Tags=tag_list(role_tags))["Role"]["Arn"]
    inline = {f"{cluster_id}-maestro-agent-secrets": old_role_secrets_policy(cert["ARN"], config["ARN"]),
              f"{cluster_id}-maestro-agent-iot": old_role_iot_policy(REGION, regional_account_id, cluster_id)}
    for name, document in inline.items():
        account.iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=jsonencode(document))
    association = aws_inspect.retry_while(
        lambda: account.eks.create_pod_identity_association(
            clusterName=eks_cluster_name, namespace=generation.namespace, serviceAccount=SERVICE_ACCOUNT,
            roleArn=role_arn, tags={**common, "Name": f"{role}-pod-identity", **OLD_DEFAULT_TAGS}),
        codes={"InvalidParameterException"})["association"]
    return OldManagementAgent(cluster_id, generation, eks_cluster_name, cert["ARN"], cert["VersionId"], config["ARN"],
                              config["VersionId"], role_arn, role_tags, association["associationId"], tuple(sorted(inline)))


def remove_management_agent(account: AwsAccount, old: OldManagementAgent) -> None:
    """Whatever is left after the workspaces' destroy: associations binding the role, the role,
    and both secrets (force-deleted, so a rerun can make them again)."""
    for association in aws_inspect.associations(account, old.eks_cluster_name):
        if association.role_arn.endswith(f":role/{old.role_name}"):
            aws_inspect.delete_association(account, old.eks_cluster_name, association.association_id)
    if aws_inspect.get_role(account, old.role_name) is not None:
        aws_inspect.delete_role_completely(account, old.role_name)
    for name in (old.cert_secret, old.config_secret):
        si.force_delete_secret(account, name)


# ---------------------------------------------------------------- what the agent's pod gets


def mount(account: AwsAccount, generation: Generation, cluster_id: str, target: Path, guard: Any = None) -> Path:
    """The chart's CSI mount of this generation's two secrets (harness/csi_mount.py maps the
    JSON keys; it must map them as the charts do)."""
    cert, config = generation.mounted_objects(cluster_id)
    assert (cert.aliases, config.aliases) == (csi_mount.AGENT_CERT_KEYS, csi_mount.AGENT_CONFIG_KEYS), \
        "csi_mount's agent key mapping differs from the charts' SecretProviderClass"
    return csi_mount.mount_agent_secrets(account, cert.object_name, config.object_name, target, guard=guard)


def assert_pod_may_read(account: AwsAccount, eks_cluster_name: str, namespace: str, secret_arns: list[str]) -> str:
    """What the CSI driver needs besides the secrets themselves: a Pod Identity association for
    the chart's service account in `namespace`, whose role's inline policies allow
    GetSecretValue on every mounted secret (the ARN patterns matched as IAM matches `*`/`?`).
    Returns the role's name."""
    bound = aws_inspect.associations_for(account, eks_cluster_name, namespace, SERVICE_ACCOUNT)
    assert len(bound) == 1, (f"{len(bound)} Pod Identity associations bind {namespace}/{SERVICE_ACCOUNT} on "
                             f"{eks_cluster_name}: the agent's pod gets no (or no single) role")
    role = bound[0].role_arn.rsplit("/", 1)[-1]
    allowed: list[str] = []
    for name in aws_inspect.inline_policy_names(account, role):
        document = aws_inspect.inline_policy(account, role, name) or {}
        statements = document.get("Statement") or []
        for statement in statements if isinstance(statements, list) else [statements]:
            actions = statement.get("Action") or []
            actions = actions if isinstance(actions, list) else [actions]
            if statement.get("Effect") == "Allow" and any(fnmatch.fnmatchcase("secretsmanager:GetSecretValue", a)
                                                          for a in actions):
                resources = statement.get("Resource") or []
                allowed += resources if isinstance(resources, list) else [resources]
    for arn in secret_arns:
        assert any(fnmatch.fnmatchcase(arn, pattern) for pattern in allowed), \
            f"role {role} may not read {arn} (it allows {allowed}): the CSI mount would fail"
    return role
