"""IoT CreateThing that does not overwrite an existing thing.

moto 5.2.5 replaces an existing thing of the same name with a new one on
every CreateThing: the attributes are silently overwritten and the version
starts again.  AWS IoT instead answers a repeated CreateThing with the same
configuration by returning the existing thing, and one with a different
configuration with ResourceAlreadyExistsException.  maestro_consumer relies
on that to tell a thing it created (and may adopt after an interrupted
create) from someone else's.
"""

from __future__ import annotations

from typing import Any

from moto.iot.exceptions import ResourceAlreadyExistsException
from moto.iot.models import FakeThing, IoTBackend

_original_create_thing = IoTBackend.create_thing


def _same_configuration(
    thing: FakeThing,
    thing_type_name: str | None,
    attribute_payload: dict[str, Any] | None,
    billing_group_name: str | None,
) -> bool:
    attributes = (attribute_payload or {}).get("attributes") or {}
    current_type = thing.thing_type.thing_type_name if thing.thing_type else None
    return (
        dict(thing.attributes or {}) == dict(attributes)
        and (current_type or None) == (thing_type_name or None)
        and (thing.billing_group_name or None) == (billing_group_name or None)
    )


def create_thing(
    self: IoTBackend,
    thing_name: str,
    thing_type_name: str,
    attribute_payload: dict[str, Any] | None,
    billing_group_name: str | None = None,
) -> FakeThing:
    existing = next((t for t in self.things.values() if t.thing_name == thing_name), None)
    if existing is not None:
        if _same_configuration(existing, thing_type_name, attribute_payload, billing_group_name):
            return existing
        raise ResourceAlreadyExistsException(
            f"Thing {thing_name} already exists in account with different attributes",
            thing_name,
            existing.arn,
        )
    return _original_create_thing(
        self, thing_name, thing_type_name, attribute_payload, billing_group_name
    )


def install() -> None:
    IoTBackend.create_thing = create_thing  # type: ignore[method-assign]
