"""STS role sessions as AWS limits and records them.

moto 5.2.5 hands out a role session for any AssumeRole or AssumeRoleWithWebIdentity request:
any duration, any token, session policies ignored. The provider's credential options depend on
what real STS refuses, so this extension adds, with STS's error codes and messages:

- role chaining: a role assumed with the credentials of a role session lasts at most 1 hour
  (`ValidationError`, "...exceeds the 1 hour session limit for roles assumed by role chaining.");
- a duration beyond the role's MaxSessionDuration, when the role exists in IAM (moto lets a
  session name a role that does not exist, and the harness relies on that);
- session policies over 2048 characters once packed (`PackedPolicyTooLarge`);
- web identity tokens: a JWT whose `iss` names an IAM OpenID Connect provider of the role's
  account and whose `aud` is one of its client IDs (`InvalidIdentityToken`). The token's
  signature is not checked (the emulator holds no issuer keys).

Every session granted is recorded, with the policy and policy ARNs STS was given, so tests can
see what a configuration asked for:

    GET    /maestro-emulator/sts-sessions   {"sessions": [{"action", "account", "roleArn", "sessionName",
                                              "durationSeconds", "policy", "policyArns", "chained"}]}
    DELETE /maestro-emulator/sts-sessions   forget them
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Any, Callable, Iterable

from moto.sts.exceptions import STSClientError, STSValidationError
from moto.sts.responses import TokenResponse

PATH = "/maestro-emulator/sts-sessions"
ROLE_CHAINING_MAX_SECONDS = 3600
MAX_PACKED_POLICY_CHARS = 2048

_lock = threading.Lock()
_sessions: list[dict[str, Any]] = []


class InvalidIdentityToken(STSClientError):
    def __init__(self, message: str):
        super().__init__("InvalidIdentityToken", message)


class PackedPolicyTooLarge(STSClientError):
    def __init__(self, message: str):
        super().__init__("PackedPolicyTooLarge", message)


def _caller_is_role_session(access_key_id: str) -> bool:
    from moto.sts.models import sts_backends  # noqa: PLC0415 - moto internals, loaded late

    for account_backends in sts_backends.values():
        for backend in account_backends.values():
            if backend.get_assumed_role_from_access_key(access_key_id) is not None:
                return True
    return False


def _existing_role(role_arn: str) -> Any | None:
    from moto.iam.models import iam_backends  # noqa: PLC0415

    parts = role_arn.split(":")
    if len(parts) < 6:
        return None
    partition, account = parts[1], parts[4]
    backend = iam_backends.get(account, {}).get(partition)
    if backend is None:
        return None
    return next((role for role in backend.get_roles() if role.arn == role_arn), None)


def _policy_arns(response: TokenResponse) -> list[str]:
    # Query protocol: PolicyArns.member.1.arn, PolicyArns.member.2.arn, ...
    found = []
    for key, values in response.querystring.items():
        if key.startswith("PolicyArns.member.") and key.endswith(".arn"):
            index = int(key.split(".")[2])
            found.append((index, values[0]))
    return [arn for _, arn in sorted(found)]


def _check_limits(response: TokenResponse, role_arn: str, duration: int, chained: bool) -> None:
    if chained and duration > ROLE_CHAINING_MAX_SECONDS:
        raise STSValidationError(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
        )
    role = _existing_role(role_arn)
    if role is not None and duration > int(role.max_session_duration or 3600):
        raise STSValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    policy = response._get_param("Policy")
    if policy:
        packed = len(json.dumps(json.loads(policy), separators=(",", ":")))
        if packed > MAX_PACKED_POLICY_CHARS:
            percent = packed * 100 // MAX_PACKED_POLICY_CHARS
            raise PackedPolicyTooLarge(f"Packed policy consumes {percent}% of allotted space, please use smaller policy.")


def _jwt_claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    try:
        if len(parts) != 3:
            raise ValueError("not three parts")
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
        if not isinstance(claims, dict):
            raise ValueError("claims are not an object")
        return claims
    except ValueError as err:
        raise InvalidIdentityToken(
            "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
        ) from err


def _check_web_identity(role_arn: str, token: str) -> None:
    from moto.iam.models import iam_backends  # noqa: PLC0415

    claims = _jwt_claims(token or "")
    issuer = str(claims.get("iss", ""))
    parts = role_arn.split(":")
    backend = iam_backends.get(parts[4], {}).get(parts[1]) if len(parts) >= 6 else None
    bare = issuer.removeprefix("https://")
    providers = [p for p in (backend.open_id_providers.values() if backend else []) if p.url == bare]
    if not providers:
        raise InvalidIdentityToken(f"No OpenIDConnect provider found in your account for {issuer}")
    audiences = claims.get("aud", [])
    audiences = [audiences] if isinstance(audiences, str) else list(audiences)
    if not any(a in p.client_id_list for p in providers for a in audiences):
        raise InvalidIdentityToken("Incorrect token audience")


def _record(action: str, response: TokenResponse, role_arn: str, duration: int, chained: bool) -> None:
    session = {
        "action": action,
        "account": role_arn.split(":")[4] if role_arn.count(":") >= 5 else "?",
        "roleArn": role_arn,
        "sessionName": response._get_param("RoleSessionName"),
        "durationSeconds": duration,
        "policy": response._get_param("Policy"),
        "policyArns": _policy_arns(response),
        "chained": chained,
    }
    with _lock:
        _sessions.append(session)


def install() -> None:
    original_assume_role = TokenResponse.assume_role
    original_web_identity = TokenResponse.assume_role_with_web_identity

    def assume_role(self: TokenResponse) -> Any:
        role_arn = self._get_param("RoleArn")
        duration = self._get_int_param("DurationSeconds", 3600)
        chained = _caller_is_role_session(self.get_access_key())
        _check_limits(self, role_arn, duration, chained)
        answer = original_assume_role(self)
        _record("AssumeRole", self, role_arn, duration, chained)
        return answer

    def assume_role_with_web_identity(self: TokenResponse) -> Any:
        role_arn = self._get_param("RoleArn")
        duration = self._get_int_param("DurationSeconds", 3600)
        _check_web_identity(role_arn, self._get_param("WebIdentityToken"))
        _check_limits(self, role_arn, duration, chained=False)
        answer = original_web_identity(self)
        _record("AssumeRoleWithWebIdentity", self, role_arn, duration, chained=False)
        return answer

    TokenResponse.assume_role = assume_role  # type: ignore[method-assign]
    TokenResponse.assume_role_with_web_identity = assume_role_with_web_identity  # type: ignore[method-assign]


def wrap(inner: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware: the control endpoint for the recorded sessions."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return inner(environ, start_response)
        with _lock:
            if environ.get("REQUEST_METHOD") == "DELETE":
                _sessions.clear()
            payload = {"sessions": list(_sessions)}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(payload).encode()]

    return app
