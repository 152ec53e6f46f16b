package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// emitter writes one JSON object per line, "event" first and the other fields in the order given,
// so a person reading a log sees what happened before the details. Writes are serialised because
// the MQTT callbacks run on their own goroutines.
//
// Nothing that reaches an emitter may be key material: callers pass topics, IDs, reason codes and
// CloudEvent data, never certificate or key bytes.
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
		key, ok := kv[i].(string)
		if !ok {
			key = fmt.Sprint(kv[i])
		}
		buf.WriteByte(',')
		writeJSON(&buf, key)
		buf.WriteByte(':')
		writeJSON(&buf, kv[i+1])
	}
	buf.WriteString("}\n")
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.w.Write(buf.Bytes())
}

func writeJSON(buf *bytes.Buffer, v any) {
	encoded, err := json.Marshal(v)
	if err != nil {
		encoded, _ = json.Marshal(fmt.Sprintf("unencodable value: %v", err))
	}
	buf.Write(encoded)
}

// optionalCode is a reason code that may be absent (no packet came back): null in JSON.
func optionalCode(code *byte) any {
	if code == nil {
		return nil
	}
	return int(*code)
}

func codes(b []byte) []int {
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return out
}
