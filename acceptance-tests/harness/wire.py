"""Driving `maestro-wire`, the Maestro-faithful MQTT clients (`harness/maestro_wire`).

`maestro-wire agent|server|probe` prints one JSON object per line, each with an `"event"`; this
module runs it as a subprocess and lets a test wait for those events:

    with wire.start_server(binary, server_mount, broker_address, logs / "server") as server, \\
            wire.start_agent(binary, agent_mount, broker_address, logs / "agent") as agent:
        server.wait_for("subscribed")
        agent.wait_for("subscribed")
        server.send({"consumer": "management-01", "id": "evt-1", "resourceid": "r-1"})
        agent.wait_for(lambda e: e["event"] == "work" and e["id"] == "evt-1")

`wait_for` hands out each event at most once (the first matching event not returned before), so
waiting for "published" twice gets the first and then the second publish, in the order they were
printed, even when other events arrived in between.

The processes' stderr goes to a log file in the given directory; maestro-wire never prints key
or certificate material on either stream, so those logs may sit anywhere the leak scanner looks.
Plain standard library, Python 3.11.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

Event = dict[str, Any]
Predicate = Callable[[Event], bool]

DEFAULT_WAIT = 20.0

# Where the pods mount the certificate files config.yaml names: the deployed chart's CSI mount,
# and the upstream chart's `maestro-agent-certs` secret volume. Paths under either are read from
# the test's secrets directory instead.
DEFAULT_MOUNT_PATHS = ("/mnt/secrets-store", "/secrets/mqtt-certs")


class WireClient:
    """One running `maestro-wire` process: stdin a pipe, stdout parsed into events by a reader
    thread (appended to a list a condition variable guards: a queue that keeps its history),
    stderr appended to `log_path`."""

    def __init__(self, argv: Sequence[str | Path], log_path: Path, name: str | None = None) -> None:
        self.argv = [str(a) for a in argv]
        self.name = name or " ".join(self.argv[1:2])
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log.write(f"$ {' '.join(self.argv)}\n".encode())
        self._log.flush()
        self._events: list[Event] = []
        self._returned: set[int] = set()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._eof = False
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            bufsize=0,
        )
        self._reader = threading.Thread(target=self._read_stdout, name=f"wire-{self.name}", daemon=True)
        self._reader.start()

    # ------------------------------------------------------------ output

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line:
                continue
            try:
                event = json.loads(line)
                if not isinstance(event, dict):
                    raise ValueError("not an object")
            except ValueError:
                event = {"event": "unparsed", "line": line}
            with self._arrived:
                self._events.append(event)
                self._arrived.notify_all()
        with self._arrived:
            self._eof = True
            self._arrived.notify_all()

    def events(self) -> list[Event]:
        """Every event printed so far, in order."""
        with self._lock:
            return list(self._events)

    def wait_for(self, what: str | Predicate | dict[str, Any], timeout: float = DEFAULT_WAIT) -> Event:
        """The first event not returned before that matches `what`: an event name, a dict every
        item of which the event must have, or a predicate. Raises AssertionError (with the events
        seen so far) on timeout or when the process ends first."""
        predicate = _predicate(what)
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for index, event in enumerate(self._events):
                    if index not in self._returned and _safe(predicate, event):
                        self._returned.add(index)
                        return event
                if self._eof:
                    self._raise(f"{self.name} ended (exit {self.proc.poll()}) before {_describe(what)}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._raise(f"no {_describe(what)} from {self.name} within {timeout:g}s")
                self._arrived.wait(remaining)

    def _raise(self, message: str) -> None:
        events = "\n".join(json.dumps(e) for e in self._events) or "(none)"
        raise AssertionError(f"{message}\nevents so far:\n{events}\nstderr: {self.log_path}\n{self._stderr_tail()}")

    def _stderr_tail(self, limit: int = 2000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-limit:]
        except OSError:
            return ""

    # ------------------------------------------------------------ input and lifetime

    def send(self, obj: Any) -> None:
        """One JSON line on the process's stdin (the server mode's publish requests)."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            with self._lock:
                self._raise(f"cannot send to {self.name}: it is not running (exit {self.proc.poll()})")

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def stop(self, grace: float = 10.0) -> int:
        """Close stdin (the clients then DISCONNECT and exit), wait `grace` seconds, kill if
        still running. Returns the exit code."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        if self.proc.stdout is not None and not self._reader.is_alive():
            self.proc.stdout.close()
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode

    def wait_exit(self, timeout: float = DEFAULT_WAIT) -> int:
        """Wait for the process to end on its own (config errors, refused connections)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._raise(f"{self.name} still running after {timeout:g}s")
        return self.stop()

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _predicate(what: str | Predicate | dict[str, Any]) -> Predicate:
    if isinstance(what, str):
        return lambda e: e.get("event") == what
    if isinstance(what, dict):
        wanted = dict(what)
        return lambda e: all(e.get(k) == v for k, v in wanted.items())
    return what


def _safe(predicate: Predicate, event: Event) -> bool:
    # A predicate written for one kind of event may index keys another kind lacks.
    try:
        return bool(predicate(event))
    except (KeyError, TypeError, IndexError):
        return False


def _describe(what: object) -> str:
    if isinstance(what, str):
        return f"{what!r} event"
    if isinstance(what, dict):
        return f"event matching {what!r}"
    return "matching event"


# ---------------------------------------------------------------- convenience


def _common(binary: Path, mode: str, secrets_dir: Path, connect_to: str | None, timeout: float,
            protocol: int = 5, mount_paths: Iterable[str] = DEFAULT_MOUNT_PATHS) -> list[str]:
    argv = [str(binary), mode, "--secrets-dir", str(secrets_dir), "--timeout", f"{timeout:g}"]
    for mount_path in mount_paths:
        argv += ["--mount-path", mount_path]
    if connect_to:
        argv += ["--connect-to", connect_to]
    if protocol != 5:
        argv += ["--protocol", str(protocol)]
    return argv


def start_agent(binary: Path, secrets_dir: Path, connect_to: str | None, log_dir: Path,
                cloudevents_client_id: str | None = None, *, consumer_name: str | None = None,
                resync: bool = True, timeout: float = 300, mount_paths: Iterable[str] = DEFAULT_MOUNT_PATHS,
                extra_args: Iterable[str] = ()) -> WireClient:
    """`maestro-wire agent`: connects as `<cloudevents_client_id or consumerName-work-agent>-client`,
    subscribes, answers every work with a status. Runs until stopped or `timeout` seconds.

    The cluster name comes from the mounted `consumerName` file (the deployed chart); a mount
    made like the upstream chart has none — pass `consumer_name` (its `consumerName` value)."""
    argv = _common(binary, "agent", secrets_dir, connect_to, timeout, mount_paths=mount_paths)
    if cloudevents_client_id:
        argv += ["--cloudevents-client-id", cloudevents_client_id]
    if consumer_name:
        argv += ["--consumer-name", consumer_name]
    if not resync:
        argv.append("--no-resync")
    argv += list(extra_args)
    return WireClient(argv, Path(log_dir) / "maestro-wire-agent.log", name="agent")


def start_server(binary: Path, secrets_dir: Path, connect_to: str | None, log_dir: Path,
                 client_id: str = "maestro-0", source_id: str = "maestro", *,
                 resync_consumers: Iterable[str] = (), timeout: float = 300,
                 mount_paths: Iterable[str] = DEFAULT_MOUNT_PATHS, extra_args: Iterable[str] = ()) -> WireClient:
    """`maestro-wire server`: connects with `client_id` as is, subscribes to agentEvents;
    `send({"consumer", "resourceid", "id"})` publishes a work (optional keys: "resourceversion",
    "action" create_request|update_request|delete_request, "data" to replace the ManifestBundle)."""
    argv = _common(binary, "server", secrets_dir, connect_to, timeout, mount_paths=mount_paths)
    argv += ["--client-id", client_id, "--source-id", source_id]
    for consumer in resync_consumers:
        argv += ["--resync-consumer", consumer]
    argv += list(extra_args)
    return WireClient(argv, Path(log_dir) / "maestro-wire-server.log", name="server")


def probe(binary: Path, secrets_dir: Path, connect_to: str | None, client_id: str,
          subscribe: Iterable[str] = (), publish: Iterable[str] = (), listen_seconds: float = 2,
          protocol: int = 5, *, qos: int = 1, log_dir: Path | None = None, timeout: float = 60,
          mount_paths: Iterable[str] = DEFAULT_MOUNT_PATHS) -> list[Event]:
    """`maestro-wire probe`, run to completion: connack, one suback per filter, one puback per
    topic, messages heard while listening, disconnected (if the broker hung up), done. A refused
    connection is a normal result (connack with its reason code, or tls-error); only a usage or
    config error (exit 1) raises. Reason codes are null where no acknowledgement came back."""
    argv = _common(binary, "probe", secrets_dir, connect_to, timeout, protocol, mount_paths)
    argv += ["--client-id", client_id, "--listen-seconds", f"{listen_seconds:g}", "--qos", str(qos)]
    for topic_filter in subscribe:
        argv += ["--subscribe", topic_filter]
    for topic in publish:
        argv += ["--publish", topic]
    completed = subprocess.run(argv, capture_output=True, check=False, timeout=timeout + 30)
    stderr = completed.stderr.decode("utf-8", "replace")
    if log_dir is not None:
        log = Path(log_dir) / f"maestro-wire-probe-{_file_safe(client_id)}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"$ {' '.join(argv)}\n{stderr}")
    events = []
    for line in completed.stdout.decode("utf-8", "replace").splitlines():
        if line.strip():
            try:
                events.append(json.loads(line))
            except ValueError:
                events.append({"event": "unparsed", "line": line})
    if completed.returncode == 1:
        raise AssertionError(f"maestro-wire probe usage/config error: {events}\n{stderr[-2000:]}")
    return events


def _file_safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80] or "client"
