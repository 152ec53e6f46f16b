package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// The broker's real name: it does not resolve here, which is why --connect-to exists.
const brokerName = "abc123-ats.iot.us-east-1.amazonaws.com"

// ---------------------------------------------------------------- throwaway PKI

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

type issued struct {
	certPEM []byte
	keyPEM  []byte
	pair    tls.Certificate
}

var serial int64 = 1000

// signWithNewKey makes a fresh P-256 key and a day-long certificate for it from template,
// signed by parent's key (the new key itself when parent is nil: self-signed).
func signWithNewKey(t *testing.T, template *x509.Certificate, parent *testCA) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	template.SerialNumber = big.NewInt(serial)
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().Add(24 * time.Hour)
	issuer, signer := template, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, issuer, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, der := signWithNewKey(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil)
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) issue(t *testing.T, commonName string, dnsNames []string, usage x509.ExtKeyUsage) issued {
	t.Helper()
	key, der := signWithNewKey(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		DNSNames:    dnsNames,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}, ca)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := issued{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	if out.pair, err = tls.X509KeyPair(out.certPEM, out.keyPEM); err != nil {
		t.Fatal(err)
	}
	return out
}

// ---------------------------------------------------------------- in-process broker

type connectRecord struct {
	clientID  string
	clean     bool
	keepalive uint16
	protocol  byte
}

// recorder is the broker's only auth/ACL hook: it records what clients send and lets tests
// refuse client IDs or topics the way an IoT policy would.
type recorder struct {
	mqtt.HookBase
	mu         sync.Mutex
	connects   []connectRecord
	published  []packets.Packet
	serverName []string
	allowID    func(string) bool
	allowTopic func(clientID, topic string, write bool) bool
}

func (r *recorder) ID() string { return "recorder" }

func (r *recorder) Provides(b byte) bool {
	return slices.Contains([]byte{mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublished}, b)
}

func (r *recorder) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.connects = append(r.connects, connectRecord{pk.Connect.ClientIdentifier, pk.Connect.Clean, pk.Connect.Keepalive, pk.ProtocolVersion})
	return nil
}

func (r *recorder) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	return r.allowID == nil || r.allowID(pk.Connect.ClientIdentifier)
}

func (r *recorder) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	return r.allowTopic == nil || r.allowTopic(cl.ID, topic, write)
}

func (r *recorder) OnPublished(cl *mqtt.Client, pk packets.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published = append(r.published, pk)
}

func (r *recorder) clientIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for _, c := range r.connects {
		ids = append(ids, c.clientID)
	}
	return ids
}

func (r *recorder) publishedTo(topic string) []packets.Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []packets.Packet
	for _, p := range r.published {
		if p.TopicName == topic {
			out = append(out, p)
		}
	}
	return out
}

type testBroker struct {
	addr string
	rec  *recorder
	ca   *testCA
}

// startBroker serves MQTT over mutual TLS on a loopback port, its certificate naming brokerName
// and signed by ca, accepting client certificates from ca.
func startBroker(t *testing.T, ca *testCA) *testBroker {
	t.Helper()
	serverCert := ca.issue(t, brokerName, []string{brokerName, "*.iot.us-east-1.amazonaws.com"}, x509.ExtKeyUsageServerAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	rec := &recorder{}
	tlsConfig := &tls.Config{
		Certificates: []tls.Certificate{serverCert.pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			rec.mu.Lock()
			rec.serverName = append(rec.serverName, hello.ServerName)
			rec.mu.Unlock()
			return nil, nil
		},
	}
	server := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := server.AddHook(rec, nil); err != nil {
		t.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tls", Address: "127.0.0.1:0", TLSConfig: tlsConfig})
	if err := server.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	go func() { _ = server.Serve() }()
	t.Cleanup(func() { _ = server.Close() })
	return &testBroker{addr: tcp.Address(), rec: rec, ca: ca}
}

// ---------------------------------------------------------------- CSI-style secrets dirs

type mountSpec struct {
	client       issued
	caPEM        []byte
	brokerHost   string
	sourceEvents string
	agentEvents  string
	consumerName string // empty: a server mount, which has no consumerName
}

// writeMount lays out what the SecretProviderClass would mount, config.yaml pointing at
// /mnt/secrets-store as deployed.
func writeMount(t *testing.T, spec mountSpec) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("certificate", spec.client.certPEM)
	write("privateKey", spec.client.keyPEM)
	write("ca.crt", spec.caPEM)
	if spec.brokerHost == "" {
		spec.brokerHost = brokerName + ":8883"
	}
	write("config.yaml", []byte(fmt.Sprintf(`brokerHost: "%s"
username: ""
password: ""
clientCertFile: /mnt/secrets-store/certificate
clientKeyFile: /mnt/secrets-store/privateKey
caFile: /mnt/secrets-store/ca.crt
topics:
  sourceEvents: %s
  agentEvents: %s
`, spec.brokerHost, spec.sourceEvents, spec.agentEvents)))
	if spec.consumerName != "" {
		write("consumerName", []byte(spec.consumerName))
	}
	return dir
}

func agentMount(t *testing.T, b *testBroker, consumer string) string {
	return writeMount(t, mountSpec{
		client:       b.ca.issue(t, consumer, nil, x509.ExtKeyUsageClientAuth),
		caPEM:        b.ca.pem,
		sourceEvents: "sources/maestro/consumers/" + consumer + "/sourceevents",
		agentEvents:  "sources/maestro/consumers/" + consumer + "/agentevents",
		consumerName: consumer,
	})
}

func serverMount(t *testing.T, b *testBroker, agentEvents string) string {
	return writeMount(t, mountSpec{
		client:       b.ca.issue(t, "maestro-server", nil, x509.ExtKeyUsageClientAuth),
		caPEM:        b.ca.pem,
		sourceEvents: "sources/maestro/consumers/+/sourceevents",
		agentEvents:  agentEvents,
	})
}

// ---------------------------------------------------------------- running the modes in-process

type runner struct {
	t      *testing.T
	stdin  *io.PipeWriter
	events chan map[string]any
	exit   chan int
	mu     sync.Mutex
	seen   []map[string]any
	used   []bool
	stderr *syncBuffer
	code   *int
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func start(t *testing.T, args ...string) *runner {
	t.Helper()
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	r := &runner{t: t, stdin: stdinW, events: make(chan map[string]any, 1000), exit: make(chan int, 1), stderr: &syncBuffer{}}
	go func() {
		code := run(context.Background(), args, stdinR, stdoutW, r.stderr)
		_ = stdoutW.Close()
		r.exit <- code
	}()
	go func() {
		defer close(r.events)
		scanner := bufio.NewScanner(stdoutR)
		scanner.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for scanner.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(scanner.Bytes(), &ev); err != nil {
				ev = map[string]any{"event": "unparsed", "line": scanner.Text()}
			}
			r.events <- ev
		}
	}()
	t.Cleanup(func() { _ = stdinW.Close() })
	return r
}

// waitFor returns the first not yet returned event named name that satisfies match.
func (r *runner) waitFor(name string, match func(map[string]any) bool) map[string]any {
	r.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		r.mu.Lock()
		for i, ev := range r.seen {
			if !r.used[i] && ev["event"] == name && (match == nil || match(ev)) {
				r.used[i] = true
				r.mu.Unlock()
				return ev
			}
		}
		r.mu.Unlock()
		select {
		case ev, open := <-r.events:
			if !open {
				r.t.Fatalf("output ended before %q; events: %v\nstderr: %s", name, r.all(), r.stderr.String())
			}
			r.mu.Lock()
			r.seen = append(r.seen, ev)
			r.used = append(r.used, false)
			r.mu.Unlock()
		case <-deadline:
			r.t.Fatalf("no %q within 15s; events: %v\nstderr: %s", name, r.all(), r.stderr.String())
		}
	}
}

func (r *runner) all() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

func (r *runner) send(v any) {
	r.t.Helper()
	line, _ := json.Marshal(v)
	if _, err := r.stdin.Write(append(line, '\n')); err != nil {
		r.t.Fatal(err)
	}
}

// wait closes stdin (if not yet) and returns the exit code, draining the remaining events.
func (r *runner) wait() int {
	r.t.Helper()
	if r.code != nil {
		return *r.code
	}
	_ = r.stdin.Close()
	select {
	case code := <-r.exit:
		for ev := range r.events {
			r.mu.Lock()
			r.seen = append(r.seen, ev)
			r.used = append(r.used, false)
			r.mu.Unlock()
		}
		r.code = &code
		return code
	case <-time.After(20 * time.Second):
		r.t.Fatalf("did not exit; events: %v", r.all())
		return -1
	}
}

func has(key string, want any) func(map[string]any) bool {
	return func(ev map[string]any) bool { return fmt.Sprint(ev[key]) == fmt.Sprint(want) }
}

func eventNames(events []map[string]any) string {
	var names []string
	for _, ev := range events {
		names = append(names, fmt.Sprint(ev["event"]))
	}
	return strings.Join(names, ",")
}
