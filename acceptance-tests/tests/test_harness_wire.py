"""Self-tests of the harness around Maestro's own MQTT clients (no tofu, no provider, no
emulator): the Go module is formatted and vetted, the pod view puts the mount at the charts'
paths and resolves config.yaml's broker host to its forwarder, sdk-go verifies the broker's
certificate for that name through it, the driver's event handling, and the CSI mount."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness import charts, csi_mount, go_tools, pod_view, wire, wire_flow

BROKER_NAME = "abc123-ats.iot.us-east-1.amazonaws.com"

needs_go = pytest.mark.skipif(shutil.which("go") is None, reason="the Go toolchain is not installed")


# ---------------------------------------------------------------- the Go module


@needs_go
def test_go_module_is_formatted_and_vetted():
    env = dict(os.environ, GOFLAGS="-mod=readonly", GOWORK="off")
    module = go_tools.MAESTRO_WIRE_DIR
    unformatted = subprocess.run(["gofmt", "-l", "."], cwd=module, capture_output=True, text=True, check=True).stdout
    assert unformatted == "", f"gofmt would change: {unformatted}"
    vet = subprocess.run(["go", "vet", "./..."], cwd=module, env=env, capture_output=True, text=True, check=False,
                         timeout=900)
    assert vet.returncode == 0, vet.stdout + vet.stderr


@pytest.fixture(scope="module")
def maestro_wire() -> Path:
    if shutil.which("go") is None:
        pytest.skip("the Go toolchain is not installed")
    return go_tools.maestro_wire()


# ---------------------------------------------------------------- throwaway PKI and mounts


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _cert(subject_cn: str, key, issuer_cn: str, issuer_key, *, ca: bool = False, dns: tuple[str, ...] = ()):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _config_yaml(consumer: str | None) -> str:
    segment = consumer or "+"
    agent_events = f"sources/maestro/consumers/{segment}/agentevents"
    if consumer is None:
        agent_events = "$share/statussubscribers/" + agent_events
    return (f'brokerHost: "{BROKER_NAME}:8883"\nusername: ""\npassword: ""\n'
            "clientCertFile: /mnt/secrets-store/certificate\nclientKeyFile: /mnt/secrets-store/privateKey\n"
            "caFile: /mnt/secrets-store/ca.crt\ntopics:\n"
            f"  sourceEvents: sources/maestro/consumers/{segment}/sourceevents\n  agentEvents: {agent_events}\n")


class FakeSecretsManager:
    """Just enough of boto3's Secrets Manager client for the CSI mount."""

    def __init__(self, secrets: dict[str, dict]):
        self.secrets = secrets
        self.calls: list[dict] = []

    def get_secret_value(self, **kwargs):
        self.calls.append(kwargs)
        return {"SecretString": json.dumps(self.secrets[kwargs["SecretId"]])}


class FakeAccount:
    def __init__(self, secrets: dict[str, dict]):
        self.secretsmanager = FakeSecretsManager(secrets)


class FakeGuard:
    def __init__(self):
        self.registered: list[tuple[str, str]] = []

    def register_secret(self, value: str, label: str | None = None) -> None:
        self.registered.append((value, label or ""))


@pytest.fixture(scope="module")
def pki():
    root_key = _key()
    root = _cert("test-root", root_key, "test-root", root_key, ca=True)
    client_key = _key()
    client = _cert("management-01", client_key, "test-root", root_key)
    server_key = _key()
    server = _cert(BROKER_NAME, server_key, "test-root", root_key, dns=(BROKER_NAME,))
    other_key = _key()
    other_root = _cert("someone-else", other_key, "someone-else", other_key, ca=True)
    return {"root": _pem(root), "client": _pem(client), "client_key": _key_pem(client_key),
            "server": _pem(server), "server_key": _key_pem(server_key), "other_root": _pem(other_root)}


def agent_account(pki, **overrides) -> FakeAccount:
    cert = {"certificate": pki["client"], "privateKey": pki["client_key"], "caCert": pki["root"]}
    config = {"config": _config_yaml("management-01"), "consumerName": "management-01"}
    cert.update(overrides.get("cert", {}))
    config.update(overrides.get("config", {}))
    for key in overrides.get("drop", ()):
        cert.pop(key, None)
        config.pop(key, None)
    return FakeAccount({"mc01-maestro-agent-cert": cert, "mc01-maestro-agent-config": config})


# ---------------------------------------------------------------- csi_mount


def test_agent_mount_writes_what_the_secret_provider_class_maps(pki, tmp_path):
    account, guard = agent_account(pki), FakeGuard()
    target = csi_mount.mount_agent_secrets(account, "mc01-maestro-agent-cert", "mc01-maestro-agent-config",
                                           tmp_path / "mounts" / "agent", guard=guard)
    assert sorted(p.name for p in target.iterdir()) == ["ca.crt", "certificate", "config.yaml", "consumerName",
                                                         "privateKey"]
    assert (target / "ca.crt").read_text() == pki["root"]
    assert (target / "privateKey").read_text() == pki["client_key"]
    assert (target / "consumerName").read_text() == "management-01"
    assert "/mnt/secrets-store/certificate" in (target / "config.yaml").read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in target.iterdir())
    assert [value for value, _ in guard.registered] == [pki["client_key"]]
    assert all(call.get("VersionStage") == "AWSCURRENT" for call in account.secretsmanager.calls)


def test_server_mount_has_no_consumer_name(pki, tmp_path):
    account = FakeAccount({"srv-cert": {"certificate": pki["client"], "privateKey": pki["client_key"],
                                        "caCert": pki["root"]},
                           "srv-config": {"config": _config_yaml(None)}})
    target = csi_mount.mount_server_secrets(account, "srv-cert", "srv-config", tmp_path / "server")
    assert sorted(p.name for p in target.iterdir()) == ["ca.crt", "certificate", "config.yaml", "privateKey"]


def test_deployed_server_mount_reads_the_charts_fixed_names_and_registers_the_key(pki, tmp_path):
    cert_object, config_object = charts.DEPLOYED_SERVER_MQTT_OBJECTS
    assert (cert_object.object_name, config_object.object_name) == ("maestro/server-cert", "maestro/server-config")
    assert [o.object_name for o in charts.DEPLOYED_SERVER_OBJECTS][2] == "maestro/db-credentials"
    account, guard = FakeAccount({
        "maestro/server-cert": {"certificate": pki["client"], "privateKey": pki["client_key"], "caCert": pki["root"]},
        "maestro/server-config": {"config": _config_yaml(None)}}), FakeGuard()
    target = wire_flow.mount_deployed_chart_server(account, tmp_path / "server", guard=guard)
    assert sorted(p.name for p in target.iterdir()) == ["ca.crt", "certificate", "config.yaml", "privateKey"]
    assert (target / "ca.crt").read_text() == pki["root"]
    assert [value for value, _ in guard.registered] == [pki["client_key"]]
    assert {call["SecretId"] for call in account.secretsmanager.calls} == {"maestro/server-cert", "maestro/server-config"}


SERVER_FLAGS = ["--message-broker-type=mqtt", "--message-broker-config-file=/mnt/secrets-store/config.yaml",
                "--source-id=maestro", "--client-id=maestro-$(POD_NAME)", "--subscription-type=shared"]


def test_server_flags_are_expanded_as_kubernetes_expands_container_args():
    command = wire_flow.server_command(SERVER_FLAGS, pod_name="maestro-abc-1")
    assert command == wire_flow.ServerCommand("mqtt", "/mnt/secrets-store/config.yaml", "maestro", "maestro-maestro-abc-1",
                                              "shared")
    assert wire_flow.expand_kubernetes_variables("a-$$(POD_NAME)-$(X)", {"POD_NAME": "p"}) == "a-$(POD_NAME)-$(X)"
    with pytest.raises(AssertionError, match="variables the pod does not define"):
        wire_flow.server_command(SERVER_FLAGS[:3] + ["--client-id=maestro-$(NODE)", SERVER_FLAGS[4]])
    with pytest.raises(AssertionError, match="expected"):
        wire_flow.server_command(SERVER_FLAGS[:4])
    with pytest.raises(AssertionError, match="twice"):
        wire_flow.server_command(SERVER_FLAGS + ["--source-id=other"])


def test_a_missing_key_fails_the_mount_like_the_csi_driver(pki, tmp_path):
    for missing, secret in (("caCert", "mc01-maestro-agent-cert"), ("consumerName", "mc01-maestro-agent-config")):
        with pytest.raises(AssertionError) as failure:
            csi_mount.mount_agent_secrets(agent_account(pki, drop=(missing,)), "mc01-maestro-agent-cert",
                                          "mc01-maestro-agent-config", tmp_path / missing)
        assert secret in str(failure.value) and repr(missing) in str(failure.value)
        assert not (tmp_path / missing).exists(), "a failed mount must leave nothing behind"


def test_mount_refuses_a_workspace_and_an_existing_directory(pki, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "main.tf").write_text("")
    with pytest.raises(ValueError, match="inside the tofu workspace"):
        csi_mount.mount_agent_secrets(agent_account(pki), "mc01-maestro-agent-cert", "mc01-maestro-agent-config",
                                      workspace / "csi")
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError):
        csi_mount.mount_agent_secrets(agent_account(pki), "mc01-maestro-agent-cert", "mc01-maestro-agent-config",
                                      tmp_path / "taken")


# ---------------------------------------------------------------- the driver


def test_wait_for_hands_out_each_event_once_and_explains_timeouts(tmp_path):
    script = ("import json,sys\n"
              "for i in range(3): print(json.dumps({'event': 'published', 'id': i}), flush=True)\n"
              "print('not json', flush=True)\n"
              "sys.stdin.read()\n")
    with wire.WireClient([sys.executable, "-c", script], tmp_path / "fake.log", name="fake") as client:
        assert client.wait_for("published")["id"] == 0
        assert client.wait_for({"event": "published", "id": 2})["id"] == 2
        assert client.wait_for(lambda e: e["event"] == "published")["id"] == 1
        assert client.wait_for("unparsed")["line"] == "not json"
        with pytest.raises(AssertionError, match="events so far"):
            client.wait_for("published", timeout=0.5)
    assert client.returncode == 0
    assert len(client.events()) == 4


# ---------------------------------------------------------------- the binary, without a broker


def _mount_dir(tmp_path: Path, pki, ca: str, consumer: str | None = "management-01") -> Path:
    directory = tmp_path / ("agent" if consumer else "server")
    directory.mkdir(parents=True)
    files = {"certificate": pki["client"], "privateKey": pki["client_key"], "ca.crt": ca,
             "config.yaml": _config_yaml(consumer)}
    if consumer:
        files["consumerName"] = consumer
    for name, content in files.items():
        (directory / name).write_text(content)
    return directory


def test_pod_view_mounts_at_the_chart_paths_and_resolves_the_broker_to_its_forwarder(pki, tmp_path):
    mount = _mount_dir(tmp_path, pki, pki["root"])
    hosts_before = Path("/etc/hosts").read_text()
    argv = pod_view.pod_argv(["/bin/sh", "-c", "cat /etc/hosts; for p in /mnt/secrets-store /secrets/mqtt-certs "
                              "/secrets/mqtt; do cat $p/consumerName; echo; done"], mount, "127.0.0.1:1")
    seen = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout
    relay = pod_view.forwarder("127.0.0.1:1")
    assert f"{relay.address} {BROKER_NAME}\n" in seen, seen
    assert seen.count("management-01\n") == 3, seen
    assert Path("/etc/hosts").read_text() == hosts_before, "the pod view changed the host's /etc/hosts"
    assert pod_view.broker_host('brokerHost: "a-ats.iot.us-east-1.amazonaws.com:8883"\n') == \
        ("a-ats.iot.us-east-1.amazonaws.com", 8883)


class TlsListener:
    """A TLS server presenting `BROKER_NAME`'s certificate, for handshake checks."""

    def __init__(self, tmp_path: Path, pki):
        cert, key = tmp_path / "server.pem", tmp_path / "server.key"
        cert.write_text(pki["server"])
        key.write_text(pki["server_key"])
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.handshakes: list[tuple[str | None, str | None]] = []
        self._server_name: str | None = None
        self.context.sni_callback = lambda _sock, name, _ctx: setattr(self, "_server_name", name)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    self.handshakes.append((self._server_name, tls.version()))
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    def close(self):
        self.sock.close()


def test_sdk_go_verifies_the_broker_certificate_for_the_name_config_yaml_gives(maestro_wire, pki, tmp_path):
    listener = TlsListener(tmp_path, pki)
    try:
        # The right CA: sdk-go's dialer completes TLS 1.3 with SNI = brokerHost's name, reached
        # through the pod's /etc/hosts and the forwarder (the listener then hangs up: no MQTT).
        right = _mount_dir(tmp_path, pki, pki["root"])
        events = wire.probe(maestro_wire, right, listener.address, "management-01-work-agent-client",
                            listen_seconds=0, log_dir=tmp_path / "logs")
        assert listener.handshakes == [(BROKER_NAME, "TLSv1.3")], (listener.handshakes, events)
        # Another CA: the handshake fails on the client's side, in sdk-go's client as in the probe.
        wrong = _mount_dir(tmp_path / "wrong", pki, pki["other_root"])
        events = wire.probe(maestro_wire, wrong, listener.address, "management-01-work-agent-client",
                            listen_seconds=0, log_dir=tmp_path / "logs")
        [connack] = [e for e in events if e["event"] == "connack"]
        assert connack["reasonCode"] is None and "certificate" in connack["error"], events
        with wire.start_agent(maestro_wire, wrong, listener.address, tmp_path / "logs") as agent:
            assert "certificate" in agent.wait_for("connect-error")["error"]
            assert agent.wait_exit() == 4
        assert len(listener.handshakes) == 1
        text = "".join(p.read_text() for p in (tmp_path / "logs").iterdir())
        assert pki["client_key"].splitlines()[1] not in text, "key material in the logs"
    finally:
        listener.close()
