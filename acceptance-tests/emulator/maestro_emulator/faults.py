"""Fault injection: make the next N matching AWS requests fail with an AWS-shaped error.

Any test can arm a fault on the running emulator over HTTP, without
knowing anything about moto:

    POST   /maestro-emulator/faults   {"service": "iot", "action": "AttachThingPrincipal",
                                       "count": 1, "status": 400,
                                       "code": "InvalidRequestException",
                                       "message": "injected", "when": "before"}
    GET    /maestro-emulator/faults   every armed fault, with how often it fired
    DELETE /maestro-emulator/faults   disarm everything (``?id=N`` disarms one)

``service`` is the SigV4 signing name (iot, eks, iam, sts, secretsmanager,
...), ``action`` the API operation name as in the AWS API reference.  The
operation is found the way moto routes it (Action parameter for query,
X-Amz-Target for json, method and path for rest-json), so every protocol
works.  ``when`` is ``before`` (default: the request never reaches moto, as
with a throttled or refused call) or ``after`` (moto performs it and the
answer is replaced by the error, as when a response is lost after AWS acted
- the case that makes non-idempotent calls dangerous).  The error is
rendered in the service's protocol: ``x-amzn-ErrorType`` + JSON for
rest-json, ``__type`` JSON for json, ``ErrorResponse`` XML for query.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import threading
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

PATH = "/maestro-emulator/faults"
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class Fault:
    id: int
    service: str
    action: str
    count: int
    status: int
    code: str
    message: str
    when: str
    fired: int = 0


_lock = threading.Lock()
_faults: list[Fault] = []
_ids = itertools.count(1)


def arm(spec: dict[str, Any]) -> Fault:
    try:
        fault = Fault(
            id=next(_ids),
            service=str(spec["service"]),
            action=str(spec["action"]),
            count=int(spec.get("count", 1)),
            status=int(spec.get("status", 400)),
            code=str(spec.get("code", "InvalidRequestException")),
            message=str(spec.get("message", "injected by the maestro emulator")),
            when=str(spec.get("when", "before")),
        )
    except KeyError as missing:
        raise ValueError(f"missing {missing}") from None
    if fault.when not in ("before", "after"):
        raise ValueError("when must be 'before' or 'after'")
    if fault.count < 1 or not 400 <= fault.status <= 599:
        raise ValueError("count must be >= 1 and status a 4xx or 5xx code")
    with _lock:
        _faults.append(fault)
    return fault


def clear(fault_id: int | None = None) -> None:
    with _lock:
        _faults[:] = [f for f in _faults if fault_id is not None and f.id != fault_id]


def snapshot() -> list[dict[str, Any]]:
    with _lock:
        return [asdict(f) for f in _faults]


def _take(service: str, action: str) -> Fault | None:
    """The first armed fault for this request, with one use consumed."""
    with _lock:
        for fault in _faults:
            if fault.service == service and fault.action == action and fault.count > 0:
                fault.count -= 1
                fault.fired += 1
                return fault
    return None


def _armed_for(service: str) -> bool:
    with _lock:
        return any(f.service == service and f.count > 0 for f in _faults)


def _operation(environ: dict[str, Any], service: str) -> str | None:
    from moto.core.request import Request
    from moto.core.routing import get_service_router

    try:
        operation, _ = get_service_router(service).match(Request(environ))
        return operation.name
    except Exception:  # noqa: BLE001 - an unroutable request is simply not ours to fail
        return None


def request_operation(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(service, operation) of an AWS request, or None for anything else. Reads the body (the
    operation of query and json protocols is in it) and puts back a fresh copy for the app."""
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:
        return None
    service = match.group(1)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    action = _operation(dict(environ, **{"wsgi.input": io.BytesIO(body)}), service)
    environ["wsgi.input"] = io.BytesIO(body)
    return service, action or "?"


def _error(fault: Fault, service: str) -> tuple[str, list[tuple[str, str]], bytes]:
    from moto.core.utils import get_service_model

    protocol = str(get_service_model(service).protocol)
    status = f"{fault.status} {_REASONS.get(fault.status, 'Error')}"
    request_id = f"maestro-fault-{fault.id}-{fault.fired}"
    if protocol in ("query", "ec2"):
        kind = "Sender" if fault.status < 500 else "Receiver"
        body = (f"<ErrorResponse><Error><Type>{kind}</Type><Code>{escape(fault.code)}</Code>"
                f"<Message>{escape(fault.message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
        return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode()
    if protocol == "json":
        body = json.dumps({"__type": fault.code, "message": fault.message})
        return status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id)], body.encode()
    body = json.dumps({"message": fault.message})
    return status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", fault.code),
                    ("x-amzn-RequestId", request_id)], body.encode()


def _control(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    method = environ.get("REQUEST_METHOD")
    status = "200 OK"
    try:
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            payload: Any = asdict(arm(json.loads(environ["wsgi.input"].read(length) or b"{}")))
        elif method == "DELETE":
            ids = parse_qs(environ.get("QUERY_STRING", "")).get("id")
            clear(int(ids[0]) if ids else None)
            payload = snapshot()
        else:
            payload = snapshot()
    except (ValueError, TypeError) as err:
        status, payload = "400 Bad Request", {"message": f"bad fault request: {err}"}
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(payload).encode()]


def wrap(inner: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware: the control endpoint, and armed faults in front of `inner`."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH:
            return _control(environ, start_response)
        match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        # Untouched unless a fault waits for this service: nothing is buffered otherwise.
        if match is None or not _armed_for(match.group(1)):
            return inner(environ, start_response)
        service, action = request_operation(environ) or ("", "?")
        fault = _take(service, action) if action != "?" else None
        if fault is None:
            return inner(environ, start_response)
        if fault.when == "after":
            # Let moto act, then lose its answer.
            for _ in inner(environ, lambda *args, **kwargs: (lambda data: None)):
                pass
        status, headers, payload = _error(fault, service)
        start_response(status, headers + [("Content-Length", str(len(payload)))])
        return [payload]

    return app
