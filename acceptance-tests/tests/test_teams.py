"""Teams on a real state backend (issue 25, item 5): one regional configuration and one
management configuration per management account (examples/two-teams/management unchanged, each
in an account of its own), every state in the emulator's S3 through OpenTofu's `s3` backend
with its native lock file, applied by separate CLI processes at once (harness/teams.py).

Setup and a key rotation across every team, each as the example's three steps (management
stages its key, the regional configuration issues the certificates, management completes);
meanwhile a runner holds the regional state's lock, as a second CI job would. Afterwards: no
lock error that a retry with -lock-timeout did not clear, no lock file left, no lost update
(each state in S3 holds the rotated key and the certificate the regional state issued for it,
and every configuration plans empty), and a sample of the agents on the wire through the
broker with what their pods would mount.

CI runs 4 management configurations, 4 at a time; scripts/teams runs 20 (MAESTRO_TEAMS,
MAESTRO_TEAMS_PARALLELISM).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness import csi_mount, teams, wire
from harness import fault_matrix as fm
from harness.teams import TeamsFleet

pytestmark = [
    pytest.mark.acceptance,
    # scripts/install-test-tools.sh builds Terraform without its remote-state backends (README,
    # "OpenTofu and HashiCorp Terraform"): the s3 backend exists only in OpenTofu here.
    pytest.mark.skipif(teams.under_terraform(),
                       reason="this test build of HashiCorp Terraform has no s3 backend; run with MAESTRO_TEST_CLI=tofu"),
]

TEAMS = int(os.environ.get("MAESTRO_TEAMS", "4"))
PARALLELISM = int(os.environ.get("MAESTRO_TEAMS_PARALLELISM", "4"))
# How long the other runner keeps the regional state locked: the retry must wait it out.
HELD_SECONDS = 5.0


def hold_lock(fleet: TeamsFleet, s3: Any, seconds: float) -> threading.Thread:
    """Another runner's lock on the regional state: its lock file, written as the backend
    writes it (If-None-Match: *), removed after `seconds`."""
    key = fleet.regional_state_key + ".tflock"
    info = {"ID": "ffffffff-0000-4000-8000-000000000000", "Operation": "OperationTypeApply",
            "Info": "", "Who": "ci-runner@elsewhere", "Version": "1.12.6", "Created": "2026-01-01T00:00:00Z",
            "Path": f"{fleet.bucket}/{fleet.regional_state_key}"}
    s3.put_object(Bucket=fleet.bucket, Key=key, Body=json.dumps(info).encode(), IfNoneMatch="*")

    def release() -> None:
        time.sleep(seconds)
        s3.delete_object(Bucket=fleet.bucket, Key=key)

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    return thread


def probe(maestro_wire: Path, iot_data: Any, mount: Path, client_id: str, topic_filter: str) -> dict[str, Any]:
    events = wire.probe(maestro_wire, mount, iot_data.address, client_id, subscribe=[topic_filter], listen_seconds=0)
    found: dict[str, Any] = {e["event"]: e for e in events}
    found["subacks"] = {e["filter"]: e["reasonCode"] for e in events if e["event"] == "suback"}
    return found


def test_teams_apply_and_rotate_at_once_on_the_s3_backend(emulator_url, regional, make_workspace, leak_guard,
                                                          iot_data, maestro_wire, tmp_path):
    prefix = f"teams{int(time.time() * 1000) % 10**7:07d}"
    fleet = teams.make_fleet(emulator_url, make_workspace, TEAMS, PARALLELISM, prefix, iot_data.ca_pem)
    s3 = regional.client("s3")
    try:
        setup = fleet.round_trip("setup", "1")
        assert set(setup["certificates"]) == {t.cluster_id for t in fleet.teams}, setup
        first_keys = {t.cluster_id: teams.outputs(t.ws)["public_key_fingerprint"] for t in fleet.teams}

        # The rotation; when its regional apply starts, another runner holds the regional lock.
        held: list[threading.Thread] = []
        original = fleet.apply_regional

        def regional_behind_another_runner(label: str) -> dict[str, Any]:
            held.append(hold_lock(fleet, s3, HELD_SECONDS))
            return original(label)

        fleet.apply_regional = regional_behind_another_runner  # type: ignore[method-assign]
        rotated = fleet.round_trip("rotation", "2")
        for thread in held:
            thread.join()
        assert "rotation: regional" in fleet.ledger.cleared, f"the held lock was never met: {fleet.ledger.cleared}"

        # No lost update: every state in S3 is the last one its configuration wrote.
        objects = teams.state_objects(regional, fleet.bucket)
        assert teams.lock_files(objects) == [], f"lock files left behind: {teams.lock_files(objects)}"
        regional_state = objects[fleet.regional_state_key]
        consumers = {r["index_key"]: r["attributes"] for res in regional_state["resources"]
                     if res["type"] == "maestro_consumer" for r in res["instances"]}
        for team in fleet.teams:
            state = objects[team.state_key]
            out = {name: value["value"] for name, value in state["outputs"].items()}
            assert out["public_key_fingerprint"] != first_keys[team.cluster_id], f"{team.cluster_id} was not rotated"
            assert out["public_key_fingerprint"] == out["certificate_fingerprint"] == \
                rotated["fingerprints"][team.cluster_id], f"{team.cluster_id}: the states disagree: {out}"
            consumer = consumers[team.cluster_id]
            assert len(consumer["previous_certificates"]) == 1, consumer["previous_certificates"]
            assert consumer["management_account_id"] == team.account.account_id
        fleet.each_team("plan", lambda t: t.ws.assert_plan_empty())
        fleet.regional.assert_plan_empty()

        # Custody on the backend too: no key ever written to a credential secret is in a state
        # in S3 (the leak scan reads the copies written here).
        states = tmp_path / "s3-states"
        states.mkdir()
        for team in fleet.teams:
            fm.register_bundles(team.account, team.ws.state_resource("maestro_agent_key.this")["secret_name"], leak_guard)
        for key, content in objects.items():
            (states / key.replace("/", "_")).write_text(json.dumps(content), encoding="utf-8")
        leak_guard.extra_trees.append(states)

        # A sample on the wire: the first, the last and one between.
        for index in sorted({0, len(fleet.teams) // 2, len(fleet.teams) - 1}):
            team = fleet.teams[index]
            key = team.ws.state_resource("maestro_agent_key.this")
            identity = team.ws.state_resource("maestro_agent_identity.this")
            mount = csi_mount.mount_agent_secrets(team.account, key["secret_name"], identity["config_secret_name"],
                                                  tmp_path / "mounts" / team.cluster_id, guard=leak_guard)
            topic_filter = f"sources/maestro/consumers/{team.cluster_id}/sourceevents"
            found = probe(maestro_wire, iot_data, mount, f"{team.cluster_id}-work-agent-client", topic_filter)
            code = found.get("connack", {}).get("reasonCode")
            assert code is not None and code < 0x80, f"{team.cluster_id} cannot connect: {found}"
            assert found["subacks"].get(topic_filter, 0x80) < 0x80, f"{team.cluster_id} cannot subscribe: {found}"
        print(f"\nteams: {TEAMS} management configurations, {PARALLELISM} at a time; "
              + ", ".join(f"{step} {seconds:.0f}s" for step, seconds in fleet.timings.items())
              + f"; lock errors cleared by a retry: {len(fleet.ledger.cleared)}")
    finally:
        # The workspaces' teardown reads only local state: this destroys what is in S3.
        for destroy in (lambda: fleet.each_team("destroy", lambda t: t.ws.destroy()), fleet.regional.destroy):
            try:
                destroy()
            except Exception as error:  # noqa: BLE001 - the test's own failure stays the headline
                print(f"teardown destroy failed: {error}")
