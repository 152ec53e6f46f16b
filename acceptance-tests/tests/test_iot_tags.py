"""Acceptance tests for the tags of the IoT policies `maestro_consumer` and
`maestro_server_identity` own: real tofu, real provider binary, emulated IoT tagging
(emulator/maestro_emulator/iot_tags.py).

AWS IoT tags policies, not things (a thing has attributes), so a consumer's `tags`, merged
with the provider's `default_tags` into `tags_all`, go to its IoT policy; the server identity
puts its `tags_all` on its IoT policy as on its other objects. Every check reads the policy's
tags with boto3 (ListTagsForResource, every page), never only what tofu says.

The regional provider here has `default_tags` (the standard one has none), so every test
checks the merge: resource tags win over default tags of the same key.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness import hcl
from harness import server_identity as si
from harness.aws_accounts import REGION, REGIONAL_ACCOUNT_ID
from harness.faults import Faults
from test_consumer import PROVIDER_CRASH, ADDRESS, AgentKey, assert_consumer_in_aws, certificates_for, consumer_block
from test_server_identity import (  # noqa: F401  (fixtures)
    expected_for,
    make_regional_cluster,
    own_secrets,
    purge_secrets,
    server_block,
    server_workspace,
)

pytestmark = pytest.mark.acceptance

DEFAULT_TAGS = {"managed-by": "acceptance", "env": "default"}
SERVER_ADDRESS = f"{si.RESOURCE_TYPE}.server"


@pytest.fixture
def provider_preamble(emulator_url: str) -> str:
    """The standard providers, the regional one with default_tags (overrides conftest's, so
    `config_workspace` and `server_workspace` use it too)."""
    regional = hcl.regional_provider(emulator_url)
    regional.default_tags = dict(DEFAULT_TAGS)
    return hcl.preamble([regional, hcl.management_provider(emulator_url)])


def policy_arn(policy_name: str) -> str:
    return f"arn:aws:iot:{REGION}:{REGIONAL_ACCOUNT_ID}:policy/{policy_name}"


def policy_tags(regional, policy_name: str) -> dict[str, str]:
    """Every tag of an IoT policy, following nextToken (the emulator pages by 10)."""
    client = regional.client("iot")
    tags: dict[str, str] = {}
    kwargs: dict[str, Any] = {"resourceArn": policy_arn(policy_name)}
    while True:
        page = client.list_tags_for_resource(**kwargs)
        for tag in page["tags"]:
            assert tag["Key"] not in tags, f"tag {tag['Key']} listed twice"
            tags[tag["Key"]] = tag.get("Value", "")
        if not page.get("nextToken"):
            return tags
        kwargs["nextToken"] = page["nextToken"]


def tag_policy(regional, policy_name: str, tags: dict[str, str]) -> None:
    regional.client("iot").tag_resource(resourceArn=policy_arn(policy_name),
                                        tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def default_policy_version(regional, policy_name: str) -> str:
    return regional.client("iot").get_policy(policyName=policy_name)["defaultVersionId"]


def assert_consumer_tags(regional, state: dict[str, Any], tags: dict[str, str] | None) -> None:
    """tags as configured, tags_all the merge, and exactly tags_all on the IoT policy; the thing
    keeps only its own attributes (no tag becomes one)."""
    expected_all = {**DEFAULT_TAGS, **(tags or {})}
    assert state["tags"] == tags, state["tags"]
    assert state["tags_all"] == expected_all, state["tags_all"]
    assert policy_tags(regional, state["policy_name"]) == expected_all
    thing = regional.client("iot").describe_thing(thingName=state["thing_name"])
    assert not set(thing["attributes"]) & set(expected_all), thing["attributes"]


def consumer_config(provider_preamble: str, consumer_id: str, csr: str, tags: dict[str, str] | None) -> str:
    """The same CSR every time, so a plan changes tags and nothing else."""
    extra = {"tags": tags} if tags is not None else {}
    return provider_preamble + consumer_block(consumer_id, csr, **extra)


# ---------------------------------------------------------------- maestro_consumer


def test_consumer_tags_go_to_its_iot_policy_and_change_in_place(
        config_workspace, provider_preamble, regional, leak_guard):
    consumer_id = "acc-tags-consumer"
    key = AgentKey(leak_guard)
    tags = {"team": "edge", "env": "dev"}
    csr = key.csr(f"{consumer_id}-work-agent")
    ws = config_workspace(consumer_block(consumer_id, csr, tags=tags))

    plan = ws.assert_plan_changes({ADDRESS: "create"})
    assert plan.resource_change(ADDRESS)["change"]["after"]["tags_all"] == {**DEFAULT_TAGS, **tags}, plan.describe()
    ws.apply()
    ws.assert_plan_empty()
    first = ws.state_resource(ADDRESS)
    assert_consumer_in_aws(regional, first, key)
    assert_consumer_tags(regional, first, tags)
    version = default_policy_version(regional, first["policy_name"])

    def assert_same_objects(state: dict[str, Any]) -> None:
        assert state["certificate_id"] == first["certificate_id"], "a tag change issued a new certificate"
        assert state["policy_arn"] == first["policy_arn"] and state["thing_arn"] == first["thing_arn"]
        assert default_policy_version(regional, state["policy_name"]) == version, "a tag change wrote a policy version"
        assert certificates_for(regional, key.spki) == {first["certificate_id"]: "ACTIVE"}

    # A value changed and a tag added: an update in place, tags only.
    changed = {"team": "core", "env": "dev", "owner": "maestro"}
    ws.set_config(consumer_config(provider_preamble, consumer_id, csr, changed))
    plan = ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"tags", "tags_all"}})
    assert plan.changed_attributes(ADDRESS) == {"tags", "tags_all"}, plan.describe()
    ws.apply()
    ws.assert_plan_empty()
    state = ws.state_resource(ADDRESS)
    assert_consumer_tags(regional, state, changed)
    assert_same_objects(state)

    # A tag removed, and the one that overrode a default tag: the default value comes back.
    fewer = {"owner": "maestro"}
    ws.set_config(consumer_config(provider_preamble, consumer_id, csr, fewer))
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"tags", "tags_all"}})
    ws.apply()
    ws.assert_plan_empty()
    state = ws.state_resource(ADDRESS)
    assert_consumer_tags(regional, state, fewer)
    assert policy_tags(regional, state["policy_name"])["env"] == "default"
    assert_same_objects(state)

    # No tags at all: only the default tags stay on the policy.
    ws.set_config(consumer_config(provider_preamble, consumer_id, csr, None))
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"tags_all"}})
    ws.apply()
    ws.assert_plan_empty()
    state = ws.state_resource(ADDRESS)
    assert_consumer_tags(regional, state, None)
    assert_same_objects(state)
    assert_consumer_in_aws(regional, state, key)


def test_consumer_tag_drift_is_shown_and_removed(config_workspace, regional, leak_guard):
    consumer_id = "acc-tags-consumer-drift"
    key = AgentKey(leak_guard)
    tags = {"team": "edge"}
    ws = config_workspace(consumer_block(consumer_id, key.csr(f"{consumer_id}-work-agent"), tags=tags))
    ws.apply()
    first = ws.state_resource(ADDRESS)
    policy_name = first["policy_name"]
    assert_consumer_tags(regional, first, tags)

    # A tag added out of band, and one of ours changed: refresh sees both, the plan undoes both.
    tag_policy(regional, policy_name, {"intruder": "yes", "team": "someone-else"})
    plan = ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"tags_all"}})
    drifted = [d for d in plan.drift() if d["address"] == ADDRESS]
    assert drifted, f"refresh did not report the out-of-band tags as drift:\n{plan.describe()}"
    refreshed = drifted[0]["change"]["after"]["tags_all"]
    assert refreshed.get("intruder") == "yes" and refreshed.get("team") == "someone-else", refreshed
    assert plan.resource_change(ADDRESS)["change"]["after"]["tags_all"] == {**DEFAULT_TAGS, **tags}, plan.describe()
    ws.apply()
    ws.assert_plan_empty()
    repaired = ws.state_resource(ADDRESS)
    assert_consumer_tags(regional, repaired, tags)
    assert repaired["certificate_id"] == first["certificate_id"]
    assert_consumer_in_aws(regional, repaired, key)

    # A default tag removed out of band comes back too.
    regional.client("iot").untag_resource(resourceArn=policy_arn(policy_name), tagKeys=["managed-by"])
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"tags_all"}})
    ws.apply()
    ws.assert_plan_empty()
    assert_consumer_tags(regional, ws.state_resource(ADDRESS), tags)

    # The policy deleted out of band (detached first, as IoT demands) takes its tags with it;
    # the apply that creates it again puts tags_all back on.
    client = regional.client("iot")
    client.detach_policy(policyName=policy_name, target=repaired["certificate_arn"])
    client.delete_policy(policyName=policy_name)
    ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"policy_arn"}})
    ws.apply()
    ws.assert_plan_empty()
    recreated = ws.state_resource(ADDRESS)
    assert_consumer_tags(regional, recreated, tags)
    assert_consumer_in_aws(regional, recreated, key)


def test_consumer_import_recovers_tags(config_workspace, regional, leak_guard):
    consumer_id = "acc-tags-consumer-import"
    key = AgentKey(leak_guard)
    # More tags than fit on one ListTagsForResource page of the emulator: import and refresh
    # must follow nextToken.
    tags = {f"tag-{i:02d}": f"value-{i}" for i in range(12)} | {"env": "imported"}
    ws = config_workspace(consumer_block(consumer_id, key.csr(f"{consumer_id}-work-agent"), tags=tags))
    ws.apply()
    ws.assert_plan_empty()
    applied = ws.state_resource(ADDRESS)
    assert_consumer_tags(regional, applied, tags)

    imported = ws.verify_import(ADDRESS, consumer_id, ignore={"csr_pem"})
    assert imported["tags"] == tags and imported["tags_all"] == {**DEFAULT_TAGS, **tags}
    plan = ws.plan()
    if plan.exit_code == 2:
        assert plan.actions() == {ADDRESS: ["update"]} and plan.changed_attributes(ADDRESS) == {"csr_pem"}, plan.describe()
    ws.apply()
    ws.assert_plan_empty()
    assert ws.state_resource(ADDRESS) == applied
    assert_consumer_tags(regional, applied, tags)


def test_consumer_tag_equal_to_a_default_tag_plans_clean(config_workspace, provider_preamble, regional, leak_guard):
    """A configured tag with the same key and value as a default tag is still configured: the
    plan after the apply must be empty (refresh must not drop it from `tags`)."""
    consumer_id = "acc-tags-consumer-same"
    key = AgentKey(leak_guard)
    tags = {"env": DEFAULT_TAGS["env"], "team": "edge"}
    ws = config_workspace(consumer_block(consumer_id, key.csr(f"{consumer_id}-work-agent"), tags=tags))
    ws.apply()
    ws.assert_plan_empty()
    assert_consumer_tags(regional, ws.state_resource(ADDRESS), tags)


@pytest.fixture
def faults(emulator_url):
    armed = Faults(emulator_url)
    yield armed
    armed.clear()


def test_consumer_tags_iot_refuses_fail_the_apply_and_a_fixed_config_converges(
        config_workspace, provider_preamble, regional, leak_guard):
    """More than IoT's 50 tags (with the default tags) passes the provider's checks but not IoT's:
    at create (CreatePolicy) and at update (TagResource, LimitExceededException)."""
    consumer_id = "acc-tags-consumer-limits"
    key = AgentKey(leak_guard)
    csr = key.csr(f"{consumer_id}-work-agent")
    too_many = {f"tag-{i:02d}": "v" for i in range(50 - len(DEFAULT_TAGS) + 1)}
    ws = config_workspace(consumer_block(consumer_id, csr, tags=too_many))
    result = ws.expect_error(["apply", "-auto-approve", "-input=false", "-no-color"], r"(?i)InvalidRequest|at most 50")
    assert not PROVIDER_CRASH.search(result.output), result.describe()

    fine = {"team": "edge"}
    ws.set_config(consumer_config(provider_preamble, consumer_id, csr, fine))
    ws.apply()
    ws.assert_plan_empty()
    state = ws.state_resource(ADDRESS)
    assert_consumer_in_aws(regional, state, key)
    assert_consumer_tags(regional, state, fine)
    assert certificates_for(regional, key.spki) == {state["certificate_id"]: "ACTIVE"}

    # One over the limit in an update: IoT refuses the TagResource (the UntagResource of `team`
    # before it went through), and none of the refused tags are on the policy. Back to the
    # good configuration, the next apply puts back what the failed one removed.
    ws.set_config(consumer_config(provider_preamble, consumer_id, csr, too_many))
    result = ws.expect_error(["apply", "-auto-approve", "-input=false", "-no-color"], r"(?i)LimitExceeded|at most 50")
    assert not PROVIDER_CRASH.search(result.output), result.describe()
    assert not set(policy_tags(regional, state["policy_name"])) & set(too_many)
    ws.set_config(consumer_config(provider_preamble, consumer_id, csr, fine))
    if ws.plan().exit_code == 2:
        ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"tags_all"}})
        ws.apply()
    ws.assert_plan_empty()
    assert_consumer_tags(regional, ws.state_resource(ADDRESS), fine)
    assert ws.state_resource(ADDRESS)["certificate_id"] == state["certificate_id"]


def test_consumer_tag_update_interrupted_converges(config_workspace, provider_preamble, regional, leak_guard, faults):
    consumer_id = "acc-tags-consumer-fault"
    key = AgentKey(leak_guard)
    csr = key.csr(f"{consumer_id}-work-agent")
    ws = config_workspace(consumer_block(consumer_id, csr, tags={"old": "1", "kept": "1"}))
    ws.apply()
    first = ws.state_resource(ADDRESS)
    wanted = {"kept": "2", "new": "1"}

    # The removal goes through, the TagResource is refused: half the change is in AWS.
    faults.arm("iot", "TagResource", message="tagging refused by the test")
    ws.set_config(consumer_config(provider_preamble, consumer_id, csr, wanted))
    ws.expect_error(["apply", "-auto-approve", "-input=false", "-no-color"], r"tagging refused by the test")
    assert faults.fired("iot", "TagResource") == 1
    plan = ws.assert_plan_changes({ADDRESS: "update"}, attributes={ADDRESS: {"tags_all"}})
    assert plan.resource_change(ADDRESS)["change"]["after"]["tags_all"] == {**DEFAULT_TAGS, **wanted}, plan.describe()
    ws.apply()
    ws.assert_plan_empty()
    state = ws.state_resource(ADDRESS)
    assert_consumer_tags(regional, state, wanted)
    assert state["certificate_id"] == first["certificate_id"]

    # The answer lost after IoT tagged: the next plan finds nothing left to do.
    faults.arm("iot", "TagResource", message="answer lost", when="after")
    final = {"kept": "3"}
    ws.set_config(consumer_config(provider_preamble, consumer_id, csr, final))
    ws.expect_error(["apply", "-auto-approve", "-input=false", "-no-color"], r"answer lost")
    ws.apply()
    ws.assert_plan_empty()
    assert_consumer_tags(regional, ws.state_resource(ADDRESS), final)
    assert_consumer_in_aws(regional, ws.state_resource(ADDRESS), key)


# ---------------------------------------------------------------- maestro_server_identity


def test_server_identity_iot_policy_carries_tags_all(
        server_workspace, purge_secrets, provider_preamble, regional, make_regional_cluster, leak_guard):
    name = "acc-srv-tags"
    eks = make_regional_cluster("acc-srv-tags-eks")
    base = {**own_secrets(name), "force_delete_without_recovery": True}
    purge_secrets(*own_secrets(name).values())
    tags = {"team": "regional", "env": "staging"}
    expected_all = {**DEFAULT_TAGS, **tags}
    ws = server_workspace(server_block(name, eks, tags=tags, **base))
    ws.apply()
    ws.assert_plan_empty()
    first = ws.state_resource(SERVER_ADDRESS)
    assert first["tags"] == tags and first["tags_all"] == expected_all, (first["tags"], first["tags_all"])
    # Every other object the identity owns carries the same tags_all (and is as the brief says).
    si.assert_server_in_aws(regional, first, expected_for(name, eks, {**base, "tags": expected_all}), leak_guard)
    assert policy_tags(regional, si.policy_name(name)) == expected_all
    version = default_policy_version(regional, si.policy_name(name))

    # A tag change follows to the policy in place: same certificate, same policy version.
    changed = {"team": "platform"}
    si_config = provider_preamble + "\n" + server_block(name, eks, tags=changed, **base)
    ws.set_config(si_config)
    ws.assert_plan_changes({SERVER_ADDRESS: "update"}, attributes={SERVER_ADDRESS: {"tags", "tags_all"}})
    ws.apply()
    ws.assert_plan_empty()
    state = ws.state_resource(SERVER_ADDRESS)
    assert state["tags_all"] == {**DEFAULT_TAGS, **changed}
    si.assert_server_in_aws(regional, state, expected_for(name, eks, {**base, "tags": {**DEFAULT_TAGS, **changed}}), leak_guard)
    assert policy_tags(regional, si.policy_name(name)) == {**DEFAULT_TAGS, **changed}
    assert state["certificate_id"] == first["certificate_id"]
    assert default_policy_version(regional, si.policy_name(name)) == version

    # The policy deleted out of band (detached first, as IoT demands): created again with
    # tags_all; the deleted policy's tags did not survive it, so these are the apply's.
    client = regional.client("iot")
    for target in si.policy_targets(regional, si.policy_name(name)):
        client.detach_policy(policyName=si.policy_name(name), target=target)
    client.delete_policy(policyName=si.policy_name(name))
    ws.assert_plan_changes({SERVER_ADDRESS: "update"})
    ws.apply()
    ws.assert_plan_empty()
    repaired = ws.state_resource(SERVER_ADDRESS)
    assert policy_tags(regional, si.policy_name(name)) == {**DEFAULT_TAGS, **changed}
    si.assert_server_in_aws(regional, repaired, expected_for(name, eks, {**base, "tags": {**DEFAULT_TAGS, **changed}}),
                            leak_guard)
