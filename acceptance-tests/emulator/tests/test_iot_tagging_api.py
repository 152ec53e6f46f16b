"""IoT tagging (maestro_emulator/iot_tags.py): TagResource, UntagResource, ListTagsForResource
and CreatePolicy's tags, on IoT policies, with IoT's errors."""

from __future__ import annotations

import json
from urllib.request import Request, urlopen

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from emulator_harness import MANAGEMENT_ACCOUNT, REGION, Emulator, start_emulator, unique
from test_emulator import error_of

# maestro_emulator/iot_tags.py: PAGE_SIZE tags to a ListTagsForResource page; AWS's limit of tags.
PAGE_SIZE = 10
MAX_TAGS = 50
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]})


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def all_tags(iot, arn: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Every tag of a resource, following nextToken; also checks no key comes twice."""
    seen: list[tuple[str, str]] = []
    kwargs: dict[str, str] = {"resourceArn": arn}
    while True:
        page = iot.list_tags_for_resource(**kwargs)
        seen += [(t["Key"], t["Value"]) for t in page["tags"]]
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    assert len({k for k, _ in seen}) == len(seen), seen
    return dict(seen)


def new_policy(iot, **kwargs) -> str:  # type: ignore[no-untyped-def]
    return iot.create_policy(policyName=unique("policy"), policyDocument=POLICY, **kwargs)["policyArn"]


def test_tags_round_trip(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    arn = new_policy(iot)
    assert iot.list_tags_for_resource(resourceArn=arn)["tags"] == []
    iot.tag_resource(resourceArn=arn, tags=tag_list({"team": "edge", "env": "dev", "empty": ""}))
    assert all_tags(iot, arn) == {"team": "edge", "env": "dev", "empty": ""}
    # An existing key gets the new value; the other tags stay.
    iot.tag_resource(resourceArn=arn, tags=tag_list({"env": "prod"}))
    assert all_tags(iot, arn) == {"team": "edge", "env": "prod", "empty": ""}
    # The wire shape: a TagList of {Key, Value}.
    page = iot.list_tags_for_resource(resourceArn=arn)
    assert sorted(page["tags"], key=lambda t: t["Key"]) == [
        {"Key": "empty", "Value": ""}, {"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "edge"}]
    assert "nextToken" not in page


def test_a_tag_without_a_value_has_the_empty_value(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    arn = new_policy(iot)
    iot.tag_resource(resourceArn=arn, tags=[{"Key": "flag"}])
    assert all_tags(iot, arn) == {"flag": ""}


def test_untag_removes_every_key_given(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    arn = new_policy(iot, tags=tag_list({"a": "1", "b": "2", "c": "3", "d": "4"}))
    iot.untag_resource(resourceArn=arn, tagKeys=["a", "c", "not-there"])
    assert all_tags(iot, arn) == {"b": "2", "d": "4"}
    iot.untag_resource(resourceArn=arn, tagKeys=["b", "d"])
    assert all_tags(iot, arn) == {}
    # Removing nothing, or keys a resource does not have, is no error.
    iot.untag_resource(resourceArn=arn, tagKeys=[])
    iot.untag_resource(resourceArn=arn, tagKeys=["gone"])


def test_list_tags_is_paginated(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    tags = {f"key-{i:02d}": f"value-{i}" for i in range(PAGE_SIZE * 2 + 3)}
    arn = new_policy(iot, tags=tag_list(tags))
    first = iot.list_tags_for_resource(resourceArn=arn)
    assert len(first["tags"]) == PAGE_SIZE and first["nextToken"]
    second = iot.list_tags_for_resource(resourceArn=arn, nextToken=first["nextToken"])
    assert len(second["tags"]) == PAGE_SIZE and second["nextToken"]
    third = iot.list_tags_for_resource(resourceArn=arn, nextToken=second["nextToken"])
    assert len(third["tags"]) == 3 and "nextToken" not in third
    assert all_tags(iot, arn) == tags
    # boto3's paginator (result key `tags`, token `nextToken`, from the model) gets them all too.
    pages = list(iot.get_paginator("list_tags_for_resource").paginate(resourceArn=arn))
    assert {t["Key"]: t["Value"] for p in pages for t in p["tags"]} == tags and len(pages) == 3
    # A tag removed between two pages does not break paging.
    first_of_second = second["tags"][0]["Key"]
    iot.untag_resource(resourceArn=arn, tagKeys=[first_of_second])
    resumed = iot.list_tags_for_resource(resourceArn=arn, nextToken=first["nextToken"])
    assert resumed["tags"][0]["Key"] == second["tags"][1]["Key"]
    with pytest.raises(ClientError) as err:
        iot.list_tags_for_resource(resourceArn=arn, nextToken="bogus")
    assert error_of(err)[:2] == (400, "InvalidRequestException")


def test_create_policy_with_tags(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    name = unique("policy")
    out = iot.create_policy(policyName=name, policyDocument=POLICY, tags=tag_list({"owner": "maestro", "env": "ci"}))
    assert out["policyArn"] == f"arn:aws:iot:us-east-1:123456789012:policy/{name}"
    assert out["policyVersionId"] == "1"
    assert all_tags(iot, out["policyArn"]) == {"owner": "maestro", "env": "ci"}
    # GetPolicy is unchanged by tagging (it has no tags member in AWS either).
    assert "tags" not in iot.get_policy(policyName=name)
    # CreatePolicy without tags still works and gives an untagged policy.
    assert all_tags(iot, new_policy(iot)) == {}


def test_refused_create_policy_creates_nothing(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    name = unique("policy")
    with pytest.raises(ClientError) as err:
        iot.create_policy(policyName=name, policyDocument=POLICY, tags=tag_list({"aws:owner": "x"}))
    assert error_of(err)[:2] == (400, "InvalidRequestException")
    with pytest.raises(ClientError) as err:
        iot.create_policy(policyName=name, policyDocument=POLICY,
                          tags=tag_list({f"k{i}": "v" for i in range(MAX_TAGS + 1)}))
    assert error_of(err)[:2] == (400, "InvalidRequestException")
    with pytest.raises(ClientError) as err:
        iot.get_policy(policyName=name)
    assert error_of(err)[:2] == (404, "ResourceNotFoundException")
    # Exactly the limit is fine.
    arn = iot.create_policy(policyName=name, policyDocument=POLICY,
                            tags=tag_list({f"k{i}": "v" for i in range(MAX_TAGS)}))["policyArn"]
    assert len(all_tags(iot, arn)) == MAX_TAGS
    # An existing name is still refused as before, and the existing policy's tags stay.
    with pytest.raises(ClientError) as err:
        iot.create_policy(policyName=name, policyDocument=POLICY, tags=tag_list({"other": "x"}))
    assert error_of(err)[:2] == (409, "ResourceAlreadyExistsException")
    assert "other" not in all_tags(iot, arn)


def test_deleting_a_policy_drops_its_tags(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    name = unique("policy")
    arn = iot.create_policy(policyName=name, policyDocument=POLICY, tags=tag_list({"a": "1"}))["policyArn"]
    iot.tag_resource(resourceArn=arn, tags=tag_list({"b": "2"}))
    iot.delete_policy(policyName=name)
    with pytest.raises(ClientError) as err:
        iot.list_tags_for_resource(resourceArn=arn)
    assert error_of(err)[:2] == (404, "ResourceNotFoundException")
    # The same name again is a new policy, with no tags of the old one.
    assert iot.create_policy(policyName=name, policyDocument=POLICY)["policyArn"] == arn
    assert all_tags(iot, arn) == {}


def test_unknown_policy_is_not_found(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    arn = f"arn:aws:iot:us-east-1:123456789012:policy/{unique('missing')}"
    for call in (
        lambda: iot.list_tags_for_resource(resourceArn=arn),
        lambda: iot.tag_resource(resourceArn=arn, tags=tag_list({"a": "1"})),
        lambda: iot.untag_resource(resourceArn=arn, tagKeys=["a"]),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert error_of(err)[:2] == (404, "ResourceNotFoundException")


def test_things_and_certificates_are_not_taggable(emulator: Emulator) -> None:
    """AWS IoT things carry attributes, not tags; nor are certificates taggable."""
    iot = emulator.client("iot")
    thing_arn = iot.create_thing(thingName=unique("thing"))["thingArn"]
    cert_arn = iot.create_keys_and_certificate(setAsActive=False)["certificateArn"]
    for arn in (thing_arn, cert_arn, "arn:aws:iot:us-east-1:123456789012:thing/never-created"):
        for call in (
            lambda: iot.list_tags_for_resource(resourceArn=arn),
            lambda: iot.tag_resource(resourceArn=arn, tags=tag_list({"a": "1"})),
            lambda: iot.untag_resource(resourceArn=arn, tagKeys=["a"]),
        ):
            with pytest.raises(ClientError) as err:
                call()
            assert error_of(err)[:2] == (400, "InvalidRequestException"), arn


@pytest.mark.parametrize("arn", [
    "not-an-arn",
    "arn:aws:iam::123456789012:policy/p",      # not IoT
    "arn:aws:iot:us-east-1:123456789012",       # no resource
    "arn:aws:iot:us-east-1:123456789012:policy/",
])
def test_malformed_arns_are_invalid_requests(emulator: Emulator, arn: str) -> None:
    iot = emulator.client("iot")
    with pytest.raises(ClientError) as err:
        iot.list_tags_for_resource(resourceArn=arn)
    assert error_of(err)[:2] == (400, "InvalidRequestException")


def test_types_iot_tags_but_the_emulator_does_not_say_so(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    with pytest.raises(ClientError) as err:
        iot.list_tags_for_resource(resourceArn="arn:aws:iot:us-east-1:123456789012:thinggroup/g")
    status, code, message = error_of(err)
    assert (status, code) == (501, "NotImplemented") and "not emulated" in message


def test_tags_belong_to_the_callers_account_and_region(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    name = unique("policy")
    arn = iot.create_policy(policyName=name, policyDocument=POLICY, tags=tag_list({"a": "1"}))["policyArn"]
    # The same ARN from another account's credentials names nothing there.
    other = emulator.client("iot", **emulator.assume(f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:role/any"))
    with pytest.raises(ClientError) as err:
        other.list_tags_for_resource(resourceArn=arn)
    assert error_of(err)[:2] == (404, "ResourceNotFoundException")
    # Nor does an ARN of another region, even with a policy of that name here.
    with pytest.raises(ClientError) as err:
        iot.list_tags_for_resource(resourceArn=arn.replace("us-east-1", "eu-west-1"))
    assert error_of(err)[:2] == (404, "ResourceNotFoundException")
    # The policy of the same name in the other account has its own tags.
    other_arn = other.create_policy(policyName=name, policyDocument=POLICY, tags=tag_list({"b": "2"}))["policyArn"]
    assert other_arn == f"arn:aws:iot:us-east-1:{MANAGEMENT_ACCOUNT}:policy/{name}"
    assert all_tags(other, other_arn) == {"b": "2"} and all_tags(iot, arn) == {"a": "1"}


def test_tag_limits(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    arn = new_policy(iot, tags=tag_list({"keep": "me"}))
    bad = [
        {"k" * 129: "v"},                 # key longer than 128
        {"k": "v" * 257},                 # value longer than 256
        {"aws:owner": "x"},               # reserved prefix
        {"AWS:Owner": "x"},               # in any case
        {"bad#char": "x"},                # outside the model's key pattern
    ]
    for tags in bad:
        with pytest.raises(ClientError) as err:
            iot.tag_resource(resourceArn=arn, tags=tag_list(tags))
        assert error_of(err)[:2] == (400, "InvalidRequestException"), tags
    with pytest.raises(ClientError) as err:
        iot.tag_resource(resourceArn=arn, tags=tag_list({"k" * 129: "v"}))
    assert "Member must have length less than or equal to 128" in error_of(err)[2]
    # The longest key and value, and the characters the pattern allows, are fine.
    good = {"k" * 128: "v" * 256, "a b_c.d:e/f=g+h-i@j": "", "ключ": "значение"}
    iot.tag_resource(resourceArn=arn, tags=tag_list(good))
    assert all_tags(iot, arn) == {"keep": "me", **good}
    # Refused calls changed nothing.
    assert not any(k.lower().startswith("aws:") or "#" in k for k in all_tags(iot, arn))
    # aws: keys cannot be removed either.
    with pytest.raises(ClientError) as err:
        iot.untag_resource(resourceArn=arn, tagKeys=["aws:owner"])
    assert error_of(err)[:2] == (400, "InvalidRequestException")


def test_at_most_fifty_tags(emulator: Emulator) -> None:
    iot = emulator.client("iot")
    arn = new_policy(iot, tags=tag_list({f"k{i}": "v" for i in range(48)}))
    iot.tag_resource(resourceArn=arn, tags=tag_list({"k48": "v", "k49": "v"}))
    assert len(all_tags(iot, arn)) == 50
    # Changing a tag of a full resource is fine; one more is LimitExceededException (HTTP 410).
    iot.tag_resource(resourceArn=arn, tags=tag_list({"k0": "changed"}))
    with pytest.raises(ClientError) as err:
        iot.tag_resource(resourceArn=arn, tags=tag_list({"k0": "again", "one-too-many": "v"}))
    assert error_of(err)[:2] == (410, "LimitExceededException")
    tags = all_tags(iot, arn)
    assert len(tags) == 50 and tags["k0"] == "changed" and "one-too-many" not in tags
    # After removing one there is room again.
    iot.untag_resource(resourceArn=arn, tagKeys=["k1"])
    iot.tag_resource(resourceArn=arn, tags=tag_list({"one-too-many": "v"}))
    assert len(all_tags(iot, arn)) == 50


def test_tagging_calls_are_counted_and_can_be_faulted(emulator: Emulator) -> None:
    """The fault layer finds the new operations the way moto routes them."""
    iot = emulator.client("iot")
    arn = new_policy(iot)

    def faults(method: str, body: dict | None = None) -> object:
        req = Request(emulator.endpoint + "/maestro-emulator/faults", method=method,
                      data=json.dumps(body).encode() if body is not None else None,
                      headers={"Content-Type": "application/json"})
        with urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    try:
        faults("POST", {"service": "iot", "action": "TagResource", "when": "after", "message": "answer lost"})
        with pytest.raises(ClientError) as err:
            iot.tag_resource(resourceArn=arn, tags=tag_list({"a": "1"}))
        assert error_of(err)[2] == "answer lost"
        assert all_tags(iot, arn) == {"a": "1"}  # it happened
        faults("POST", {"service": "iot", "action": "ListTagsForResource", "message": "refused"})
        with pytest.raises(ClientError) as err:
            iot.list_tags_for_resource(resourceArn=arn)
        assert error_of(err)[2] == "refused"
        faults("POST", {"service": "iot", "action": "UntagResource", "message": "refused"})
        with pytest.raises(ClientError):
            iot.untag_resource(resourceArn=arn, tagKeys=["a"])
        assert all_tags(iot, arn) == {"a": "1"}
    finally:
        faults("DELETE")


def test_plain_moto_has_no_iot_tagging() -> None:
    """What iot_tags adds: plain moto has no ListTagsForResource (nor TagResource, UntagResource)."""
    emu = start_emulator({"MAESTRO_EMULATOR_DISABLE": "iot_tags"})
    try:
        # moto fails the call with a 500, which botocore would retry: ask once.
        iot = boto3.client("iot", endpoint_url=emu.endpoint, region_name=REGION,
                           aws_access_key_id="testing", aws_secret_access_key="testing",
                           config=Config(retries={"max_attempts": 1, "mode": "standard"}))
        arn = iot.create_policy(policyName="p", policyDocument=POLICY, tags=tag_list({"a": "1"}))["policyArn"]
        with pytest.raises(ClientError):
            iot.list_tags_for_resource(resourceArn=arn)
    finally:
        emu.stop()
