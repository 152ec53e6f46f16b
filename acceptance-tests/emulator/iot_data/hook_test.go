package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

const testAccount = "123456789012"

// fixedPrincipal answers every lookup with one ACTIVE certificate and its policy.
type fixedPrincipal struct{ document string }

func (f fixedPrincipal) lookup(context.Context, string, string) (*principal, error) {
	return &principal{
		Found: true, AccountID: testAccount, Region: "us-east-1", CertificateID: "c0ffee", Status: "ACTIVE",
		Policies: []attachedPolicy{{Name: "p", Document: f.document}},
	}, nil
}

func testDocument(t *testing.T, statements ...map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": statements})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func allowStatement(action, resource string) map[string]any {
	return map[string]any{"Effect": "Allow", "Action": action, "Resource": "arn:aws:iot:us-east-1:" + testAccount + ":" + resource}
}

// testBroker runs the hook in a mochi server whose clients connect over net.Pipe, so the
// hook's view of mochi (which call is a SUBSCRIBE check and which a delivery) is tested
// against the pinned mochi itself.
func testBroker(t *testing.T, document string) *mqtt.Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	server := mqtt.New(&mqtt.Options{Logger: log, Capabilities: capabilities()})
	hook := newIoTHook(server, fixedPrincipal{document}, log)
	cert := &x509.Certificate{NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	hook.identify = func(*mqtt.Client) (identity, error) { return identity{cert: cert, pem: "pem"}, nil }
	if err := server.AddHook(hook, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	return server
}

type testClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, server *mqtt.Server, clientID string) (*testClient, packets.Packet) {
	t.Helper()
	client, broker := net.Pipe()
	go func() { _ = server.EstablishConnection("test", broker) }()
	c := &testClient{t: t, conn: client, r: bufio.NewReader(client)}
	t.Cleanup(func() { _ = client.Close() })
	c.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: clientID,
		},
	})
	return c, c.read()
}

func (c *testClient) send(pk packets.Packet) {
	c.t.Helper()
	pk.ProtocolVersion = 5
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	go func() { _, _ = c.conn.Write(buf.Bytes()) }() // net.Pipe writes wait for the reader
}

// read returns the next packet from the broker (or one of type 0 after 2s of silence).
func (c *testClient) read() packets.Packet {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	first, err := c.r.ReadByte()
	if err != nil {
		return packets.Packet{}
	}
	pk := packets.Packet{ProtocolVersion: 5}
	if err := pk.FixedHeader.Decode(first); err != nil {
		c.t.Fatal(err)
	}
	if pk.FixedHeader.Remaining, _, err = packets.DecodeLength(c.r); err != nil {
		c.t.Fatal(err)
	}
	body := make([]byte, pk.FixedHeader.Remaining)
	if _, err := io.ReadFull(c.r, body); err != nil {
		c.t.Fatal(err)
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return pk
}

func TestSubscribeChecksAndDeliveriesAreToldApart(t *testing.T) {
	server := testBroker(t, testDocument(t,
		allowStatement("iot:Connect", "client/*"),
		allowStatement("iot:Publish", "topic/a/*"),
		// Subscribe is granted on the wildcard-free filter a/secret and Receive is not: if
		// the hook mistook the SUBSCRIBE check for a delivery (or the reverse), one of the
		// two answers below would be wrong.
		allowStatement("iot:Subscribe", "topicfilter/a/secret"),
		allowStatement("iot:Subscribe", "topicfilter/a/+"),
		allowStatement("iot:Receive", "topic/a/ok"),
	))
	sub, connack := dial(t, server, "sub")
	if connack.FixedHeader.Type != packets.Connack || connack.ReasonCode != 0 {
		t.Fatalf("CONNACK %+v", connack)
	}
	sub.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
		PacketID:    1,
		Filters: packets.Subscriptions{
			{Filter: "a/secret"}, {Filter: "a/+"}, {Filter: "a/ok"},
		},
	})
	suback := sub.read()
	if want := []byte{0, 0, packets.ErrNotAuthorized.Code}; !bytes.Equal(suback.ReasonCodes, want) {
		t.Fatalf("SUBACK reason codes %v, want %v", suback.ReasonCodes, want)
	}

	pub, _ := dial(t, server, "pub")
	for _, topic := range []string{"a/secret", "a/ok"} {
		pub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: topic, Payload: []byte(topic)})
	}
	got := sub.read()
	if got.FixedHeader.Type != packets.Publish || got.TopicName != "a/ok" {
		t.Fatalf("first delivery %q (type %d), want a/ok: Receive was not checked", got.TopicName, got.FixedHeader.Type)
	}
}

func TestConnectRefusedWithNotAuthorized(t *testing.T) {
	server := testBroker(t, testDocument(t, allowStatement("iot:Connect", "client/allowed")))
	_, connack := dial(t, server, "other")
	if connack.FixedHeader.Type != packets.Connack || connack.ReasonCode != packets.ErrNotAuthorized.Code {
		t.Fatalf("CONNACK %+v, want reason 0x87", connack)
	}
}

func TestResourceARNPartitions(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1":     "arn:aws:iot:us-east-1:1:topic/t",
		"cn-north-1":    "arn:aws-cn:iot:cn-north-1:1:topic/t",
		"us-gov-west-1": "arn:aws-us-gov:iot:us-gov-west-1:1:topic/t",
	} {
		if got := resourceARN(region, "1", "topic", "t"); got != want {
			t.Errorf("%s: %s, want %s", region, got, want)
		}
	}
}
