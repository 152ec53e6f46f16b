#!/usr/bin/env python3
"""Run moto's server with the maestro extensions loaded.

    python run_server.py --host 127.0.0.1 --port 5000

Prints ``READY http://HOST:PORT`` on stdout once the socket accepts
connections (``--port 0`` picks a free port; the line shows which), then
serves every moto service at that one endpoint until SIGTERM/SIGINT.

Besides moto's own ``/moto-api/...`` routes, ``/maestro-emulator/config``
reads (GET) or changes (POST JSON ``{"iamPropagationSeconds": 2.5}``; null
returns to the environment value) the IAM propagation delay of a running
server, so one server can serve tests with and without the fault.

``/maestro-emulator/faults`` arms, lists and clears injected AWS errors
(see ``maestro_emulator/faults.py``); ``/maestro-emulator/calls`` counts the
AWS calls served, per account and operation (``maestro_emulator/call_log.py``);
``/maestro-emulator/call-trace`` and ``/maestro-emulator/call-rules`` list every call in
order and fail, reset or hold the Nth matching one (``maestro_emulator/call_control.py``).
``/maestro-emulator/secretsmanager/contents`` (GET) lists every secret of every account with
every version's value, deleted secrets included (``maestro_emulator/secretsmanager_contents.py``).

``/api/maestro/v1/...`` is Maestro's consumer REST API and ``/prod/api/v0/management_clusters``
the regional platform API behind an API Gateway that verifies SigV4; ``/maestro-emulator/maestro-api``
configures them, adds resource bundles, injects faults and starts an HTTPS listener with a private CA
(``maestro_emulator/maestro_api.py``, ``maestro_emulator/api_gateway.py``).

``--iot-data-broker PATH`` (or ``MAESTRO_EMULATOR_IOT_DATA_BROKER``) also runs
the IoT Core data plane: the MQTT broker built from ``iot_data/``, which
authorises against this emulator's IoT registry.  Its address is printed as
``IOT-DATA 127.0.0.1:N`` before READY, and ``GET /maestro-emulator/iot-data``
returns it with the CA of its server certificate
(``maestro_emulator/iot_data.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any, Callable, Iterable

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

CONFIG_PATH = "/maestro-emulator/config"


def _config_app(
    inner: Callable[..., Iterable[bytes]],
) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware answering CONFIG_PATH itself and passing the rest on.

    It sits in front of moto's dispatcher because moto routes by AWS service
    and has no place for an emulator-specific control endpoint.
    """
    from maestro_emulator import settings

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != CONFIG_PATH:
            return inner(environ, start_response)
        status = "200 OK"
        if environ.get("REQUEST_METHOD") == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = json.loads(environ["wsgi.input"].read(length) or b"{}")
                if "iamPropagationSeconds" in body:
                    value = body["iamPropagationSeconds"]
                    settings.set_iam_propagation_seconds(
                        None if value is None else float(value)
                    )
            except (ValueError, TypeError, AttributeError) as err:
                status = "400 Bad Request"
                payload = json.dumps({"message": f"bad config request: {err}"})
                start_response(status, [("Content-Type", "application/json")])
                return [payload.encode()]
        payload = json.dumps(settings.snapshot())
        start_response(status, [("Content-Type", "application/json")])
        return [payload.encode()]

    return app


def build_app() -> Callable[..., Iterable[bytes]]:
    import maestro_emulator
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        create_backend_app,
    )

    from maestro_emulator import call_control, call_log, faults, iot_data, maestro_api, secretsmanager_contents, sts_sessions

    maestro_emulator.install()
    # Counted outermost, so a call failed by an injected fault is still a call made; the
    # broker's control calls are answered before either, so they are never counted or failed.
    # The ordered call trace and its step rules (call_control) see the answers faults.py gives.
    # The secrets' contents (a test's view of what is at rest, not an AWS call) likewise.
    # Maestro's REST API and the platform API's API Gateway front are not AWS calls either.
    return maestro_api.wrap(iot_data.wrap(secretsmanager_contents.wrap(
        call_log.wrap(call_control.wrap(faults.wrap(sts_sessions.wrap(_config_app(DomainDispatcherApplication(create_backend_app))))))
    )))


def _control_url(host: str, port: int) -> str:
    """Where the broker reaches this server: a wildcard bind address is not dialable."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000, help="0 = any free port")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="do not log each request to stderr",
    )
    parser.add_argument(
        "--iot-data-broker",
        metavar="PATH",
        default=os.environ.get("MAESTRO_EMULATOR_IOT_DATA_BROKER") or None,
        help="run this IoT Core data-plane broker binary (default: $MAESTRO_EMULATOR_IOT_DATA_BROKER)",
    )
    args = parser.parse_args(argv)

    import logging

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    # make_server binds and listens before returning, so once it is back the
    # port accepts connections and READY is true.
    server = make_server(
        args.host,
        args.port,
        build_app(),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    port = server.server_address[1]
    # moto uses MOTO_PORT when it needs to build URLs pointing at itself.
    os.environ["MOTO_PORT"] = str(port)

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    from maestro_emulator import iot_data

    try:
        if args.iot_data_broker:
            # The broker calls back only when an MQTT client connects, and the socket is
            # already listening: a call made before serve_forever() runs waits in the backlog.
            try:
                broker = iot_data.start_broker(args.iot_data_broker, _control_url(args.host, port))
            except iot_data.BrokerError as err:
                print(f"error: {err}", file=sys.stderr, flush=True)
                return 1
            print(f"IOT-DATA {broker.address}", flush=True)
        print(f"READY http://{args.host}:{port}", flush=True)
        server.serve_forever()
    except SystemExit:
        pass
    finally:
        server.server_close()
        iot_data.stop_broker()
    return 0


if __name__ == "__main__":
    sys.exit(main())
