"""The provider's account guards against a swapped configuration: the regional block given the
management account's role (or the other way round) must be refused before any AWS call that
could write, naming the account it found. Counted at the emulator, which sees every call."""

from __future__ import annotations

import json
import urllib.request

import pytest

from harness import aws_inspect, hcl
from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, MANAGEMENT_ROLE_ARN, REGIONAL_ACCOUNT_ID, REGIONAL_ROLE_ARN

pytestmark = pytest.mark.acceptance

# The only calls configuring a provider may make: assuming its role and asking who it is.
IDENTITY_CALLS = {"sts:AssumeRole", "sts:GetCallerIdentity"}


def calls(url: str, reset: bool = False) -> set[str]:
    request = urllib.request.Request(f"{url}/maestro-emulator/calls", method="DELETE" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return {f'{c["service"]}:{c["action"]}' for c in json.load(response)["calls"]}


def consumer_config(emulator_url: str, regional_role: str, **guards) -> str:
    regional = hcl.ProviderConfig("regional", emulator_url, regional_role, extra=guards)
    return hcl.preamble([regional, hcl.management_provider(emulator_url)]) + hcl.resource(
        "maestro_consumer", "c", {"consumer_id": "guarded", "management_account_id": MANAGEMENT_ACCOUNT_ID,
                                  "csr_pem": hcl.Raw("var.csr")}, provider="maestro.regional") + \
        'variable "csr" {\n  type    = string\n  default = "-"\n}\n'


@pytest.mark.parametrize("guard, message", [
    ({"allowed_account_ids": [REGIONAL_ACCOUNT_ID]}, rf"account {MANAGEMENT_ACCOUNT_ID} .*not in allowed_account_ids"),
    ({"forbidden_account_ids": [MANAGEMENT_ACCOUNT_ID]}, rf"account {MANAGEMENT_ACCOUNT_ID} .*forbidden_account_ids"),
])
def test_a_swapped_role_is_refused_before_any_aws_call_but_sts(make_workspace, emulator_url, regional, guard, message):
    ws = make_workspace()
    # The regional block was handed the management account's role.
    ws.set_config(consumer_config(emulator_url, MANAGEMENT_ROLE_ARN, **guard))
    ws.init()
    calls(emulator_url, reset=True)
    for command in (["plan", "-no-color", "-input=false"], ["apply", "-auto-approve", "-no-color", "-input=false"]):
        result = ws.expect_error(command, message)
        assert "Nothing was changed in AWS" in " ".join(result.output.split())
    made = calls(emulator_url)
    assert made <= IDENTITY_CALLS, f"calls beyond the identity check: {sorted(made - IDENTITY_CALLS)}"
    assert ws.state_resources() == {}
    assert "guarded-maestro-agent" not in {t["thingName"] for t in aws_inspect.every_item(regional.client("iot"), "list_things", "things")}


def test_the_right_account_passes_the_guard(make_workspace, emulator_url):
    ws = make_workspace()
    ws.set_config(consumer_config(emulator_url, REGIONAL_ROLE_ARN, allowed_account_ids=[REGIONAL_ACCOUNT_ID]))
    ws.init()
    # Past configure, the (deliberately bad) CSR is what fails: the guard let the right account through.
    ws.expect_error(["plan", "-no-color", "-input=false"], r"csr_pem")


def test_guards_are_validated_before_any_call(make_workspace, emulator_url):
    ws = make_workspace()
    ws.set_config(consumer_config(emulator_url, REGIONAL_ROLE_ARN, allowed_account_ids=["12345"]))
    ws.init()
    report = ws.validate_json()
    assert report["valid"] is False
    assert any("12 digits" in d.get("detail", "") for d in report["diagnostics"]), report["diagnostics"]
