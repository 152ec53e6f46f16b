package main

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

const (
	consumer          = "management-01"
	sharedAgentEvents = "$share/statussubscribers/sources/maestro/consumers/+/agentevents"
)

// The whole loop as Maestro runs it: the server publishes a work, the agent (connected as
// <consumer>-work-agent-client) receives it and answers with a status the server receives.
func TestWorkAndStatusRoundTrip(t *testing.T) {
	b := startBroker(t, newCA(t, "test-root"))
	server := start(t, "server", "--secrets-dir", serverMount(t, b, sharedAgentEvents), "--connect-to", b.addr, "--client-id", "maestro-0")
	server.waitFor("connected", has("clientId", "maestro-0"))
	server.waitFor("subscribed", has("topic", sharedAgentEvents))

	agent := start(t, "agent", "--secrets-dir", agentMount(t, b, consumer), "--connect-to", b.addr)
	agent.waitFor("connected", has("clientId", consumer+"-work-agent-client"))
	sub := agent.waitFor("subscribed", has("topic", "sources/maestro/consumers/"+consumer+"/sourceevents"))
	if sub["granted"] != true || sub["qos"] != float64(1) {
		t.Fatalf("agent subscription: %v", sub)
	}
	// The agent's startup spec resync reaches the server through the shared subscription.
	agent.waitFor("resync-published", has("topic", "sources/maestro/consumers/"+consumer+"/agentevents"))
	resync := server.waitFor("resync-request", has("clustername", consumer))
	if resync["source"] != consumer+"-work-agent" || resync["originalsource"] != "" {
		t.Fatalf("spec resync request: %v", resync)
	}

	server.send(map[string]any{"consumer": consumer, "resourceid": "0b7a7c2e-res-1", "id": "evt-1"})
	published := server.waitFor("published", has("id", "evt-1"))
	// (mochi answers a QoS 1 publish that carries properties with reason code 1; below 0x80 is success)
	if published["topic"] != "sources/maestro/consumers/"+consumer+"/sourceevents" || !success(published["reasonCode"]) {
		t.Fatalf("published: %v", published)
	}
	work := agent.waitFor("work", has("id", "evt-1"))
	for key, want := range map[string]any{
		"type":            "io.open-cluster-management.works.v1alpha1.manifestbundles.spec.create_request",
		"source":          "maestro",
		"clustername":     consumer,
		"resourceid":      "0b7a7c2e-res-1",
		"resourceversion": "1",
		"accepted":        true,
	} {
		if work[key] != want {
			t.Errorf("work[%s] = %v, want %v", key, work[key], want)
		}
	}
	manifests, _ := work["data"].(map[string]any)["manifests"].([]any)
	if len(manifests) != 1 {
		t.Errorf("work data: %v", work["data"])
	}
	statusPublished := agent.waitFor("status-published", has("resourceid", "0b7a7c2e-res-1"))
	if statusPublished["topic"] != "sources/maestro/consumers/"+consumer+"/agentevents" || !success(statusPublished["reasonCode"]) {
		t.Fatalf("status-published: %v", statusPublished)
	}
	status := server.waitFor("status", has("resourceid", "0b7a7c2e-res-1"))
	for key, want := range map[string]any{
		"type":            "io.open-cluster-management.works.v1alpha1.manifestbundles.status.update_request",
		"source":          consumer + "-work-agent",
		"clustername":     consumer,
		"originalsource":  "maestro",
		"resourceversion": "1",
		"accepted":        true,
	} {
		if status[key] != want {
			t.Errorf("status[%s] = %v, want %v", key, status[key], want)
		}
	}

	if code := agent.wait(); code != 0 {
		t.Fatalf("agent exit %d", code)
	}
	if code := server.wait(); code != 0 {
		t.Fatalf("server exit %d", code)
	}
	ids := b.rec.clientIDs()
	if !slices.Contains(ids, "maestro-0") || !slices.Contains(ids, consumer+"-work-agent-client") {
		t.Fatalf("client IDs seen by the broker: %v", ids)
	}
	for _, c := range b.rec.connects {
		if !c.clean || c.keepalive != 60 || c.protocol != 5 {
			t.Fatalf("CONNECT %+v: want clean start, keep-alive 60, MQTT 5", c)
		}
	}
	for _, name := range b.rec.serverName {
		if name != brokerName {
			t.Fatalf("SNI %q, want %q", name, brokerName)
		}
	}
}

// On the wire, a work event is a CloudEvent in binary mode: "ce-" user properties, the content
// type property, the data as payload — as cloudevents' mqtt_paho binding writes it.
func TestWorkEventIsBinaryModeOnTheWire(t *testing.T) {
	b := startBroker(t, newCA(t, "test-root"))
	agent := start(t, "agent", "--secrets-dir", agentMount(t, b, consumer), "--connect-to", b.addr, "--no-resync")
	agent.waitFor("subscribed", nil)
	server := start(t, "server", "--secrets-dir", serverMount(t, b, "sources/maestro/consumers/+/agentevents"), "--connect-to", b.addr)
	server.waitFor("subscribed", nil)
	server.send(map[string]any{"consumer": consumer, "resourceid": "res-2", "id": "evt-2", "resourceversion": 7})
	agent.waitFor("work", has("id", "evt-2"))
	server.waitFor("status", has("resourceid", "res-2"))

	sent := b.rec.publishedTo("sources/maestro/consumers/" + consumer + "/sourceevents")
	if len(sent) != 1 {
		t.Fatalf("%d messages on the sourceevents topic", len(sent))
	}
	msg := sent[0]
	props := map[string]string{}
	var keys []string
	for _, u := range msg.Properties.User {
		props[u.Key] = u.Val
		keys = append(keys, u.Key)
	}
	want := map[string]string{
		"ce-id":              "evt-2",
		"ce-source":          "maestro",
		"ce-specversion":     "1.0",
		"ce-type":            "io.open-cluster-management.works.v1alpha1.manifestbundles.spec.create_request",
		"ce-clustername":     consumer,
		"ce-resourceid":      "res-2",
		"ce-resourceversion": "7",
	}
	for k, v := range want {
		if props[k] != v {
			t.Errorf("user property %s = %q, want %q (all: %v)", k, props[k], v, keys)
		}
	}
	if props["ce-time"] == "" || props["ce-metadata"] == "" {
		t.Errorf("ce-time/ce-metadata missing: %v", keys)
	}
	if slices.Index(keys, "ce-id") != 0 || slices.Index(keys, "ce-specversion") != 2 {
		t.Errorf("attribute order %v, want id, source, specversion, type, ... first", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "ce-") || k == "ce-datacontenttype" {
			t.Errorf("unexpected user property %q", k)
		}
	}
	if msg.Properties.ContentType != "application/json" || msg.FixedHeader.Qos != 1 || msg.FixedHeader.Retain {
		t.Errorf("content type %q, QoS %d, retain %v", msg.Properties.ContentType, msg.FixedHeader.Qos, msg.FixedHeader.Retain)
	}
	var bundle map[string]any
	if err := json.Unmarshal(msg.Payload, &bundle); err != nil || bundle["manifests"] == nil {
		t.Errorf("payload is not a ManifestBundle: %s", msg.Payload)
	}

	status := b.rec.publishedTo("sources/maestro/consumers/" + consumer + "/agentevents")
	if len(status) != 1 {
		t.Fatalf("%d messages on the agentevents topic", len(status))
	}
	sprops := map[string]string{}
	for _, u := range status[0].Properties.User {
		sprops[u.Key] = u.Val
	}
	for _, k := range []string{"ce-resourceid", "ce-sequenceid", "ce-resourceversion", "ce-clustername", "ce-originalsource", "ce-statushash", "ce-metadata"} {
		if sprops[k] == "" {
			t.Errorf("status event lacks %s: %v", k, sprops)
		}
	}
	if sprops["ce-source"] != consumer+"-work-agent" || sprops["ce-originalsource"] != "maestro" || sprops["ce-resourceversion"] != "7" {
		t.Errorf("status attributes: %v", sprops)
	}
	agent.wait()
	server.wait()
}

func TestCloudEventBindingRoundTrip(t *testing.T) {
	e := newEvent("maestro", workType("spec", "create_request"))
	e.Extensions[extClusterName] = consumer
	e.Extensions[extResourceID] = "r"
	e.Extensions[extResourceVersion] = "3"
	e.Extensions[extOriginalSource] = ""
	_ = e.setJSONData(map[string]any{"manifests": []any{}})
	p := e.toPublish("t", 1)
	back, err := eventFromPublish(p)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != e.ID || back.Source != e.Source || back.Type != e.Type || back.SpecVersion != "1.0" || back.Time != e.Time ||
		back.DataContentType != "application/json" || string(back.Data) != string(e.Data) {
		t.Fatalf("round trip changed the event: %+v", back)
	}
	if v, ok := back.Extensions[extOriginalSource]; !ok || v != "" {
		t.Fatalf("empty originalsource must survive: %v", back.Extensions)
	}
	if back.Extensions[extResourceVersion] != "3" || back.Extensions[extClusterName] != consumer {
		t.Fatalf("extensions: %v", back.Extensions)
	}
	// Structured mode is recognised by its content type, as the binding does.
	structured := &paho.Publish{Topic: "t", Payload: []byte(`{"specversion":"1.0","id":"x","source":"s","type":"a.b.c.spec.create_request","resourceversion":2,"data":{"k":1}}`),
		Properties: &paho.PublishProperties{ContentType: "application/cloudevents+json"}}
	se, err := eventFromPublish(structured)
	if err != nil || se.ID != "x" || se.Extensions[extResourceVersion] != "2" || string(se.Data) != `{"k":1}` {
		t.Fatalf("structured: %+v %v", se, err)
	}
	if _, err := eventFromPublish(&paho.Publish{Topic: "t", Payload: []byte("{}")}); err == nil {
		t.Fatal("a message without ce-specversion is not a CloudEvent")
	}
}

func TestServerRefusesSourceIDThatIsNotTheTopicSource(t *testing.T) {
	ca := newCA(t, "test-root")
	dir := writeMount(t, mountSpec{
		client: ca.issue(t, "maestro", nil, x509.ExtKeyUsageClientAuth), caPEM: ca.pem,
		brokerHost:   "127.0.0.1:1", // never dialled: the check comes first
		sourceEvents: "sources/maestro/consumers/+/sourceevents",
		agentEvents:  sharedAgentEvents,
	})
	server := start(t, "server", "--secrets-dir", dir, "--source-id", "other")
	ev := server.waitFor("config-error", nil)
	if !strings.Contains(ev["error"].(string), `the topic source "maestro" does not match the client sourceID "other"`) {
		t.Fatalf("config-error: %v", ev)
	}
	if code := server.wait(); code != exitConfig {
		t.Fatalf("exit %d, want %d", code, exitConfig)
	}
	// The same mount with the matching source ID gets past the check (and fails to dial).
	ok := start(t, "server", "--secrets-dir", dir, "--source-id", "maestro", "--timeout", "5")
	ok.waitFor("dial-error", nil)
	if code := ok.wait(); code != exitNoBroker {
		t.Fatalf("exit %d, want %d", code, exitNoBroker)
	}
}

func TestTopicRulesFollowSDKGo(t *testing.T) {
	tp := topicsConfig{SourceEvents: "sources/maestro/consumers/+/sourceevents", AgentEvents: "sources/maestro/consumers/+/agentevents"}
	if got := serverPublishTopic(tp, "c1"); got != "sources/maestro/consumers/c1/sourceevents" {
		t.Errorf("server publish: %s", got)
	}
	// The server replaces the FIRST "+", the agent the LAST.
	both := topicsConfig{SourceEvents: "sources/+/consumers/+/sourceevents", AgentEvents: "sources/maestro/consumers/+/agentevents"}
	if got := serverPublishTopic(both, "c1"); got != "sources/c1/consumers/+/sourceevents" {
		t.Errorf("server publish with two wildcards: %s", got)
	}
	if got := agentSubscribeTopics(both, "c1"); !slices.Equal(got, []string{"sources/+/consumers/c1/sourceevents"}) {
		t.Errorf("agent subscribe: %v", got)
	}
	if got, _ := agentStatusTopic(tp, "c1"); got != "sources/maestro/consumers/c1/agentevents" {
		t.Errorf("agent status: %s", got)
	}
	if got := agentResyncAllTopic(tp, "c1"); got != "sources/maestro/consumers/c1/agentevents" {
		t.Errorf("agent resync: %s", got)
	}
	for topic, want := range map[string]string{
		sharedAgentEvents:                         "maestro",
		"sources/maestro/consumers/+/agentevents": "maestro",
		"sources/other/consumers/c/agentevents":   "other",
	} {
		if got, err := sourceOfEventsTopic(topic); err != nil || got != want {
			t.Errorf("source of %s: %q %v", topic, got, err)
		}
	}
	good := topicsConfig{SourceEvents: "sources/maestro/consumers/management-01/sourceevents", AgentEvents: sharedAgentEvents}
	if err := validateTopics(&good); err != nil {
		t.Errorf("valid topics refused: %v", err)
	}
	for _, bad := range []topicsConfig{
		{SourceEvents: "sources/maestro/consumers/Management/sourceevents", AgentEvents: tp.AgentEvents},
		{SourceEvents: "sources/maestro/consumers/mc_1/sourceevents", AgentEvents: tp.AgentEvents},
		{SourceEvents: "maestro/consumers/+/sourceevents", AgentEvents: tp.AgentEvents},
		{SourceEvents: tp.SourceEvents, AgentEvents: "sources/maestro/consumers/+/sourceevents"},
		{SourceEvents: tp.SourceEvents, AgentEvents: "$share/Group/sources/maestro/consumers/+/agentevents"},
	} {
		if err := validateTopics(&bad); err == nil {
			t.Errorf("invalid topics accepted: %+v", bad)
		}
	}
	if err := validateTopics(nil); err == nil || err.Error() != "the topics must be set" {
		t.Errorf("nil topics: %v", err)
	}
}

func TestConfigPathsAreRerootedFromTheMount(t *testing.T) {
	mounts := []string{"/mnt/secrets-store", "/secrets/mqtt-certs/"}
	for path, want := range map[string]string{
		"/mnt/secrets-store/ca.crt":        "/tmp/x/ca.crt",
		"/secrets/mqtt-certs/client.crt":   "/tmp/x/client.crt",
		"/mnt/secrets-store-other/ca.crt":  "/mnt/secrets-store-other/ca.crt",
		"/etc/ca.crt":                      "/etc/ca.crt",
		"/mnt/secrets-store/../etc/passwd": "/mnt/secrets-store/../etc/passwd", // leaves the mount: not re-rooted
	} {
		if got := reroot(path, mounts, "/tmp/x"); got != want {
			t.Errorf("reroot(%s) = %s, want %s", path, got, want)
		}
	}
}

// --connect-to changes where the TCP connection goes, not whom TLS verifies.
func TestConnectToKeepsTLSOnTheBrokerName(t *testing.T) {
	b := startBroker(t, newCA(t, "test-root"))
	dir := agentMount(t, b, consumer)
	events, code := probeRun(t, "--secrets-dir", dir, "--connect-to", b.addr, "--client-id", "p1", "--listen-seconds", "0")
	if code != 0 || events[0]["event"] != "connack" || events[0]["reasonCode"] != float64(0) {
		t.Fatalf("probe: %d %v", code, events)
	}
	if b.rec.serverName[len(b.rec.serverName)-1] != brokerName {
		t.Fatalf("SNI %v", b.rec.serverName)
	}

	// A CA that did not sign the broker's certificate: the handshake fails.
	wrongCA := newCA(t, "someone-else")
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), wrongCA.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	events, code = probeRun(t, "--secrets-dir", dir, "--connect-to", b.addr, "--client-id", "p1")
	if code != exitNoBroker || events[0]["event"] != "tls-error" {
		t.Fatalf("wrong CA: %d %v", code, events)
	}

	// The right CA, but brokerHost names a host the certificate does not cover.
	other := writeMount(t, mountSpec{
		client: b.ca.issue(t, consumer, nil, x509.ExtKeyUsageClientAuth), caPEM: b.ca.pem,
		brokerHost:   "broker.example.com:8883",
		sourceEvents: "sources/maestro/consumers/" + consumer + "/sourceevents",
		agentEvents:  "sources/maestro/consumers/" + consumer + "/agentevents", consumerName: consumer,
	})
	agent := start(t, "agent", "--secrets-dir", other, "--connect-to", b.addr)
	ev := agent.waitFor("tls-error", nil)
	if !strings.Contains(ev["error"].(string), "broker.example.com") {
		t.Fatalf("tls-error should name the verified host: %v", ev)
	}
	if code := agent.wait(); code != exitNoBroker {
		t.Fatalf("agent exit %d", code)
	}

	// A client certificate from another CA is refused by the broker after the handshake.
	stranger := newCA(t, "stranger")
	rejected := writeMount(t, mountSpec{
		client: stranger.issue(t, consumer, nil, x509.ExtKeyUsageClientAuth), caPEM: b.ca.pem,
		sourceEvents: "sources/maestro/consumers/" + consumer + "/sourceevents",
		agentEvents:  "sources/maestro/consumers/" + consumer + "/agentevents", consumerName: consumer,
	})
	events, code = probeRun(t, "--secrets-dir", rejected, "--connect-to", b.addr, "--client-id", "p1")
	if code != exitNoBroker || events[0]["event"] != "tls-error" {
		t.Fatalf("foreign client certificate: %d %v", code, events)
	}
}

// What an IoT policy refusing the client ID looks like to the agent and to the probe.
func TestRefusedClientID(t *testing.T) {
	b := startBroker(t, newCA(t, "test-root"))
	b.rec.allowID = func(id string) bool { return id == "cluster1-work-agent-client" }
	dir := agentMount(t, b, consumer)

	refused := start(t, "agent", "--secrets-dir", dir, "--connect-to", b.addr)
	ev := refused.waitFor("connect-refused", nil)
	if ev["clientId"] != consumer+"-work-agent-client" || ev["reasonCode"] != float64(0x86) {
		t.Fatalf("connect-refused: %v", ev)
	}
	if code := refused.wait(); code != exitRefused {
		t.Fatalf("exit %d, want %d", code, exitRefused)
	}

	allowed := start(t, "agent", "--secrets-dir", dir, "--connect-to", b.addr, "--cloudevents-client-id", "cluster1-work-agent", "--no-resync")
	allowed.waitFor("connected", has("clientId", "cluster1-work-agent-client"))
	allowed.waitFor("subscribed", nil)
	allowed.wait()

	events, code := probeRun(t, "--secrets-dir", dir, "--connect-to", b.addr, "--client-id", consumer+"-work-agent")
	if code != 0 || events[0]["event"] != "connack" || events[0]["reasonCode"] != float64(0x86) || events[len(events)-1]["event"] != "done" {
		t.Fatalf("probe refused: %d %v", code, events)
	}
}

// The probe reports each acknowledgement; with MQTT 3.1.1 a forbidden publish closes the
// connection (what mochi does, and what AWS IoT Core does).
func TestProbeReportsAcknowledgements(t *testing.T) {
	b := startBroker(t, newCA(t, "test-root"))
	own := "sources/maestro/consumers/" + consumer + "/sourceevents"
	b.rec.allowTopic = func(_ string, topic string, write bool) bool {
		return topic == own || (write && topic == "sources/maestro/consumers/"+consumer+"/agentevents")
	}
	dir := agentMount(t, b, consumer)
	events, code := probeRun(t, "--secrets-dir", dir, "--connect-to", b.addr, "--client-id", "p5",
		"--subscribe", own, "--subscribe", "sources/maestro/consumers/management-02/sourceevents",
		"--publish", "sources/maestro/consumers/"+consumer+"/agentevents", "--publish", "sources/maestro/consumers/management-02/agentevents",
		"--listen-seconds", "0.5")
	if code != 0 {
		t.Fatalf("exit %d: %v", code, events)
	}
	if got := eventNames(events); got != "connack,suback,suback,puback,puback,done" {
		t.Fatalf("events %s: %v", got, events)
	}
	if events[1]["reasonCode"] != float64(1) || events[2]["reasonCode"] != float64(0x87) {
		t.Errorf("subacks: %v %v", events[1], events[2])
	}
	if events[3]["reasonCode"] != float64(0) || events[4]["reasonCode"] != float64(0x87) || events[4]["connectionSurvived"] != true {
		t.Errorf("pubacks: %v %v", events[3], events[4])
	}

	events, code = probeRun(t, "--secrets-dir", dir, "--connect-to", b.addr, "--client-id", "p4", "--protocol", "4",
		"--subscribe", own, "--publish", "sources/maestro/consumers/"+consumer+"/agentevents",
		"--publish", "sources/maestro/consumers/management-02/agentevents", "--publish", "sources/maestro/consumers/"+consumer+"/agentevents")
	if code != 0 {
		t.Fatalf("exit %d: %v", code, events)
	}
	if got := eventNames(events); got != "connack,suback,puback,disconnected,puback,puback,done" {
		t.Fatalf("MQTT 3.1.1 events %s: %v", got, events)
	}
	if events[1]["reasonCode"] != float64(1) || events[2]["reasonCode"] != float64(0) || events[2]["connectionSurvived"] != true {
		t.Errorf("3.1.1 acks: %v %v", events[1], events[2])
	}
	if events[4]["reasonCode"] != nil || events[4]["connectionSurvived"] != false || events[5]["error"] != "not connected" {
		t.Errorf("3.1.1 forbidden publish: %v %v", events[4], events[5])
	}
}

// A second client with the same ID takes the session over; the first is told so.
func TestSessionTakeoverIsReported(t *testing.T) {
	b := startBroker(t, newCA(t, "test-root"))
	dir := agentMount(t, b, consumer)
	first := start(t, "agent", "--secrets-dir", dir, "--connect-to", b.addr, "--no-resync")
	first.waitFor("subscribed", nil)
	second := start(t, "agent", "--secrets-dir", dir, "--connect-to", b.addr, "--no-resync")
	second.waitFor("subscribed", nil)
	ev := first.waitFor("disconnected", nil)
	if ev["reasonCode"] != float64(0x8E) || ev["by"] != "server" {
		t.Fatalf("disconnected: %v", ev)
	}
	first.wait()
	second.wait()
}

func TestAgentIgnoresWorkForAnotherCluster(t *testing.T) {
	b := startBroker(t, newCA(t, "test-root"))
	// An agent whose config subscribes it to management-02's topic still checks clustername.
	dir := agentMount(t, b, consumer)
	agent := start(t, "agent", "--secrets-dir", dir, "--connect-to", b.addr, "--consumer-name", "management-02", "--no-resync")
	agent.waitFor("subscribed", has("topic", "sources/maestro/consumers/"+consumer+"/sourceevents"))
	server := start(t, "server", "--secrets-dir", serverMount(t, b, "sources/maestro/consumers/+/agentevents"), "--connect-to", b.addr)
	server.waitFor("subscribed", nil)
	server.send(map[string]any{"consumer": consumer, "resourceid": "res-3", "id": "evt-3"})
	work := agent.waitFor("work", has("id", "evt-3"))
	if work["accepted"] != false || !strings.Contains(work["reason"].(string), "management-02") {
		t.Fatalf("work for another cluster: %v", work)
	}
	agent.wait()
	server.wait()
	for _, ev := range agent.all() {
		if ev["event"] == "status-published" {
			t.Fatalf("answered a work that is not its own: %v", agent.all())
		}
	}
}

func TestNoKeyMaterialInOutput(t *testing.T) {
	b := startBroker(t, newCA(t, "test-root"))
	dir := agentMount(t, b, consumer)
	key, _ := os.ReadFile(filepath.Join(dir, "privateKey"))
	cert, _ := os.ReadFile(filepath.Join(dir, "certificate"))
	agent := start(t, "agent", "--secrets-dir", dir, "--connect-to", b.addr)
	agent.waitFor("resync-published", nil)
	agent.wait()
	out, _ := json.Marshal(agent.all())
	for _, secret := range [][]byte{key, cert} {
		body := strings.Split(string(secret), "\n")[1]
		if strings.Contains(string(out), body[:40]) || strings.Contains(agent.stderr.String(), body[:40]) {
			t.Fatal("key or certificate material in the output")
		}
	}
}

func success(code any) bool {
	c, ok := code.(float64)
	return ok && c < 0x80
}

// probeRun runs the probe to completion and returns its events and exit code.
func probeRun(t *testing.T, args ...string) ([]map[string]any, int) {
	t.Helper()
	r := start(t, append([]string{"probe"}, args...)...)
	code := r.wait()
	return r.all(), code
}
