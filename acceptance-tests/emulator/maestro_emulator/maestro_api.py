"""Maestro's consumer REST API, as its server answers it (`/api/maestro/v1/consumers`).

Shapes and codes come from Maestro's `openapi/openapi.yaml` and from the real server's answers
recorded in `/work/shared/reference/maestro-rest-api.md`:

- `POST /consumers {name, labels}` 201 with the consumer (`id` a uuid, `kind: "Consumer"`,
  `href`, `name`, `labels` left out when empty, `created_at`/`updated_at`); a name taken 409
  `maestro-6`; a name that is not a lowercase RFC 1123 label (or longer than 63) 500
  `maestro-9`, as Maestro's database layer reports it; an `id` in the body 400 `maestro-8`;
  malformed JSON 400 `maestro-17`; no name: the generated id becomes the name.
- `GET /consumers` lists (`ConsumerList`, `page`, `size` = items returned, `total` = every
  match; page 1 of 100 by default, a negative size is everything), with `search` of the forms
  `name = 'a'` and `name in ('a','b')` (`labels.*` 400 `maestro-21`, another column 500
  `maestro-9`, malformed 400 `maestro-21`).
- `GET /consumers/{id}` 200 or 404 `maestro-7` (the path takes the id, never the name).
- `PATCH /consumers/{id} {labels}` replaces the labels whole; `name` is ignored.
- `DELETE /consumers/{id}` 204, also for an id that does not exist; 403 `maestro-4` while a
  resource bundle (soft-deleted ones included) references the consumer.
- `PUT` 405 with an empty body.
- With a bearer token configured, a request without it (or with another) is 401 `maestro-15`.

Resource bundles are made through Maestro's gRPC source API, which this emulator does not
speak; tests add and remove them through the control endpoint below. REST reads them
(`GET /resource-bundles`, `search=consumer_name = 'x'`) and DELETE soft-deletes them (they
keep blocking the consumer's deletion until the agent confirms, i.e. the control DELETE).

Control (not Maestro's API; never counted as a call):

    GET    /maestro-emulator/maestro-api                  {"config", "tls", "requests"}
    POST   /maestro-emulator/maestro-api/config           {"bearerToken": str|null,
                                                           "privilegedAccounts": [...], "region": str}
    POST   /maestro-emulator/maestro-api/tls              starts (once) an HTTPS listener serving both
                                                          APIs with a private CA: {"url", "caPem"}
    POST   /maestro-emulator/maestro-api/resource-bundles {"consumer_name": "mc-1"} -> the bundle
    DELETE /maestro-emulator/maestro-api/resource-bundles?consumer_name=mc-1[&id=ID]   the agent confirmed
    POST   /maestro-emulator/maestro-api/faults           {"status": 503, "count": 2, "method": "POST",
                                                           "path": "regex", "effect": "status"|"close"}
    DELETE /maestro-emulator/maestro-api                  forget consumers, bundles, faults, requests

`requests` lists what both APIs were asked (method, path, status, how the caller
authenticated), never a body or a credential. A fault answers the next `count` matching
requests with `status` (a Maestro-shaped error; 429 with `Retry-After: 1`) or, with `effect:
"close"`, closes the connection without an answer.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
import urllib.parse
import uuid
from typing import Any, Callable, Iterable

from . import api_gateway

PREFIX = "/api/maestro/v1"
CONTROL = "/maestro-emulator/maestro-api"
RFC1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME = 63

_lock = threading.RLock()
_consumers: dict[str, dict[str, Any]] = {}
_bundles: dict[str, dict[str, Any]] = {}
_faults: list[dict[str, Any]] = []
_requests: list[dict[str, Any]] = []
_config: dict[str, Any] = {"bearerToken": None, "privilegedAccounts": ["123456789012"], "region": "us-east-1"}
_tls: dict[str, str] = {}
_error_ids = {"maestro-4": "4", "maestro-6": "6", "maestro-7": "7", "maestro-8": "8", "maestro-9": "9",
              "maestro-15": "15", "maestro-17": "17", "maestro-21": "21"}


class Answer(Exception):
    """A finished HTTP answer: status, JSON body (None: empty), extra headers."""

    def __init__(self, status: int, body: Any = None, headers: list[tuple[str, str]] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or []


def error(status: int, code: str, reason: str) -> Answer:
    n = _error_ids.get(code, code.rsplit("-", 1)[-1])
    return Answer(status, {"kind": "Error", "id": n, "href": f"{PREFIX}/errors/{n}", "code": code,
                           "reason": reason, "operation_id": uuid.uuid4().hex[:27]})


def config() -> dict[str, Any]:
    with _lock:
        return dict(_config)


def _now() -> str:
    # POST/PATCH answers carry nanoseconds in Maestro; microseconds are what a later GET shows.
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _public(consumer: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in consumer.items() if k != "labels"}
    if consumer.get("labels"):
        shown["labels"] = dict(consumer["labels"])
    return shown


def _check_name(name: str) -> None:
    if len(name) > MAX_NAME:
        raise error(500, "maestro-9", f'Unable to create Consumer: consumer.name: Invalid value: "{name}": must be no more than 63 characters')
    if not RFC1123_LABEL.match(name):
        raise error(500, "maestro-9", f'Unable to create Consumer: consumer.name: Invalid value: "{name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \'-\', and must start and end with an alphanumeric character')


def _labels(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise error(400, "maestro-17", "Invalid request format: json: cannot unmarshal labels into Go struct field Consumer.labels of type map[string]string")
    if any("\x00" in k or "\x00" in v for k, v in value.items()):
        # Labels are a PostgreSQL jsonb column (source: pkg/db StringMap), which refuses \u0000.
        raise error(500, "maestro-9", "Unable to create Consumer: ERROR: unsupported Unicode escape sequence (SQLSTATE 22P05)")
    return dict(value)


def create(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("id"):
        raise error(400, "maestro-8", "id must be empty")
    labels = _labels(body.get("labels"))
    with _lock:
        cid = str(uuid.uuid4())
        name = body.get("name") or cid
        if not isinstance(name, str):
            raise error(400, "maestro-17", "Invalid request format: json: cannot unmarshal name of type string")
        _check_name(name)
        if any(c["name"] == name for c in _consumers.values()):
            raise error(409, "maestro-6", "This Consumer already exists")
        now = _now()
        consumer = {"id": cid, "kind": "Consumer", "href": f"{PREFIX}/consumers/{cid}", "name": name,
                    "labels": labels, "created_at": now, "updated_at": now}
        _consumers[cid] = consumer
        return _public(consumer)


def get(cid: str) -> dict[str, Any]:
    with _lock:
        if cid not in _consumers:
            raise error(404, "maestro-7", f"Consumer with id='{cid}' not found")
        return _public(_consumers[cid])


def patch(cid: str, body: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        if cid not in _consumers:
            raise error(404, "maestro-7", f"Consumer with id='{cid}' not found")
        if "labels" in body:
            _consumers[cid]["labels"] = _labels(body["labels"])
        _consumers[cid]["updated_at"] = _now()
        return _public(_consumers[cid])


def delete(cid: str) -> None:
    with _lock:
        consumer = _consumers.get(cid)
        if consumer is None:
            return
        if any(b["consumer_name"] == consumer["name"] for b in _bundles.values()):
            raise error(403, "maestro-4", 'Unable to delete Consumer: ERROR: update or delete on table "consumers" violates foreign key constraint "fk_resources_consumers" on table "resources" (SQLSTATE 23503)')
        del _consumers[cid]


_SEARCH_EQ = re.compile(r"^\s*(\S+?)\s*=\s*'([^']*)'\s*$")
_SEARCH_IN = re.compile(r"^\s*(\S+?)\s+in\s*\(([^)]*)\)\s*$", re.IGNORECASE)


def _search(search: str, columns: tuple[str, ...], kind: str) -> Callable[[dict[str, Any]], bool]:
    match = _SEARCH_EQ.match(search) or _SEARCH_IN.match(search)
    if match is None:
        raise error(400, "maestro-21", f"Failed to parse search query: {search}")
    column, operand = match.group(1), match.group(2)
    if "." in column:
        raise error(400, "maestro-21", f"{column.split('.')[0]} is not a related resource of {kind}")
    if column not in columns:
        raise error(500, "maestro-9", f"Unable to list resources: ERROR: column {kind.lower()}s.{column} does not exist (SQLSTATE 42703)")
    if match.re is _SEARCH_EQ:
        wanted = {operand}
    else:
        wanted = {v.strip().strip("'") for v in operand.split(",")}
    return lambda item: str(item.get(column)) in wanted


def _page(items: list[dict[str, Any]], query: dict[str, str], kind: str) -> dict[str, Any]:
    def number(key: str, default: int) -> int:
        try:
            return int(query.get(key, default))
        except ValueError:
            return 0 if key == "page" else default
    page, size = number("page", 1), number("size", 100)
    if size < 0:
        size = len(items)
    start = max(page - 1, 0) * size
    chosen = items[start:start + size]
    return {"kind": kind, "page": page, "size": len(chosen), "total": len(items), "items": chosen}


def list_consumers(query: dict[str, str]) -> dict[str, Any]:
    with _lock:
        items = [_public(c) for c in sorted(_consumers.values(), key=lambda c: c["created_at"])]
    if query.get("search"):
        keep = _search(query["search"], ("id", "name", "created_at", "updated_at"), "Consumer")
        items = [i for i in items if keep(i)]
    return _page(items, query, "ConsumerList")


def add_bundle(consumer_name: str) -> dict[str, Any]:
    """What `maestro resourcebundle apply` does over gRPC: refused for a consumer not registered."""
    with _lock:
        if not any(c["name"] == consumer_name for c in _consumers.values()):
            raise error(500, "maestro-9", 'Unable to create Resource: ERROR: insert or update on table "resources" violates foreign key constraint "fk_resources_consumers" (SQLSTATE 23503)')
        bid = str(uuid.uuid4())
        now = _now()
        bundle = {"id": bid, "kind": "ResourceBundle", "href": f"{PREFIX}/resource-bundles/{bid}", "name": bid,
                  "consumer_name": consumer_name, "version": 1, "manifests": [], "created_at": now, "updated_at": now}
        _bundles[bid] = bundle
        return dict(bundle)


def remove_bundles(consumer_name: str, bundle_id: str | None = None) -> int:
    """Forgets the consumer's bundles (only `bundle_id` when given): the agent confirmed."""
    with _lock:
        gone = [bid for bid, b in _bundles.items()
                if b["consumer_name"] == consumer_name and bundle_id in (None, bid)]
        for bid in gone:
            del _bundles[bid]
        return len(gone)


def consumers_by_name() -> dict[str, dict[str, Any]]:
    """Every registered consumer by name (for other emulator parts, e.g. a wire server)."""
    with _lock:
        return {c["name"]: _public(c) for c in _consumers.values()}


def _bundles_route(method: str, rest: str, query: dict[str, str]) -> Answer:
    if rest == "" and method == "GET":
        with _lock:
            items = [dict(b) for b in _bundles.values()]
        if query.get("search"):
            keep = _search(query["search"], ("id", "name", "consumer_name"), "Resource")
            items = [i for i in items if keep(i)]
        return Answer(200, _page(items, query, "ResourceBundleList"))
    bid = rest.lstrip("/")
    with _lock:
        bundle = _bundles.get(bid)
        if method == "GET":
            if bundle is None:
                raise error(404, "maestro-7", f"Resource with id='{bid}' not found")
            return Answer(200, dict(bundle))
        if method == "DELETE":
            if bundle is not None:
                # Soft delete: the row stays (and blocks the consumer) until the agent confirms.
                bundle["deleted_at"] = _now()
            return Answer(204)
    return Answer(404, {"type": "Error", "id": "404", "href": f"{PREFIX}/errors/404", "code": "maestro-404",
                        "reason": f"The requested resource '{PREFIX}/resource-bundles' doesn't exist"})


def read_json(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError as err:
        raise error(400, "maestro-17", f"Invalid request format: invalid character in JSON ({err.msg})") from None
    if not isinstance(parsed, dict):
        raise error(400, "maestro-17", "Invalid request format: json: cannot unmarshal into Go value of type openapi.Consumer")
    return parsed


def maestro_route(method: str, path: str, query: dict[str, str], body: bytes) -> Answer:
    """Maestro's REST API (path below PREFIX)."""
    if path.startswith("/resource-bundles"):
        return _bundles_route(method, path[len("/resource-bundles"):], query)
    if path in ("/consumers", "/consumers/"):
        if method == "GET":
            return Answer(200, list_consumers(query))
        if method == "POST":
            return Answer(201, create(read_json(body)))
        return Answer(405)
    if path.startswith("/consumers/"):
        cid = path[len("/consumers/"):]
        if method == "GET":
            return Answer(200, get(cid))
        if method == "PATCH":
            return Answer(200, patch(cid, read_json(body)))
        if method == "DELETE":
            delete(cid)
            return Answer(204)
        return Answer(405)
    return Answer(404, {"type": "Error", "id": "404", "href": f"{PREFIX}/errors/404", "code": "maestro-404",
                        "reason": f"The requested resource '{PREFIX}{path}' doesn't exist"})


def _bearer_refusal(environ: dict[str, Any]) -> Answer | None:
    token = config()["bearerToken"]
    if not token:
        return None
    header = environ.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Bearer "):
        return error(401, "maestro-15", "Request doesn't contain the 'Authorization' header")
    if header[len("Bearer "):] != token:
        return error(401, "maestro-15", "Account authentication could not be verified")
    return None


def _fault_for(method: str, path: str) -> dict[str, Any] | None:
    with _lock:
        for fault in _faults:
            if fault["count"] <= 0:
                continue
            if fault.get("method") and fault["method"] != method:
                continue
            if fault.get("path") and not re.search(fault["path"], path):
                continue
            fault["count"] -= 1
            fault["fired"] += 1
            return dict(fault)
    return None


def _respond(start_response: Any, answer: Answer) -> list[bytes]:
    reason = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
              404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 429: "Too Many Requests",
              500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}.get(answer.status, "Status")
    headers = list(answer.headers)
    payload = b""
    if answer.body is not None:
        payload = json.dumps(answer.body).encode()
    if answer.body is not None or answer.status == 204:
        headers.append(("Content-Type", "application/json"))
    headers.append(("Content-Length", str(len(payload))))
    start_response(f"{answer.status} {reason}", headers)
    return [payload]


class _CloseConnection(Exception):
    pass


def _close(environ: dict[str, Any]) -> None:
    # werkzeug's handler: shut the socket so the client sees the connection end unanswered.
    import socket as _socket
    handler_socket = environ.get("werkzeug.socket")
    if handler_socket is not None:
        try:
            handler_socket.shutdown(_socket.SHUT_RDWR)
        except OSError:
            pass
    raise _CloseConnection()


def _control(environ: dict[str, Any], method: str, path: str, query: dict[str, str], body: bytes) -> Answer:
    sub = path[len(CONTROL):]
    if sub == "" and method == "GET":
        with _lock:
            return Answer(200, {"config": dict(_config), "tls": _tls.get("url"), "requests": list(_requests),
                                "faults": list(_faults), "consumers": [_public(c) for c in _consumers.values()],
                                "bundles": [dict(b) for b in _bundles.values()]})
    if sub == "" and method == "DELETE":
        with _lock:
            _consumers.clear(), _bundles.clear(), _faults.clear(), _requests.clear()
        return Answer(204)
    if sub == "/config" and method == "POST":
        changes = json.loads(body or b"{}")
        with _lock:
            for key in ("bearerToken", "privilegedAccounts", "region"):
                if key in changes:
                    _config[key] = changes[key]
            return Answer(200, dict(_config))
    if sub == "/tls" and method == "POST":
        return Answer(200, start_tls(environ.get("maestro_emulator.app")))
    if sub == "/resource-bundles" and method == "POST":
        return Answer(201, add_bundle(json.loads(body or b"{}").get("consumer_name", "")))
    if sub == "/resource-bundles" and method == "DELETE":
        return Answer(200, {"removed": remove_bundles(query.get("consumer_name", ""), query.get("id") or None)})
    if sub == "/faults" and method == "POST":
        spec = json.loads(body or b"{}")
        fault = {"status": int(spec.get("status", 503)), "count": int(spec.get("count", 1)), "fired": 0,
                 "method": spec.get("method"), "path": spec.get("path"), "effect": spec.get("effect", "status")}
        with _lock:
            _faults.append(fault)
        return Answer(201, fault)
    if sub == "/faults" and method == "DELETE":
        with _lock:
            _faults.clear()
        return Answer(204)
    return Answer(404, {"message": f"no control route {method} {path}"})


def start_tls(app: Callable[..., Iterable[bytes]] | None) -> dict[str, str]:
    """Serves `app` (both APIs) over HTTPS on a free port, once; returns its URL and CA."""
    with _lock:
        if _tls:
            return dict(_tls)
        from . import private_ca
        from werkzeug.serving import make_server

        ca_pem, context = private_ca.server_context(["127.0.0.1", "localhost"])
        server = make_server("127.0.0.1", 0, app or wrap(lambda e, s: []), threaded=True, ssl_context=context)
        threading.Thread(target=server.serve_forever, name="maestro-api-tls", daemon=True).start()
        _tls.update({"url": f"https://127.0.0.1:{server.server_address[1]}", "caPem": ca_pem})
        return dict(_tls)


def _record(method: str, path: str, status: Any, auth: str) -> None:
    with _lock:
        _requests.append({"method": method, "path": path, "status": status, "auth": auth})
        del _requests[:-10_000]


def wrap(inner: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware: Maestro's REST API, the API Gateway front and the control endpoint."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        is_maestro = path.startswith(PREFIX + "/")
        is_gateway = path.startswith(api_gateway.STAGE_PREFIX + "/") or path == api_gateway.STAGE_PREFIX
        is_control = path == CONTROL or path.startswith(CONTROL + "/")
        if not (is_maestro or is_gateway or is_control):
            return inner(environ, start_response)
        environ["maestro_emulator.app"] = app
        method = environ.get("REQUEST_METHOD", "GET")
        query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if is_control:
            try:
                return _respond(start_response, _control(environ, method, path, query, body))
            except Answer as answer:
                return _respond(start_response, answer)
        auth = "none"
        try:
            fault = _fault_for(method, path)
            if fault is not None:
                if fault["effect"] == "close":
                    _record(method, path, "closed", auth)
                    _close(environ)
                headers = [("Retry-After", "1")] if fault["status"] == 429 else []
                raise Answer(fault["status"], {"kind": "Error", "code": f"injected-{fault['status']}",
                                               "reason": "injected by the emulator"}, headers)
            if is_maestro:
                refusal = _bearer_refusal(environ)
                auth = "bearer" if environ.get("HTTP_AUTHORIZATION", "").startswith("Bearer ") else "none"
                if refusal is not None:
                    raise refusal
                answer = maestro_route(method, path[len(PREFIX):], query, body)
            else:
                auth = "sigv4"
                answer = api_gateway.handle(environ, method, path, query, body, config())
        except Answer as refused:
            answer = refused
        except _CloseConnection:
            start_response("500 Internal Server Error", [("Content-Length", "0")])
            return [b""]
        _record(method, path, answer.status, auth)
        return _respond(start_response, answer)

    return app
