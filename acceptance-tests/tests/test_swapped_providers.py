"""An agent's resources (maestro_agent_key, maestro_consumer, maestro_agent_identity) with the
regional and management provider aliases swapped. Both provider blocks are right (each allows
only its own account, so the provider's account guard passes), but each resource is given the
other account's block: the consumer then names as `management_account_id` the very account its
provider acts in, and the identity its own account as `regional_account_id`. `plan` must refuse
that, pinned to the attribute, before any key is generated and before any AWS write: counted at
the emulator, which sees every call, and checked in both accounts (no secret, so no private key;
no certificate, thing, IoT policy or role appeared).

In one configuration the identity takes the consumer's certificate, so once the consumer is
refused tofu does not plan the identity: the trio fails on the consumer alone. The identity's
own refusal shows with the management team's side (key and identity, no consumer, as
examples/two-teams/management before the first certificate) given the regional provider, the
case that would have written the agent's key into the regional account's Secrets Manager.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from harness import hcl
from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, REGIONAL_ACCOUNT_ID, AwsAccount
from harness.emulator import emulator_calls

pytestmark = pytest.mark.acceptance

REGIONAL = "maestro.regional"
MANAGEMENT = "maestro.management"
READ_PREFIXES = ("Get", "Describe", "List")
SWAPPED = re.escape("swapped providers?")


def is_write(operation: str) -> bool:
    service, action = operation.split(":", 1)
    return service != "sts" and not action.startswith(READ_PREFIXES)


def preamble(emulator_url: str) -> str:
    """The standard provider blocks, each with its own account as the only allowed one."""
    regional, management = hcl.standard_providers(emulator_url)
    regional.extra = {"allowed_account_ids": [REGIONAL_ACCOUNT_ID]}
    management.extra = {"allowed_account_ids": [MANAGEMENT_ACCOUNT_ID]}
    return hcl.preamble([regional, management])


def agent_blocks(cluster_id: str, *, key: str, identity: str, consumer: str | None) -> str:
    """One agent, wired as README's quick start, each resource with the provider given; with
    `consumer` None, the management side alone (the identity has no certificate yet)."""
    identity_arguments: dict[str, Any] = {
        "cluster_id": cluster_id, "regional_account_id": REGIONAL_ACCOUNT_ID, "eks_cluster_name": f"{cluster_id}-eks",
        "mqtt_cert_secret_name": hcl.Raw("maestro_agent_key.k.secret_name")}
    blocks = [hcl.resource("maestro_agent_key", "k", {"cluster_id": cluster_id}, provider=key)]
    if consumer is not None:
        blocks.append(hcl.resource("maestro_consumer", "c", {
            "consumer_id": cluster_id, "csr_pem": hcl.Raw("maestro_agent_key.k.csr_pem"),
            "management_account_id": MANAGEMENT_ACCOUNT_ID}, provider=consumer))
        identity_arguments.update(certificate_pem=hcl.Raw("maestro_consumer.c.certificate_pem"),
                                  broker_endpoint=hcl.Raw("maestro_consumer.c.endpoint"))
    blocks.append(hcl.resource("maestro_agent_identity", "i", identity_arguments, provider=identity))
    return "\n".join(blocks)


def objects(account: AwsAccount) -> dict[str, frozenset[str]]:
    """Every object a swapped apply would have made in `account` (secrets scheduled for
    deletion included: a written key stays there until the recovery window ends)."""
    def listed(client: Any, operation: str, key: str, field: str, **arguments: Any) -> frozenset[str]:
        pages = client.get_paginator(operation).paginate(**arguments)
        return frozenset(item[field] for page in pages for item in page[key])

    iot = account.client("iot")
    return {
        "secrets": listed(account.secretsmanager, "list_secrets", "SecretList", "Name", IncludePlannedDeletion=True),
        "certificates": listed(iot, "list_certificates", "certificates", "certificateId"),
        "things": listed(iot, "list_things", "things", "thingName"),
        "iot policies": listed(iot, "list_policies", "policies", "policyName"),
        "roles": listed(account.iam, "list_roles", "Roles", "RoleName"),
    }


def flat(output: str) -> str:
    """The output on one line, without the boxes tofu may draw around diagnostics."""
    return re.sub(r"[\s│╷╵]+", " ", output)


def pinned(resource_type: str, attribute: str, output: str) -> bool:
    """The diagnostic points at `attribute` of the resource: tofu quotes that line of the config."""
    return re.search(rf'with {resource_type}\.\w+, on \S+ line \d+, in resource "{resource_type}" "\w+": \d+: {attribute} *=',
                     flat(output)) is not None


def assert_refused_before_any_write(ws, emulator_url: str, accounts: list[AwsAccount], resource_type: str,
                                    attribute: str, acting: str, side: str) -> None:
    """`plan` and `apply` both fail with the one refusal of `resource_type`, pinned to `attribute`,
    naming `acting` (the provider's account) as what `attribute` says is the `side` account; no
    AWS write, nothing new in either account, nothing in state, no private key anywhere."""
    before = {a.name: objects(a) for a in accounts}
    emulator_calls(emulator_url, reset=True)
    for command in (["plan", "-no-color", "-input=false"], ["apply", "-auto-approve", "-no-color", "-input=false"]):
        result = ws.expect_error(command, SWAPPED)
        text = flat(result.output)
        assert text.count("swapped providers?") == 1, f"one refusal expected: {result.describe()}"
        assert pinned(resource_type, attribute, result.output), f"not pinned to {attribute}: {result.describe()}"
        home = "regional" if side == "management" else "management"
        for needed in (f"{resource_type} belongs in the {home} account",
                       f"acts in account {acting} (as arn:aws:sts::{acting}:assumed-role/",
                       f'{attribute} = "{acting}" says that is the {side} account',
                       "nothing was generated or written in either account",
                       f"provider = maestro.{home}", f"provider = maestro.{side}", "allowed_account_ids"):
            assert needed in text, f"missing {needed!r}: {result.describe()}"
    calls: Counter[str] = emulator_calls(emulator_url)

    writes = sorted(op for op in calls if is_write(op))
    assert not writes, f"a refused plan wrote to AWS: {writes} (all calls: {dict(calls)})"
    assert calls["sts:GetCallerIdentity"] > 0, f"the emulator saw no call at all: is it counting? {dict(calls)}"
    after = {a.name: objects(a) for a in accounts}
    for name in before:
        added = {kind: sorted(after[name][kind] - before[name][kind]) for kind in before[name]}
        assert not any(added.values()), f"the {name} account gained {added}"
    assert ws.state_resources() == {}
    # No key was generated: no private key anywhere in the workspace (state, plans, logs).
    for path in ws.root.rglob("*"):
        if path.is_file() and ".terraform" not in path.parts:
            assert "PRIVATE KEY" not in path.read_text(encoding="utf-8", errors="replace"), f"a private key in {path}"


def test_an_agent_with_swapped_providers_is_refused_at_plan_before_any_key_or_write(
        make_workspace, emulator_url, regional, management):
    ws = make_workspace()
    # The key and the identity get the regional block, the consumer the management one.
    ws.set_config(preamble(emulator_url) + "\n" +
                  agent_blocks("swapped-providers", key=REGIONAL, consumer=MANAGEMENT, identity=REGIONAL))
    ws.init()
    assert_refused_before_any_write(ws, emulator_url, [regional, management], "maestro_consumer", "management_account_id",
                                    acting=MANAGEMENT_ACCOUNT_ID, side="management")


def test_the_management_side_on_the_regional_provider_is_refused_before_the_key_is_written(
        make_workspace, emulator_url, regional, management):
    ws = make_workspace()
    ws.set_config(preamble(emulator_url) + "\n" +
                  agent_blocks("swapped-management-side", key=REGIONAL, consumer=None, identity=REGIONAL))
    ws.init()
    assert_refused_before_any_write(ws, emulator_url, [regional, management], "maestro_agent_identity", "regional_account_id",
                                    acting=REGIONAL_ACCOUNT_ID, side="regional")


def test_the_right_providers_plan_without_the_refusal(make_workspace, emulator_url):
    ws = make_workspace()
    ws.set_config(preamble(emulator_url) + "\n" +
                  agent_blocks("unswapped-providers", key=MANAGEMENT, consumer=REGIONAL, identity=MANAGEMENT))
    ws.init()
    plan = ws.plan()
    assert "swapped providers?" not in flat(plan.result.output)
    assert plan.actions() == {"maestro_agent_key.k": ["create"], "maestro_consumer.c": ["create"],
                              "maestro_agent_identity.i": ["create"]}, plan.describe()
