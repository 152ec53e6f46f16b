"""Provider credentials as CI systems and platform teams run them: `assume_role_with_web_identity`
(an OIDC token, from a file or inline, exchanged with sts:AssumeRoleWithWebIdentity), session
policies (`policy`, `policy_arns`) on either kind of session, and the 1-hour limit AWS puts on a
role assumed with a role session's credentials (role chaining).

Against the emulator's STS (maestro_emulator/sts_sessions.py), which checks the token's issuer
and audience against the account's OpenID Connect providers, refuses chained sessions over 1
hour and sessions over the role's MaxSessionDuration with STS's own messages, and records each
session with the policies it was given. The token is registered with the leak guard: it must
never reach state, plan, CLI output or the trace logs."""

from __future__ import annotations

import base64
import json
import secrets
import urllib.request
from typing import Any

import pytest

from harness import hcl
from harness.aws_accounts import MANAGEMENT_ACCOUNT_ID, MANAGEMENT_ROLE_ARN, REGION, REGIONAL_ACCOUNT_ID, REGIONAL_ROLE_ARN

pytestmark = pytest.mark.acceptance

ISSUER = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
SESSION_POLICY = {"Version": "2012-10-17",
                  "Statement": [{"Effect": "Allow", "Action": ["iot:*", "sts:GetCallerIdentity"], "Resource": "*"}]}
IDENTITY_CALLS = {"sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:GetCallerIdentity"}


def _control(url: str, path: str, reset: bool = False) -> Any:
    request = urllib.request.Request(f"{url}/maestro-emulator/{path}", method="DELETE" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def sessions(url: str, reset: bool = False) -> list[dict[str, Any]]:
    return _control(url, "sts-sessions", reset)["sessions"]


def calls(url: str, reset: bool = False) -> set[str]:
    return {f'{c["service"]}:{c["action"]}' for c in _control(url, "calls", reset)["calls"]}


def account_of(ws) -> str:  # type: ignore[no-untyped-def]
    """The account the provider's session acts in, as the configuration's output reports it."""
    return ws.show_state()["values"]["outputs"]["account"]["value"]


def oidc_token(subject: str) -> str:
    """A GitHub Actions-shaped ID token (unsigned: the emulator checks issuer and audience)."""
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    claims = {"iss": f"https://{ISSUER}", "aud": AUDIENCE, "sub": subject, "jti": secrets.token_hex(16)}
    return f'{part({"alg": "RS256", "typ": "JWT"})}.{part(claims)}.{secrets.token_urlsafe(32)}'


@pytest.fixture(scope="module")
def ci_role(regional) -> str:  # type: ignore[no-untyped-def]
    """A role in the regional account that GitHub Actions' OIDC tokens may assume."""
    iam = regional.client("iam")
    provider_arn = f"arn:aws:iam::{REGIONAL_ACCOUNT_ID}:oidc-provider/{ISSUER}"
    if provider_arn not in {p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]}:
        iam.create_open_id_connect_provider(Url=f"https://{ISSUER}", ClientIDList=[AUDIENCE], ThumbprintList=["a" * 40])
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{ISSUER}:aud": AUDIENCE}}}]}
    name = f"maestro-ci-{secrets.token_hex(4)}"
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def provider_block(emulator_url: str, body: str) -> str:
    endpoints = "\n".join(f"    {s} = {hcl.string(emulator_url)}" for s in hcl.SERVICES_WITH_ENDPOINTS)
    return (f'provider "maestro" {{\n  alias  = "regional"\n  region = {hcl.string(REGION)}\n'
            f"  endpoints {{\n{endpoints}\n  }}\n{body}}}\n")


TOKEN_VARIABLE = 'variable "ci_token" {\n  type      = string\n  sensitive = true\n  default   = null\n}\n'


def binding_config(emulator_url: str, credentials: str) -> str:
    """The data source reads the provider's account: which account the session acts in. An
    inline token comes, as CI systems pass it, from a sensitive variable set in the environment
    (TF_VAR_ci_token), so it is in no file of the workspace."""
    return (hcl.terraform_block() + TOKEN_VARIABLE + provider_block(emulator_url, credentials)
            + 'data "maestro_agent_binding" "b" {\n  provider    = maestro.regional\n  consumer_id = "ci-01"\n}\n'
            + 'output "account" {\n  value = data.maestro_agent_binding.b.regional_account_id\n}\n')


def test_a_ci_token_file_gives_a_narrowed_session_in_the_roles_account(make_workspace, emulator_url, ci_role, leak_guard,
                                                                      tmp_path_factory):
    token = oidc_token("repo:platform/fleet:ref:refs/heads/main")
    leak_guard.register_secret(token, "web identity token")
    ws = make_workspace()
    # Where the CI runner writes it: outside the workspace the leak guard scans.
    token_file = tmp_path_factory.mktemp("oidc") / "token.jwt"
    token_file.write_text(token + "\n")
    ws.set_config(binding_config(emulator_url, f"""  assume_role_with_web_identity {{
    role_arn                = {hcl.string(ci_role)}
    session_name            = "github-run-42"
    web_identity_token_file = {hcl.string(str(token_file))}
    policy                  = jsonencode({json.dumps(SESSION_POLICY)})
    policy_arns             = [{hcl.string(READ_ONLY)}]
  }}
"""))
    ws.init()
    sessions(emulator_url, reset=True)
    ws.apply()
    assert account_of(ws) == REGIONAL_ACCOUNT_ID
    granted = [s for s in sessions(emulator_url) if s["action"] == "AssumeRoleWithWebIdentity"]
    assert granted, "the provider never exchanged the token"
    assert {(s["roleArn"], s["sessionName"]) for s in granted} == {(ci_role, "github-run-42")}
    assert all(s["policyArns"] == [READ_ONLY] and json.loads(s["policy"]) == SESSION_POLICY for s in granted), granted


def test_a_web_identity_session_chains_into_the_management_role(make_workspace, emulator_url, ci_role, leak_guard):
    token = oidc_token("repo:platform/fleet:environment:production")
    leak_guard.register_secret(token, "web identity token")
    ws = make_workspace()
    ws.extra_env["TF_VAR_ci_token"] = token
    ws.set_config(binding_config(emulator_url, f"""  assume_role_with_web_identity {{
    role_arn           = {hcl.string(ci_role)}
    web_identity_token = var.ci_token
  }}
  assume_role {{
    role_arn    = {hcl.string(MANAGEMENT_ROLE_ARN)}
    duration    = "1h"
    policy_arns = [{hcl.string(READ_ONLY)}]
  }}
"""))
    ws.init()
    sessions(emulator_url, reset=True)
    ws.apply()
    assert account_of(ws) == MANAGEMENT_ACCOUNT_ID
    by_action = {s["action"]: s for s in sessions(emulator_url)}
    assert by_action["AssumeRoleWithWebIdentity"]["roleArn"] == ci_role
    chained = by_action["AssumeRole"]
    assert (chained["roleArn"], chained["chained"], chained["policyArns"]) == (MANAGEMENT_ROLE_ARN, True, [READ_ONLY])


def test_a_chained_session_over_an_hour_is_refused_at_its_duration_before_any_call(make_workspace, emulator_url, ci_role):
    ws = make_workspace()
    ws.set_config(binding_config(emulator_url, f"""  assume_role_with_web_identity {{
    role_arn                = {hcl.string(ci_role)}
    web_identity_token_file = "/nonexistent/token"
  }}
  assume_role {{
    role_arn = {hcl.string(MANAGEMENT_ROLE_ARN)}
    duration = "2h"
  }}
"""))
    ws.init()
    calls(emulator_url, reset=True)
    result = ws.expect_error(["plan", "-no-color", "-input=false"], r"Session too long for role chaining")
    assert 'duration = "2h"' in result.output, "the diagnostic points at assume_role.duration"
    assert calls(emulator_url) == set(), "known from the configuration alone: no AWS call"


def test_base_credentials_that_are_a_role_session_limit_the_assumed_role_to_an_hour(make_workspace, emulator_url, regional):
    # The CI runner's own credentials are a role session (an instance role, a profile's role_arn).
    runner = regional.client("sts").assume_role(RoleArn=REGIONAL_ROLE_ARN, RoleSessionName="runner")["Credentials"]
    ws = make_workspace()
    ws.extra_env.update({"AWS_ACCESS_KEY_ID": runner["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": runner["SecretAccessKey"],
                         "AWS_SESSION_TOKEN": runner["SessionToken"]})
    ws.set_config(binding_config(emulator_url, f"""  assume_role {{
    role_arn = {hcl.string(MANAGEMENT_ROLE_ARN)}
    duration = "3h"
  }}
"""))
    ws.init()
    calls(emulator_url, reset=True)
    result = ws.expect_error(["plan", "-no-color", "-input=false"], r"1 hour session limit for roles assumed by role chaining")
    assert 'duration = "3h"' in result.output, "pinned to assume_role.duration"
    assert "set duration to 1h or less" in " ".join(result.output.split())
    assert calls(emulator_url) <= IDENTITY_CALLS
    # The same configuration with an allowed duration works.
    ws.set_config(binding_config(emulator_url, f"""  assume_role {{
    role_arn = {hcl.string(MANAGEMENT_ROLE_ARN)}
    duration = "1h"
  }}
"""))
    ws.apply()
    assert account_of(ws) == MANAGEMENT_ACCOUNT_ID


def test_a_token_sts_rejects_is_reported_at_the_web_identity_block(make_workspace, emulator_url, ci_role, leak_guard):
    ws = make_workspace()
    bogus = "opaque-access-token-" + secrets.token_hex(12)
    leak_guard.register_secret(bogus, "bad web identity token")
    ws.extra_env["TF_VAR_ci_token"] = bogus
    ws.set_config(binding_config(emulator_url, f"""  assume_role_with_web_identity {{
    role_arn           = {hcl.string(ci_role)}
    web_identity_token = var.ci_token
  }}
"""))
    ws.init()
    calls(emulator_url, reset=True)
    result = ws.expect_error(["plan", "-no-color", "-input=false"], r"InvalidIdentityToken")
    assert "not a valid JWT" in " ".join(result.output.split())
    assert f"role_arn           = {hcl.string(ci_role)}" in result.output, "pinned to the web identity block's role_arn"
    assert calls(emulator_url) <= IDENTITY_CALLS


def test_session_policies_are_validated_before_any_call(make_workspace, emulator_url):
    ws = make_workspace()
    ws.set_config(binding_config(emulator_url, f"""  assume_role {{
    role_arn    = {hcl.string(REGIONAL_ROLE_ARN)}
    policy      = "{{not json"
    policy_arns = ["ReadOnlyAccess"]
  }}
"""))
    ws.init()
    calls(emulator_url, reset=True)
    report = ws.validate_json()
    assert report["valid"] is False
    details = " ".join(d.get("detail", "") for d in report["diagnostics"])
    assert "JSON policy document" in details and "ARN" in details, report["diagnostics"]
    assert calls(emulator_url) == set()
