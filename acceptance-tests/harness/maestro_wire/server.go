package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// publishRequest is one stdin line for the server: publish this resource to that consumer.
type publishRequest struct {
	Consumer        string          `json:"consumer"`
	ResourceID      string          `json:"resourceid"`
	ID              string          `json:"id"`
	ResourceVersion *int64          `json:"resourceversion"`
	Action          string          `json:"action"` // create_request (default), update_request, delete_request
	Data            json.RawMessage `json:"data"`   // replaces the demo ManifestBundle
}

// sentResource is what the server published in this run: its stand-in for Maestro's database
// when an agent asks for a spec resync.
type sentResource struct {
	req     publishRequest
	version int64
	deleted bool
	data    []byte
}

type server struct {
	cfg      *brokerConfig
	em       *emitter
	sess     *session
	sourceID string
	sent     map[string]map[string]*sentResource // consumer -> resource ID
}

func runServer(ctx context.Context, opts *serverOptions, em *emitter, stdin io.Reader, stderr io.Writer) int {
	cfg, err := loadBrokerConfig(&opts.commonOptions, true)
	if err != nil {
		return reportBrokerError(em, stderr, err)
	}
	// Maestro's SourceSubscribe check: the source the server subscribes for must be its own.
	topicSource, err := sourceOfEventsTopic(cfg.Topics.AgentEvents)
	if err != nil {
		return reportBrokerError(em, stderr, err)
	}
	if topicSource != opts.sourceID {
		return reportBrokerError(em, stderr, fmt.Errorf("the topic source %q does not match the client sourceID %q", topicSource, opts.sourceID))
	}

	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	conn, err := dialBroker(ctx, cfg, opts.connectTo)
	if err != nil {
		return reportBrokerError(em, stderr, err)
	}
	result := connectSession(ctx, conn, cfg, opts.clientID, em)
	if code, ok := reportConnect(em, result, opts.clientID, exitRefused); !ok {
		return code
	}
	s := &server{cfg: cfg, em: em, sess: result.session, sourceID: opts.sourceID, sent: map[string]map[string]*sentResource{}}
	defer s.sess.close()

	topics := serverSubscribeTopics(cfg.Topics)
	suback, err := s.sess.subscribe(ctx, topics, cfg.SubQoS)
	if reportSuback(em, topics, cfg.SubQoS, suback, err) {
		for _, consumer := range opts.resyncConsumers {
			s.sendStatusResync(ctx, consumer)
		}
	}

	lines := stdinLines(stdin)
	for {
		select {
		case <-ctx.Done():
			return finish(em, ctx)
		case line, open := <-lines:
			if !open {
				em.emit("stopped", "reason", "stdin closed")
				return exitOK
			}
			s.handleRequest(ctx, line)
		case p := <-s.sess.inbound:
			s.handle(ctx, p)
		}
	}
}

func (s *server) handleRequest(ctx context.Context, line string) {
	if len(line) == 0 {
		return
	}
	var req publishRequest
	if err := json.Unmarshal([]byte(line), &req); err != nil {
		s.em.emit("request-error", "error", "stdin line is not a JSON request: "+err.Error())
		return
	}
	if req.Consumer == "" {
		s.em.emit("request-error", "id", req.ID, "error", `"consumer" is required`)
		return
	}
	switch req.Action {
	case "":
		req.Action = "create_request"
	case "create_request", "update_request", "delete_request":
	default:
		s.em.emit("request-error", "id", req.ID, "error", fmt.Sprintf("unsupported action %q", req.Action))
		return
	}
	if req.ResourceID == "" {
		req.ResourceID = newUUID()
	}
	if req.ID == "" {
		req.ID = newUUID()
	}
	version := int64(1)
	if req.ResourceVersion != nil {
		version = *req.ResourceVersion
	}
	data := []byte(req.Data)
	if len(data) == 0 {
		data, _ = json.Marshal(demoBundle(req.ResourceID))
	}
	res := &sentResource{req: req, version: version, deleted: req.Action == "delete_request", data: data}
	if s.sent[req.Consumer] == nil {
		s.sent[req.Consumer] = map[string]*sentResource{}
	}
	s.sent[req.Consumer][req.ResourceID] = res
	e := s.specEvent(res, req.Action)
	e.ID = req.ID
	s.publishSpec(ctx, e, req.Consumer, req.ResourceID)
}

// specEvent is what Maestro's codec encodes for a resource: source ID, the spec type, resourceid,
// resourceversion, clustername = consumer, a metadata extension named after the resource, and a
// deletiontimestamp when deleting. Maestro's codec keeps the stored payload's data on deletion too.
func (s *server) specEvent(res *sentResource, action string) *cloudEvent {
	e := newEvent(s.sourceID, workType("spec", action))
	e.Extensions[extResourceID] = res.req.ResourceID
	e.Extensions[extResourceVersion] = strconv.FormatInt(res.version, 10)
	e.Extensions[extClusterName] = res.req.Consumer
	meta, _ := json.Marshal(map[string]any{"name": res.req.ResourceID, "creationTimestamp": nil})
	e.Extensions[extMetadata] = string(meta)
	if res.deleted {
		e.Extensions[extDeletionTimestamp] = time.Now().UTC().Format(time.RFC3339Nano)
	}
	e.Data = res.data
	return e
}

func (s *server) publishSpec(ctx context.Context, e *cloudEvent, consumer, resourceID string) {
	topic := serverPublishTopic(s.cfg.Topics, consumer)
	code, err := s.sess.publish(ctx, e.toPublish(topic, s.cfg.PubQoS))
	s.em.emit("published", "topic", topic, "id", e.ID, "type", e.Type, "consumer", consumer, "resourceid", resourceID,
		"reasonCode", optionalCode(code), "error", errString(err))
}

// sendStatusResync is the request Maestro sends each consumer once subscribed.
func (s *server) sendStatusResync(ctx context.Context, consumer string) {
	e := newEvent(s.sourceID, workType("status", "resync_request"))
	e.Extensions[extClusterName] = consumer
	e.Extensions[extOriginalSource] = ""
	_ = e.setJSONData(resourceStatusHashList{Hashes: []resourceStatusHash{}})
	topic := serverPublishTopic(s.cfg.Topics, consumer)
	code, err := s.sess.publish(ctx, e.toPublish(topic, s.cfg.PubQoS))
	s.em.emit("resync-published", "topic", topic, "id", e.ID, "type", e.Type, "consumer", consumer,
		"reasonCode", optionalCode(code), "error", errString(err))
}

func (s *server) handle(ctx context.Context, p *paho.Publish) {
	e, et, ok := decodeEvent(s.em, p)
	if !ok {
		return
	}
	if et.Action == "resync_request" {
		if et.SubResource != "spec" {
			s.em.emit("ignored", "topic", p.Topic, "id", e.ID, "type", e.Type, "reason", "unsupported event type")
			return
		}
		s.answerSpecResync(ctx, p.Topic, e)
		return
	}
	if et.DataType != manifestBundleType || et.SubResource != "status" {
		s.em.emit("ignored", "topic", p.Topic, "id", e.ID, "type", e.Type, "reason", "not a work status event")
		return
	}
	// Maestro's codec refuses a status whose originalsource is not this server's source ID.
	original := e.Extensions[extOriginalSource]
	reason := ""
	if original != s.sourceID {
		reason = fmt.Sprintf("unmatched original source id %s", original)
	}
	s.em.emit("status", "topic", p.Topic, "id", e.ID, "type", e.Type, "source", e.Source,
		"clustername", e.Extensions[extClusterName], "resourceid", e.Extensions[extResourceID],
		"resourceversion", e.Extensions[extResourceVersion], "sequenceid", e.Extensions[extSequenceID],
		"originalsource", original, "accepted", reason == "", "reason", reason, "data", e.dataForOutput())
}

// answerSpecResync follows sdk-go's respondResyncSpecRequest over what this run published:
// deleting or newer resources are sent again, resources the agent holds but the server does not
// know are sent as deletions.
func (s *server) answerSpecResync(ctx context.Context, topic string, e *cloudEvent) {
	consumer := e.Extensions[extClusterName]
	var held resourceVersionList
	if len(e.Data) > 0 {
		if err := json.Unmarshal(e.Data, &held); err != nil {
			s.em.emit("invalid-message", "topic", topic, "id", e.ID, "type", e.Type, "error", "spec resync payload: "+err.Error())
			return
		}
	}
	heldVersion := map[string]int64{}
	for _, v := range held.Versions {
		heldVersion[v.ResourceID] = v.ResourceVersion
	}
	known := s.sent[consumer]
	var resend []*sentResource
	for _, res := range known {
		if res.deleted || res.version == 0 || res.version > heldVersion[res.req.ResourceID] {
			resend = append(resend, res)
		}
	}
	var unknown []resourceVersion
	for _, v := range held.Versions {
		if _, ok := known[v.ResourceID]; !ok {
			unknown = append(unknown, v)
		}
	}
	s.em.emit("resync-request", "topic", topic, "id", e.ID, "type", e.Type, "source", e.Source,
		"clustername", consumer, "originalsource", e.Extensions[extOriginalSource],
		"answered", len(resend)+len(unknown), "data", e.dataForOutput())
	if consumer == "" {
		return // nowhere to send the answer: Maestro would publish to a topic with "+" left in it
	}
	for _, res := range resend {
		s.publishSpec(ctx, s.specEvent(res, "resync_response"), consumer, res.req.ResourceID)
	}
	for _, v := range unknown {
		gone := &sentResource{req: publishRequest{Consumer: consumer, ResourceID: v.ResourceID}, version: v.ResourceVersion, deleted: true}
		ev := s.specEvent(gone, "resync_response")
		delete(ev.Extensions, extMetadata)
		ev.Extensions[extOriginalSource] = ""
		ev.DataContentType = "" // built without data, as sdk-go's event builder does
		s.publishSpec(ctx, ev, consumer, v.ResourceID)
	}
}
