package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"

	"github.com/go-logr/logr"
)

// emitter writes one JSON object per line, "event" first, so the Python harness can wait for
// what happened. Writes are serialised: sdk-go calls back on its own goroutines.
//
// Nothing that reaches an emitter may be key material: callers pass topics, IDs, error texts and
// work metadata, never certificate or key bytes.
type emitter struct {
	mu sync.Mutex
	w  io.Writer
}

func newEmitter(w io.Writer) *emitter { return &emitter{w: w} }

// emit writes {"event": event, k1: v1, ...}; kv alternates string keys and JSON-encodable values.
func (e *emitter) emit(event string, kv ...any) {
	var buf bytes.Buffer
	buf.WriteString(`{"event":`)
	writeJSON(&buf, event)
	for i := 0; i+1 < len(kv); i += 2 {
		buf.WriteByte(',')
		writeJSON(&buf, fmt.Sprint(kv[i]))
		buf.WriteByte(':')
		writeJSON(&buf, kv[i+1])
	}
	buf.WriteString("}\n")
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.w.Write(buf.Bytes())
}

func writeJSON(buf *bytes.Buffer, v any) {
	if err, ok := v.(error); ok {
		v = err.Error()
	}
	encoded, err := json.Marshal(v)
	if err != nil {
		encoded, _ = json.Marshal(fmt.Sprint(v))
	}
	buf.Write(encoded)
}

// sdkLogSink is the logr sink sdk-go logs through (klog.FromContext hands it the context's
// logger). Every record goes to stderr as text; the records that say what the transport did on
// the wire also become events, so a test observes sdk-go's own account rather than ours:
//
//   - "mqtt is connected"            -> {"event": "mqtt-connected", "brokerHost"}
//   - "subscribed to mqtt broker"    -> {"event": "subscribed", "topics": [topic], "granted": true}
//   - any error (failed subscribe, lost connection, refused publish, ...) -> {"event": "error"}
//   - an ignored spec event of another cluster -> {"event": "ignored", "eventClusterName"}
type sdkLogSink struct {
	em     *emitter
	stderr io.Writer
	mu     *sync.Mutex
	name   string
	values []any
}

func newSDKLogger(em *emitter, stderr io.Writer) logr.Logger {
	return logr.New(&sdkLogSink{em: em, stderr: stderr, mu: &sync.Mutex{}})
}

func (s *sdkLogSink) Init(logr.RuntimeInfo) {}

// Enabled: every verbosity, so the V(4) record of an ignored foreign event is seen too.
func (s *sdkLogSink) Enabled(int) bool { return true }

func (s *sdkLogSink) Info(level int, msg string, kv ...any) {
	all := append(append([]any{}, s.values...), kv...)
	s.text(fmt.Sprintf("I%d", level), msg, nil, all)
	switch {
	case msg == "mqtt is connected":
		s.em.emit("mqtt-connected", "brokerHost", lookup(all, "brokerHost"))
	case msg == "subscribed to mqtt broker":
		s.em.emit("subscribed", "topics", []any{lookup(all, "topic")}, "granted", true)
	case strings.Contains(msg, "clustername do not match"):
		s.em.emit("ignored", "eventClusterName", lookup(all, "eventClusterName"),
			"agentClusterName", lookup(all, "agentClusterName"))
	}
}

func (s *sdkLogSink) Error(err error, msg string, kv ...any) {
	all := append(append([]any{}, s.values...), kv...)
	s.text("E", msg, err, all)
	text := ""
	if err != nil {
		text = err.Error()
	}
	s.em.emit("error", "message", msg, "error", text)
}

func (s *sdkLogSink) text(level, msg string, err error, kv []any) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s%s", level, s.name, msg)
	if err != nil {
		fmt.Fprintf(&b, " error=%q", err.Error())
	}
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
	}
	b.WriteByte('\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = io.WriteString(s.stderr, b.String())
}

func (s *sdkLogSink) WithValues(kv ...any) logr.LogSink {
	c := *s
	c.values = append(append([]any{}, s.values...), kv...)
	return &c
}

func (s *sdkLogSink) WithName(name string) logr.LogSink {
	c := *s
	c.name = s.name + name + ": "
	return &c
}

func lookup(kv []any, key string) any {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == key {
			return fmt.Sprint(kv[i+1])
		}
	}
	return nil
}

// transportClientID is the MQTT client ID sdk-go's transport will send: read from the transport
// BuildCloudEvents*Options built (an unexported field: sdk-go has no accessor), so the events
// report sdk-go's value rather than this program's idea of it.
func transportClientID(transport any) string {
	v := reflect.ValueOf(transport)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	if field := v.FieldByName("clientID"); field.IsValid() && field.Kind() == reflect.String {
		return field.String()
	}
	return ""
}
