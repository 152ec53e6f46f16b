"""Stable IoT DescribeEndpoint answers.

moto 5.2.5 invents a new random host name on every DescribeEndpoint call.
In AWS the endpoint of an account/region never changes, and the provider
relies on that: a resource that records the broker host would otherwise show
a diff on every plan.  The identifier is derived from the account and region
and reused for every endpoint type, as AWS does for Data / Data-ATS.

Derived rather than drawn at random and remembered: moto creates a backend
lazily on first use, and two requests arriving together (consumers planned in
parallel) can each create one, so a remembered random identifier changed
between a plan and its apply ("Provider produced inconsistent final plan").
"""

from __future__ import annotations

import hashlib

from moto.iot.models import FakeEndpoint, IoTBackend

# moto's FakeEndpoint starts every address with a 14-character identifier.
_ID_LENGTH = 14


def endpoint_id(account_id: str, region: str) -> str:
    """The account's endpoint identifier in a region: stable, and distinct per account."""
    return hashlib.sha256(f"maestro-emulator:{account_id}:{region}".encode()).hexdigest()[:_ID_LENGTH]


def describe_endpoint(self: IoTBackend, endpoint_type: str) -> FakeEndpoint:
    # FakeEndpoint validates the type and knows each type's host layout; we
    # only swap its random identifier for this backend's fixed one.
    endpoint = FakeEndpoint(endpoint_type, self.region_name)
    ident = endpoint_id(self.account_id, self.region_name)
    # Kept on the backend too, where the data plane looks an endpoint host up.
    self._maestro_endpoint_id = ident  # type: ignore[attr-defined]
    endpoint.endpoint = ident + endpoint.endpoint[_ID_LENGTH:]
    self.endpoint = endpoint
    return endpoint


def install() -> None:
    IoTBackend.describe_endpoint = describe_endpoint  # type: ignore[method-assign]
