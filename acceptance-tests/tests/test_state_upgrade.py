"""State written before the account-explicit renames keeps working: schema version 1 of
`maestro_consumer` calls `account_id` `management_account_id`, and of `maestro_agent_identity`
calls `region` `broker_region`. A state file as version 0 wrote it (old names, schema_version 0)
is upgraded by the provider (UpgradeResourceState) into an empty plan, and the next apply stores
it under the new names with the same values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from test_flows import CONSUMER, IDENTITY, one_config

pytestmark = pytest.mark.acceptance

RENAMED = {"maestro_consumer": ("management_account_id", "account_id"),
           "maestro_agent_identity": ("broker_region", "region")}


def instances(state: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [i for r in state["resources"] if r["type"] == resource_type for i in r["instances"]]


def test_version_0_state_upgrades_with_an_empty_plan(make_workspace, provider_preamble, make_eks_cluster, leak_guard):
    ws = make_workspace()
    ws.set_config(provider_preamble + one_config("upgrade-01", make_eks_cluster("upgrade-01-eks")))
    ws.init()
    ws.apply()
    path = ws.root / "terraform.tfstate"
    current = json.loads(path.read_text())
    values = {}
    for resource_type, (new, old) in RENAMED.items():
        [instance] = instances(current, resource_type)
        assert instance["schema_version"] == 1, "this provider writes schema version 1"
        values[resource_type] = instance["attributes"][new]
        # What version 0 of the provider wrote.
        instance["schema_version"] = 0
        instance["attributes"][old] = instance["attributes"].pop(new)
    current["serial"] += 1
    path.write_text(json.dumps(current, indent=2))

    ws.assert_plan_empty()
    ws.apply()
    upgraded = json.loads(path.read_text())
    for resource_type, (new, old) in RENAMED.items():
        [instance] = instances(upgraded, resource_type)
        assert instance["schema_version"] == 1
        assert old not in instance["attributes"], f"{resource_type}.{old} is gone from the schema"
        assert instance["attributes"][new] == values[resource_type]
    assert ws.state_resource(CONSUMER)["management_account_id"] == values["maestro_consumer"]
    assert ws.state_resource(IDENTITY)["broker_region"] == values["maestro_agent_identity"]
