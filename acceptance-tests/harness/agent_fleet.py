"""Many agents in one configuration, for the load test and the scale benchmarks.

    agents = fleet_agents("load", 10)                  # cluster ID -> EKS cluster name
    create_clusters(management, agents)
    ws.set_config(preamble + fleet_config(agents))     # key + consumer + identity per agent
    throttle = Throttling(emulator_url)
    throttle.arm(0.05, seed=7)                         # AWS's own throttling codes, every service
    ...
    report = throttle.report()                         # throttled / retried per operation
    throttle.clear()
    assert_each_agent_once(management, regional, agents, new_certificates)

One configuration with both providers (regional + management) and `for_each` over the cluster
IDs, as examples/complete writes it. Each agent has an EKS cluster of its own in the management
account: its Pod Identity association is per cluster, namespace and service account.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from . import aws_accounts, aws_inspect, hcl
from . import credentials as creds
from .emulator import emulator_calls  # noqa: F401  (the load slice and benchmarks count calls through this module)
from .aws_accounts import AwsAccount
from .faults import Faults

# What each service answers when AWS throttles a caller, as the SDKs' models and AWS's responses
# have it: IAM and STS (query protocol) send the generic `Throttling` with 400; IoT models
# ThrottlingException as 400 and EKS as 429 (botocore's iot and eks service-2.json); Secrets
# Manager (json protocol) does not model it and answers ThrottlingException with 400. The Rust
# SDK and botocore classify both codes as throttling whatever the status.
THROTTLING_ERRORS: dict[str, tuple[int, str]] = {
    "iam": (400, "Throttling"),
    "sts": (400, "Throttling"),
    "iot": (400, "ThrottlingException"),
    "eks": (429, "ThrottlingException"),
    "secretsmanager": (400, "ThrottlingException"),
}

KEY, CONSUMER, IDENTITY = "maestro_agent_key.agent", "maestro_consumer.agent", "maestro_agent_identity.agent"


def fleet_agents(prefix: str, count: int) -> dict[str, str]:
    """`count` cluster IDs, each with the name of its own EKS cluster."""
    return {f"{prefix}-{i:03d}": f"{prefix}-{i:03d}-eks" for i in range(count)}


def create_clusters(management: AwsAccount, agents: dict[str, str]) -> None:
    for eks_name in agents.values():
        aws_inspect.create_eks_cluster(management, eks_name)


def fleet_config(agents: dict[str, str]) -> str:
    """The three resources of every agent, `for_each` over cluster ID -> EKS cluster name."""
    each = hcl.Raw("local.agents")
    return "\n".join([
        "locals {\n  agents = " + hcl.value(agents) + "\n}\n",
        hcl.resource("maestro_agent_key", "agent", {"for_each": each, "cluster_id": hcl.Raw("each.key")},
                     provider="maestro.management"),
        hcl.resource("maestro_consumer", "agent", {
            "for_each": each, "consumer_id": hcl.Raw("each.key"),
            "csr_pem": hcl.Raw("maestro_agent_key.agent[each.key].csr_pem"),
            "management_account_id": aws_accounts.MANAGEMENT_ACCOUNT_ID}, provider="maestro.regional"),
        hcl.resource("maestro_agent_identity", "agent", {
            "for_each": each, "cluster_id": hcl.Raw("each.key"),
            "regional_account_id": aws_accounts.REGIONAL_ACCOUNT_ID, "eks_cluster_name": hcl.Raw("each.value"),
            "mqtt_cert_secret_name": hcl.Raw("maestro_agent_key.agent[each.key].secret_name"),
            "certificate_pem": hcl.Raw("maestro_consumer.agent[each.key].certificate_pem"),
            "broker_endpoint": hcl.Raw("maestro_consumer.agent[each.key].endpoint")}, provider="maestro.management"),
    ])


# ---------------------------------------------------------------- AWS calls and throttling




@dataclass
class ThrottlingReport:
    """What the random throttling faults did: per `service:action`, how many requests they
    refused and how many of those were sent again (by the SDK's retry, or by the provider's
    own loop for calls it does not let the SDK resend)."""
    seen: int = 0
    throttled: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)
    sdk_retried: int = 0

    @property
    def total_throttled(self) -> int:
        return sum(self.throttled.values())

    @property
    def total_retried(self) -> int:
        return sum(self.retried.values())

    def never_resent(self) -> dict[str, int]:
        """Operations with refused requests nobody sent again (those reached the caller)."""
        return {op: n - self.retried[op] for op, n in self.throttled.items() if n > self.retried[op]}


class Throttling:
    """Random throttling on every service the provider calls, each with its own error."""

    def __init__(self, emulator_url: str) -> None:
        self.faults = Faults(emulator_url)
        self.fault_ids: list[int] = []

    def arm(self, probability: float, seed: int | None = None, services: tuple[str, ...] = tuple(THROTTLING_ERRORS)) -> None:
        for offset, service in enumerate(services):
            status, code = THROTTLING_ERRORS[service]
            armed = self.faults.arm_random(service, "*", probability, status=status, code=code, message="Rate exceeded",
                                           seed=None if seed is None else seed + offset)
            self.fault_ids.append(armed["id"])

    def report(self) -> ThrottlingReport:
        report = ThrottlingReport()
        for fault in self.faults.list():
            if fault["id"] not in self.fault_ids:
                continue
            report.seen += fault["seen"]
            report.throttled.update(fault["fired_by"])
            report.retried.update(fault["retried_by"])
            report.sdk_retried += fault["sdk_retried"]
        return report

    def clear(self) -> None:
        for fault_id in self.fault_ids:
            self.faults.clear(fault_id)
        self.fault_ids = []


# ---------------------------------------------------------------- every agent exactly once


def iot_certificate_ids(regional: AwsAccount) -> set[str]:
    iot = regional.client("iot")
    found: set[str] = set()
    for page in iot.get_paginator("list_certificates").paginate(pageSize=250):
        found |= {c["certificateId"] for c in page["certificates"]}
    return found


def assert_each_agent_once(management: AwsAccount, regional: AwsAccount, agents: dict[str, str],
                           state: dict[str, dict[str, Any]], certificates_before: set[str], guard: Any = None) -> None:
    """Every agent's objects exist once, in both accounts, and are the ones in state: one thing
    holding one ACTIVE certificate (and no other certificate issued for the fleet), one policy,
    one role, one Pod Identity association, the two secrets, and a current bundle whose
    certificate is its key's."""
    iot = regional.client("iot")
    problems: list[str] = []
    issued = iot_certificate_ids(regional) - certificates_before
    expected_certificates = {state[f'{CONSUMER}["{c}"]']["certificate_id"] for c in agents}
    if issued != expected_certificates:
        problems.append(f"{len(issued)} certificates issued for {len(agents)} agents; "
                        f"not in state: {sorted(issued - expected_certificates)[:5]}, "
                        f"missing: {sorted(expected_certificates - issued)[:5]}")
    roles = aws_inspect.all_role_names(management)
    for cluster_id, eks_name in agents.items():
        key, consumer, identity = (state[f'{kind}["{cluster_id}"]'] for kind in (KEY, CONSUMER, IDENTITY))
        principals = iot.list_thing_principals(thingName=f"{cluster_id}-maestro-agent")["principals"]
        if [p.rsplit("/", 1)[-1] for p in principals] != [consumer["certificate_id"]]:
            problems.append(f"{cluster_id}: thing principals {principals}")
        targets = iot.list_targets_for_policy(policyName=f"{cluster_id}-maestro-agent-policy")["targets"]
        if [t.rsplit("/", 1)[-1] for t in targets] != [consumer["certificate_id"]]:
            problems.append(f"{cluster_id}: policy targets {targets}")
        status = iot.describe_certificate(certificateId=consumer["certificate_id"])["certificateDescription"]["status"]
        if status != "ACTIVE":
            problems.append(f"{cluster_id}: certificate {status}")
        if f"{cluster_id}-maestro-agent" not in roles:
            problems.append(f"{cluster_id}: no role")
        associations = aws_inspect.associations(management, eks_name)
        if len(associations) != 1:
            problems.append(f"{cluster_id}: {len(associations)} Pod Identity associations on {eks_name}")
        current = creds.assert_current_coherent(management, key["secret_arn"], guard=guard)
        if current is None or current.certificate != consumer["certificate_pem"]:
            problems.append(f"{cluster_id}: current bundle does not hold the consumer's certificate")
        management.secretsmanager.describe_secret(SecretId=identity["config_secret_arn"])
    assert not problems, f"{len(problems)} problems in the fleet of {len(agents)}:\n  " + "\n  ".join(problems[:40])
