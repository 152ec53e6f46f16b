"""Running a program the way a Maestro pod sees the world, so it can read config.yaml exactly as
the provider wrote it.

A pod has the CSI mount at its chart's path (`/mnt/secrets-store`; upstream's chart
`/secrets/mqtt-certs` and `/secrets/mqtt`) and resolves the IoT endpoint's host name to the
broker on port 8883. Here the program runs in a private mount namespace (`unshare --mount`;
`--user --map-root-user` too when not root) whose root is a tmpfs holding bind mounts of the
host's top-level directories, the mount directory at each chart path and an `/etc/hosts` that
resolves the broker's host name to a loopback address of its own. On that address, port 8883,
`BrokerForwarder` relays bytes to the emulator's broker (listening on a free port): TLS stays
end to end, so the client verifies the broker's certificate for the name in config.yaml. Nothing
changes on the host: the namespace's mounts vanish with the process.

Plain standard library, Python 3.11; needs util-linux `unshare`, `mount` and `chroot`.
"""

from __future__ import annotations

import os
import random
import re
import shlex
import socket
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

BROKER_PORT = 8883

# Where the charts mount the files config.yaml names: the deployed charts' CSI mount, and
# upstream's certificate secret and rendered config.
CHART_MOUNT_PATHS = ("/mnt/secrets-store", "/secrets/mqtt-certs", "/secrets/mqtt")

_BROKER_HOST = re.compile(r'^brokerHost:\s*"?([^":\s]+):(\d+)"?\s*$', re.MULTILINE)


def broker_host(config_yaml: str) -> tuple[str, int]:
    """The host name and port of config.yaml's brokerHost, as written."""
    match = _BROKER_HOST.search(config_yaml)
    assert match, "config.yaml has no brokerHost: host:port line"
    return match.group(1), int(match.group(2))


class BrokerForwarder:
    """Listens on <loopback address>:8883 and relays each connection to `target` ("host:port")."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.address, self._server = self._listen()
        threading.Thread(target=self._accept, name=f"forward-{self.address}", daemon=True).start()

    @staticmethod
    def _listen() -> tuple[str, socket.socket]:
        # Any 127/8 address is the loopback interface's; a random one keeps parallel test
        # sessions (each with its own emulator) from colliding on port 8883.
        for _ in range(50):
            address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
            try:
                return address, socket.create_server((address, BROKER_PORT))
            except OSError:
                continue
        raise RuntimeError(f"no free loopback address for a broker forwarder on port {BROKER_PORT}")

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            pair = _Relay(client, upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=pair.pump, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self._server.close()


class _Relay:
    """One relayed connection: each direction is pumped until its end closes; both sockets are
    closed once both directions are done."""

    def __init__(self, *sockets: socket.socket) -> None:
        self.sockets = sockets
        self._open = 2
        self._lock = threading.Lock()

    def pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        with self._lock:
            self._open -= 1
            done = self._open == 0
        if done:
            for sock in self.sockets:
                sock.close()


_forwarders: dict[str, BrokerForwarder] = {}
_forwarders_lock = threading.Lock()


def forwarder(broker_address: str) -> BrokerForwarder:
    """The one forwarder to `broker_address` in this process (started on first use)."""
    with _forwarders_lock:
        if broker_address not in _forwarders:
            _forwarders[broker_address] = BrokerForwarder(broker_address)
        return _forwarders[broker_address]


# Runs in the new mount namespace: $1 the hosts file, $2 a file of "host-dir chart-path" lines,
# the rest the command. The new root is a tmpfs on /mnt (which a pod never shares with its node).
_SETUP = r"""
set -eu
hosts=$1; mounts=$2; shift 2
mount --make-rprivate /
mount -t tmpfs pod-root /mnt
root=/mnt/root
mkdir "$root"
for entry in /*; do
    name=${entry#/}
    if [ "$name" = mnt ]; then continue; fi
    if [ -L "$entry" ]; then cp -P "$entry" "$root/$name"
    elif [ -d "$entry" ]; then mkdir "$root/$name"; mount --rbind "$entry" "$root/$name"
    fi
done
mount --bind "$hosts" "$root/etc/hosts"
while read -r source target; do
    mkdir -p "$root$target"
    mount --bind "$source" "$root$target"
done < "$mounts"
rm -rf "$(dirname "$hosts")"
exec chroot "$root" "$@"
"""


def pod_argv(argv: Sequence[str | Path], mount_dir: Path, broker_address: str,
             chart_paths: Iterable[str] = CHART_MOUNT_PATHS) -> list[str]:
    """`argv` run as in a pod: `mount_dir` at each of `chart_paths`, and the brokerHost of the
    mount's config.yaml resolving to a forwarder to `broker_address` (the emulator's broker).
    `argv[0]` must be an absolute path outside `/mnt`."""
    mount_dir = Path(mount_dir).resolve()
    name, port = broker_host((mount_dir / "config.yaml").read_text(encoding="utf-8"))
    assert port == BROKER_PORT, f"config.yaml's brokerHost port is {port}, not IoT Core's {BROKER_PORT}"
    relay = forwarder(broker_address)
    # The two small files the setup reads (no secret in them); the setup removes them once mounted.
    scratch = Path(tempfile.mkdtemp(prefix="maestro-pod-"))
    (scratch / "hosts").write_text(f"127.0.0.1 localhost\n{relay.address} {name}\n", encoding="utf-8")
    (scratch / "mounts").write_text("".join(f"{mount_dir} {path}\n" for path in chart_paths), encoding="utf-8")
    program = [str(a) for a in argv]
    assert Path(program[0]).is_absolute() and not program[0].startswith("/mnt/"), program[0]
    namespace = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount"]
    return [*namespace, "sh", "-c", _SETUP, "pod-setup", str(scratch / "hosts"), str(scratch / "mounts"), *program]


def describe(argv: Sequence[str]) -> str:
    """The program part of a `pod_argv` command line, for logs."""
    if "pod-setup" in argv:
        argv = argv[argv.index("pod-setup") + 3:]
    return shlex.join(argv)

