package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

const (
	cePrefix             = "ce-"
	manifestBundleType   = "io.open-cluster-management.works.v1alpha1.manifestbundles"
	contentTypeJSON      = "application/json"
	structuredMediaType  = "application/cloudevents"
	extClusterName       = "clustername"
	extResourceID        = "resourceid"
	extResourceVersion   = "resourceversion"
	extOriginalSource    = "originalsource"
	extSequenceID        = "sequenceid"
	extStatusHash        = "statushash"
	extMetadata          = "metadata"
	extDeletionTimestamp = "deletiontimestamp"
)

// cloudEvent holds a CloudEvent with every attribute and extension in its canonical string form,
// which is what travels in MQTT user properties anyway.
type cloudEvent struct {
	SpecVersion     string
	ID              string
	Source          string
	Type            string
	DataSchema      string
	Subject         string
	Time            string
	DataContentType string
	Extensions      map[string]string
	Data            []byte
}

func newEvent(source, eventType string) *cloudEvent {
	return &cloudEvent{
		SpecVersion:     "1.0",
		ID:              newUUID(),
		Source:          source,
		Type:            eventType,
		Time:            time.Now().UTC().Format(time.RFC3339Nano),
		DataContentType: contentTypeJSON,
		Extensions:      map[string]string{},
	}
}

func (e *cloudEvent) setJSONData(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	e.Data = data
	e.DataContentType = contentTypeJSON
	return nil
}

// toPublish writes the event in binary mode, as cloudevents' mqtt_paho WritePubMessage does:
// attributes in the spec's order, then extensions (sorted here, map order in sdk-go), all as
// "ce-" user properties; datacontenttype as the content type; data as the payload.
func (e *cloudEvent) toPublish(topic string, qos byte) *paho.Publish {
	user := paho.UserProperties{}
	add := func(name, value string) {
		if value != "" {
			user = append(user, paho.UserProperty{Key: cePrefix + name, Value: value})
		}
	}
	add("id", e.ID)
	add("source", e.Source)
	add("specversion", e.SpecVersion)
	add("type", e.Type)
	add("dataschema", e.DataSchema)
	add("subject", e.Subject)
	add("time", e.Time)
	names := make([]string, 0, len(e.Extensions))
	for name := range e.Extensions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// An empty extension (originalsource "" on a resync to all sources) is still sent.
		user = append(user, paho.UserProperty{Key: cePrefix + name, Value: e.Extensions[name]})
	}
	return &paho.Publish{
		Topic:      topic,
		QoS:        qos,
		Payload:    e.Data,
		Properties: &paho.PublishProperties{ContentType: e.DataContentType, User: user},
	}
}

var errNotCloudEvent = errors.New("not a CloudEvent: no structured content type and no ce-specversion user property")

// eventFromPublish reads a received message as cloudevents' mqtt_paho NewMessage/ReadBinary do.
func eventFromPublish(p *paho.Publish) (*cloudEvent, error) {
	var props paho.PublishProperties
	if p.Properties != nil {
		props = *p.Properties
	}
	if strings.HasPrefix(props.ContentType, structuredMediaType) {
		return eventFromStructured(p.Payload)
	}
	if props.User.Get(cePrefix+"specversion") == "" {
		return nil, errNotCloudEvent
	}
	e := &cloudEvent{Extensions: map[string]string{}, DataContentType: props.ContentType, Data: p.Payload}
	for _, u := range props.User {
		name, ok := strings.CutPrefix(strings.ToLower(u.Key), cePrefix)
		if !ok {
			continue
		}
		switch name {
		case "specversion":
			e.SpecVersion = u.Value
		case "id":
			e.ID = u.Value
		case "source":
			e.Source = u.Value
		case "type":
			e.Type = u.Value
		case "dataschema":
			e.DataSchema = u.Value
		case "subject":
			e.Subject = u.Value
		case "time":
			e.Time = u.Value
		case "datacontenttype":
			if e.DataContentType == "" {
				e.DataContentType = u.Value
			}
		default:
			e.Extensions[name] = u.Value
		}
	}
	if e.ID == "" || e.Source == "" || e.Type == "" {
		return nil, fmt.Errorf("CloudEvent misses a required attribute (id %q, source %q, type %q)", e.ID, e.Source, e.Type)
	}
	return e, nil
}

func eventFromStructured(payload []byte) (*cloudEvent, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(payload, &doc); err != nil {
		return nil, fmt.Errorf("structured CloudEvent: %v", err)
	}
	e := &cloudEvent{Extensions: map[string]string{}}
	for key, raw := range doc {
		switch key {
		case "data":
			e.Data = raw
		case "data_base64":
			var s string
			_ = json.Unmarshal(raw, &s)
			e.Data = []byte(s)
		default:
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				s = string(raw) // numbers and booleans keep their JSON text
			}
			switch key {
			case "specversion":
				e.SpecVersion = s
			case "id":
				e.ID = s
			case "source":
				e.Source = s
			case "type":
				e.Type = s
			case "dataschema":
				e.DataSchema = s
			case "subject":
				e.Subject = s
			case "time":
				e.Time = s
			case "datacontenttype":
				e.DataContentType = s
			default:
				e.Extensions[key] = s
			}
		}
	}
	return e, nil
}

// eventType is a parsed "<group>.<version>.<resource>.<spec|status>.<action>".
type eventType struct {
	DataType    string
	SubResource string
	Action      string
}

// decodeEvent reads a CloudEvent and its Maestro event type from a PUBLISH, reporting a
// message that is neither as `invalid-message`; both sides start every delivery this way.
func decodeEvent(em *emitter, p *paho.Publish) (*cloudEvent, eventType, bool) {
	e, err := eventFromPublish(p)
	if err != nil {
		em.emit("invalid-message", "topic", p.Topic, "error", err.Error())
		return nil, eventType{}, false
	}
	et, err := parseEventType(e.Type)
	if err != nil {
		em.emit("invalid-message", "topic", p.Topic, "id", e.ID, "type", e.Type, "error", err.Error())
		return nil, eventType{}, false
	}
	return e, et, true
}

func parseEventType(t string) (eventType, error) {
	parts := strings.Split(t, ".")
	if len(parts) < 5 {
		return eventType{}, fmt.Errorf("unsupported cloudevents type format: %s", t)
	}
	sub := parts[len(parts)-2]
	if sub != "spec" && sub != "status" {
		return eventType{}, fmt.Errorf("unsupported subresource %s", sub)
	}
	return eventType{
		DataType:    strings.Join(parts[:len(parts)-2], "."),
		SubResource: sub,
		Action:      parts[len(parts)-1],
	}, nil
}

func workType(subResource, action string) string {
	return manifestBundleType + "." + subResource + "." + action
}

// dataForOutput is the event's data as JSON when it is JSON, else as text.
func (e *cloudEvent) dataForOutput() any {
	if len(e.Data) == 0 {
		return nil
	}
	if json.Valid(e.Data) {
		return json.RawMessage(e.Data)
	}
	return string(e.Data)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// snowflake IDs, node 1, as sdk-go's agent codec numbers its status updates.
var (
	snowflakeMu   sync.Mutex
	snowflakeLast int64
	snowflakeStep int64
)

const snowflakeEpochMillis = 1288834974657

func nextSequenceID() string {
	snowflakeMu.Lock()
	defer snowflakeMu.Unlock()
	now := time.Now().UnixMilli() - snowflakeEpochMillis
	if now <= snowflakeLast {
		now = snowflakeLast
		snowflakeStep = (snowflakeStep + 1) & 0xfff
		if snowflakeStep == 0 {
			now++
		}
	} else {
		snowflakeStep = 0
	}
	snowflakeLast = now
	return fmt.Sprint(now<<22 | 1<<12 | snowflakeStep)
}
