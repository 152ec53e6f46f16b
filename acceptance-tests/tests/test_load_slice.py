"""Load under throttling, CI-sized (the slice of scripts/bench-load): ten agents in one
configuration (key + consumer + identity each, `for_each`, both accounts), applied and then
destroyed with -parallelism=5 while the emulator refuses 5% of all AWS requests with each
service's own throttling error (harness/agent_fleet.THROTTLING_ERRORS).

Both commands must succeed the first time: a throttled call is the SDK's (or, for
CreateCertificateFromCsr, the provider's) to retry, never the user's. Checked: the throttles
really fired and every refused request was sent again; every agent's objects exist exactly
once and are the ones in state (no second certificate from a retried CreateCertificateFromCsr,
no second role, association or secret); the plan after is empty; after destroy nothing is
left. No timing is asserted.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness import agent_fleet, aws_inspect
from harness import credentials as creds

pytestmark = pytest.mark.acceptance

AGENTS = 10
PARALLELISM = 5
PROBABILITY = 0.05
SEED = 1204  # repeatable draws; which request gets which draw still depends on timing

# Calls a clean create makes once per agent (per object); a second successful one would be a
# duplicate. CreatePodIdentityAssociation is left out: the emulator hides new roles from EKS for
# a while, so the provider calls it again on purpose until the role is visible.
CREATED_ONCE_PER_AGENT = {
    "iot:CreateThing": 1,
    "iot:CreatePolicy": 1,
    "iot:CreateCertificateFromCsr": 1,
    "iam:CreateRole": 1,
    "secretsmanager:CreateSecret": 2,  # the credential secret and the MQTT config secret
}


def run_throttled(emulator_url: str, command: Callable[[], object]) -> tuple[agent_fleet.ThrottlingReport, dict[str, int]]:
    """Runs one CLI command with throttling armed; returns what the throttling did and the
    requests the emulator received (`service:action` -> count, refused ones included)."""
    throttle = agent_fleet.Throttling(emulator_url)
    agent_fleet.emulator_calls(emulator_url, reset=True)
    throttle.arm(PROBABILITY, seed=SEED)
    try:
        command()
        return throttle.report(), dict(agent_fleet.emulator_calls(emulator_url))
    finally:
        throttle.clear()


def assert_throttled_and_retried(report: agent_fleet.ThrottlingReport, calls: dict[str, int]) -> None:
    # Every request of the command was drawn for (each goes to one of the five services).
    assert report.seen == sum(calls.values()), (report.seen, calls)
    # ~5% of a few hundred requests: none at all would mean the throttling never happened.
    assert report.total_throttled > 0, f"no request was throttled among {report.seen}"
    assert not report.never_resent(), f"throttled requests never sent again: {report.never_resent()}"


def test_ten_agents_apply_and_destroy_under_five_percent_throttling(
        make_workspace, provider_preamble, emulator_url, management, regional, leak_guard):
    agents = agent_fleet.fleet_agents("load", AGENTS)
    agent_fleet.create_clusters(management, agents)
    ws = make_workspace()
    ws.set_config(provider_preamble + agent_fleet.fleet_config(agents))
    ws.init()
    certificates_before = agent_fleet.iot_certificate_ids(regional)

    report, calls = run_throttled(emulator_url, lambda: ws.apply(f"-parallelism={PARALLELISM}"))
    assert_throttled_and_retried(report, calls)
    served = {op: calls.get(op, 0) - report.throttled[op] for op in CREATED_ONCE_PER_AGENT}
    assert served == {op: n * AGENTS for op, n in CREATED_ONCE_PER_AGENT.items()}, (served, report.throttled)

    state = ws.state_resources()
    assert len(state) == 3 * AGENTS, sorted(state)
    agent_fleet.assert_each_agent_once(management, regional, agents, state, certificates_before, guard=leak_guard)
    ws.assert_plan_empty()

    report, calls = run_throttled(emulator_url, lambda: ws.destroy(f"-parallelism={PARALLELISM}"))
    assert_throttled_and_retried(report, calls)
    assert ws.state_resources() == {}
    iot = regional.client("iot")
    things = {t["thingName"] for t in iot.get_paginator("list_things").paginate().build_full_result()["things"]}
    policies = {p["policyName"] for p in iot.get_paginator("list_policies").paginate().build_full_result()["policies"]}
    left_certificates = agent_fleet.iot_certificate_ids(regional) - certificates_before
    roles = aws_inspect.all_role_names(management)
    left = [cluster_id for cluster_id in agents
            if f"{cluster_id}-maestro-agent" in things | roles or f"{cluster_id}-maestro-agent-policy" in policies]
    assert not left and not left_certificates, (left, left_certificates)
    for cluster_id, eks_name in agents.items():
        assert creds.deletion_scheduled(management, f"{cluster_id}/maestro/agent-mqtt-cert") is not None
        assert creds.deletion_scheduled(management, f"{cluster_id}/maestro/agent-config") is not None
        assert aws_inspect.associations(management, eks_name) == []
