"""Stable IoT DescribeEndpoint answers.

moto 5.2.5 invents a new random host name on every DescribeEndpoint call.
In AWS the endpoint of an account/region never changes, and the provider
relies on that: a resource that records the broker host would otherwise show
a diff on every plan.  We keep one identifier per backend (account + region)
and reuse it for every endpoint type, as AWS does for Data / Data-ATS.
"""

from __future__ import annotations

import secrets
import string

from moto.iot.models import FakeEndpoint, IoTBackend

# moto's FakeEndpoint starts every address with a 14-character identifier.
_ID_LENGTH = 14
_ID_ALPHABET = string.ascii_lowercase + string.digits


def describe_endpoint(self: IoTBackend, endpoint_type: str) -> FakeEndpoint:
    # FakeEndpoint validates the type and knows each type's host layout; we
    # only swap its random identifier for this backend's fixed one.
    endpoint = FakeEndpoint(endpoint_type, self.region_name)
    ident = getattr(self, "_maestro_endpoint_id", None)
    if ident is None:
        ident = "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))
        self._maestro_endpoint_id = ident  # type: ignore[attr-defined]
    endpoint.endpoint = ident + endpoint.endpoint[_ID_LENGTH:]
    self.endpoint = endpoint
    return endpoint


def install() -> None:
    IoTBackend.describe_endpoint = describe_endpoint  # type: ignore[method-assign]
