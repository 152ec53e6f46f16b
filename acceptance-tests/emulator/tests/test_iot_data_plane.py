"""The emulated IoT Core data plane: an MQTT broker that authorises like IoT Core.

Each test drives the control plane with boto3 (certificates from a CSR, policies, things,
certificate status) and then real MQTT clients (paho, MQTT 5 and 3.1.1) over mutual TLS, the
way devices reach IoT Core: the TCP connection goes to the broker on 127.0.0.1, while the TLS
server name - the SNI the broker uses to pick the account, and the name the server
certificate is verified against - is the account's DescribeEndpoint host.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import paho.mqtt.client as mqtt
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from emulator_harness import DEFAULT_ACCOUNT, MANAGEMENT_ACCOUNT, REGION, Emulator, start_emulator, unique
from harness import go_tools
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

pytestmark = pytest.mark.emulator

NOT_AUTHORIZED = 0x87
TIMEOUT = 10.0


# --------------------------------------------------------------------------
# Emulator with the broker, accounts, devices, policies
# --------------------------------------------------------------------------


@dataclass
class Plane:
    emulator: Emulator
    host: str  # where the broker listens (always 127.0.0.1 here)
    port: int
    ca_pem: str


@dataclass
class Account:
    account_id: str
    iot: Any
    endpoint: str  # the iot:Data-ATS host, used as the TLS server name


@dataclass
class Device:
    cert_id: str
    cert_arn: str
    cert_file: Path
    key_file: Path
    cert_pem: str


def http_json(url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                  headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except HTTPError as err:
        return err.code, json.loads(err.read())


def start_plane() -> Plane:
    emu = start_emulator(extra_args=["--iot-data-broker", str(go_tools.iot_data_broker())])
    status, info = http_json(emu.endpoint + "/maestro-emulator/iot-data")
    assert status == 200, info
    assert info["address"] == emu.iot_data, "GET /maestro-emulator/iot-data and the IOT-DATA line disagree"
    host, port = info["address"].rsplit(":", 1)
    return Plane(emu, host, int(port), info["caPem"])


@pytest.fixture(scope="module")
def plane() -> Iterator[Plane]:
    p = start_plane()
    try:
        yield p
    finally:
        p.emulator.stop()


def reach(plane: Plane, account_id: str) -> Account:
    # The accounts are reached the way the provider reaches them: sts:AssumeRole.
    creds = plane.emulator.assume(f"arn:aws:iam::{account_id}:role/x")
    iot = plane.emulator.client("iot", **creds)
    return Account(account_id, iot, iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"])


@pytest.fixture(scope="module")
def regional(plane: Plane) -> Account:
    return reach(plane, DEFAULT_ACCOUNT)


@pytest.fixture(scope="module")
def management(plane: Plane) -> Account:
    return reach(plane, MANAGEMENT_ACCOUNT)


def write_pair(directory: Path, cert_pem: str, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    stem = uuid.uuid4().hex[:8]
    cert_file, key_file = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_file.write_text(cert_pem)
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def new_device(account: Account, directory: Path, active: bool = True) -> Device:
    """A certificate IoT issues for a CSR, as a device (or the provider) would get one."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device")]))
           .sign(key, hashes.SHA256()))
    # Without setAsActive the certificate starts INACTIVE, as in IoT.
    out = account.iot.create_certificate_from_csr(
        certificateSigningRequest=csr.public_bytes(serialization.Encoding.PEM).decode(),
        **({"setAsActive": True} if active else {}))
    cert_file, key_file = write_pair(directory, out["certificatePem"], key)
    return Device(out["certificateId"], out["certificateArn"], cert_file, key_file, out["certificatePem"])


def self_signed(directory: Path, days_valid: tuple[int, int] = (-1, 30)) -> tuple[str, Path, Path]:
    """A certificate no IoT account issued (or knows, until it is registered)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + timedelta(days=days_valid[0]))
            .not_valid_after(now + timedelta(days=days_valid[1]))
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_file, key_file = write_pair(directory, pem, key)
    return pem, cert_file, key_file


def arn(account: Account, resource: str) -> str:
    return f"arn:aws:iot:{REGION}:{account.account_id}:{resource}"


def statement(effect: str, actions: str | list[str], resources: list[str]) -> dict[str, Any]:
    return {"Effect": effect, "Action": actions, "Resource": resources}


def allow(account: Account, actions: str | list[str], *resources: str) -> dict[str, Any]:
    return statement("Allow", actions, [r if r == "*" else arn(account, r) for r in resources])


def deny(account: Account, actions: str | list[str], *resources: str) -> dict[str, Any]:
    return statement("Deny", actions, [r if r == "*" else arn(account, r) for r in resources])


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def attach(account: Account, device: Device, *statements: dict[str, Any]) -> str:
    name = unique("policy")
    account.iot.create_policy(policyName=name, policyDocument=document(*statements))
    account.iot.attach_policy(policyName=name, target=device.cert_arn)
    return name


def connect_anything(account: Account) -> dict[str, Any]:
    return allow(account, "iot:Connect", "client/*")


# --------------------------------------------------------------------------
# MQTT clients
# --------------------------------------------------------------------------


class ServerNameContext(ssl.SSLContext):
    """An SSLContext that always presents (and verifies) one server name.

    paho dials the host it is given and uses the same host as the TLS server name. The broker
    listens on 127.0.0.1, but the name must be the account's endpoint host: the broker picks
    the account from the SNI, and the server certificate is issued for the endpoint hosts.
    """

    server_name: str | None = None

    def wrap_socket(self, sock: Any, *args: Any, server_hostname: str | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().wrap_socket(sock, *args, server_hostname=self.server_name or server_hostname, **kwargs)


@dataclass
class Received:
    topic: str
    payload: bytes
    qos: int
    properties: Any


@dataclass
class Client:
    """A paho client driven by its own network thread (paho's loop_start() would reconnect
    after a disconnect; these tests want to see the disconnect)."""

    plane: Plane
    server_name: str | None
    cert_file: Path
    key_file: Path
    client_id: str
    version: int = 5
    will_topic: str | None = None
    paho: mqtt.Client = field(init=False)
    connack: Any = None
    connack_properties: Any = None
    disconnect: Any = None
    disconnected: threading.Event = field(default_factory=threading.Event)
    messages: list[Received] = field(default_factory=list)
    _acks: dict[tuple[str, int], Any] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        context = ServerNameContext(ssl.PROTOCOL_TLS_CLIENT)
        context.server_name = self.server_name
        context.load_verify_locations(cadata=self.plane.ca_pem)
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        protocol = MQTTProtocolVersion.MQTTv5 if self.version == 5 else MQTTProtocolVersion.MQTTv311
        self.paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=protocol,
                                clean_session=None if self.version == 5 else True)
        self.paho.tls_set_context(context)
        if self.will_topic is not None:
            self.paho.will_set(self.will_topic, b"gone", qos=1)
        self.paho.on_connect = self._on_connect
        self.paho.on_subscribe = self._on_subscribe
        self.paho.on_publish = self._on_publish
        self.paho.on_unsubscribe = self._on_unsubscribe
        self.paho.on_message = self._on_message
        self.paho.on_disconnect = self._on_disconnect

    # paho callbacks (network thread)
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._cond:
            self.connack, self.connack_properties = reason, properties
            self._cond.notify_all()

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: list[Any], properties: Any) -> None:
        with self._cond:
            self._acks[("suback", mid)] = [r.value for r in reasons]
            self._cond.notify_all()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._cond:
            self._acks[("puback", mid)] = reason.value
            self._cond.notify_all()

    def _on_unsubscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        with self._cond:
            self._acks[("unsuback", mid)] = True
            self._cond.notify_all()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._cond:
            self.messages.append(Received(message.topic, message.payload, message.qos, message.properties))
            self._cond.notify_all()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._cond:
            self.disconnect = reason
            self.disconnected.set()
            self._cond.notify_all()

    def _wait(self, ready: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (value := ready()):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.client_id}: no {what} within {timeout}s")
                self._cond.wait(left)
            return value

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.paho.loop(timeout=0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        if not self.disconnected.is_set():  # paho reports a lost socket without a callback here
            with self._cond:
                self.disconnected.set()
                self._cond.notify_all()

    def connect(self) -> int | None:
        """Connect; the CONNACK reason code, or None if the connection ended without one."""
        kwargs = {"clean_start": True} if self.version == 5 else {}
        self.paho.connect(self.plane.host, self.plane.port, keepalive=30, **kwargs)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        self._wait(lambda: self.connack is not None or self.disconnected.is_set(), "CONNACK")
        with self._cond:
            return None if self.connack is None else self.connack.value

    def subscribe(self, *filters: str, qos: int = 1) -> list[int]:
        if self.version == 5:
            result, mid = self.paho.subscribe([(f, SubscribeOptions(qos=qos)) for f in filters])
        else:
            result, mid = self.paho.subscribe([(f, qos) for f in filters])
        assert result == MQTTErrorCode.MQTT_ERR_SUCCESS
        return self._wait(lambda: self._acks.get(("suback", mid)), "SUBACK")

    def unsubscribe(self, *filters: str) -> None:
        result, mid = self.paho.unsubscribe(list(filters))
        assert result == MQTTErrorCode.MQTT_ERR_SUCCESS
        self._wait(lambda: self._acks.get(("unsuback", mid)), "UNSUBACK")

    def send(self, topic: str, payload: bytes = b"x", qos: int = 1, properties: Any = None) -> int:
        """Publish without waiting; the message id."""
        return self.paho.publish(topic, payload, qos=qos, properties=properties).mid

    def acked(self, mid: int) -> bool:
        with self._cond:
            return ("puback", mid) in self._acks

    def publish(self, topic: str, payload: bytes = b"x", qos: int = 1, properties: Any = None) -> int | None:
        """Publish; for QoS 1 the PUBACK reason code (0 = accepted), for QoS 0 None."""
        mid = self.send(topic, payload, qos, properties)
        if qos == 0:
            return None
        self._wait(lambda: self.acked(mid) or None, "PUBACK")
        with self._cond:
            return self._acks[("puback", mid)]

    def expect(self, topic: str, timeout: float = TIMEOUT) -> Received:
        return self._wait(lambda: next((m for m in self.messages if m.topic == topic), None),
                          f"message on {topic}", timeout)

    def topics(self) -> list[str]:
        with self._cond:
            return [m.topic for m in self.messages]

    def wait_disconnected(self, timeout: float = TIMEOUT) -> Any:
        self._wait(self.disconnected.is_set, "disconnect", timeout)
        return self.disconnect

    def close(self) -> None:
        if not self.disconnected.is_set():
            try:
                self.paho.disconnect()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


@pytest.fixture
def clients(plane: Plane) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(account: Account | None, device: Device | tuple[Path, Path], client_id: str, version: int = 5,
             server_name: str | None = None, will_topic: str | None = None) -> Client:
        cert_file, key_file = (device.cert_file, device.key_file) if isinstance(device, Device) else device
        name = server_name if server_name is not None else (account.endpoint if account else None)
        c = Client(plane, name, cert_file, key_file, client_id, version, will_topic)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def connected(make: Callable[..., Client], account: Account, device: Device, client_id: str | None = None,
              version: int = 5) -> Client:
    c = make(account, device, client_id or unique("client"), version)
    assert c.connect() == 0, f"{c.client_id} refused: {c.connack}"
    return c


def cloud_event_properties() -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("ce-specversion", "1.0"), ("ce-type", "io.open-cluster-management.works.v1alpha1"),
                          ("ce-source", "maestro"), ("dup", "1"), ("dup", "2")]
    props.ContentType = "application/json; charset=utf-8"
    return props


# --------------------------------------------------------------------------
# Connect, publish, subscribe, receive
# --------------------------------------------------------------------------


def test_mqtt5_round_trip_keeps_user_properties_and_content_type(regional: Account, clients, tmp_path: Path) -> None:
    dev = new_device(regional, tmp_path)
    attach(regional, dev, connect_anything(regional),
           allow(regional, "iot:Publish", "topic/rt/*"),
           allow(regional, "iot:Subscribe", "topicfilter/rt/#"),
           allow(regional, "iot:Receive", "topic/rt/*"))
    sub = connected(clients, regional, dev)
    assert sub.connack_properties.MaximumQoS == 1  # IoT Core has no QoS 2
    assert sub.subscribe("rt/#") == [1]
    pub = connected(clients, regional, dev)
    assert pub.publish("rt/work/1", b'{"spec": 1}', qos=1, properties=cloud_event_properties()) == 0
    got = sub.expect("rt/work/1")
    assert got.payload == b'{"spec": 1}' and got.qos == 1
    assert got.properties.UserProperty == cloud_event_properties().UserProperty
    assert got.properties.ContentType == "application/json; charset=utf-8"
    assert pub.publish("rt/work/2", b"zero", qos=0) is None
    assert sub.expect("rt/work/2").qos == 0


def test_connect_needs_iot_connect_on_the_client_id(regional: Account, clients, tmp_path: Path) -> None:
    dev = new_device(regional, tmp_path)
    allowed = unique("allowed")
    attach(regional, dev, allow(regional, "iot:Connect", f"client/{allowed}"))
    refused = clients(regional, dev, unique("other"))
    assert refused.connect() == NOT_AUTHORIZED
    refused.wait_disconnected()
    assert connected(clients, regional, dev, allowed).connack == "Success"


def test_subscribe_refused_filters_get_0x87_and_others_are_granted(regional: Account, clients, tmp_path: Path) -> None:
    dev = new_device(regional, tmp_path)
    attach(regional, dev, connect_anything(regional),
           allow(regional, "iot:Subscribe", "topicfilter/ok/+"),
           allow(regional, ["iot:Publish", "iot:Receive"], "topic/*"))
    sub = connected(clients, regional, dev)
    assert sub.subscribe("ok/+", "no/+", qos=1) == [1, NOT_AUTHORIZED]
    assert sub.subscribe("ok/+", qos=0) == [0]
    # The refused filter really is not subscribed.
    pub = connected(clients, regional, dev)
    assert pub.publish("no/a") == 0
    assert pub.publish("ok/a") == 0
    sub.expect("ok/a")
    assert "no/a" not in sub.topics()
    assert not sub.disconnected.is_set()  # a refused filter does not cost the connection


def test_publish_refused_mqtt5(regional: Account, clients, tmp_path: Path) -> None:
    dev = new_device(regional, tmp_path)
    attach(regional, dev, connect_anything(regional),
           allow(regional, "iot:Publish", "topic/open/*", "topic/$aws/things/t/shadow/update"),
           allow(regional, "iot:Subscribe", "topicfilter/#"),
           allow(regional, "iot:Receive", "topic/*"))
    sub = connected(clients, regional, dev)
    assert sub.subscribe("#") == [1]
    pub = connected(clients, regional, dev)
    assert pub.publish("closed/1", qos=1) == NOT_AUTHORIZED
    assert pub.publish("closed/0", qos=0) is None  # dropped without an answer
    # Reserved topics are refused even when the policy allows them (no IoT service behind them).
    assert pub.publish("$aws/things/t/shadow/update", qos=1) == NOT_AUTHORIZED
    assert pub.publish("open/1", qos=1) == 0  # the connection is still fine
    sub.expect("open/1")
    assert [t for t in sub.topics() if not t.startswith("open/")] == []


def test_receive_is_checked_for_every_delivery(regional: Account, clients, tmp_path: Path) -> None:
    publisher, subscriber = new_device(regional, tmp_path), new_device(regional, tmp_path)
    attach(regional, publisher, connect_anything(regional), allow(regional, "iot:Publish", "topic/a/*"))
    attach(regional, subscriber, connect_anything(regional),
           allow(regional, "iot:Subscribe", "topicfilter/a/+"),
           allow(regional, "iot:Receive", "topic/a/ok"))
    sub = connected(clients, regional, subscriber)
    assert sub.subscribe("a/+") == [1]
    pub = connected(clients, regional, publisher)
    assert pub.publish("a/secret") == 0  # the publisher may publish it ...
    assert pub.publish("a/ok") == 0
    sub.expect("a/ok")
    assert sub.topics() == ["a/ok"]  # ... but this subscriber may not receive it


def test_explicit_deny_beats_allow_across_policies(regional: Account, clients, tmp_path: Path) -> None:
    dev = new_device(regional, tmp_path)
    attach(regional, dev, allow(regional, "iot:*", "*"))
    attach(regional, dev, deny(regional, "iot:Publish", "topic/locked/*"),
           deny(regional, "iot:Connect", "client/blocked-*"))
    pub = connected(clients, regional, dev)
    assert pub.publish("locked/x") == NOT_AUTHORIZED
    assert pub.publish("free/x") == 0
    assert clients(regional, dev, unique("blocked")).connect() == NOT_AUTHORIZED


def test_policy_wildcards_star_question_and_literal_plus(regional: Account, clients, tmp_path: Path) -> None:
    dev = new_device(regional, tmp_path)
    attach(regional, dev, connect_anything(regional),
           allow(regional, "iot:Subscribe", "topicfilter/w/+/x", "topicfilter/q/?"),
           allow(regional, "iot:Publish", "topic/s/*"))
    c = connected(clients, regional, dev)
    # '+' in a policy is the character '+': it grants the filter w/+/x, not w/a/x.
    assert c.subscribe("w/+/x", "w/a/x") == [1, NOT_AUTHORIZED]
    # '?' is exactly one character.
    assert c.subscribe("q/a", "q/ab", "q/+") == [1, NOT_AUTHORIZED, 1]
    # '*' spans topic levels.
    assert c.publish("s/a/b/c") == 0
    assert c.publish("t/a") == NOT_AUTHORIZED


def test_client_id_policy_variable(regional: Account, clients, tmp_path: Path) -> None:
    dev = new_device(regional, tmp_path)
    attach(regional, dev, connect_anything(regional),
           allow(regional, "iot:Publish", "topic/devices/${iot:ClientId}/*"))
    me = unique("dev")
    c = connected(clients, regional, dev, me)
    assert c.publish(f"devices/{me}/state") == 0
    assert c.publish("devices/someone-else/state") == NOT_AUTHORIZED


def test_thing_name_policy_variable_needs_the_thing_attached(regional: Account, clients, tmp_path: Path) -> None:
    dev = new_device(regional, tmp_path)
    attach(regional, dev, allow(regional, "iot:Connect", "client/${iot:Connection.Thing.ThingName}"))
    attached, unattached = unique("thing"), unique("thing")
    regional.iot.create_thing(thingName=attached)
    regional.iot.create_thing(thingName=unattached)
    regional.iot.attach_thing_principal(thingName=attached, principal=dev.cert_arn)

    connected(clients, regional, dev, attached).close()
    # A thing of that name exists, but it is not attached to this certificate.
    assert clients(regional, dev, unattached).connect() == NOT_AUTHORIZED
    regional.iot.detach_thing_principal(thingName=attached, principal=dev.cert_arn)
    assert clients(regional, dev, attached).connect() == NOT_AUTHORIZED


def test_shared_subscription_needs_the_share_topicfilter(regional: Account, clients, tmp_path: Path) -> None:
    worker, idle, publisher = (new_device(regional, tmp_path) for _ in range(3))
    attach(regional, publisher, connect_anything(regional), allow(regional, "iot:Publish", "topic/jobs/*"))
    attach(regional, worker, connect_anything(regional),
           allow(regional, "iot:Subscribe", "topicfilter/jobs/#"),
           allow(regional, "iot:Receive", "topic/jobs/*"))
    w = connected(clients, regional, worker)
    # The plain filter is granted; the shared one is its own resource.
    assert w.subscribe("jobs/#", "$share/workers/jobs/#") == [1, NOT_AUTHORIZED]
    attach(regional, worker, allow(regional, "iot:Subscribe", "topicfilter/$share/workers/jobs/#"))
    assert w.subscribe("$share/workers/jobs/#") == [1]
    # A second member of the group may subscribe but not receive: every message must still go
    # to the member that may (Receive is checked against the plain topic).
    attach(regional, idle, connect_anything(regional),
           allow(regional, "iot:Subscribe", "topicfilter/$share/workers/jobs/#"))
    i = connected(clients, regional, idle)
    assert i.subscribe("$share/workers/jobs/#") == [1]
    w.unsubscribe("jobs/#")  # from now on only the group can bring w a message
    pub = connected(clients, regional, publisher)
    topics = [f"jobs/{n}" for n in range(8)]
    for topic in topics:
        assert pub.publish(topic) == 0
    for topic in topics:
        w.expect(topic)
    assert i.topics() == []


# --------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["INACTIVE", "REVOKED", "PENDING_TRANSFER"])
def test_certificate_that_is_not_active_is_refused(regional: Account, clients, tmp_path: Path, status: str) -> None:
    dev = new_device(regional, tmp_path, active=False)
    attach(regional, dev, allow(regional, "iot:*", "*"))
    assert clients(regional, dev, unique("c")).connect() == NOT_AUTHORIZED
    regional.iot.update_certificate(certificateId=dev.cert_id, newStatus="ACTIVE")
    connected(clients, regional, dev).close()
    regional.iot.update_certificate(certificateId=dev.cert_id, newStatus=status)
    assert clients(regional, dev, unique("c")).connect() == NOT_AUTHORIZED


def test_certificate_deactivated_while_connected_stops_working(regional: Account, clients, tmp_path: Path) -> None:
    publisher, subscriber, other = (new_device(regional, tmp_path) for _ in range(3))
    for d in (publisher, subscriber, other):
        attach(regional, d, allow(regional, "iot:*", "*"))
    sub = connected(clients, regional, subscriber)
    assert sub.subscribe("live/#") == [1]
    pub = connected(clients, regional, publisher)
    assert pub.publish("live/1") == 0
    sub.expect("live/1")

    # A publisher whose certificate was deactivated is disconnected at its next publish.
    regional.iot.update_certificate(certificateId=publisher.cert_id, newStatus="INACTIVE")
    mid = pub.send("live/2")
    assert pub.wait_disconnected() == NOT_AUTHORIZED
    assert not pub.acked(mid)

    # A subscriber whose certificate was deactivated is disconnected at its next delivery,
    # and does not get the message.
    regional.iot.update_certificate(certificateId=subscriber.cert_id, newStatus="INACTIVE")
    third = connected(clients, regional, other)
    assert third.publish("live/3") == 0
    assert sub.wait_disconnected() == NOT_AUTHORIZED
    assert sub.topics() == ["live/1"]


def test_deleted_certificate_is_refused(plane: Plane, regional: Account, clients, tmp_path: Path) -> None:
    dev = new_device(regional, tmp_path)
    policy = attach(regional, dev, allow(regional, "iot:*", "*"))
    connected(clients, regional, dev).close()
    regional.iot.detach_policy(policyName=policy, target=dev.cert_arn)
    regional.iot.update_certificate(certificateId=dev.cert_id, newStatus="INACTIVE")
    regional.iot.delete_certificate(certificateId=dev.cert_id)
    assert principal_lookup(plane, dev.cert_pem, regional.endpoint) == {"found": False}
    assert clients(regional, dev, unique("c")).connect() == NOT_AUTHORIZED


@pytest.mark.parametrize("server_name", [
    *(f"abcdefghij0123-ats.iot.{region}.amazonaws.com"
      for region in ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1")),
    "abcdefghij0123.iot.us-east-1.amazonaws.com", "localhost", "127.0.0.1",
])
def test_server_certificate_covers_the_endpoint_hosts(plane: Plane, tmp_path: Path, server_name: str) -> None:
    _, cert_file, key_file = self_signed(tmp_path)
    context = ssl.create_default_context(cadata=plane.ca_pem)
    context.load_cert_chain(str(cert_file), str(key_file))
    with socket.create_connection((plane.host, plane.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_tls_needs_a_client_certificate_and_a_name_the_server_certificate_has(plane: Plane, tmp_path: Path) -> None:
    context = ssl.create_default_context(cadata=plane.ca_pem)
    with pytest.raises(ssl.SSLCertVerificationError):
        with socket.create_connection((plane.host, plane.port), timeout=5) as raw:
            context.wrap_socket(raw, server_hostname="broker.example.com")
    # Without a client certificate: TLS 1.3 completes the client's side of the handshake and
    # the server's alert arrives with the first read (a broker that accepted the session would
    # instead wait for CONNECT, and the read would time out).
    with pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED|certificate required|HANDSHAKE_FAILURE"):
        with socket.create_connection((plane.host, plane.port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.recv(1)


def test_certificate_unknown_to_iot_is_refused_until_registered(regional: Account, clients, tmp_path: Path) -> None:
    pem, cert_file, key_file = self_signed(tmp_path)
    # TLS accepts any certificate the client holds the key of; IoT then does not know it.
    assert clients(regional, (cert_file, key_file), unique("c")).connect() == NOT_AUTHORIZED
    out = regional.iot.register_certificate_without_ca(certificatePem=pem, status="ACTIVE")
    regional.iot.create_policy(policyName=(name := unique("policy")), policyDocument=document(allow(regional, "iot:*", "*")))
    regional.iot.attach_policy(policyName=name, target=out["certificateArn"])
    assert clients(regional, (cert_file, key_file), unique("c")).connect() == 0


def test_expired_certificate_fails_the_tls_handshake(regional: Account, clients, tmp_path: Path) -> None:
    pem, cert_file, key_file = self_signed(tmp_path, days_valid=(-30, -1))
    out = regional.iot.register_certificate_without_ca(certificatePem=pem, status="ACTIVE")
    regional.iot.create_policy(policyName=(name := unique("policy")), policyDocument=document(allow(regional, "iot:*", "*")))
    regional.iot.attach_policy(policyName=name, target=out["certificateArn"])
    c = clients(regional, (cert_file, key_file), unique("c"))
    try:
        result = c.connect()
    except (ssl.SSLError, ConnectionError, OSError):
        result = None  # TLS 1.2 reports the alert in the handshake
    assert result is None  # TLS 1.3 reports it on the first read: no CONNACK ever comes


def test_certificate_of_another_account_is_refused_at_this_accounts_endpoint(
        regional: Account, management: Account, clients, tmp_path: Path) -> None:
    assert regional.endpoint != management.endpoint
    dev = new_device(management, tmp_path)
    attach(management, dev, allow(management, "iot:*", "*"))
    assert clients(regional, dev, unique("c")).connect() == NOT_AUTHORIZED
    assert clients(management, dev, unique("c")).connect() == 0
    # Without SNI (a client dialling the IP address) every account is searched.
    assert clients(None, dev, unique("c"), server_name="127.0.0.1").connect() == 0


def test_only_the_default_policy_version_counts(regional: Account, clients, tmp_path: Path) -> None:
    dev = new_device(regional, tmp_path)
    name = attach(regional, dev, connect_anything(regional), allow(regional, "iot:Publish", "topic/v/one"))
    c = connected(clients, regional, dev)
    regional.iot.create_policy_version(
        policyName=name, policyDocument=document(connect_anything(regional), allow(regional, "iot:Publish", "topic/v/two")),
        setAsDefault=False)
    assert c.publish("v/two") == NOT_AUTHORIZED
    assert c.publish("v/one") == 0
    regional.iot.create_policy_version(
        policyName=name, policyDocument=document(connect_anything(regional), allow(regional, "iot:Publish", "topic/v/two")),
        setAsDefault=True)
    # The new default applies at once, to the connection already open.
    assert c.publish("v/two") == 0
    assert c.publish("v/one") == NOT_AUTHORIZED


# --------------------------------------------------------------------------
# Sessions, protocol versions, QoS
# --------------------------------------------------------------------------


@pytest.mark.parametrize("version", [5, 4])
def test_second_connection_with_the_same_client_id_disconnects_the_first(
        regional: Account, clients, tmp_path: Path, version: int) -> None:
    dev = new_device(regional, tmp_path)
    attach(regional, dev, allow(regional, "iot:*", "*"))
    client_id = unique("same")
    first = connected(clients, regional, dev, client_id, version)
    second = connected(clients, regional, dev, client_id, version)
    reason = first.wait_disconnected()
    if version == 5:
        assert reason == 0x8E  # Session taken over
    assert second.subscribe("after/takeover") == [1]
    assert not second.disconnected.is_set()


def test_mqtt311_clients(regional: Account, clients, tmp_path: Path) -> None:
    dev = new_device(regional, tmp_path)
    allowed = unique("v3")
    attach(regional, dev, allow(regional, "iot:Connect", f"client/{allowed}-*"),
           allow(regional, ["iot:Publish", "iot:Receive"], "topic/v3/*"),
           allow(regional, "iot:Subscribe", "topicfilter/v3/#"))
    # CONNACK return code 5; paho reports it under the MQTT 5 name.
    refused = clients(regional, dev, unique("other"), 4)
    assert refused.connect() is not None and refused.connack == "Not authorized"

    sub = connected(clients, regional, dev, f"{allowed}-sub", 4)
    assert sub.subscribe("v3/#", "elsewhere/#") == [1, 0x80]  # 3.1.1 has only "failure"
    pub5 = connected(clients, regional, dev, f"{allowed}-pub5", 5)
    assert pub5.publish("v3/a", b"from 5", properties=cloud_event_properties()) == 0
    assert sub.expect("v3/a").payload == b"from 5"

    # An unauthorised publish ends a 3.1.1 connection (it has no way to report it), QoS 0 too.
    pub3 = connected(clients, regional, dev, f"{allowed}-pub3", 4)
    assert pub3.publish("v3/b", b"from 3") == 0
    assert sub.expect("v3/b").payload == b"from 3"
    pub3.publish("elsewhere/x", qos=0)
    pub3.wait_disconnected()


def test_qos2_is_not_supported(regional: Account, clients, tmp_path: Path) -> None:
    dev = new_device(regional, tmp_path)
    attach(regional, dev, allow(regional, "iot:*", "*"))
    c = connected(clients, regional, dev)
    assert c.subscribe("q2/#", qos=2) == [1]  # granted at QoS 1
    c.send("q2/x", qos=2)
    assert c.wait_disconnected() == 0x9B  # QoS not supported


def test_last_will_needs_publish_on_its_topic(regional: Account, clients, tmp_path: Path) -> None:
    dev = new_device(regional, tmp_path)
    attach(regional, dev, connect_anything(regional),
           allow(regional, "iot:Publish", "topic/wills/ok"),
           allow(regional, "iot:Subscribe", "topicfilter/wills/#"),
           allow(regional, "iot:Receive", "topic/wills/*"))
    watcher = connected(clients, regional, dev)
    assert watcher.subscribe("wills/#") == [1]
    for topic in ("wills/forbidden", "wills/ok"):
        dying = clients(regional, dev, unique("dying"), will_topic=topic)
        assert dying.connect() == 0
        dying.send("wills/ok", qos=2)  # a protocol error: the broker drops it, and the will is due
        dying.wait_disconnected()
        time.sleep(0.3)  # the will is sent just after the connection closes
    watcher.expect("wills/ok")
    assert watcher.topics() == ["wills/ok"]


# --------------------------------------------------------------------------
# The control endpoints
# --------------------------------------------------------------------------


def principal_lookup(plane: Plane, pem: str, server_name: str, headers: dict[str, str] | None = None) -> Any:
    status, body = http_json(plane.emulator.endpoint + "/maestro-emulator/iot-data/principal", "POST",
                             {"certificatePem": pem, "serverName": server_name}, headers)
    assert status == 200, body
    return body


def test_principal_endpoint(plane: Plane, regional: Account, management: Account, tmp_path: Path) -> None:
    dev = new_device(regional, tmp_path)
    name = attach(regional, dev, allow(regional, "iot:Connect", "client/one"))
    regional.iot.create_policy_version(policyName=name, setAsDefault=True,
                                       policyDocument=document(allow(regional, "iot:Connect", "client/two")))
    thing = unique("thing")
    regional.iot.create_thing(thingName=thing)
    regional.iot.attach_thing_principal(thingName=thing, principal=dev.cert_arn)
    body = principal_lookup(plane, dev.cert_pem, regional.endpoint)
    assert body == {
        "found": True, "accountId": DEFAULT_ACCOUNT, "region": REGION, "certificateId": dev.cert_id,
        "status": "ACTIVE", "things": [thing],
        "policies": [{"policyName": name, "document": document(allow(regional, "iot:Connect", "client/two"))}],
    }
    # Another account's endpoint does not know it; no endpoint (or an unknown one) searches all.
    assert principal_lookup(plane, dev.cert_pem, management.endpoint) == {"found": False}
    assert principal_lookup(plane, dev.cert_pem, "")["accountId"] == DEFAULT_ACCOUNT
    assert principal_lookup(plane, dev.cert_pem, "nothing.example.com")["found"] is True
    assert principal_lookup(plane, "not a certificate", "") == {"found": False}


def test_control_endpoints_are_not_aws_calls(plane: Plane, regional: Account, clients, tmp_path: Path) -> None:
    endpoint = plane.emulator.endpoint
    dev = new_device(regional, tmp_path)
    attach(regional, dev, allow(regional, "iot:*", "*"))
    # An armed fault for every IoT operation the lookups could be mistaken for changes nothing.
    for action in ("DescribeCertificate", "ListAttachedPolicies", "GetPolicy"):
        assert http_json(endpoint + "/maestro-emulator/faults", "POST",
                         {"service": "iot", "action": action, "count": 100})[0] == 200
    try:
        assert http_json(endpoint + "/maestro-emulator/calls", "DELETE")[0] == 200
        c = connected(clients, regional, dev)
        assert c.subscribe("calls/#") == [1]
        assert c.publish("calls/1") == 0
        c.expect("calls/1")
        # Even a request signed like an IoT call is answered by the emulator itself.
        aws_req = AWSRequest(method="POST", url=endpoint + "/maestro-emulator/iot-data/principal",
                             data=json.dumps({"certificatePem": dev.cert_pem}),
                             headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials("testing", "testing"), "iot", REGION).add_auth(aws_req)
        assert principal_lookup(plane, dev.cert_pem, "", dict(aws_req.headers))["found"] is True
        assert http_json(endpoint + "/maestro-emulator/iot-data")[0] == 200
        assert http_json(endpoint + "/maestro-emulator/calls")[1] == {"calls": []}
        assert all(f["fired"] == 0 for f in http_json(endpoint + "/maestro-emulator/faults")[1])
    finally:
        http_json(endpoint + "/maestro-emulator/faults", "DELETE")


def test_no_broker_without_the_option(emulator: Emulator) -> None:
    status, body = http_json(emulator.endpoint + "/maestro-emulator/iot-data")
    assert status == 404 and "--iot-data-broker" in body["message"]
    assert emulator.iot_data is None


def test_broker_stops_with_the_emulator() -> None:
    for kill in (False, True):
        p = start_plane()
        with socket.create_connection((p.host, p.port), timeout=5):
            pass
        if kill:
            # Even an emulator that cannot clean up takes the broker with it (its stdin closes).
            p.emulator.proc.kill()
            p.emulator.proc.wait()
        p.emulator.stop()
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((p.host, p.port), timeout=1).close()
            except OSError:
                break
            assert time.monotonic() < deadline, f"broker still listening after the emulator stopped (kill={kill})"
            time.sleep(0.1)


def test_go_unit_tests() -> None:
    """The policy evaluator's own tests (go test), so a plain pytest run covers them too."""
    result = subprocess.run(["go", "test", "./..."], cwd=go_tools.EMULATOR_IOT_DATA_DIR, capture_output=True,
                            text=True, check=False, env={**os.environ, "GOFLAGS": "-mod=readonly", "GOWORK": "off"})
    assert result.returncode == 0, result.stdout + result.stderr
