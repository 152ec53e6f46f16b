"""API Gateway with IAM (SigV4) authorization in front of the regional platform API's
`/api/v0/management_clusters`, at the stage `prod`: `/prod/api/v0/management_clusters`.

API Gateway checks the signature before anything reaches the platform API, and answers
refusals itself with `{"message": ...}` and an `x-amzn-ErrorType` header (all 403, as API
Gateway's "How do I troubleshoot HTTP 403 errors" page lists them):

- no `Authorization` header: `MissingAuthenticationTokenException`, "Missing Authentication Token"
  (also what a route or method the API does not have gets, before any signature check);
- an access key the emulated IAM/STS never issued, or a session token that is not the one
  issued with the key: `AccessDeniedException`, "The security token included in the request is
  invalid."; an assumed-role session past its expiration: `ExpiredTokenException`;
- a signature that does not verify (wrong secret, altered request, another service or region
  in the credential scope): `InvalidSignatureException`, with the canonical request and string
  to sign the gateway expected;
- `X-Amz-Date` more than 15 minutes from now: `InvalidSignatureException`, "Signature expired".

The signature is verified here, from SigV4's definition (canonical request, string to sign,
the HMAC key chain), with the secret of the caller's key as moto issued it: IAM users' access
keys, STS assumed-role sessions (the session token must match), and the static test key
`testing`/`testing` (moto's default account).

Then API Gateway hands the caller's account to the platform API (`X-Amz-Account-Id`), which
refuses accounts not on its privileged list: 403 `{"kind": "Error", "code":
"account-not-allowed", "reason": "account not allowed"}`. Its handlers pass Maestro's answers
through: 201/200 with the consumer, Maestro errors as 502 with Maestro's `code` and `reason`
(a name taken: 502 `maestro-6`), an unknown id 404 `not-found`. The list takes `page` and
`size` (1..100, other values ignored) and no `search`. The platform API has no PATCH or
DELETE for management clusters.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import urllib.parse
import uuid
from typing import Any

STAGE_PREFIX = "/prod"
ROUTE = "/api/v0/management_clusters"
SERVICE = "execute-api"
MAX_SKEW = datetime.timedelta(minutes=15)
STATIC_KEYS = {"testing": ("testing", "123456789012", "arn:aws:iam::123456789012:root")}
SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
                      "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")


def _gateway_error(error_type: str, message: str) -> Any:
    from .maestro_api import Answer

    return Answer(403, {"message": message}, [("x-amzn-ErrorType", error_type), ("x-amzn-RequestId", str(uuid.uuid4()))])


def _platform_error(status: int, code: str, reason: str) -> Any:
    from .maestro_api import Answer

    return Answer(status, {"kind": "Error", "code": code, "reason": reason})


class Caller:
    def __init__(self, secret: str, account: str, arn: str, session_token: str | None, expiration: datetime.datetime | None):
        self.secret = secret
        self.account = account
        self.arn = arn
        self.session_token = session_token
        self.expiration = expiration


def find_caller(access_key: str) -> Caller | None:
    """The key's secret and owner, as moto's IAM and STS issued them."""
    from moto.iam.models import iam_backends  # noqa: PLC0415 - moto internals, loaded late
    from moto.sts.models import sts_backends  # noqa: PLC0415

    for account_id, partitions in list(iam_backends.items()):
        for partition, backend in list(partitions.items()):
            key = backend.access_keys.get(access_key)
            if key is None:
                continue
            if key.role_arn:
                for role in sts_backends[account_id][partition].assumed_roles:
                    if role.access_key_id == access_key:
                        return Caller(role.secret_access_key, account_id, role.arn, role.session_token,
                                      role.expiration.replace(tzinfo=datetime.timezone.utc))
                return None
            user = getattr(key, "user_name", None) or "unknown"
            return Caller(key.secret_access_key, account_id, f"arn:{partition}:iam::{account_id}:user/{user}", None, None)
    if access_key in STATIC_KEYS:
        secret, account, arn = STATIC_KEYS[access_key]
        return Caller(secret, account, arn, None, None)
    return None


def _header(environ: dict[str, Any], name: str) -> str | None:
    if name == "content-type":
        return environ.get("CONTENT_TYPE")
    if name == "content-length":
        return environ.get("CONTENT_LENGTH")
    return environ.get("HTTP_" + name.upper().replace("-", "_"))


def canonical_request(environ: dict[str, Any], method: str, signed_headers: list[str], body: bytes) -> str:
    raw_path = (environ.get("REQUEST_URI") or environ.get("RAW_URI") or environ.get("PATH_INFO", "/")).split("?", 1)[0]
    # Services other than S3 encode the (already encoded) path once more.
    canonical_path = urllib.parse.quote(raw_path or "/", safe="/~")
    pairs = urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    query = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                     for k, v in sorted(pairs))
    headers = "".join(f"{name}:{' '.join((_header(environ, name) or '').split())}\n" for name in signed_headers)
    return "\n".join([method, canonical_path, query, headers, ";".join(signed_headers), hashlib.sha256(body).hexdigest()])


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _parse_authorization(header: str) -> dict[str, str] | None:
    if not header.startswith("AWS4-HMAC-SHA256 "):
        return None
    fields: dict[str, str] = {}
    for part in header[len("AWS4-HMAC-SHA256 "):].split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    return fields if {"Credential", "SignedHeaders", "Signature"} <= fields.keys() else None


def _stamp(t: datetime.datetime) -> str:
    return t.strftime("%Y%m%dT%H%M%SZ")


def verify(environ: dict[str, Any], method: str, body: bytes, region: str, now: datetime.datetime | None = None) -> Caller:
    """The caller of a correctly signed request; raises API Gateway's refusal otherwise."""
    header = environ.get("HTTP_AUTHORIZATION")
    if not header:
        raise _gateway_error("MissingAuthenticationTokenException", "Missing Authentication Token")
    fields = _parse_authorization(header)
    if fields is None:
        raise _gateway_error("IncompleteSignatureException",
                             f"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters with the AWS4-HMAC-SHA256 algorithm. Authorization={header.split(' ')[0]}")
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise _gateway_error("IncompleteSignatureException", "Credential scope must be <key>/<date>/<region>/<service>/aws4_request.")
    access_key, date, scope_region, service = scope[0], scope[1], scope[2], scope[3]
    caller = find_caller(access_key)
    token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN")
    if caller is None or caller.session_token != token:
        raise _gateway_error("AccessDeniedException", "The security token included in the request is invalid.")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if caller.expiration is not None and caller.expiration <= now:
        raise _gateway_error("ExpiredTokenException", "The security token included in the request is expired")
    if service != SERVICE:
        raise _gateway_error("InvalidSignatureException", f"Credential should be scoped to correct service: '{SERVICE}'. ")
    if scope_region != region:
        raise _gateway_error("InvalidSignatureException", f"Credential should be scoped to a valid region, not '{scope_region}'. ")
    amz_date = environ.get("HTTP_X_AMZ_DATE", "")
    try:
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise _gateway_error("IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.") from None
    if signed_at < now - MAX_SKEW:
        raise _gateway_error("InvalidSignatureException",
                             f"Signature expired: {amz_date} is now earlier than {_stamp(now - MAX_SKEW)} ({_stamp(now)} - 15 min.)")
    if signed_at > now + MAX_SKEW:
        raise _gateway_error("InvalidSignatureException",
                             f"Signature not yet current: {amz_date} is still later than {_stamp(now + MAX_SKEW)} ({_stamp(now)} + 15 min.)")
    signed_headers = fields["SignedHeaders"].split(";")
    if "host" not in signed_headers or date != amz_date[:8]:
        raise _gateway_error("InvalidSignatureException", SIGNATURE_MISMATCH)
    canonical = canonical_request(environ, method, signed_headers, body)
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, "/".join(scope[1:]), hashlib.sha256(canonical.encode()).hexdigest()])
    expected = hmac.new(_signing_key(caller.secret, date, scope_region, service), string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["Signature"]):
        raise _gateway_error("InvalidSignatureException",
                             f"{SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n")
    return caller


def handle(environ: dict[str, Any], method: str, path: str, query: dict[str, str], body: bytes, config: dict[str, Any]) -> Any:
    from . import maestro_api
    from .maestro_api import Answer

    route = path[len(STAGE_PREFIX):]
    is_list = route == ROUTE and method in ("GET", "POST")
    is_item = route.startswith(ROUTE + "/") and route.count("/") == 4 and method == "GET"
    if not (is_list or is_item):
        # API Gateway says the same for a path or method it has no route for.
        raise _gateway_error("MissingAuthenticationTokenException", "Missing Authentication Token")
    caller = verify(environ, method, body, config["region"])
    if caller.account not in config["privilegedAccounts"]:
        raise _platform_error(403, "account-not-allowed", "account not allowed")
    request: dict[str, Any] = {}
    if method == "POST" and body:
        try:
            request = maestro_api.read_json(body)
        except Answer:
            raise _platform_error(400, "invalid-request", "Invalid request body") from None
    try:
        if is_item:
            return Answer(200, maestro_api.get(route.rsplit("/", 1)[1]))
        if method == "GET":
            page = int(query["page"]) if query.get("page", "").isdigit() and int(query["page"]) > 0 else 1
            size = int(query["size"]) if query.get("size", "").isdigit() and 0 < int(query["size"]) <= 100 else 100
            return Answer(200, maestro_api.list_consumers({"page": str(page), "size": str(size)}))
        return Answer(201, maestro_api.create(request))
    except Answer as maestro_error:
        if maestro_error.status == 404 and is_item:
            raise _platform_error(404, "not-found", "Management cluster not found") from None
        reason = maestro_error.body.get("reason", "") if isinstance(maestro_error.body, dict) else ""
        code = maestro_error.body.get("code", "maestro-error") if isinstance(maestro_error.body, dict) else "maestro-error"
        raise _platform_error(502, code, reason) from None
