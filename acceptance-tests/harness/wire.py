"""Driving `maestro-wire` (`harness/maestro_wire`): Maestro's own MQTT clients, sdk-go's agent and
source clients, plus a probe, each run in a pod view of its CSI mount (`harness/pod_view.py`).

`maestro-wire agent|server|probe` prints one JSON object per line, each with an `"event"`; this
module runs it as a subprocess and lets a test wait for those events:

    with wire.start_server(binary, server_mount, broker_address, logs / "server") as server, \\
            wire.start_agent(binary, agent_mount, broker_address, logs / "agent") as agent:
        server.wait_for("subscribed")
        agent.wait_for("subscribed")
        server.send({"consumer": "management-01", "resourceid": "r-1"})   # registered with Maestro
        agent.wait_for({"event": "work", "resourceid": "r-1"})

`wait_for` hands out each event at most once (the first matching event not returned before), so
waiting for "published" twice gets the first and then the second publish, in the order they were
printed, even when other events arrived in between.

`broker_address` is where the emulator's broker listens; the clients never dial it themselves:
they dial config.yaml's brokerHost, which the pod view resolves to a forwarder to that address.
The processes' stderr (sdk-go's log) goes to a log file in the given directory; maestro-wire never
prints key or certificate material on either stream, so those logs may sit anywhere the leak
scanner looks. Plain standard library, Python 3.11.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from . import pod_view

Event = dict[str, Any]
Predicate = Callable[[Event], bool]

DEFAULT_WAIT = 20.0


class WireClient:
    """One running `maestro-wire` process: stdin a pipe, stdout parsed into events by a reader
    thread (appended to a list a condition variable guards: a queue that keeps its history),
    stderr appended to `log_path`."""

    def __init__(self, argv: Sequence[str | Path], log_path: Path, name: str | None = None) -> None:
        self.argv = [str(a) for a in argv]
        self.name = name or self.argv[0]
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log.write(f"$ {pod_view.describe(self.argv)}\n".encode())
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


# ---------------------------------------------------------------- the three roles

# Where each chart has the agent read config.yaml: the deployed chart's CSI mount, and upstream's
# `--workload-source-config=/secrets/mqtt/config.yaml` (its certificates at /secrets/mqtt-certs).
DEPLOYED_CONFIG = "/mnt/secrets-store/config.yaml"
UPSTREAM_CONFIG = "/secrets/mqtt/config.yaml"


def _in_pod(binary: Path, mode: str, flags: Sequence[str], secrets_dir: Path, broker_address: str) -> list[str]:
    return pod_view.pod_argv([Path(binary).resolve(), mode, *flags], secrets_dir, broker_address)


def start_agent(binary: Path, secrets_dir: Path, broker_address: str, log_dir: Path,
                cloudevents_client_id: str | None = None, *, consumer_name: str | None = None,
                timeout: float = 300, extra_args: Iterable[str] = ()) -> WireClient:
    """sdk-go's agent client, started as Maestro's agent chart starts the work agent, in a pod
    view of `secrets_dir` (`harness/pod_view.py`); it connects as `<client ID>-client`,
    subscribes, asks for a spec resync, and answers every work with a status. Runs until stopped
    or `timeout` seconds.

    Without `consumer_name` the mount is the deployed chart's: the consumer name is its
    `consumerName` file and config.yaml is read at /mnt/secrets-store. With it, the mount is made
    like upstream's chart (no consumerName file; `--consumer-name` from its values) and config.yaml
    is read at /secrets/mqtt. The client ID defaults to `<consumer>-work-agent`, as both charts."""
    if consumer_name is None:
        consumer = (Path(secrets_dir) / "consumerName").read_text(encoding="utf-8").strip()
        config = DEPLOYED_CONFIG
    else:
        consumer, config = consumer_name, UPSTREAM_CONFIG
    flags = [f"--consumer-name={consumer}", "--workload-source-driver=mqtt", f"--workload-source-config={config}",
             f"--cloudevents-client-id={cloudevents_client_id or consumer + '-work-agent'}",
             f"--timeout={timeout:g}s", *extra_args]
    return WireClient(_in_pod(binary, "agent", flags, secrets_dir, broker_address),
                      Path(log_dir) / "maestro-wire-agent.log", name="agent")


def start_server(binary: Path, secrets_dir: Path, broker_address: str, log_dir: Path,
                 client_id: str = "maestro-0", source_id: str = "maestro", *, maestro_api_url: str,
                 resync_consumers: Iterable[str] = (), timeout: float = 300,
                 config_file: str = DEPLOYED_CONFIG, extra_args: Iterable[str] = ()) -> WireClient:
    """sdk-go's source client, built as Maestro's server builds it, in a pod view of
    `secrets_dir`; connects with `client_id` as is and subscribes to the config's agentEvents.
    `send({"consumer", "resourceid"})` creates a ManifestWork with that UID for the consumer as
    Maestro does: only for a consumer registered with the Maestro REST API at `maestro_api_url`
    (the emulator's; else a "refused" event with the reason), stored as a resource bundle there,
    then published; `send({"action": "delete", ...})` deletes it (event "deleted" once the agent
    confirmed and the bundle is gone)."""
    flags = ["--message-broker-type=mqtt", f"--message-broker-config-file={config_file}",
             f"--source-id={source_id}", f"--client-id={client_id}", f"--maestro-api-url={maestro_api_url}",
             f"--timeout={timeout:g}s"]
    flags += [f"--resync-consumer={consumer}" for consumer in resync_consumers]
    flags += list(extra_args)
    return WireClient(_in_pod(binary, "server", flags, secrets_dir, broker_address),
                      Path(log_dir) / "maestro-wire-server.log", name="server")


def probe(binary: Path, secrets_dir: Path, broker_address: str, client_id: str,
          subscribe: Iterable[str] = (), publish: Iterable[str] = (), listen_seconds: float = 2,
          *, qos: int = 1, log_dir: Path | None = None, timeout: float = 60) -> list[Event]:
    """`maestro-wire probe`, run to completion in a pod view of `secrets_dir`: sdk-go loads
    config.yaml and dials; then connack, one suback per filter, one puback per topic, messages
    heard while listening, disconnected (if the broker hung up), done. A refused connection is a
    normal result (connack with its reason code, null when the broker hung up first); only a
    usage or config error (exit 1) raises."""
    flags = [f"--config={DEPLOYED_CONFIG}", f"--client-id={client_id}", f"--listen={listen_seconds:g}s",
             f"--qos={qos}", f"--timeout={timeout:g}s"]
    flags += [f"--subscribe={f}" for f in subscribe] + [f"--publish={t}" for t in publish]
    argv = _in_pod(binary, "probe", flags, secrets_dir, broker_address)
    completed = subprocess.run(argv, capture_output=True, check=False, timeout=timeout + 30)
    stderr = completed.stderr.decode("utf-8", "replace")
    if log_dir is not None:
        log = Path(log_dir) / f"maestro-wire-probe-{_file_safe(client_id)}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"$ {pod_view.describe(argv)}\n{stderr}")
    events = []
    for line in completed.stdout.decode("utf-8", "replace").splitlines():
        if line.strip():
            try:
                events.append(json.loads(line))
            except ValueError:
                events.append({"event": "unparsed", "line": line})
    if completed.returncode != 0:
        raise AssertionError(f"maestro-wire probe failed (exit {completed.returncode}): {events}\n{stderr[-2000:]}")
    return events


def _file_safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80] or "client"
