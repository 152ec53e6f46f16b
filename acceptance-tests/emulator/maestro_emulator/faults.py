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

Random faults, for load under throttling: with ``"probability": 0.05`` every
matching request fails with that probability instead of the next ``count``
ones; ``count`` is then unlimited unless given (a cap on how often it fires)
and ``"seed": N`` makes the sequence of draws repeatable.  ``service`` and
``action`` may also be ``"*"`` (any) or a list of names, for any fault:

    {"service": ["iot"], "action": "*", "probability": 0.05, "seed": 7,
     "status": 400, "code": "ThrottlingException", "message": "Rate exceeded"}

The listing then shows, per fault, ``seen`` (matching requests drawn for),
``fired`` and ``fired_by`` (per ``service:action``), and the re-sends of the
requests it failed: ``retried``/``retried_by`` count a later request equal to
a failed one (same credentials, operation, path, query and body), whether the
SDK or the caller's own loop sent it again; ``sdk_retried`` counts those that
carried the SDK's ``amz-sdk-request: attempt=N`` header with N > 1.
``fired - retried`` failures were never sent again, i.e. reached the caller.
"""

from __future__ import annotations

import copy
import hashlib
import io
import itertools
import json
import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

PATH = "/maestro-emulator/faults"
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_ACCESS_KEY = re.compile(r"Credential=([^/]+)/")
_SDK_ATTEMPT = re.compile(r"attempt=(\d+)")
ANY = "*"
_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class Fault:
    id: int
    service: str | list[str]
    action: str | list[str]
    count: int | None  # uses left; None: unlimited (a random fault without a cap)
    status: int
    code: str
    message: str
    when: str
    fired: int = 0
    probability: float | None = None
    seed: int | None = None
    seen: int = 0
    fired_by: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    retried_by: dict[str, int] = field(default_factory=dict)
    sdk_retried: int = 0
    # The draws of a random fault; not part of the listing.
    _rng: random.Random | None = field(default=None, repr=False)

    def matches(self, service: str, action: str) -> bool:
        return _names_match(self.service, service) and _names_match(self.action, action)

    def usable(self) -> bool:
        return self.count is None or self.count > 0


_lock = threading.Lock()
_faults: list[Fault] = []
_ids = itertools.count(1)
# Requests a fault failed and nobody has sent again yet: fingerprint -> ids of those faults,
# oldest first (the same request can be failed again on its retry); and how many wait per
# service, so only those services' requests are fingerprinted.
_awaiting_resend: dict[str, list[int]] = {}
_awaiting_services: Counter[str] = Counter()


def _names_match(wanted: str | list[str], name: str) -> bool:
    if isinstance(wanted, list):
        return name in wanted or ANY in wanted
    return wanted in (ANY, name)


def _names(value: Any, what: str) -> str | list[str]:
    if isinstance(value, list):
        if not value or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{what} must be a name, \"*\" or a non-empty list of names")
        return list(value)
    return str(value)


def arm(spec: dict[str, Any]) -> Fault:
    try:
        probability = spec.get("probability")
        random_fault = probability is not None
        count = spec.get("count", None if random_fault else 1)
        fault = Fault(
            id=next(_ids),
            service=_names(spec["service"], "service"),
            action=_names(spec["action"], "action"),
            count=None if count is None else int(count),
            status=int(spec.get("status", 400)),
            code=str(spec.get("code", "InvalidRequestException")),
            message=str(spec.get("message", "injected by the maestro emulator")),
            when=str(spec.get("when", "before")),
            probability=float(probability) if random_fault else None,
            seed=None if spec.get("seed") is None else int(spec["seed"]),
        )
    except KeyError as missing:
        raise ValueError(f"missing {missing}") from None
    if fault.when not in ("before", "after"):
        raise ValueError("when must be 'before' or 'after'")
    if (fault.count is not None and fault.count < 1) or not 400 <= fault.status <= 599:
        raise ValueError("count must be >= 1 and status a 4xx or 5xx code")
    if fault.probability is not None:
        if not 0.0 < fault.probability <= 1.0:
            raise ValueError("probability must be in (0, 1]")
        fault._rng = random.Random(fault.seed)
    with _lock:
        _faults.append(fault)
    return fault


def clear(fault_id: int | None = None) -> None:
    with _lock:
        _faults[:] = [f for f in _faults if fault_id is not None and f.id != fault_id]
        if fault_id is None:
            # Disarming everything also forgets the failed requests nobody sent again.
            _awaiting_resend.clear()
            _awaiting_services.clear()


def describe(fault: Fault) -> dict[str, Any]:
    """The fault as the listing shows it (its random generator left out)."""
    return {f.name: copy.copy(getattr(fault, f.name)) for f in fields(fault) if not f.name.startswith("_")}


def snapshot() -> list[dict[str, Any]]:
    with _lock:
        return [describe(f) for f in _faults]


def _take(service: str, action: str, fingerprint: str | None = None) -> Fault | None:
    """The first armed fault that fails this request (a random one draws for it), with one use
    consumed; remembers the request so that sending it again counts as a retry."""
    operation = f"{service}:{action}"
    with _lock:
        for fault in _faults:
            if not (fault.matches(service, action) and fault.usable()):
                continue
            if fault._rng is not None:
                fault.seen += 1
                if fault._rng.random() >= (fault.probability or 0.0):
                    continue
            if fault.count is not None:
                fault.count -= 1
            fault.fired += 1
            fault.fired_by[operation] = fault.fired_by.get(operation, 0) + 1
            if fingerprint is not None:
                _awaiting_resend.setdefault(fingerprint, []).append(fault.id)
                _awaiting_services[service] += 1
            return fault
    return None


def _note_resend(service: str, action: str, fingerprint: str, sdk_attempt: int) -> None:
    """If this request repeats one a fault failed, counts the retry on that fault."""
    with _lock:
        waiting = _awaiting_resend.get(fingerprint)
        if not waiting:
            return
        fault_id = waiting.pop(0)
        if not waiting:
            del _awaiting_resend[fingerprint]
        _awaiting_services[service] -= 1
        if _awaiting_services[service] <= 0:
            del _awaiting_services[service]
        fault = next((f for f in _faults if f.id == fault_id), None)
        if fault is None:
            return
        operation = f"{service}:{action}"
        fault.retried += 1
        fault.retried_by[operation] = fault.retried_by.get(operation, 0) + 1
        if sdk_attempt > 1:
            fault.sdk_retried += 1


def _armed_for(service: str) -> bool:
    with _lock:
        # Also while a failed request of the service may still be sent again, so that its
        # retry is recognised after a counted fault is used up.
        return service in _awaiting_services or any(
            _names_match(f.service, service) and f.usable() for f in _faults)


def _fingerprint(environ: dict[str, Any], service: str, action: str) -> str:
    """What stays the same when a request is sent again: the signature and its date change, the
    credentials, operation, path, query and body do not. Reads the body the way
    request_operation left it (a fresh copy for the app) and puts it back."""
    body = environ["wsgi.input"].read()
    environ["wsgi.input"] = io.BytesIO(body)
    key = _ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
    digest = hashlib.sha256()
    for part in (key.group(1) if key else "", service, action, environ.get("REQUEST_METHOD", ""),
                 environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


def _sdk_attempt(environ: dict[str, Any]) -> int:
    """The attempt number AWS SDKs send in `amz-sdk-request` (1 without the header)."""
    found = _SDK_ATTEMPT.search(environ.get("HTTP_AMZ_SDK_REQUEST", ""))
    return int(found.group(1)) if found else 1


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
            payload: Any = describe(arm(json.loads(environ["wsgi.input"].read(length) or b"{}")))
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
        if action == "?":
            return inner(environ, start_response)
        fingerprint = _fingerprint(environ, service, action)
        _note_resend(service, action, fingerprint, _sdk_attempt(environ))
        fault = _take(service, action, fingerprint)
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
