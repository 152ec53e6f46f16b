"""Arming the emulator's fault injection (`/maestro-emulator/faults`) from tests.

    faults = Faults(emulator_url)
    faults.arm("iot", "AttachThingPrincipal")                      # next call fails with a 400
    faults.arm("secretsmanager", "PutSecretValue", count=2, status=500, code="InternalServiceError")
    faults.arm("iot", "CreateCertificateFromCsr", when="after")    # AWS acts, the answer is lost
    faults.fired("iot", "AttachThingPrincipal")                    # how often it actually fired
    faults.arm_random("*", "*", 0.05, seed=7, code="Throttling")   # 5% of every request, repeatably
    faults.clear()

`service` is the SigV4 signing name, `action` the API operation name. See
emulator/maestro_emulator/faults.py for the wire format.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.request import Request, urlopen

PATH = "/maestro-emulator/faults"


class Faults:
    def __init__(self, emulator_url: str) -> None:
        self.url = emulator_url.rstrip("/") + PATH

    def _call(self, method: str, body: dict[str, Any] | None = None, query: str = "") -> Any:
        request = Request(self.url + query, method=method, data=json.dumps(body).encode() if body is not None else None,
                          headers={"Content-Type": "application/json"})
        with urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def arm(self, service: str, action: str, *, count: int = 1, status: int = 400,
            code: str = "InvalidRequestException", message: str = "fault injected by the acceptance test",
            when: str = "before") -> dict[str, Any]:
        """Makes the next `count` matching requests fail; returns the armed fault (with its id)."""
        return self._call("POST", {"service": service, "action": action, "count": count, "status": status,
                                   "code": code, "message": message, "when": when})

    def arm_random(self, service: str | list[str], action: str | list[str], probability: float, *,
                   seed: int | None = None, count: int | None = None, status: int = 400,
                   code: str = "InvalidRequestException", message: str = "fault injected by the acceptance test",
                   when: str = "before") -> dict[str, Any]:
        """Makes each matching request fail with `probability` (`"*"` or a list matches more than
        one name), as often as it comes up unless `count` caps it; `seed` repeats the draws."""
        spec: dict[str, Any] = {"service": service, "action": action, "probability": probability, "seed": seed,
                                "status": status, "code": code, "message": message, "when": when}
        if count is not None:
            spec["count"] = count
        return self._call("POST", spec)

    def list(self) -> list[dict[str, Any]]:
        return self._call("GET")

    def fired(self, service: str, action: str) -> int:
        return sum(f["fired"] for f in self.list() if f["service"] == service and f["action"] == action)

    def clear(self, fault_id: int | None = None) -> None:
        self._call("DELETE", query=f"?id={fault_id}" if fault_id is not None else "")
