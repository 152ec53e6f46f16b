"""KMS DescribeKey as the provider resolves `kms_key_id` at plan (maestro_emulator/kms_keys.py):
a key or alias ARN of another account is answered from that account; a key ID or alias name
only ever from the caller's; missing keys and aliases get KMS's NotFoundException shapes.
`test_plain_moto_*` documents the moto gap (if it fails, moto filled it and the extension can go).
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from emulator_harness import MANAGEMENT_ACCOUNT, Emulator, start_emulator, unique
from test_emulator import error_of

REGION = "us-east-1"


def other_account_key(emulator: Emulator) -> tuple[dict, str]:
    """A key with an alias, made in the management account (the caller is the default one)."""
    kms = emulator.client("kms", **emulator.assume(f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:role/kms-owner"))
    key = kms.create_key(Description="another account's key")["KeyMetadata"]
    alias = f"alias/{unique('shared')}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return key, alias


def test_a_key_or_alias_arn_of_another_account_is_described_from_that_account(emulator: Emulator) -> None:
    key, alias = other_account_key(emulator)
    kms = emulator.client("kms")
    by_key_arn = kms.describe_key(KeyId=key["Arn"])["KeyMetadata"]
    assert (by_key_arn["Arn"], by_key_arn["AWSAccountId"], by_key_arn["KeyState"]) == (key["Arn"], MANAGEMENT_ACCOUNT, "Enabled")
    alias_arn = f"arn:aws:kms:{REGION}:{MANAGEMENT_ACCOUNT}:{alias}"
    assert kms.describe_key(KeyId=alias_arn)["KeyMetadata"]["Arn"] == key["Arn"]


def test_an_id_or_alias_name_of_another_account_is_not_found_in_the_callers(emulator: Emulator) -> None:
    key, alias = other_account_key(emulator)
    kms = emulator.client("kms")
    for reference in (key["KeyId"], alias):
        with pytest.raises(ClientError) as caught:
            kms.describe_key(KeyId=reference)
        status, code, _ = error_of(caught)
        assert (status, code) == (400, "NotFoundException"), reference


def test_missing_keys_and_aliases_of_another_account_are_not_found_with_their_arn(emulator: Emulator) -> None:
    kms = emulator.client("kms")
    missing_key = f"arn:aws:kms:{REGION}:{MANAGEMENT_ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
    missing_alias = f"arn:aws:kms:{REGION}:{MANAGEMENT_ACCOUNT}:alias/{unique('nowhere')}"
    for reference, message in ((missing_key, f"Key '{missing_key}' does not exist"), (missing_alias, f"Alias {missing_alias} is not found.")):
        with pytest.raises(ClientError) as caught:
            kms.describe_key(KeyId=reference)
        assert error_of(caught) == (400, "NotFoundException", message)


def test_a_key_arn_of_another_region_is_not_found_in_the_region_asked(emulator: Emulator) -> None:
    key, _ = other_account_key(emulator)
    elsewhere = key["Arn"].replace(f":{REGION}:", ":eu-west-1:")
    with pytest.raises(ClientError) as caught:
        emulator.client("kms").describe_key(KeyId=elsewhere)
    assert error_of(caught)[1] == "NotFoundException"


def test_plain_moto_does_not_find_another_accounts_key_by_arn() -> None:
    """Documents the moto gap `kms_keys` fills; if this fails, moto filled it."""
    emu = start_emulator({"MAESTRO_EMULATOR_DISABLE": "kms_keys"})
    try:
        key, _ = other_account_key(emu)
        with pytest.raises(ClientError) as caught:
            emu.client("kms").describe_key(KeyId=key["Arn"])
        assert error_of(caught)[1] == "NotFoundException"
    finally:
        emu.stop()
