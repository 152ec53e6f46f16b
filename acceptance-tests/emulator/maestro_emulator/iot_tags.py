"""AWS IoT resource tagging, which moto 5.2.5 does not implement at all.

moto's IoT answers TagResource, UntagResource and ListTagsForResource with
"not implemented", and CreatePolicy ignores its ``tags`` member.
maestro_consumer and maestro_server_identity tag the IoT policies they own
(things are not taggable in AWS IoT; they have attributes instead), so the
emulator needs the real API.  Shapes follow botocore's
``iot/2015-05-28/service-2.json`` (the model the Rust SDK is generated from):

- ``POST /tags``   TagResource          ``{"resourceArn", "tags": [{"Key", "Value"}]}``
- ``POST /untag``  UntagResource        ``{"resourceArn", "tagKeys": [...]}``
- ``GET  /tags?resourceArn=...&nextToken=...``  ListTagsForResource
  -> ``{"tags": [{"Key", "Value"}], "nextToken"}``
- CreatePolicy's optional ``tags`` member (a TagList in the JSON body).

moto already routes the three operations to ``IoTResponse`` methods named
after them (it matches method and path against the botocore model), so only
the response methods and the state are added here.

Taggable: IoT policies, ``arn:<partition>:iot:<region>:<account>:policy/<name>``.
Their tags live on moto's ``FakePolicy`` object, so DeletePolicy drops them and
a policy created again under the same name starts with none, as in AWS.

Errors, as IoT reports them:

- an ARN that is not an IoT ARN, or names a resource type AWS IoT cannot tag
  (``thing/...``, ``cert/...``, ``client/...``, ...): InvalidRequestException (400);
- a policy ARN with no such policy in the caller's account and region (or an
  ARN of another account, region or partition): ResourceNotFoundException (404);
- a resource type AWS IoT does tag but this emulator does not model
  (thing groups, thing types, rules, role aliases, ...): ``NotImplemented``
  (501), so a test depending on it fails loudly instead of passing on a
  fake AWS error;
- tag limits (AWS documents 50 tags per resource; the API model allows keys
  of 1-128 and values of 0-256 characters, keys of letters, digits, spaces and
  ``_ . : / = + - @``; the ``aws:`` prefix is reserved): a key or value out of
  bounds or a reserved key is InvalidRequestException with the
  "1 validation error detected" message AWS gives; a TagResource leaving the
  policy with more than 50 tags is LimitExceededException (410, listed for
  TagResource); CreatePolicy with more than 50 tags is
  InvalidRequestException (CreatePolicy lists no LimitExceededException).
  A rejected call changes nothing (CreatePolicy creates no policy).

Not modelled: IoT's ordering of ListTagsForResource and its page size (AWS
leaves it unspecified; here tags come sorted by key, ``PAGE_SIZE`` to a page,
small enough that a client must follow ``nextToken`` with a realistic number
of tags), and tag-based IAM conditions.
"""

from __future__ import annotations

import threading
import unicodedata
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, EmptyResult
from moto.iot.exceptions import InvalidRequestException, ResourceNotFoundException
from moto.iot.models import FakePolicy, IoTBackend
from moto.iot.responses import IoTResponse
from moto.utilities.utils import get_partition

MAX_TAGS = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
RESERVED_PREFIX = "aws:"
# Tags per ListTagsForResource page.
PAGE_SIZE = 10

# Resource types (the ARN's resource part up to the first "/") that AWS IoT
# tags but this emulator does not: every Create* of the IoT model with a
# `tags` member other than CreatePolicy.
_TAGGABLE_NOT_EMULATED = frozenset(
    {
        "authorizer",
        "billinggroup",
        "cacert",
        "certificateprovider",
        "command",
        "custommetric",
        "dimension",
        "domainconfiguration",
        "fleetmetric",
        "job",
        "jobtemplate",
        "mitigationaction",
        "otaupdate",
        "package",
        "provisioningtemplate",
        "rolealias",
        "rule",
        "scheduledaudit",
        "securityprofile",
        "stream",
        "thinggroup",
        "thingtype",
    }
)
_KEY_PUNCTUATION = frozenset("_.:/=+-@")

_LOCK = threading.RLock()


class LimitExceededException(JsonRESTError):
    code = 410

    def __init__(self, message: str):
        super().__init__("LimitExceededException", message)


class NotEmulatedException(JsonRESTError):
    code = 501

    def __init__(self, message: str):
        super().__init__("NotImplemented", message)


def _tags_of(policy: FakePolicy) -> dict[str, str]:
    tags = getattr(policy, "_maestro_tags", None)
    if tags is None:
        tags = {}
        policy._maestro_tags = tags  # type: ignore[attr-defined]
    return tags


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def _validation_error(value: Any, where: str, constraint: str) -> InvalidRequestException:
    # The wording of AWS's request validation ("1 validation error detected: ...").
    return InvalidRequestException(
        f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy "
        f"constraint: {constraint}"
    )


def _key_character_ok(char: str) -> bool:
    # The model's pattern ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$ without the regex module.
    return unicodedata.category(char)[0] in "LZN" or char in _KEY_PUNCTUATION


def _check_key(key: Any, where: str) -> str:
    if not isinstance(key, str) or key == "":
        raise _validation_error(key, where, "Member must have length greater than or equal to 1")
    if len(key) > MAX_KEY_LENGTH:
        raise _validation_error(
            key, where, f"Member must have length less than or equal to {MAX_KEY_LENGTH}"
        )
    if not all(_key_character_ok(c) for c in key):
        raise _validation_error(
            key, where, r"Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"
        )
    if key.lower().startswith(RESERVED_PREFIX):
        raise InvalidRequestException(
            f"Tag key {key} uses the reserved prefix 'aws:'; tags with it cannot be added, "
            "changed or removed"
        )
    return key


def _parse_tag_list(raw: Any, member: str) -> dict[str, str]:
    """A TagList from a request, validated; later duplicates of a key win."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise InvalidRequestException(f"{member} must be a list of tags")
    tags: dict[str, str] = {}
    for index, tag in enumerate(raw, start=1):
        if not isinstance(tag, dict):
            raise InvalidRequestException(f"{member}.{index} must be a tag object")
        key = _check_key(tag.get("Key"), f"{member}.{index}.member.key")
        value = tag.get("Value")
        if value is None:
            # A tag's value may be empty but never null: a missing Value is the empty string.
            value = ""
        if not isinstance(value, str):
            raise InvalidRequestException(f"{member}.{index}.member.value must be a string")
        if len(value) > MAX_VALUE_LENGTH:
            raise _validation_error(
                value,
                f"{member}.{index}.member.value",
                f"Member must have length less than or equal to {MAX_VALUE_LENGTH}",
            )
        tags[key] = value
    return tags


# --------------------------------------------------------------------------
# Resolving an ARN
# --------------------------------------------------------------------------


def _taggable_policy(backend: IoTBackend, resource_arn: Any) -> FakePolicy:
    if not isinstance(resource_arn, str) or not resource_arn:
        raise InvalidRequestException("resourceArn is required")
    parts = resource_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iot" or not parts[5]:
        raise InvalidRequestException(f"{resource_arn} is not a valid IoT resource ARN")
    _, partition, _, region, account, resource = parts
    resource_type, _, name = resource.partition("/")
    if resource_type != "policy":
        if resource_type in _TAGGABLE_NOT_EMULATED:
            raise NotEmulatedException(
                f"maestro emulator: tags on IoT {resource_type} resources are not emulated "
                f"({resource_arn}); only policies are"
            )
        raise InvalidRequestException(
            f"Resource type {resource_type} does not support tagging: {resource_arn}"
        )
    if not name:
        raise InvalidRequestException(f"{resource_arn} is not a valid IoT resource ARN")
    # The caller's credentials and endpoint pick account and region; an ARN of
    # another one names nothing that exists here.
    if (
        partition != get_partition(backend.region_name)
        or region != backend.region_name
        or account != backend.account_id
    ):
        raise ResourceNotFoundException(f"The policy {name} does not exist ({resource_arn})")
    policy = backend.policies.get(name)
    if policy is None:
        raise ResourceNotFoundException(f"The policy {name} does not exist ({resource_arn})")
    return policy


# --------------------------------------------------------------------------
# Backend methods (added to IoTBackend)
# --------------------------------------------------------------------------


def tag_resource(self: IoTBackend, resource_arn: str, tags: Any) -> None:
    with _LOCK:
        policy = _taggable_policy(self, resource_arn)
        new = _parse_tag_list(tags, "tags")
        current = _tags_of(policy)
        merged = {**current, **new}
        if len(merged) > MAX_TAGS:
            raise LimitExceededException(
                f"The policy {policy.name} would have {len(merged)} tags; a resource can have "
                f"at most {MAX_TAGS}"
            )
        current.update(new)


def untag_resource(self: IoTBackend, resource_arn: str, tag_keys: Any) -> None:
    with _LOCK:
        policy = _taggable_policy(self, resource_arn)
        if not isinstance(tag_keys, list):
            raise InvalidRequestException("tagKeys must be a list of tag keys")
        keys = [_check_key(key, f"tagKeys.{i}.member") for i, key in enumerate(tag_keys, start=1)]
        current = _tags_of(policy)
        for key in keys:
            current.pop(key, None)


def list_tags_for_resource(
    self: IoTBackend, resource_arn: str, next_token: str | None
) -> tuple[list[dict[str, str]], str | None]:
    with _LOCK:
        policy = _taggable_policy(self, resource_arn)
        keys = sorted(_tags_of(policy))
        start = 0
        if next_token:
            # The token is the key the page starts at; resuming at ">=" keeps
            # paging going if that tag was removed in between.
            if not next_token.startswith("k:"):
                raise InvalidRequestException(f"Invalid nextToken: {next_token}")
            resume = next_token[2:]
            start = next((i for i, k in enumerate(keys) if k >= resume), len(keys))
        page = keys[start : start + PAGE_SIZE]
        rest = keys[start + PAGE_SIZE :]
        tags = _tags_of(policy)
        return (
            [{"Key": k, "Value": tags[k]} for k in page],
            ("k:" + rest[0]) if rest else None,
        )


# --------------------------------------------------------------------------
# Response methods (added to / replacing IoTResponse's)
# --------------------------------------------------------------------------


def _resp_tag_resource(self: IoTResponse) -> ActionResult:
    self.iot_backend.tag_resource(  # type: ignore[attr-defined]
        self._get_param("resourceArn"), self._get_param("tags")
    )
    return EmptyResult()


def _resp_untag_resource(self: IoTResponse) -> ActionResult:
    self.iot_backend.untag_resource(  # type: ignore[attr-defined]
        self._get_param("resourceArn"), self._get_param("tagKeys")
    )
    return EmptyResult()


def _resp_list_tags_for_resource(self: IoTResponse) -> ActionResult:
    tags, token = self.iot_backend.list_tags_for_resource(  # type: ignore[attr-defined]
        self._get_param("resourceArn"), self._get_param("nextToken")
    )
    result: dict[str, Any] = {"tags": tags}
    if token is not None:
        result["nextToken"] = token
    return ActionResult(result)


def _resp_create_policy(self: IoTResponse) -> ActionResult:
    with _LOCK:
        # Validated before anything is created: a refused CreatePolicy leaves no policy behind.
        tags = _parse_tag_list(self._get_param("tags"), "tags")
        if len(tags) > MAX_TAGS:
            raise InvalidRequestException(
                f"A resource can have at most {MAX_TAGS} tags; the request has {len(tags)}"
            )
        policy = self.iot_backend.create_policy(
            policy_name=self._get_param("policyName"),
            policy_document=self._get_param("policyDocument"),
        )
        _tags_of(policy).update(tags)
        return ActionResult(policy.to_dict_at_creation())


def install() -> None:
    IoTBackend.tag_resource = tag_resource  # type: ignore[attr-defined]
    IoTBackend.untag_resource = untag_resource  # type: ignore[attr-defined]
    IoTBackend.list_tags_for_resource = list_tags_for_resource  # type: ignore[attr-defined]
    # moto dispatches an operation to the method named after it in snake_case.
    IoTResponse.tag_resource = _resp_tag_resource  # type: ignore[attr-defined]
    IoTResponse.untag_resource = _resp_untag_resource  # type: ignore[attr-defined]
    IoTResponse.list_tags_for_resource = _resp_list_tags_for_resource  # type: ignore[attr-defined]
    IoTResponse.create_policy = _resp_create_policy  # type: ignore[method-assign]
