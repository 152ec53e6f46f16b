"""Exact-step control of AWS calls: an ordered trace of every call, and rules that act on the
Nth call matching a pattern - fail it, reset its connection, or hold it until released - so a
fault matrix can fail one precise step of a run, and an interruption can land while a chosen
call is in flight.

    GET    /maestro-emulator/call-trace?since=SEQ   {"calls": [...], "next": SEQ}
    DELETE /maestro-emulator/call-trace             forget the calls (sequence numbers go on)

Each call: ``seq`` (arrival order), ``account`` and ``session`` (the assumed-role session
name of the caller's access key, as CloudTrail would record it; "" for base credentials),
``service``, ``action``, ``subject`` (what the call names: ``RoleName=...`` for query
services, ``SecretId=...`` for Secrets Manager, ``METHOD /path?query`` for rest-json, plus
``csr-cn=`` for CreateCertificateFromCsr and ``principal=``/``target=`` for IoT attachments;
never a request body, which may hold a secret), ``clientPort`` (the caller's TCP port, to
find the process that made it), ``status`` (HTTP status answered, ``"reset"``, or null while
in flight) and ``rule`` (the id of the rule that acted on it).

    POST   /maestro-emulator/call-rules   {"service": "iot", "action": "CreateCertificateFromCsr",
                                           "subject": "csr-cn=fm-1-",   (regex, searched; optional)
                                           "session": "fm-consumer",    (exact; optional)
                                           "nth": 1,                    (the Nth matching call; default 1)
                                           "effect": "fail" | "reset" | "hold",
                                           "when": "before" | "after",  (default "before")
                                           "status": 500, "code": "InternalFailureException",
                                           "message": "...",            (effect fail)
                                           "holdSeconds": 300}          (effect hold: released after at most this)
    GET    /maestro-emulator/call-rules   the rules, with "seen" (matching calls so far), "fired" and,
                                          for a hold, "held" (the call's seq and clientPort while held)
    POST   /maestro-emulator/call-rules/release   {"id": N, "then": "deliver" | "reset"} (no id: all)
    DELETE /maestro-emulator/call-rules   remove the rules (held calls are delivered); ?id=N one

A rule acts once, on the Nth matching call; every other call passes untouched. ``when``
"before" acts before moto sees the request (a refused call); "after" lets moto perform it and
then acts on the answer (AWS acted, the caller never learns it). ``fail`` answers with an
AWS-shaped error in the service's protocol (the same rendering as ``faults.py``). ``reset``
sends a TCP RST on the caller's connection (``connect(AF_UNSPEC)``, Linux) instead of any
answer: what a client sees when a connection dies mid-request. ``hold`` keeps the request
waiting - before moto or with moto's answer held back - until it is released, its rule is
deleted, or ``holdSeconds`` pass; released with ``then: reset`` the caller gets a reset
instead of the answer.

This layer sits inside the call count (``call_log``) and outside ``faults.py``, so the trace
shows the answers faults.py gives, and a call this layer fails is still counted.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import re
import socket
import struct
import threading
import time
import types
import urllib.parse
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterable, Iterator

from . import faults
from .call_log import _account, access_key
from .faults import request_operation

TRACE_PATH = "/maestro-emulator/call-trace"
RULES_PATH = "/maestro-emulator/call-rules"
RELEASE_PATH = RULES_PATH + "/release"
EFFECTS = ("fail", "reset", "hold")
# Identifying members of query (IAM, STS) and json (Secrets Manager) requests: names, never values.
QUERY_SUBJECT_KEYS = ("RoleName", "PolicyName", "PolicyArn", "RoleSessionName")
JSON_SUBJECT_KEYS = ("SecretId", "Name", "VersionStage")
# The trace is for one run at a time; a bound keeps a forgotten emulator's memory flat.
TRACE_LIMIT = 100_000


@dataclass
class Rule:
    id: int
    service: str
    action: str
    subject: str | None
    session: str | None
    nth: int
    effect: str
    when: str
    status: int
    code: str
    message: str
    hold_seconds: float
    seen: int = 0
    fired: int = 0
    held: dict[str, Any] | None = None
    _release: threading.Event = field(default_factory=threading.Event, repr=False)
    _then: str = field(default="deliver", repr=False)

    def public(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every field, and the release event holds a lock.
        shown = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        shown["holdSeconds"] = shown.pop("hold_seconds")
        shown["held"] = dict(self.held) if self.held else None
        return shown

    def matches(self, call: dict[str, Any]) -> bool:
        if self.service != call["service"] or self.action != call["action"]:
            return False
        if self.session is not None and self.session != call["session"]:
            return False
        return self.subject is None or re.search(self.subject, call["subject"]) is not None


_lock = threading.Lock()
_rules: list[Rule] = []
_ids = itertools.count(1)
_trace: list[dict[str, Any]] = []
_sequence = itertools.count(1)


def add_rule(spec: dict[str, Any]) -> Rule:
    try:
        rule = Rule(
            id=next(_ids),
            service=str(spec["service"]),
            action=str(spec["action"]),
            subject=None if spec.get("subject") in (None, "") else str(spec["subject"]),
            session=None if spec.get("session") is None else str(spec["session"]),
            nth=int(spec.get("nth", 1)),
            effect=str(spec["effect"]),
            when=str(spec.get("when", "before")),
            status=int(spec.get("status", 500)),
            code=str(spec.get("code", "InternalFailure")),
            message=str(spec.get("message", "injected by the maestro emulator (call rule)")),
            hold_seconds=float(spec.get("holdSeconds", 300)),
        )
    except KeyError as missing:
        raise ValueError(f"missing {missing}") from None
    if rule.effect not in EFFECTS:
        raise ValueError(f"effect must be one of {EFFECTS}")
    if rule.when not in ("before", "after"):
        raise ValueError("when must be 'before' or 'after'")
    if rule.nth < 1 or not 400 <= rule.status <= 599 or rule.hold_seconds <= 0:
        raise ValueError("nth must be >= 1, status a 4xx or 5xx code and holdSeconds > 0")
    if rule.subject is not None:
        re.compile(rule.subject)
    with _lock:
        _rules.append(rule)
    return rule


def remove_rules(rule_id: int | None = None) -> None:
    with _lock:
        gone = [r for r in _rules if rule_id is None or r.id == rule_id]
        _rules[:] = [r for r in _rules if r not in gone]
    for rule in gone:
        rule._release.set()


def release(rule_id: int | None = None, then: str = "deliver") -> int:
    if then not in ("deliver", "reset"):
        raise ValueError("then must be 'deliver' or 'reset'")
    with _lock:
        chosen = [r for r in _rules if rule_id is None or r.id == rule_id]
    for rule in chosen:
        rule._then = then
        rule._release.set()
    return len(chosen)


def rules() -> list[dict[str, Any]]:
    with _lock:
        return [r.public() for r in _rules]


def trace(since: int = 0) -> dict[str, Any]:
    with _lock:
        calls = [dict(c) for c in _trace if c["seq"] >= since]
        following = (_trace[-1]["seq"] + 1) if _trace else since
    return {"calls": calls, "next": max(following, since)}


def clear_trace() -> None:
    with _lock:
        _trace.clear()


# ---------------------------------------------------------------- what a request names


def _session(environ: dict[str, Any], account: str) -> str:
    """The assumed-role session name behind the request's access key, or ""."""
    from moto.sts.models import sts_backends  # noqa: PLC0415 - moto internals, loaded late

    key = access_key(environ)
    if key is None:
        return ""
    try:
        for backend in list(sts_backends[account].values()):
            found = backend.get_assumed_role_from_access_key(key)
            if found is not None:
                return str(found.session_name)
    except Exception:  # noqa: BLE001 - an unknown key simply has no session
        return ""
    return ""


def _csr_common_name(body: bytes) -> str | None:
    try:
        from cryptography import x509  # noqa: PLC0415

        pem = json.loads(body or b"{}").get("certificateSigningRequest", "")
        names = x509.load_pem_x509_csr(pem.encode()).subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(names[0].value) if names else None
    except Exception:  # noqa: BLE001 - a malformed CSR is moto's to refuse
        return None


def describe_subject(environ: dict[str, Any], service: str, action: str, body: bytes) -> str:
    """The names a request acts on, never its values (a PutSecretValue carries a private key)."""
    from moto.core.utils import get_service_model  # noqa: PLC0415

    try:
        protocol = str(get_service_model(service).protocol)
    except Exception:  # noqa: BLE001
        protocol = "rest-json"
    if protocol in ("query", "ec2"):
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        form.update(urllib.parse.parse_qs(environ.get("QUERY_STRING", "")))
        return " ".join(f"{k}={form[k][0]}" for k in QUERY_SUBJECT_KEYS if k in form)
    if protocol == "json":
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            return ""
        return " ".join(f"{k}={document[k]}" for k in JSON_SUBJECT_KEYS if isinstance(document.get(k), str))
    path = urllib.parse.unquote(environ.get("PATH_INFO", ""))
    query = environ.get("QUERY_STRING", "")
    parts = [f"{environ.get('REQUEST_METHOD', '')} {path}" + (f"?{urllib.parse.unquote(query)}" if query else "")]
    if action == "CreateCertificateFromCsr":
        common_name = _csr_common_name(body)
        if common_name:
            parts.append(f"csr-cn={common_name}")
    if environ.get("HTTP_X_AMZN_PRINCIPAL"):
        parts.append(f"principal={environ['HTTP_X_AMZN_PRINCIPAL']}")
    if service == "iot" and action in ("AttachPolicy", "DetachPolicy"):
        try:
            target = json.loads(body or b"{}").get("target")
        except ValueError:
            target = None
        if isinstance(target, str):
            parts.append(f"target={target}")
    return " ".join(parts)


# ---------------------------------------------------------------- acting on a call


def _reset(environ: dict[str, Any]) -> bool:
    """Sends a TCP RST to the caller at once: connect(AF_UNSPEC) on a connected TCP socket
    makes Linux abort the connection (tcp_disconnect), while the descriptor stays valid for the
    server thread that still owns it. Falls back to closing our side (the caller then sees the
    connection end without an answer)."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        unspecified = struct.pack("=H14x", socket.AF_UNSPEC)
        aborted = libc.connect(sock.fileno(), unspecified, len(unspecified)) == 0
    except (OSError, AttributeError):
        aborted = False
    if not aborted:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    # The server thread would next read the (keep-alive) connection and log ENOTCONN as an
    # error; put a socket whose peer is already gone under the same descriptor, so it reads a
    # clean end of stream and closes it.
    ours, theirs = socket.socketpair()
    theirs.close()
    try:
        os.dup2(ours.fileno(), sock.fileno())
    except OSError:
        pass
    ours.close()
    return True


def _dropped() -> Iterator[bytes]:
    # werkzeug treats a ConnectionError from the application as a dropped connection: nothing
    # more is written and nothing is logged as a server error.
    raise ConnectionResetError("connection reset by the maestro emulator (call rule)")
    yield b""  # pragma: no cover - makes this a generator


def _perform(inner: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Runs the request through moto and keeps the answer instead of sending it."""
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        answer["status"], answer["headers"] = status, headers
        return lambda data: None

    iterable = inner(environ, start_response)
    try:
        payload = b"".join(iterable)
    finally:
        if hasattr(iterable, "close"):
            iterable.close()
    return answer.get("status", "500 Internal Server Error"), answer.get("headers", []), payload


def _take(call: dict[str, Any]) -> Rule | None:
    """The rule that acts on this call, if any (each rule acts on its Nth match only)."""
    with _lock:
        chosen = None
        for rule in _rules:
            if rule.fired or not rule.matches(call):
                continue
            rule.seen += 1
            if chosen is None and rule.seen == rule.nth:
                rule.fired += 1
                chosen = rule
        return chosen


def _record(call: dict[str, Any]) -> None:
    # Numbered under the lock that appends, so the trace is in arrival order.
    with _lock:
        call["seq"] = next(_sequence)
        _trace.append(call)
        if len(_trace) > TRACE_LIMIT:
            del _trace[: len(_trace) - TRACE_LIMIT]


def _finish(call: dict[str, Any], status: str | int) -> None:
    with _lock:
        call["status"] = status if isinstance(status, str) and not status[:3].isdigit() else int(str(status)[:3])


def _error_answer(rule: Rule, service: str) -> tuple[str, list[tuple[str, str]], bytes]:
    # faults.py renders an error from any object with these attributes.
    shaped = types.SimpleNamespace(id=f"rule{rule.id}", fired=rule.fired, status=rule.status, code=rule.code,
                                   message=rule.message)
    status, headers, payload = faults._error(shaped, service)  # noqa: SLF001 - one rendering for both layers
    return status, headers + [("Content-Length", str(len(payload)))], payload


def _hold(rule: Rule, call: dict[str, Any]) -> str:
    with _lock:
        rule.held = {"seq": call["seq"], "clientPort": call["clientPort"], "since": time.time()}
    rule._release.wait(rule.hold_seconds)
    with _lock:
        rule.held = None
    return rule._then


def _act(rule: Rule, call: dict[str, Any], inner: Callable[..., Iterable[bytes]], environ: dict[str, Any],
         start_response: Any) -> Iterable[bytes]:
    answer = _perform(inner, environ) if rule.when == "after" else None
    if rule.effect == "hold":
        then = _hold(rule, call)
        if then == "reset":
            _reset(environ)
            _finish(call, "reset")
            return _dropped()
        if answer is None:
            return _pass(call, inner, environ, start_response)
    elif rule.effect == "reset":
        _reset(environ)
        _finish(call, "reset")
        return _dropped()
    else:
        answer = _error_answer(rule, call["service"])
    status, headers, payload = answer
    _finish(call, status)
    start_response(status, headers)
    return [payload]


def _pass(call: dict[str, Any], inner: Callable[..., Iterable[bytes]], environ: dict[str, Any],
          start_response: Any) -> Iterable[bytes]:
    def recording_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        _finish(call, status)
        return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

    return inner(environ, recording_start_response)


# ---------------------------------------------------------------- the HTTP side


def _json(start_response: Any, payload: Any, status: str = "200 OK") -> Iterable[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(payload).encode()]


def _read_json(environ: dict[str, Any]) -> Any:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return json.loads(environ["wsgi.input"].read(length) or b"{}")


def _control(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    try:
        if path == TRACE_PATH:
            if method == "DELETE":
                clear_trace()
                return _json(start_response, {"calls": [], "next": trace()["next"]})
            return _json(start_response, trace(int(query.get("since", ["0"])[0])))
        if path == RELEASE_PATH and method == "POST":
            body = _read_json(environ)
            released = release(None if body.get("id") is None else int(body["id"]), str(body.get("then", "deliver")))
            return _json(start_response, {"released": released})
        if method == "POST":
            return _json(start_response, add_rule(_read_json(environ)).public())
        if method == "DELETE":
            remove_rules(int(query["id"][0]) if "id" in query else None)
        return _json(start_response, rules())
    except (ValueError, TypeError, AttributeError, re.error) as err:
        return _json(start_response, {"message": f"bad call-control request: {err}"}, "400 Bad Request")


def wrap(inner: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware: the control endpoints, the ordered trace, and the rules."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in (TRACE_PATH, RULES_PATH, RELEASE_PATH):
            return _control(environ, start_response)
        operation = request_operation(environ)
        if operation is None:
            return inner(environ, start_response)
        service, action = operation
        body = environ["wsgi.input"].getvalue() if hasattr(environ["wsgi.input"], "getvalue") else b""
        account = _account(environ)
        call = {"seq": 0, "time": time.time(), "account": account,
                "session": _session(environ, account), "service": service, "action": action,
                "subject": describe_subject(environ, service, action, body),
                "clientPort": int(environ.get("REMOTE_PORT") or 0), "status": None, "rule": None}
        _record(call)
        rule = _take(call)
        if rule is None:
            return _pass(call, inner, environ, start_response)
        call["rule"] = rule.id
        return _act(rule, call, inner, environ, start_response)

    return app
