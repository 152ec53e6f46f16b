"""A count of the AWS API calls the emulator served, for benchmarks that report how many calls
a resource makes (per service and operation, and per account).

    GET    /maestro-emulator/calls   {"calls": [{"account": ..., "service": ..., "action": ..., "count": N}, ...]}
    DELETE /maestro-emulator/calls   reset the count

Every request that reaches moto is counted once, including ones moto answers with an error
(a call the provider made is a call, whatever the answer). The account is the one moto acts
in for the request's access key (an assumed role's account), so the two emulated accounts are
told apart.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any, Callable, Iterable

from .faults import request_operation

PATH = "/maestro-emulator/calls"

_lock = threading.Lock()
_calls: Counter[tuple[str, str, str]] = Counter()


def access_key(environ: dict[str, Any]) -> str | None:
    """The access key a SigV4-signed request names, or None for an unsigned one."""
    header = environ.get("HTTP_AUTHORIZATION", "")
    start = header.find("Credential=")
    if start < 0:
        return None
    return header[start + len("Credential="):].split("/", 1)[0]


def _account(environ: dict[str, Any]) -> str:
    from moto.iam.models import get_account_id_from  # noqa: PLC0415 - moto internals, loaded late

    key = access_key(environ)
    if key is None:
        return "?"
    try:
        return str(get_account_id_from(key))
    except Exception:  # noqa: BLE001 - an unknown key is still a call
        return "?"


def _control(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    with _lock:
        if environ.get("REQUEST_METHOD") == "DELETE":
            _calls.clear()
        payload = {"calls": [{"account": a, "service": s, "action": op, "count": n}
                             for (a, s, op), n in sorted(_calls.items())]}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(payload).encode()]


def wrap(inner: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware: the control endpoint, and a count of every AWS request."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH:
            return _control(environ, start_response)
        operation = request_operation(environ)
        if operation is None:
            return inner(environ, start_response)
        service, action = operation
        with _lock:
            _calls[(_account(environ), service, action)] += 1
        return inner(environ, start_response)

    return app
