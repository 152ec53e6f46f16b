r"""List calls page as AWS documents them.

moto 5.2.5 answers most of the list calls the provider makes in one page whatever page size
is asked, ignores IoT's ``ascendingOrder`` (and lists certificates oldest first, where IoT lists
them newest first unless asked otherwise), and where it does page (IAM ListRoles, Secrets
Manager ListSecrets, EKS ListClusters) its tokens are bare list positions or names: a token
that is malformed fails with a 500, one from another listing is taken at face value, and a
deletion between two pages makes the next one skip or repeat. The provider follows every one
of these calls with the Rust SDK's paginators, so the emulator pages them as AWS does.

The source of truth is botocore's service models (the ones the Rust SDK is generated from),
``botocore/data/<service>/<version>/service-2.json``: parameter names, where they travel,
their ranges and patterns, the documented defaults and the listed errors.

============================ =============================== ======== ====== ===============================
call (model)                 request / response members      default  max    a bad token
============================ =============================== ======== ====== ===============================
iot ListCertificates         ``pageSize``, ``marker``,        25 [1]   250    InvalidRequestException (400)
(iot/2015-05-28)             ``isAscendingOrder`` (query) /
                             ``certificates``, ``nextMarker``
iot ListPolicies             same, ``policies``               25 [2]   250    InvalidRequestException
iot ListAttachedPolicies     ``pageSize``, ``marker``,        25 [2]   250    InvalidRequestException
                             ``recursive`` / ``policies``,
                             ``nextMarker``
iot ListTargetsForPolicy     ``pageSize``, ``marker`` /       25 [2]   250    InvalidRequestException
                             ``targets``, ``nextMarker``
iot ListThingPrincipals      ``maxResults``, ``nextToken`` /  25 [2]   250    InvalidRequestException
                             ``principals``, ``nextToken``
iot ListPrincipalThings      ``maxResults``, ``nextToken`` /  25 [2]   250    InvalidRequestException
                             ``things``, ``nextToken``
iam ListRoles                ``MaxItems``, ``Marker``,        100      1000   ValidationError (400) [3]
(iam/2010-05-08)             ``PathPrefix`` / ``Roles``,
                             ``IsTruncated``, ``Marker``
iam ListRolePolicies         ``MaxItems``, ``Marker`` /       100      1000   ValidationError [3]
                             ``PolicyNames``, ``IsTruncated``,
                             ``Marker``
secretsmanager ListSecrets   ``MaxResults``, ``NextToken``,   100 [4]  100    InvalidNextTokenException (400)
(secretsmanager/2017-10-17)  ``Filters``,
                             ``IncludePlannedDeletion``,
                             ``SortBy``, ``SortOrder`` /
                             ``SecretList``, ``NextToken``
secretsmanager               ``MaxResults``, ``NextToken``,   100 [4]  100    InvalidNextTokenException
ListSecretVersionIds         ``IncludeDeprecated`` /
                             ``Versions``, ``NextToken``
eks ListClusters             ``maxResults``, ``nextToken`` /  100      100    InvalidParameterException (400)
(eks/2017-11-01)             ``clusters``, ``nextToken``
eks                          ``maxResults``, ``nextToken``,   100      100    InvalidParameterException
ListPodIdentityAssociations  ``namespace``,
(eks_pod_identity.py)        ``serviceAccount`` /
                             ``associations``, ``nextToken``
============================ =============================== ======== ====== ===============================

[1] ListCertificates' documentation: "The results are paginated with a default page size of 25."
[2] Not documented; the default IoT documents for ListCertificates.
[3] IAM's documentation names no error for a bad ``Marker``; IAM refuses what fails request
    validation with ``ValidationError``, and that is the code used.
[4] "If you don't include this parameter, it defaults to a value that's specific to the
    operation"; the maximum is used (moto's own default).

Out-of-range values fail as AWS's request validation fails them, with its wording ("1
validation error detected: Value '251' at 'pageSize' failed to satisfy constraint: Member must
have value less than or equal to 250"): ``MaxItems``/``pageSize``/``maxResults``/``MaxResults``
outside the model's range, an IoT marker that breaks the model's pattern ``[A-Za-z0-9+/]+={0,2}``
or 1024 characters, an IAM marker outside 1-320 characters of ``[\u0020-\u00FF]``, a Secrets
Manager token over 4096 characters. The codes: IoT InvalidRequestException and EKS
InvalidParameterException (listed for these calls in their models), IAM ValidationError and
Secrets Manager ValidationException (the services' request-validation codes, which the models
leave out of the calls' error lists; SDKs surface them by code). Secrets Manager's
``SortBy``/``SortOrder`` outside their enums are ValidationException too.

Tokens are opaque: base64 of the sort key of the last item returned and a digest of the
listing they belong to (operation, account, region, and every parameter that picks or orders
the items: the thing, the principal, the policy, the secret, the path prefix, the filters, the
order), signed with a key made when the process starts. A token that does not decode, is not
signed by this process, or belongs to another listing is refused; the page size may change
from page to page, as in AWS. The next page starts after the last key returned, so items
created or deleted between two pages never make another item be skipped or seen twice.

Orders: IoT ListCertificates and ListPolicies by creation date, newest first unless
``isAscendingOrder`` is true (the model: "If True, the results are returned in ascending
order, based on the creation date"); ListSecrets by ``SortBy`` (default ``created-date``) in
``SortOrder`` (default ascending: AWS does not document the default direction); IAM ListRoles
by RoleId as moto orders them; everything else by name (or ARN, or version ID), which AWS
leaves unspecified. Not modelled: pages shorter than the page size while more remain (IAM and
Secrets Manager say they may happen), token expiry, and ListCertificates' order between two
certificates created in the same instant (certificate ID).

Also put right in the calls rewritten here: ListSecretVersionIds leaves out versions without a
staging label unless ``IncludeDeprecated`` is true (moto listed them all), answers a secret
that does not exist with ResourceNotFoundException (moto: a 500), gives the secret's ARN as
``ARN`` (moto: its name) and no ``NextToken`` on the last page (moto: ``""`` on every page);
ListAttachedPolicies with ``recursive`` on a thing group adds the policies of the groups above
it (moto ignored the flag).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.eks.exceptions import InvalidParameterException as EksInvalidParameter
from moto.eks.responses import EKSResponse
from moto.iam.exceptions import ValidationError as IamValidationError
from moto.iam.responses import IamResponse
from moto.iot.exceptions import InvalidRequestException as IotInvalidRequest
from moto.iot.models import FakePolicy
from moto.iot.responses import IoTResponse
from moto.secretsmanager.exceptions import (
    SecretNotFoundException,
    SecretsManagerClientError,
    ValidationException as SmValidationException,
)
from moto.secretsmanager.responses import SecretsManagerResponse, _validate_filters

T = TypeVar("T")

# --------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------

# Signs tokens; made per process, so a token from an earlier emulator is refused too.
_SIGNING_KEY = secrets.token_bytes(32)
_MAC_BYTES = 12


class BadToken(Exception):
    """A token this listing cannot resume from; the caller turns it into the service's error."""


def listing(operation: str, account: str, region: str, *scope: Any) -> str:
    """A short digest naming one listing: what a token must belong to to be accepted."""
    text = json.dumps([operation, account, region, *scope], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_token(listing_id: str, after: tuple[Any, ...]) -> str:
    body = json.dumps([listing_id, list(after)], separators=(",", ":")).encode()
    mac = hmac.new(_SIGNING_KEY, body, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.b64encode(mac + body).decode("ascii")


def decode_token(token: str, listing_id: str) -> tuple[Any, ...]:
    """The key a token resumes after; BadToken if it is not one of this listing's."""
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        raise BadToken("it is not a token this service issued") from None
    mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    expected = hmac.new(_SIGNING_KEY, body, hashlib.sha256).digest()[:_MAC_BYTES]
    if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, expected):
        raise BadToken("it is not a token this service issued")
    owner, after = json.loads(body)
    if owner != listing_id:
        raise BadToken("it belongs to another listing")
    return tuple(after)


def take(
    items: Iterable[T],
    key: Callable[[T], tuple[Any, ...]],
    size: int,
    token: str | None,
    listing_id: str,
    refuse: Callable[[str], Exception],
    descending: bool = False,
) -> tuple[list[T], str | None]:
    """One page of ``items`` in ``key`` order and the token of the next (None: the last page)."""
    ordered = sorted(items, key=key, reverse=descending)
    if token:
        try:
            after = decode_token(token, listing_id)
        except BadToken as why:
            raise refuse(f"Invalid pagination token: {why}") from None
        if descending:
            ordered = [item for item in ordered if key(item) < after]
        else:
            ordered = [item for item in ordered if key(item) > after]
    chunk = ordered[:size]
    more = len(ordered) > size
    return chunk, (encode_token(listing_id, key(chunk[-1])) if more else None)


def _validation_message(value: Any, member: str, constraint: str) -> str:
    return (
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {constraint}"
    )


def page_size(
    raw: Any, member: str, default: int, maximum: int, invalid: Callable[[str], Exception]
) -> int:
    """A page-size parameter, checked against the model's range 1..maximum."""
    if raw is None or raw == "":
        return default
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise invalid(_validation_message(raw, member, "Member must be a number")) from None
    if size < 1:
        raise invalid(
            _validation_message(size, member, "Member must have value greater than or equal to 1")
        )
    if size > maximum:
        raise invalid(
            _validation_message(
                size, member, f"Member must have value less than or equal to {maximum}"
            )
        )
    return size


def _when(moment: datetime | None) -> str:
    # Exact and ordered as text: every stamp with all six fraction digits.
    return moment.isoformat(timespec="microseconds") if moment else ""


# --------------------------------------------------------------------------
# IoT (rest-json; parameters in the query string)
# --------------------------------------------------------------------------

IOT_DEFAULT_PAGE_SIZE = 25
IOT_MAX_PAGE_SIZE = 250
IOT_MARKER_MAX = 1024
_IOT_MARKER_PATTERN = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def _query(response: Any) -> dict[str, str]:
    query = parse_qs(response.parsed_url.query, keep_blank_values=True)
    return {name: values[0] for name, values in query.items() if values}


def _iot_bool(query: dict[str, str], name: str) -> bool:
    raw = query.get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() not in ("true", "false"):
        raise IotInvalidRequest(_validation_message(raw, name, "Member must be a boolean"))
    return raw.lower() == "true"


def _iot_token(query: dict[str, str], name: str, marker: bool) -> str | None:
    token = query.get(name) or None
    if token is None:
        return None
    if marker:
        # Marker's constraints in the model; nextToken is a bare string there.
        if len(token) > IOT_MARKER_MAX:
            raise IotInvalidRequest(
                _validation_message(
                    token, name, f"Member must have length less than or equal to {IOT_MARKER_MAX}"
                )
            )
        if not _IOT_MARKER_PATTERN.fullmatch(token):
            raise IotInvalidRequest(
                _validation_message(
                    token,
                    name,
                    f"Member must satisfy regular expression pattern: {_IOT_MARKER_PATTERN.pattern}",
                )
            )
    return token


def _iot_page(
    response: Any,
    operation: str,
    items: Iterable[T],
    key: Callable[[T], tuple[Any, ...]],
    scope: tuple[Any, ...],
    *,
    size_member: str,
    token_member: str,
    marker: bool,
    descending: bool = False,
) -> tuple[list[T], str | None]:
    query = _query(response)
    size = page_size(
        query.get(size_member), size_member, IOT_DEFAULT_PAGE_SIZE, IOT_MAX_PAGE_SIZE,
        IotInvalidRequest,
    )
    token = _iot_token(query, token_member, marker)
    backend = response.iot_backend
    listing_id = listing(operation, backend.account_id, backend.region_name, *scope)
    return take(items, key, size, token, listing_id, IotInvalidRequest, descending)


def _with_next(result: dict[str, Any], member: str, token: str | None) -> ActionResult:
    if token is not None:
        result[member] = token
    return ActionResult(result)


def _iot_list_certificates(self: IoTResponse) -> ActionResult:
    ascending = _iot_bool(_query(self), "isAscendingOrder")
    chunk, token = _iot_page(
        self,
        "ListCertificates",
        list(self.iot_backend.list_certificates()),
        lambda c: (_when(c.creation_date), c.certificate_id),
        (ascending,),
        size_member="pageSize",
        token_member="marker",
        marker=True,
        descending=not ascending,
    )
    return _with_next({"certificates": [c.to_dict() for c in chunk]}, "nextMarker", token)


def _policy_created(policy: FakePolicy) -> str:
    stamp = getattr(policy, "_maestro_created", None)
    if stamp is None:  # made before install(); its oldest version is the best guess
        stamp = min((v.create_datetime for v in policy.versions), default=None)
    return _when(stamp)


def _iot_list_policies(self: IoTResponse) -> ActionResult:
    ascending = _iot_bool(_query(self), "isAscendingOrder")
    chunk, token = _iot_page(
        self,
        "ListPolicies",
        list(self.iot_backend.policies.values()),
        lambda p: (_policy_created(p), p.name),
        (ascending,),
        size_member="pageSize",
        token_member="marker",
        marker=True,
        descending=not ascending,
    )
    return _with_next({"policies": [p.to_dict() for p in chunk]}, "nextMarker", token)


def _targets_of(backend: Any, target: str, recursive: bool) -> list[str]:
    """The target and, for a thing group listed recursively, every group above it."""
    targets = [target]
    group = backend.thing_groups.get(target) if recursive else None
    seen = {target}
    while group is not None and group.parent_group_name:
        group = next(
            (g for g in backend.thing_groups.values() if g.thing_group_name == group.parent_group_name),
            None,
        )
        if group is None or group.arn in seen:
            break
        seen.add(group.arn)
        targets.append(group.arn)
    return targets


def _iot_list_attached_policies(self: IoTResponse) -> ActionResult:
    target = self._get_param("target")
    recursive = _iot_bool(_query(self), "recursive")
    backend = self.iot_backend
    targets = set(_targets_of(backend, target, recursive))
    by_name = {
        name: policy
        for (attached_to, name), (_, policy) in list(backend.principal_policies.items())
        if attached_to in targets
    }
    chunk, token = _iot_page(
        self,
        "ListAttachedPolicies",
        list(by_name.values()),
        lambda p: (p.name,),
        (target, recursive),
        size_member="pageSize",
        token_member="marker",
        marker=True,
    )
    return _with_next({"policies": [p.to_dict() for p in chunk]}, "nextMarker", token)


def _iot_list_targets_for_policy(self: IoTResponse) -> ActionResult:
    policy_name = self._get_param("policyName")
    targets = self.iot_backend.list_targets_for_policy(policy_name=policy_name)
    chunk, token = _iot_page(
        self,
        "ListTargetsForPolicy",
        targets,
        lambda t: (t,),
        (policy_name,),
        size_member="pageSize",
        token_member="marker",
        marker=True,
    )
    return _with_next({"targets": chunk}, "nextMarker", token)


def _iot_list_thing_principals(self: IoTResponse) -> ActionResult:
    thing_name = self._get_param("thingName")
    principals = self.iot_backend.list_thing_principals(thing_name=thing_name)
    chunk, token = _iot_page(
        self,
        "ListThingPrincipals",
        principals,
        lambda p: (p,),
        (thing_name,),
        size_member="maxResults",
        token_member="nextToken",
        marker=False,
    )
    return _with_next({"principals": chunk}, "nextToken", token)


def _iot_list_principal_things(self: IoTResponse) -> ActionResult:
    principal = self.headers.get("x-amzn-principal")
    things = self.iot_backend.list_principal_things(principal_arn=principal)
    chunk, token = _iot_page(
        self,
        "ListPrincipalThings",
        things,
        lambda t: (t,),
        (principal,),
        size_member="maxResults",
        token_member="nextToken",
        marker=False,
    )
    return _with_next({"things": chunk}, "nextToken", token)


# --------------------------------------------------------------------------
# IAM (query protocol)
# --------------------------------------------------------------------------

IAM_DEFAULT_MAX_ITEMS = 100
IAM_MAX_ITEMS = 1000
IAM_MARKER_MAX = 320
_IAM_MARKER_PATTERN = re.compile("[\u0020-\u00ff]+")


def _iam_token(self: IamResponse) -> str | None:
    marker = self._get_param("Marker") or None
    if marker is None:
        return None
    if len(marker) > IAM_MARKER_MAX:
        raise IamValidationError(
            _validation_message(
                marker, "marker", f"Member must have length less than or equal to {IAM_MARKER_MAX}"
            )
        )
    if not _IAM_MARKER_PATTERN.fullmatch(marker):
        raise IamValidationError(
            _validation_message(
                marker, "marker", r"Member must satisfy regular expression pattern: [\u0020-\u00FF]+"
            )
        )
    return marker


def _iam_page(
    self: IamResponse,
    operation: str,
    items: Iterable[T],
    key: Callable[[T], tuple[Any, ...]],
    scope: tuple[Any, ...],
) -> tuple[list[T], str | None]:
    size = page_size(
        self._get_param("MaxItems"), "maxItems", IAM_DEFAULT_MAX_ITEMS, IAM_MAX_ITEMS,
        IamValidationError,
    )
    token = _iam_token(self)
    # IAM is global: the listing belongs to the account only.
    listing_id = listing(operation, self.backend.account_id, "", *scope)

    def refuse(_: str) -> Exception:
        return IamValidationError("Invalid Marker.")

    return take(items, key, size, token, listing_id, refuse)


def _iam_answer(result: dict[str, Any], token: str | None) -> ActionResult:
    result["IsTruncated"] = token is not None
    if token is not None:
        result["Marker"] = token
    return ActionResult(result)


def _iam_list_roles(self: IamResponse) -> ActionResult:
    path_prefix = self._get_param("PathPrefix") or "/"
    # moto's own listing filters by the prefix (and orders by RoleId); asked for everything.
    roles, _ = self.backend.list_roles(path_prefix, None, 2**31)
    chunk, token = _iam_page(self, "ListRoles", roles, lambda r: (r.id,), (path_prefix,))
    return _iam_answer({"Roles": chunk}, token)


def _iam_list_role_policies(self: IamResponse) -> ActionResult:
    role_name = self._get_param("RoleName")
    names = self.backend.list_role_policies(role_name)
    chunk, token = _iam_page(self, "ListRolePolicies", names, lambda n: (n,), (role_name,))
    return _iam_answer({"PolicyNames": chunk}, token)


# --------------------------------------------------------------------------
# Secrets Manager (json protocol)
# --------------------------------------------------------------------------

SM_MAX_RESULTS = 100
SM_TOKEN_MAX = 4096
_SM_SORT_FIELDS = {
    "created-date": "CreatedDate",
    "last-accessed-date": "LastAccessedDate",
    "last-changed-date": "LastChangedDate",
    "name": "Name",
}


class InvalidNextTokenException(SecretsManagerClientError):
    def __init__(self, message: str):
        super().__init__("InvalidNextTokenException", message)


def _sm_refuse(_: str) -> Exception:
    return InvalidNextTokenException("The NextToken value is invalid.")


def _sm_page(
    self: SecretsManagerResponse,
    operation: str,
    items: Iterable[T],
    key: Callable[[T], tuple[Any, ...]],
    scope: tuple[Any, ...],
    descending: bool = False,
) -> tuple[list[T], str | None]:
    size = page_size(
        self._get_param("MaxResults"), "maxResults", SM_MAX_RESULTS, SM_MAX_RESULTS,
        SmValidationException,
    )
    token = self._get_param("NextToken") or None
    if token is not None and len(token) > SM_TOKEN_MAX:
        raise SmValidationException(
            _validation_message(
                token, "nextToken", f"Member must have length less than or equal to {SM_TOKEN_MAX}"
            )
        )
    backend = self.backend
    listing_id = listing(operation, backend.account_id, backend.region_name, *scope)
    return take(items, key, size, token, listing_id, _sm_refuse, descending)


def _sm_enum(value: Any, member: str, allowed: Iterable[str], default: str) -> str:
    if value is None:
        return default
    allowed = list(allowed)
    if value not in allowed:
        raise SmValidationException(
            _validation_message(
                value, member, f"Member must satisfy enum value set: [{', '.join(allowed)}]"
            )
        )
    return value


def _sm_list_secrets(self: SecretsManagerResponse) -> str:
    filters = self._get_param("Filters", if_none=[])
    _validate_filters(filters)
    include_planned_deletion = bool(self._get_param("IncludePlannedDeletion", if_none=False))
    sort_by = _sm_enum(self._get_param("SortBy"), "sortBy", _SM_SORT_FIELDS, "created-date")
    sort_order = _sm_enum(self._get_param("SortOrder"), "sortOrder", ("asc", "desc"), "asc")
    field = _SM_SORT_FIELDS[sort_by]
    # moto's listing applies the filters and the deletion rule; asked for everything at once.
    secrets_found, _ = self.backend.list_secrets(
        filters=filters,
        max_results=2**31,
        next_token=None,
        include_planned_deletion=include_planned_deletion,
    )

    def key(secret: dict[str, Any]) -> tuple[Any, ...]:
        value = secret.get(field)
        if field == "Name":
            return (value or "", secret["ARN"])
        return (value or 0, secret["ARN"])

    chunk, token = _sm_page(
        self,
        "ListSecrets",
        secrets_found,
        key,
        (filters, include_planned_deletion, sort_by, sort_order),
        descending=sort_order == "desc",
    )
    answer: dict[str, Any] = {"SecretList": chunk}
    if token is not None:
        answer["NextToken"] = token
    return json.dumps(answer)


def _sm_list_secret_version_ids(self: SecretsManagerResponse) -> str:
    secret_id = self._get_param("SecretId", if_none="")
    if not self.backend._is_valid_identifier(secret_id):
        raise SecretNotFoundException()
    include_deprecated = bool(self._get_param("IncludeDeprecated", if_none=False))
    secret = self.backend.secrets[secret_id]
    # Whatever the installed backend reports for each version (secretsmanager_versions gives
    # the real CreatedDate), filtered and paged here.
    listed = json.loads(self.backend.list_secret_version_ids(secret_id=secret_id))
    versions = [
        v for v in listed.get("Versions", []) if include_deprecated or v.get("VersionStages")
    ]

    def key(version: dict[str, Any]) -> tuple[Any, ...]:
        stored = secret.versions.get(version["VersionId"], {})
        return (stored.get("createdate") or 0, version["VersionId"])

    chunk, token = _sm_page(
        self, "ListSecretVersionIds", versions, key, (secret.arn, include_deprecated)
    )
    # ARN: the secret's ARN (moto answers its name there).
    answer: dict[str, Any] = {"Versions": chunk, "ARN": secret.arn, "Name": secret.name}
    if token is not None:
        answer["NextToken"] = token
    return json.dumps(answer)


# --------------------------------------------------------------------------
# EKS (rest-json; parameters in the query string)
# --------------------------------------------------------------------------

EKS_MAX_RESULTS = 100


def eks_invalid(message: str, cluster_name: str | None = None) -> Exception:
    return EksInvalidParameter(
        clusterName=cluster_name,
        nodegroupName=None,
        fargateProfileName=None,
        addonName=None,
        message=message,
    )


def eks_page(
    query: dict[str, str],
    operation: str,
    account: str,
    region: str,
    items: Iterable[T],
    key: Callable[[T], tuple[Any, ...]],
    scope: tuple[Any, ...],
    cluster_name: str | None = None,
) -> tuple[list[T], str | None]:
    """One page of an EKS listing (maxResults 1-100, default 100; nextToken)."""

    def invalid(message: str) -> Exception:
        return eks_invalid(message, cluster_name)

    size = page_size(query.get("maxResults"), "maxResults", EKS_MAX_RESULTS, EKS_MAX_RESULTS, invalid)
    listing_id = listing(operation, account, region, *scope)
    return take(items, key, size, query.get("nextToken") or None, listing_id, invalid)


def _eks_list_clusters(self: EKSResponse) -> ActionResult:
    backend = self.eks_backend
    chunk, token = eks_page(
        _query(self),
        "ListClusters",
        backend.account_id,
        backend.region_name,
        list(backend.clusters.keys()),
        lambda name: (name,),
        (),
    )
    return _with_next({"clusters": chunk}, "nextToken", token)


# --------------------------------------------------------------------------

_original_policy_init = FakePolicy.__init__


def _policy_init(self: FakePolicy, *args: Any, **kwargs: Any) -> None:
    _original_policy_init(self, *args, **kwargs)
    # ListPolicies orders by creation; FakePolicy keeps no date of its own.
    self._maestro_created = utcnow()  # type: ignore[attr-defined]


def install() -> None:
    FakePolicy.__init__ = _policy_init  # type: ignore[method-assign]
    # moto dispatches an operation to the response method named after it in snake_case.
    IoTResponse.list_certificates = _iot_list_certificates  # type: ignore[method-assign]
    IoTResponse.list_policies = _iot_list_policies  # type: ignore[method-assign]
    IoTResponse.list_attached_policies = _iot_list_attached_policies  # type: ignore[method-assign]
    IoTResponse.list_targets_for_policy = _iot_list_targets_for_policy  # type: ignore[method-assign]
    IoTResponse.list_thing_principals = _iot_list_thing_principals  # type: ignore[method-assign]
    IoTResponse.list_principal_things = _iot_list_principal_things  # type: ignore[method-assign]
    IamResponse.list_roles = _iam_list_roles  # type: ignore[method-assign]
    IamResponse.list_role_policies = _iam_list_role_policies  # type: ignore[method-assign]
    SecretsManagerResponse.list_secrets = _sm_list_secrets  # type: ignore[method-assign]
    SecretsManagerResponse.list_secret_version_ids = _sm_list_secret_version_ids  # type: ignore[method-assign]
    EKSResponse.list_clusters = _eks_list_clusters  # type: ignore[method-assign]
