"""STS session limits and records (maestro_emulator/sts_sessions.py): role chaining's 1-hour
limit, the role's MaxSessionDuration, packed session policies, web identity tokens checked
against the account's OpenID Connect providers, with STS's error codes and messages."""

from __future__ import annotations

import base64
import json
from urllib.request import Request, urlopen

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from emulator_harness import DEFAULT_ACCOUNT, REGION, Emulator, make_role, unique
from test_emulator import error_of

ISSUER = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"


def sessions(emulator: Emulator, reset: bool = False) -> list[dict]:
    request = Request(emulator.endpoint + "/maestro-emulator/sts-sessions", method="DELETE" if reset else "GET")
    with urlopen(request, timeout=10) as response:
        return json.load(response)["sessions"]


def jwt(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f'{part({"alg": "RS256", "typ": "JWT"})}.{part(claims)}.c2lnbmF0dXJl'


def unsigned_sts(emulator: Emulator):  # type: ignore[no-untyped-def]
    # AssumeRoleWithWebIdentity is an unsigned call, as the provider makes it.
    return boto3.client("sts", endpoint_url=emulator.endpoint, region_name=REGION, config=Config(signature_version=UNSIGNED))


def test_a_chained_session_is_limited_to_one_hour(emulator: Emulator) -> None:
    role = make_role(emulator.client("iam"))
    first = emulator.assume(role)
    sts = emulator.client("sts", **first)
    with pytest.raises(ClientError) as refused:
        sts.assume_role(RoleArn=role, RoleSessionName="chained", DurationSeconds=7200)
    assert error_of(refused) == (
        400, "ValidationError",
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
    sessions(emulator, reset=True)
    sts.assume_role(RoleArn=role, RoleSessionName="chained", DurationSeconds=3600)
    assert [(s["chained"], s["durationSeconds"]) for s in sessions(emulator)] == [(True, 3600)]


def test_a_session_longer_than_the_roles_maximum_is_refused(emulator: Emulator) -> None:
    iam = emulator.client("iam")
    role = make_role(iam)
    with pytest.raises(ClientError) as refused:
        emulator.client("sts").assume_role(RoleArn=role, RoleSessionName="long", DurationSeconds=7200)
    assert error_of(refused) == (
        400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    iam.update_role(RoleName=role.split("/")[-1], MaxSessionDuration=14400)
    emulator.client("sts").assume_role(RoleArn=role, RoleSessionName="long", DurationSeconds=7200)


def test_session_policies_are_recorded_and_limited_in_size(emulator: Emulator) -> None:
    role = make_role(emulator.client("iam"))
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})
    arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess", f"arn:aws:iam::{DEFAULT_ACCOUNT}:policy/narrow"]
    sessions(emulator, reset=True)
    emulator.client("sts").assume_role(RoleArn=role, RoleSessionName="narrow", Policy=policy,
                                       PolicyArns=[{"arn": a} for a in arns])
    [recorded] = sessions(emulator)
    assert (recorded["policy"], recorded["policyArns"], recorded["chained"]) == (policy, arns, False)
    huge = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "a" * 2100}]})
    with pytest.raises(ClientError) as refused:
        emulator.client("sts").assume_role(RoleArn=role, RoleSessionName="huge", Policy=huge)
    status, code, message = error_of(refused)
    assert (status, code) == (400, "PackedPolicyTooLarge") and "allotted space" in message


def test_web_identity_tokens_need_the_accounts_oidc_provider_and_audience(emulator: Emulator) -> None:
    iam = emulator.client("iam")
    role = make_role(iam)
    sts = unsigned_sts(emulator)
    token = jwt({"iss": f"https://{ISSUER}", "aud": AUDIENCE, "sub": "repo:org/repo:ref:refs/heads/main"})

    def refused(web_token: str) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as failure:
            sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="ci", WebIdentityToken=web_token)
        return error_of(failure)

    assert refused("not-a-jwt")[1:] == (
        "InvalidIdentityToken", "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
    assert refused(token)[1:] == ("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for https://{ISSUER}")
    provider = iam.create_open_id_connect_provider(Url=f"https://{ISSUER}", ClientIDList=["other"],
                                                   ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    try:
        assert refused(token)[1:] == ("InvalidIdentityToken", "Incorrect token audience")
        # moto has no AddClientIDToOpenIDConnectProvider: make the provider again with the audience.
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider)
        provider = iam.create_open_id_connect_provider(Url=f"https://{ISSUER}", ClientIDList=[AUDIENCE],
                                                       ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
        sessions(emulator, reset=True)
        answer = sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="ci", WebIdentityToken=token,
                                                   PolicyArns=[{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}])
        assert answer["Credentials"]["AccessKeyId"]
        [recorded] = sessions(emulator)
        assert (recorded["action"], recorded["roleArn"], recorded["policyArns"]) == (
            "AssumeRoleWithWebIdentity", role, ["arn:aws:iam::aws:policy/ReadOnlyAccess"])
        # The web identity session's credentials act in the role's account.
        who = emulator.client("sts", aws_access_key_id=answer["Credentials"]["AccessKeyId"],
                              aws_secret_access_key=answer["Credentials"]["SecretAccessKey"],
                              aws_session_token=answer["Credentials"]["SessionToken"]).get_caller_identity()
        assert who["Account"] == role.split(":")[4]
    finally:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider)
