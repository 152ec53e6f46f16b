"""Runs the AWS emulator (`run_server.py`, moto extended for our services) as a child process.

The only contract with the emulator is its command line (`--host H --port N`) and the line
`READY http://H:N` on stdout once it accepts requests.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

READY_PATTERN = re.compile(r"^READY (http://\S+)\s*$")


class EmulatorError(RuntimeError):
    pass


def free_tcp_port() -> int:
    """A port nothing listens on right now (the kernel picks it, so parallel runs do not clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_tcp_port() -> int:
    """A loopback port that refuses connections, for 'endpoint unreachable' tests."""
    return free_tcp_port()


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


class Emulator:
    """One emulator process; `start()` returns its base URL, `stop()` ends exactly that process."""

    def __init__(self, script: Path, log_dir: Path, env: dict[str, str] | None = None,
                 python: str = sys.executable, host: str = "127.0.0.1"):
        self.script = script
        self.log_dir = log_dir
        self.env = dict(os.environ if env is None else env)
        self.python = python
        self.host = host
        self.url: str | None = None
        self._process: subprocess.Popen[str] | None = None
        self._drain: threading.Thread | None = None
        self.stdout_log = log_dir / "emulator.stdout.log"
        self.stderr_log = log_dir / "emulator.stderr.log"

    def start(self, timeout: float = 60.0, attempts: int = 3) -> str:
        if not self.script.is_file():
            raise EmulatorError(f"emulator script not found: {self.script}")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        last_error: Exception | None = None
        # Another process can grab the port between free_tcp_port() and the bind; a fresh port
        # on the next attempt makes that race harmless.
        for _ in range(attempts):
            try:
                return self._start_once(free_tcp_port(), timeout)
            except EmulatorError as error:
                last_error = error
                self.stop()
        raise EmulatorError(f"emulator did not start after {attempts} attempts: {last_error}")

    def _start_once(self, port: int, timeout: float) -> str:
        stdout_file = open(self.stdout_log, "a", encoding="utf-8")
        stderr_file = open(self.stderr_log, "a", encoding="utf-8")
        command = [self.python, str(self.script), "--host", self.host, "--port", str(port)]
        stdout_file.write(f"$ {' '.join(command)}\n")
        stdout_file.flush()
        # Its own session: a Ctrl-C aimed at pytest does not also hit the server mid-teardown.
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr_file, text=True,
            env=self.env, start_new_session=True, bufsize=1,
        )
        stderr_file.close()
        ready: list[str] = []
        ready_event = threading.Event()

        def drain() -> None:
            # Keep reading after READY so a chatty server never blocks on a full pipe.
            assert self._process is not None and self._process.stdout is not None
            with stdout_file:
                for line in self._process.stdout:
                    stdout_file.write(line)
                    stdout_file.flush()
                    match = READY_PATTERN.match(line.strip())
                    if match and not ready_event.is_set():
                        ready.append(match.group(1))
                        ready_event.set()
            ready_event.set()

        self._drain = threading.Thread(target=drain, name="emulator-stdout", daemon=True)
        self._drain.start()
        deadline = time.monotonic() + timeout
        while not ready_event.wait(0.2):
            if time.monotonic() > deadline:
                raise EmulatorError(f"no READY line within {timeout}s; stderr tail:\n{_tail(self.stderr_log)}")
        if not ready:
            raise EmulatorError(
                f"emulator exited with {self._process.poll()} before READY; stderr tail:\n{_tail(self.stderr_log)}"
            )
        self.url = ready[0].rstrip("/")
        expected = f"http://{self.host}:{port}"
        if self.url != expected:
            raise EmulatorError(f"emulator announced {self.url}, expected {expected}")
        return self.url

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=grace)
        if self._drain is not None:
            self._drain.join(timeout=grace)
            self._drain = None
        if process.stdout is not None:
            process.stdout.close()
        self.url = None


def emulator_calls(url: str, reset: bool = False) -> Counter[str]:
    """`service:Action` -> requests the emulator received since the last reset (refused,
    e.g. throttled, ones included); `reset` starts the count again and returns what it held."""
    request = urllib.request.Request(f"{url.rstrip('/')}/maestro-emulator/calls", method="DELETE" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        listed = json.load(response)["calls"]
    counted: Counter[str] = Counter()
    for call in listed:
        counted[f'{call["service"]}:{call["action"]}'] += call["count"]
    return counted


def maestro_api(url: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """A plain request to the emulator's Maestro REST API (`/api/maestro/v1/...`) or its control
    endpoint (`/maestro-emulator/maestro-api...`): (status, parsed JSON body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url.rstrip('/')}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw, status = response.read(), response.status
    except urllib.error.HTTPError as refused:
        raw, status = refused.read(), refused.code
    return status, (json.loads(raw) if raw else None)
