package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/eclipse/paho.golang/paho"
)

// knownWork is what the agent keeps about a work it accepted (its informer store, in the real one).
type knownWork struct {
	resourceID      string
	resourceVersion string
	source          string
	name            string
	conditions      []condition
}

type agent struct {
	cfg     *brokerConfig
	em      *emitter
	sess    *session
	cluster string
	agentID string
	works   map[string]*knownWork
	order   []string
}

func runAgent(ctx context.Context, opts *agentOptions, em *emitter, stdin io.Reader, stderr io.Writer) int {
	cfg, err := loadBrokerConfig(&opts.commonOptions, true)
	if err != nil {
		return reportBrokerError(em, stderr, err)
	}
	cluster := opts.consumerName
	if cluster == "" {
		if cluster, err = readConsumerName(opts.secretsDir); err != nil {
			return reportBrokerError(em, stderr, err)
		}
	}
	agentID := opts.cloudEventsClientID
	if agentID == "" {
		agentID = cluster + "-work-agent"
	}
	clientID := agentID + "-client"
	if _, err := agentStatusTopic(cfg.Topics, cluster); err != nil {
		return reportBrokerError(em, stderr, err)
	}

	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	conn, err := dialBroker(ctx, cfg, opts.connectTo)
	if err != nil {
		return reportBrokerError(em, stderr, err)
	}
	result := connectSession(ctx, conn, cfg, clientID, em)
	if code, ok := reportConnect(em, result, clientID, exitRefused); !ok {
		return code
	}
	a := &agent{cfg: cfg, em: em, sess: result.session, cluster: cluster, agentID: agentID, works: map[string]*knownWork{}}
	defer a.sess.close()

	topics := agentSubscribeTopics(cfg.Topics, cluster)
	suback, err := a.sess.subscribe(ctx, topics, cfg.SubQoS)
	subscribed := reportSuback(em, topics, cfg.SubQoS, suback, err)
	if subscribed && !opts.noResync {
		a.sendSpecResync(ctx)
	}

	lines := stdinLines(stdin)
	for {
		select {
		case <-ctx.Done():
			return finish(em, ctx)
		case _, open := <-lines:
			if !open {
				em.emit("stopped", "reason", "stdin closed")
				return exitOK
			}
		case p := <-a.sess.inbound:
			a.handle(ctx, p)
		}
	}
}

// reportSuback prints {"event":"subscribed"} with the SUBACK's reason codes (or the error when no
// SUBACK came back) and says whether every filter was granted.
func reportSuback(em *emitter, topics []string, qos byte, suback *paho.Suback, err error) bool {
	if suback == nil {
		em.emit("subscribe-error", "topic", topics[0], "topics", topics, "error", errString(err))
		return false
	}
	ok := err == nil
	for _, c := range suback.Reasons {
		if c >= 0x80 {
			ok = false
		}
	}
	em.emit("subscribed", "topic", topics[0], "topics", topics, "qos", int(qos), "reasonCodes", codes(suback.Reasons), "granted", ok)
	return ok
}

func finish(em *emitter, ctx context.Context) int {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		em.emit("timeout")
	} else {
		em.emit("stopped", "reason", "signal")
	}
	return exitOK
}

func errString(err error) any {
	if err == nil {
		return nil
	}
	return err.Error()
}

// sendSpecResync is the request the work agent sends once subscribed: "send me everything you
// have for my cluster", listing the versions it holds (none, for a fresh agent).
func (a *agent) sendSpecResync(ctx context.Context) {
	e := newEvent(a.agentID, workType("spec", "resync_request"))
	e.Extensions[extClusterName] = a.cluster
	e.Extensions[extOriginalSource] = "" // all sources
	list := resourceVersionList{Versions: []resourceVersion{}}
	for _, id := range a.order {
		w := a.works[id]
		v, _ := parseVersion(w.resourceVersion)
		list.Versions = append(list.Versions, resourceVersion{ResourceID: w.resourceID, ResourceVersion: v})
	}
	_ = e.setJSONData(list)
	topic := agentResyncAllTopic(a.cfg.Topics, a.cluster)
	code, err := a.sess.publish(ctx, e.toPublish(topic, a.cfg.PubQoS))
	a.em.emit("resync-published", "topic", topic, "id", e.ID, "type", e.Type, "reasonCode", optionalCode(code), "error", errString(err))
}

func (a *agent) handle(ctx context.Context, p *paho.Publish) {
	e, et, ok := decodeEvent(a.em, p)
	if !ok {
		return
	}
	if et.Action == "resync_request" {
		if et.SubResource != "status" {
			a.em.emit("ignored", "topic", p.Topic, "id", e.ID, "type", e.Type, "reason", "unsupported resync event type")
			return
		}
		a.answerStatusResync(ctx, p.Topic, e)
		return
	}
	if et.SubResource != "spec" {
		a.em.emit("ignored", "topic", p.Topic, "id", e.ID, "type", e.Type, "reason", "not a spec event")
		return
	}

	cluster := e.Extensions[extClusterName]
	reason := ""
	version, verr := parseVersion(e.Extensions[extResourceVersion])
	switch {
	case cluster != a.cluster:
		reason = fmt.Sprintf("event clustername %q is not this agent's %q", cluster, a.cluster)
	case et.DataType != manifestBundleType:
		reason = "unsupported event data type " + et.DataType
	case e.Extensions[extResourceID] == "":
		reason = "no resourceid extension"
	case verr != nil:
		reason = fmt.Sprintf("resourceversion extension: %v", verr)
	}
	a.em.emit("work", "topic", p.Topic, "id", e.ID, "type", e.Type, "source", e.Source,
		"clustername", cluster, "resourceid", e.Extensions[extResourceID],
		"resourceversion", e.Extensions[extResourceVersion], "accepted", reason == "",
		"reason", reason, "data", e.dataForOutput())
	if reason != "" {
		return
	}

	w := &knownWork{
		resourceID:      e.Extensions[extResourceID],
		resourceVersion: e.Extensions[extResourceVersion],
		source:          e.Source,
		name:            workName(e),
	}
	_, deleting := e.Extensions[extDeletionTimestamp]
	if deleting || et.Action == "delete_request" {
		w.conditions = []condition{{Type: "Deleted", Status: "True", ObservedGeneration: version, LastTransitionTime: nowRFC3339(),
			Reason: "ManifestsDeleted", Message: "maestro-wire stands in for the work agent: manifests deleted"}}
		a.forget(w.resourceID)
	} else {
		w.conditions = []condition{
			{Type: "Applied", Status: "True", ObservedGeneration: version, LastTransitionTime: nowRFC3339(),
				Reason: "AppliedManifestWorkComplete", Message: "maestro-wire stands in for the work agent: manifests applied"},
			{Type: "Available", Status: "True", ObservedGeneration: version, LastTransitionTime: nowRFC3339(),
				Reason: "ResourcesAvailable", Message: "maestro-wire stands in for the work agent: resources available"},
		}
		a.remember(w)
	}
	a.publishStatus(ctx, w, "update_request")
}

// workName is the metadata name the agent gives the work: from the metadata extension, else the
// resource ID (sdk-go's agent codec).
func workName(e *cloudEvent) string {
	var meta struct {
		Name string `json:"name"`
	}
	if raw, ok := e.Extensions[extMetadata]; ok && json.Unmarshal([]byte(raw), &meta) == nil && meta.Name != "" {
		return meta.Name
	}
	return e.Extensions[extResourceID]
}

func (a *agent) remember(w *knownWork) {
	if _, ok := a.works[w.resourceID]; !ok {
		a.order = append(a.order, w.resourceID)
	}
	a.works[w.resourceID] = w
}

func (a *agent) forget(id string) {
	delete(a.works, id)
	for i, known := range a.order {
		if known == id {
			a.order = append(a.order[:i], a.order[i+1:]...)
			break
		}
	}
}

// statusEvent is what sdk-go's agent codec encodes for a work's status.
func (a *agent) statusEvent(w *knownWork, action string) *cloudEvent {
	e := newEvent(a.agentID, workType("status", action))
	e.Extensions[extResourceID] = w.resourceID
	e.Extensions[extSequenceID] = nextSequenceID()
	e.Extensions[extResourceVersion] = w.resourceVersion
	e.Extensions[extClusterName] = a.cluster
	e.Extensions[extOriginalSource] = w.source
	e.Extensions[extStatusHash] = workStatusHash(w.conditions)
	version, _ := parseVersion(w.resourceVersion)
	meta, _ := json.Marshal(map[string]any{
		"name":              w.name,
		"namespace":         a.cluster,
		"uid":               w.resourceID,
		"generation":        version,
		"creationTimestamp": nil,
		"labels":            map[string]string{"cloudevents.open-cluster-management.io/originalsource": w.source},
		"annotations":       map[string]string{"cloudevents.open-cluster-management.io/datatype": manifestBundleType},
	})
	e.Extensions[extMetadata] = string(meta)
	_ = e.setJSONData(manifestBundleStatus{Conditions: w.conditions})
	return e
}

func (a *agent) publishStatus(ctx context.Context, w *knownWork, action string) {
	e := a.statusEvent(w, action)
	topic, err := agentStatusTopic(a.cfg.Topics, a.cluster)
	if err != nil {
		a.em.emit("publish-error", "resourceid", w.resourceID, "error", err.Error())
		return
	}
	code, err := a.sess.publish(ctx, e.toPublish(topic, a.cfg.PubQoS))
	a.em.emit("status-published", "topic", topic, "id", e.ID, "type", e.Type, "resourceid", w.resourceID,
		"originalsource", w.source, "reasonCode", optionalCode(code), "error", errString(err))
}

// answerStatusResync: with no hashes, every work from that source; otherwise only the listed
// works whose status hash changed (sdk-go's respondResyncStatusRequest).
func (a *agent) answerStatusResync(ctx context.Context, topic string, e *cloudEvent) {
	var hashes resourceStatusHashList
	if len(e.Data) > 0 {
		if err := json.Unmarshal(e.Data, &hashes); err != nil {
			a.em.emit("invalid-message", "topic", topic, "id", e.ID, "type", e.Type, "error", "status resync payload: "+err.Error())
			return
		}
	}
	var answer []*knownWork
	for _, id := range a.order {
		w := a.works[id]
		if w.source != e.Source {
			continue
		}
		if len(hashes.Hashes) == 0 {
			answer = append(answer, w)
			continue
		}
		for _, h := range hashes.Hashes {
			if h.ResourceID == w.resourceID && h.StatusHash != workStatusHash(w.conditions) {
				answer = append(answer, w)
			}
		}
	}
	a.em.emit("resync-request", "topic", topic, "id", e.ID, "type", e.Type, "source", e.Source,
		"clustername", e.Extensions[extClusterName], "answered", len(answer))
	for _, w := range answer {
		a.publishStatus(ctx, w, "resync_response")
	}
}
