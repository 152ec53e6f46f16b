"""Acceptance tests for `maestro_consumer_registration`: real tofu, real provider binary, and the
emulator's Maestro REST API and platform API (API Gateway verifying SigV4 against the emulated
STS). Every test checks Maestro's side through its REST API, not only what tofu says."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from harness import hcl
from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, REGION, REGIONAL_ACCOUNT_ID
from harness.emulator import maestro_api

pytestmark = pytest.mark.acceptance

RESOURCE_TYPE = "maestro_consumer_registration"
ADDRESS = f"{RESOURCE_TYPE}.x"
CONSUMERS = "/api/maestro/v1/consumers"
CONTROL = "/maestro-emulator/maestro-api"
PROVIDER_CRASH = re.compile(r"panicked at|Plugin did not respond|plugin crashed|unexpected EOF", re.IGNORECASE)


def unique(prefix: str = "mc") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def maestro(emulator_url: str):  # type: ignore[no-untyped-def]
    """The emulator's URL; the Maestro API's configuration and faults are reset after the test."""
    yield emulator_url
    maestro_api(emulator_url, "POST", CONTROL + "/config", {"bearerToken": None, "privilegedAccounts": [REGIONAL_ACCOUNT_ID], "region": REGION})
    maestro_api(emulator_url, "DELETE", CONTROL + "/faults")


def registered(url: str, name: str) -> dict[str, Any] | None:
    """The consumer of that name, as Maestro's REST API lists it."""
    status, listed = maestro_api(url, "GET", f"{CONSUMERS}?search=" + urllib_quote(f"name = '{name}'"))
    assert status == 200, listed
    return listed["items"][0] if listed["items"] else None


def urllib_quote(text: str) -> str:
    import urllib.parse
    return urllib.parse.quote(text)


def requests_since(url: str, start: int) -> list[dict[str, Any]]:
    return maestro_api(url, "GET", CONTROL)[1]["requests"][start:]


def request_count(url: str) -> int:
    return len(maestro_api(url, "GET", CONTROL)[1]["requests"])


def registration(name: str, labels: dict[str, str] | None, api: str, api_arguments: dict[str, Any]) -> str:
    body = {"provider": hcl.Raw("maestro.regional"), "name": name}
    if labels is not None:
        body["labels"] = labels
    return (f'resource "{RESOURCE_TYPE}" "x" {{\n{hcl.attributes(body)}\n  {api} {{\n'
            f'{hcl.attributes(api_arguments, indent="    ")}\n  }}\n}}\n')


def maestro_registration(url: str, name: str, labels: dict[str, str] | None = None, **extra: Any) -> str:
    return registration(name, labels, "maestro_api", {"url": url, **extra})


def platform_registration(url: str, name: str, labels: dict[str, str] | None = None, **extra: Any) -> str:
    return registration(name, labels, "platform_api", {"url": f"{url}/prod", **extra})


def test_create_update_import_and_destroy_through_maestros_api(maestro: str, config_workspace) -> None:  # type: ignore[no-untyped-def]
    name = unique()
    labels = {"cluster_type": "management", "cluster_id": name}
    ws = config_workspace(maestro_registration(maestro, name, labels))
    ws.apply()
    held = registered(maestro, name)
    assert held is not None and held["labels"] == labels
    state = ws.state_resource(ADDRESS)
    assert state["id"] == held["id"] and state["created_at"] == held["created_at"] and state["labels"] == labels
    ws.assert_plan_empty()

    changed = {"cluster_type": "management", "env": "prod"}
    ws.set_config(ws.root.joinpath("main.tf").read_text().split('resource "maestro_consumer_registration"')[0]
                  + maestro_registration(maestro, name, changed))
    ws.assert_plan_changes({ADDRESS: "update"}, {ADDRESS: {"labels"}})
    ws.apply()
    after = registered(maestro, name)
    assert after["labels"] == changed and after["id"] == held["id"], "labels replaced in place, same consumer"
    ws.assert_plan_empty()

    ws.verify_import(ADDRESS, f"{name},{maestro}")
    ws.assert_plan_empty()

    ws.destroy()
    assert registered(maestro, name) is None
    assert maestro_api(maestro, "GET", f"{CONSUMERS}/{held['id']}")[0] == 404


def test_a_name_already_registered_is_taken_over_with_a_warning(maestro: str, config_workspace) -> None:  # type: ignore[no-untyped-def]
    name = unique("adopt")
    status, existing = maestro_api(maestro, "POST", CONSUMERS, {"name": name, "labels": {"registered": "by-hand"}})
    assert status == 201
    ws = config_workspace(maestro_registration(maestro, name, {"cluster_type": "management"}))
    start = request_count(maestro)
    applied = ws.apply()
    text = re.sub(r"\s+", " ", applied.output)
    assert "Consumer already registered: taken over" in text and existing["id"] in text, applied.output
    seen = [(r["method"], r["status"]) for r in requests_since(maestro, start)]
    assert ("POST", 409) in seen and ("PATCH", 200) in seen, seen
    held = registered(maestro, name)
    assert held["id"] == existing["id"] and held["labels"] == {"cluster_type": "management"}
    assert ws.state_resource(ADDRESS)["id"] == existing["id"]
    ws.assert_plan_empty()


def test_drift_a_deleted_registration_is_registered_again_and_changed_labels_restored(maestro: str, config_workspace) -> None:  # type: ignore[no-untyped-def]
    name = unique("drift")
    labels = {"cluster_type": "management"}
    ws = config_workspace(maestro_registration(maestro, name, labels))
    ws.apply()
    first = registered(maestro, name)

    assert maestro_api(maestro, "PATCH", f"{CONSUMERS}/{first['id']}", {"labels": {"cluster_type": "changed", "extra": "x"}})[0] == 200
    plan = ws.assert_plan_changes({ADDRESS: "update"}, {ADDRESS: {"labels"}})
    assert plan.drift(), "refresh reports the labels changed outside"
    ws.apply()
    assert registered(maestro, name)["labels"] == labels

    assert maestro_api(maestro, "DELETE", f"{CONSUMERS}/{first['id']}")[0] == 204
    ws.assert_plan_changes({ADDRESS: "create"})
    ws.apply()
    again = registered(maestro, name)
    assert again is not None and again["id"] != first["id"] and again["labels"] == labels
    assert ws.state_resource(ADDRESS)["id"] == again["id"]
    ws.assert_plan_empty()


def test_destroy_is_refused_while_work_targets_the_consumer_and_says_what_to_remove(maestro: str, config_workspace) -> None:  # type: ignore[no-untyped-def]
    name = unique("busy")
    ws = config_workspace(maestro_registration(maestro, name, {"cluster_type": "management"}))
    ws.apply()
    status, bundle = maestro_api(maestro, "POST", CONTROL + "/resource-bundles", {"consumer_name": name})
    assert status == 201
    failed = ws.expect_error(["destroy", "-auto-approve", "-no-color"], r"Consumer still has work")
    text = re.sub(r"\s+", " ", failed.output)
    assert "resource bundles" in text and f"consumer_name = '{name}'" in text and "maestro-4" in text, failed.output
    assert not PROVIDER_CRASH.search(failed.output)
    assert registered(maestro, name) is not None, "nothing was deleted"
    assert ADDRESS in ws.state_resources()

    # The agent confirms the work's removal: now the registration goes.
    assert maestro_api(maestro, "DELETE", f"{CONTROL}/resource-bundles?consumer_name={name}")[1] == {"removed": 1}
    ws.destroy()
    assert registered(maestro, name) is None


def test_transient_answers_are_retried_and_a_server_that_stays_down_fails_the_apply(maestro: str, config_workspace) -> None:  # type: ignore[no-untyped-def]
    name = unique("flaky")
    maestro_api(maestro, "POST", CONTROL + "/faults", {"status": 503, "count": 2, "method": "POST", "path": "^/api/maestro/v1/consumers$"})
    maestro_api(maestro, "POST", CONTROL + "/faults", {"effect": "close", "count": 1, "method": "GET", "path": "^/api/maestro/v1/consumers/"})
    maestro_api(maestro, "POST", CONTROL + "/faults", {"status": 429, "count": 1, "method": "GET", "path": "^/api/maestro/v1/consumers/"})
    ws = config_workspace(maestro_registration(maestro, name, {"cluster_type": "management"}))
    start = request_count(maestro)
    ws.apply()
    posts = [r["status"] for r in requests_since(maestro, start) if r["method"] == "POST"]
    assert posts == [503, 503, 201], posts
    assert len([r for r in registered_all(maestro) if r["name"] == name]) == 1
    ws.assert_plan_empty()
    reads = [r["status"] for r in requests_since(maestro, start) if r["method"] == "GET" and r["path"].startswith(CONSUMERS + "/")]
    assert reads[:3] == ["closed", 429, 200], reads

    # Down for longer than the retry budget: the apply fails, naming the last answer.
    other = unique("down")
    maestro_api(maestro, "POST", CONTROL + "/faults", {"status": 503, "count": 100, "method": "POST"})
    ws.set_config(ws.root.joinpath("main.tf").read_text() + maestro_registration(maestro, other).replace('"x"', '"y"'))
    failed = ws.expect_error(["apply", "-auto-approve", "-no-color"], r"HTTP 503")
    assert "still failing after retries" in re.sub(r"\s+", " ", failed.output)
    attempts = [r for r in requests_since(maestro, start) if r["method"] == "POST" and r["status"] == 503][2:]
    assert 2 <= len(attempts) <= 6, f"bounded retries, got {len(attempts)}"
    maestro_api(maestro, "DELETE", CONTROL + "/faults")


def registered_all(url: str) -> list[dict[str, Any]]:
    return maestro_api(url, "GET", f"{CONSUMERS}?size=-1")[1]["items"]


def test_tls_is_verified_against_the_given_ca_only(maestro: str, config_workspace) -> None:  # type: ignore[no-untyped-def]
    tls = maestro_api(maestro, "POST", CONTROL + "/tls")[1]
    name = unique("tls")
    ws = config_workspace(maestro_registration(tls["url"], name))
    failed = ws.expect_error(["apply", "-auto-approve", "-no-color"], r"TLS refused the server's certificate")
    assert "ca_pem" in failed.output and registered(maestro, name) is None
    ws.set_config(ws.root.joinpath("main.tf").read_text().split('resource "maestro_consumer_registration"')[0]
                  + maestro_registration(tls["url"], name, ca_pem=tls["caPem"]))
    ws.apply()
    assert registered(maestro, name) is not None
    ws.assert_plan_empty()


def test_a_bearer_token_from_the_environment_is_sent_and_never_stored(maestro: str, make_workspace, provider_preamble, leak_guard) -> None:  # type: ignore[no-untyped-def]
    token = "tok-" + uuid.uuid4().hex
    leak_guard.register_secret(token, "Maestro bearer token")
    maestro_api(maestro, "POST", CONTROL + "/config", {"bearerToken": token})
    name = unique("auth")
    config = provider_preamble + "\n" + maestro_registration(maestro, name, {"a": "b"})
    bare = make_workspace("without-token")
    bare.set_config(config)
    bare.init()
    failed = bare.expect_error(["apply", "-auto-approve", "-no-color"], r"maestro-15")
    assert "MAESTRO_API_BEARER_TOKEN" in re.sub(r"\s+", " ", failed.output)

    ws = make_workspace("with-token", extra_env={"MAESTRO_API_BEARER_TOKEN": token})
    ws.set_config(config)
    ws.init()
    ws.apply()
    assert registered_with_token(maestro, name, token)["labels"] == {"a": "b"}
    ws.assert_plan_empty()
    ws.destroy()
    # The leak guard scans state, plans and logs of both workspaces for the token at teardown.


def registered_with_token(url: str, name: str, token: str) -> dict[str, Any]:
    status, listed = maestro_api(url, "GET", f"{CONSUMERS}?search=" + urllib_quote(f"name = '{name}'"),
                                 headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and listed["items"], listed
    return listed["items"][0]


def test_the_platform_api_registers_with_sigv4_from_the_assumed_role(maestro: str, config_workspace) -> None:  # type: ignore[no-untyped-def]
    name = unique("plat")
    labels = {"cluster_type": "management", "cluster_id": name}
    ws = config_workspace(platform_registration(maestro, name, labels))
    start = request_count(maestro)
    ws.apply()
    seen = [(r["method"], r["path"], r["status"], r["auth"]) for r in requests_since(maestro, start)]
    assert ("POST", "/prod/api/v0/management_clusters", 201, "sigv4") in seen, seen
    held = registered(maestro, name)
    assert held["labels"] == labels and ws.state_resource(ADDRESS)["id"] == held["id"]
    ws.assert_plan_empty()

    # The platform API cannot change labels: refused at plan, before anything is sent.
    main = ws.root.joinpath("main.tf").read_text()
    ws.set_config(main.replace('"cluster_type" = "management"', '"cluster_type" = "other"'))
    ws.expect_error(["plan", "-no-color"], r"Labels cannot change through the platform API")
    ws.set_config(main)

    ws.verify_import(ADDRESS, f"{name},{maestro}/prod,{REGION}")
    destroyed = ws.destroy()
    assert "Consumer left registered in Maestro" in re.sub(r"\s+", " ", destroyed.output)
    assert registered(maestro, name) is not None, "the platform API has no delete"


def test_the_platform_api_adopts_an_existing_name_passed_through_as_502(maestro: str, config_workspace) -> None:  # type: ignore[no-untyped-def]
    name = unique("padopt")
    existing = maestro_api(maestro, "POST", CONSUMERS, {"name": name, "labels": {"cluster_type": "management"}})[1]
    ws = config_workspace(platform_registration(maestro, name, {"cluster_type": "management"}))
    applied = ws.apply()
    assert "Consumer already registered: taken over" in re.sub(r"\s+", " ", applied.output)
    assert ws.state_resource(ADDRESS)["id"] == existing["id"]
    ws.assert_plan_empty()


def test_the_platform_api_refuses_a_non_privileged_account_and_a_wrong_signature(maestro: str, config_workspace, make_workspace, emulator_url: str) -> None:  # type: ignore[no-untyped-def]
    name = unique("deny")
    maestro_api(maestro, "POST", CONTROL + "/config", {"privilegedAccounts": [MANAGEMENT_ACCOUNT_ID]})
    ws = config_workspace(platform_registration(maestro, name))
    failed = ws.expect_error(["apply", "-auto-approve", "-no-color"], r"account-not-allowed")
    text = re.sub(r"\s+", " ", failed.output)
    assert f"account {REGIONAL_ACCOUNT_ID}" in text and "privileged account" in text, failed.output

    maestro_api(maestro, "POST", CONTROL + "/config", {"privilegedAccounts": [REGIONAL_ACCOUNT_ID]})
    wrong_region = ws.root.joinpath("main.tf").read_text().replace(f'url = "{maestro}/prod"', f'url = "{maestro}/prod"\n    region = "eu-west-1"')
    ws.set_config(wrong_region)
    failed = ws.expect_error(["apply", "-auto-approve", "-no-color"], r"Credential should be scoped to a valid region")
    assert registered(maestro, name) is None

    # Static keys whose secret is not the one the emulated IAM issued: the signature fails.
    provider = hcl.ProviderConfig("regional", emulator_url, None)
    wrong = make_workspace("wrong-secret", extra_env={"AWS_SECRET_ACCESS_KEY": "not-the-secret"})
    wrong.set_config(hcl.preamble([provider]) + "\n" + platform_registration(maestro, name))
    wrong.init()
    failed = wrong.expect_error(["apply", "-auto-approve", "-no-color"], r"The request signature we calculated does not match")
    assert "Canonical String" not in failed.output, "only the first line of API Gateway's message"
    assert registered(maestro, name) is None


def test_only_a_new_name_replaces_the_registration(maestro: str, config_workspace) -> None:  # type: ignore[no-untyped-def]
    """What docs/resources/consumer_registration.md marks `Forces replacement.` (only `name`) is
    what the plan replaces: every other argument changed at once updates in place."""
    from harness import registry_docs as rd

    page = rd.read_page(rd.page_path("resource_schemas", RESOURCE_TYPE))
    marked = {path for path, line in page.entries.items() if "." not in path and rd.states_replacement(line.description)}
    assert marked == {"name"}, marked
    name = unique("repl")
    ws = config_workspace(maestro_registration(maestro, name, {"a": "1"}))
    ws.apply()
    preamble = ws.root.joinpath("main.tf").read_text().split('resource "maestro_consumer_registration"')[0]
    ws.set_config(preamble + maestro_registration(f"{maestro}/", name, {"a": "2"}, ca_pem=None, bearer_token=None))
    plan = ws.assert_plan_changes({ADDRESS: "update"}, {ADDRESS: {"labels", "maestro_api"}})
    assert not plan.resource_change(ADDRESS)["change"].get("replace_paths")
    ws.set_config(preamble + maestro_registration(maestro, unique("repl"), {"a": "1"}))
    plan = ws.assert_plan_changes({ADDRESS: "replace"})
    assert plan.resource_change(ADDRESS)["change"]["replace_paths"] == [["name"]]
