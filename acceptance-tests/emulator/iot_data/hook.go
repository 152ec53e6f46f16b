package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"maestro-emulator/iotdata/policy"
)

const (
	// reservedPrefix starts IoT Core's reserved topics. Only IoT services (shadows, jobs,
	// lifecycle events) act on them, and the emulator has none, so publishing there is refused.
	reservedPrefix = "$aws/"
	// sysPrefix starts mochi's own broker statistics, which IoT Core does not have.
	sysPrefix = "$SYS"

	lookupTimeout = 10 * time.Second
)

// iotHook makes mochi authenticate and authorise the way AWS IoT Core does for X.509
// certificate clients: the certificate must be registered and ACTIVE in the emulated account,
// and the IoT policies attached to it decide every CONNECT, SUBSCRIBE filter, PUBLISH and
// delivery. Everything is asked of the control plane again for each operation, so that
// deactivating a certificate or changing a policy's default version counts immediately.
type iotHook struct {
	mqtt.HookBase
	server     *mqtt.Server
	principals principals
	identify   func(*mqtt.Client) (identity, error)
	now        func() time.Time
	log        *slog.Logger
	warned     sync.Map // policy documents whose parse warnings were logged already
}

func newIoTHook(server *mqtt.Server, p principals, log *slog.Logger) *iotHook {
	return &iotHook{server: server, principals: p, identify: tlsIdentity, now: time.Now, log: log}
}

func (h *iotHook) ID() string { return "aws-iot-core-authorisation" }

func (h *iotHook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnect,
		mqtt.OnConnectAuthenticate,
		mqtt.OnACLCheck,
		mqtt.OnPublish,
		mqtt.OnPacketRead,
		mqtt.OnSelectSubscribers,
		mqtt.OnWill,
	}, []byte{b})
}

// identity is what the TLS connection says about a client.
type identity struct {
	cert       *x509.Certificate
	pem        string
	serverName string // the SNI host name, which names the account's endpoint
}

func tlsIdentity(cl *mqtt.Client) (identity, error) {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return identity{}, errors.New("not a TLS connection")
	}
	state := tc.ConnectionState()
	if len(state.PeerCertificates) == 0 {
		return identity{}, errors.New("no client certificate")
	}
	leaf := state.PeerCertificates[0]
	return identity{
		cert:       leaf,
		pem:        string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})),
		serverName: state.ServerName,
	}, nil
}

type verdict int

const (
	granted verdict = iota
	refused         // the certificate's policies do not allow the operation
	revoked         // the certificate is not usable at all: unknown, deleted, not ACTIVE, expired
)

// check is one IoT action on one resource, e.g. iot:Publish on topic/<name>.
type check struct {
	action       string
	resourceType string
	name         string
}

// authorize asks the control plane about cl's certificate and evaluates every check against
// the policies attached to it; all must be allowed.
func (h *iotHook) authorize(cl *mqtt.Client, checks ...check) verdict {
	id, err := h.identify(cl)
	if err != nil {
		h.log.Warn("no usable client identity", "client", cl.ID, "error", err)
		return revoked
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	p, err := h.principals.lookup(ctx, id.pem, id.serverName)
	if err != nil {
		// Fail closed: without the control plane nothing can be authorised.
		h.log.Error("certificate lookup failed", "client", cl.ID, "error", err)
		return revoked
	}
	if reason := h.unusable(p, id.cert); reason != "" {
		h.log.Info("certificate refused", "client", cl.ID, "sni", id.serverName, "reason", reason)
		return revoked
	}
	docs := h.documents(p)
	vars := map[string]string{policy.VarClientID: cl.ID}
	absent := map[string]bool{}
	// IoT Core resolves the thing name to the client ID only when a thing of that name is
	// attached to the certificate.
	if slices.Contains(p.Things, cl.ID) {
		vars[policy.VarThingName] = cl.ID
	} else {
		absent[policy.VarThingName] = true
	}
	for _, c := range checks {
		req := policy.Request{
			Action:   c.action,
			Resource: resourceARN(p.Region, p.AccountID, c.resourceType, c.name),
			Vars:     vars,
			Absent:   absent,
		}
		if d := policy.Evaluate(docs, req); d != policy.Allow {
			h.log.Info("not authorised", "client", cl.ID, "action", c.action, "resource", req.Resource,
				"decision", d.String(), "certificateId", p.CertificateID)
			return refused
		}
	}
	return granted
}

// unusable says why IoT Core would not accept the certificate at all, or "" if it would.
func (h *iotHook) unusable(p *principal, cert *x509.Certificate) string {
	now := h.now()
	switch {
	case !p.Found:
		return "certificate not registered with IoT at this endpoint"
	case p.Status != "ACTIVE":
		return "certificate " + p.CertificateID + " is " + p.Status
	case now.Before(cert.NotBefore) || now.After(cert.NotAfter):
		return "certificate " + p.CertificateID + " is outside its validity period"
	}
	return ""
}

// documents parses the default versions of the attached policies; one that cannot be parsed
// grants nothing (IoT Core would have refused to store it).
func (h *iotHook) documents(p *principal) []*policy.Document {
	docs := make([]*policy.Document, 0, len(p.Policies))
	for _, ap := range p.Policies {
		doc, err := policy.Parse(ap.Document)
		key := ap.Name + "\x00" + ap.Document
		_, seen := h.warned.LoadOrStore(key, true)
		if err != nil {
			if !seen {
				h.log.Warn("policy ignored", "policy", ap.Name, "error", err)
			}
			continue
		}
		if !seen {
			for _, w := range doc.Warnings {
				h.log.Warn("policy element not fully supported", "policy", ap.Name, "detail", w)
			}
		}
		docs = append(docs, doc)
	}
	return docs
}

func resourceARN(region, account, resourceType, name string) string {
	return fmt.Sprintf("arn:%s:iot:%s:%s:%s/%s", partition(region), region, account, resourceType, name)
}

func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// permit authorises and, when the certificate itself is no longer acceptable, ends the
// connection: IoT Core does not keep serving a client whose credentials it would now refuse.
func (h *iotHook) permit(cl *mqtt.Client, checks ...check) bool {
	v := h.authorize(cl, checks...)
	if v == revoked {
		h.disconnect(cl, packets.ErrNotAuthorized)
	}
	return v == granted
}

// disconnect ends a connection with an MQTT 5 DISCONNECT carrying code; MQTT 3.1.1 has no
// server DISCONNECT, so those clients just see the connection close.
func (h *iotHook) disconnect(cl *mqtt.Client, code packets.Code) {
	if cl.Properties.ProtocolVersion >= 5 {
		_ = h.server.DisconnectClient(cl, code)
		return
	}
	cl.Stop(code)
}

// OnConnect authorises iot:Connect on client/<client ID>. mochi's own refusal path
// (OnConnectAuthenticate) answers "bad user name or password"; IoT Core answers "not
// authorized", so the CONNACK is sent here and the connection ended.
func (h *iotHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	if h.authorize(cl, check{"iot:Connect", "client", cl.ID}) == granted {
		return nil
	}
	code := packets.ErrNotAuthorized // 0x87
	if cl.Properties.ProtocolVersion < 5 {
		code = packets.Err3NotAuthorized // return code 5
	}
	if err := h.server.SendConnack(cl, code, false, nil); err != nil {
		h.log.Debug("CONNACK not delivered", "client", cl.ID, "error", err)
	}
	return packets.ErrNotAuthorized
}

// OnConnectAuthenticate lets through what OnConnect accepted.
func (h *iotHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	return true
}

// OnACLCheck authorises SUBSCRIBE filters and deliveries. PUBLISH (write) is authorised in
// OnPublish instead, where the topic alias is resolved and the QoS and retain flag are known.
func (h *iotHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write {
		return true
	}
	switch readACLCallSite() {
	case siteSubscribe:
		if cl.Closed() { // disconnected by an earlier filter of the same packet
			return false
		}
		// A shared subscription's resource keeps its prefix: topicfilter/$share/<group>/<filter>.
		return h.permit(cl, check{"iot:Subscribe", "topicfilter", topic})
	case siteDeliver:
		return h.mayReceive(cl, topic)
	}
	h.log.Error("access check from an unrecognised caller refused", "client", cl.ID, "topic", topic)
	return false
}

// mayReceive authorises one delivery of a message on topic to cl (shared subscriptions
// included: Receive is checked against the plain topic).
func (h *iotHook) mayReceive(cl *mqtt.Client, topic string) bool {
	if strings.HasPrefix(topic, sysPrefix) {
		return false
	}
	return h.permit(cl, check{"iot:Receive", "topic", topic})
}

// OnPublish authorises iot:Publish (and iot:RetainPublish for a retained message) on
// topic/<topic>. Refused: an MQTT 5 QoS 1 message gets PUBACK 0x87, an MQTT 5 QoS 0 message
// is dropped, and an MQTT 3.1.1 client is disconnected, as IoT Core does (3.1.1 has no way
// to report the refusal).
func (h *iotHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	checks := []check{{"iot:Publish", "topic", pk.TopicName}}
	if pk.FixedHeader.Retain {
		checks = append(checks, check{"iot:RetainPublish", "topic", pk.TopicName})
	}
	v := h.authorize(cl, checks...)
	if v == granted && strings.HasPrefix(pk.TopicName, reservedPrefix) {
		h.log.Info("publish to a reserved topic refused", "client", cl.ID, "topic", pk.TopicName)
		v = refused
	}
	switch {
	case v == granted:
		return pk, nil
	case v == revoked:
		h.disconnect(cl, packets.ErrNotAuthorized)
		return pk, packets.ErrRejectPacket
	case cl.Properties.ProtocolVersion < 5:
		cl.Stop(packets.ErrNotAuthorized)
		return pk, packets.ErrRejectPacket
	case pk.FixedHeader.Qos > 0:
		return pk, packets.ErrNotAuthorized // mochi answers with PUBACK 0x87
	default:
		return pk, packets.ErrRejectPacket // dropped silently
	}
}

// OnPacketRead refuses QoS 2 publishes, which IoT Core does not support. The CONNACK
// advertises Maximum QoS 1, so for MQTT 5 this is the protocol's "QoS not supported"
// DISCONNECT; a 3.1.1 client is disconnected. (mochi would otherwise downgrade the message
// and answer a PUBACK to a client waiting for PUBREC.)
func (h *iotHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Publish && pk.FixedHeader.Qos > 1 {
		h.log.Info("QoS 2 publish refused", "client", cl.ID, "topic", pk.TopicName)
		h.disconnect(cl, packets.ErrQosNotSupported)
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// OnSelectSubscribers removes, from each shared subscription group, the members that may not
// receive the message, so that the member mochi picks is one that may.
func (h *iotHook) OnSelectSubscribers(subs *mqtt.Subscribers, pk packets.Packet) *mqtt.Subscribers {
	for filter, members := range subs.Shared {
		for id := range members {
			cl, ok := h.server.Clients.Get(id)
			if !ok || !h.mayReceive(cl, pk.TopicName) {
				delete(members, id)
			}
		}
		if len(members) == 0 {
			delete(subs.Shared, filter)
		}
	}
	return subs
}

// OnWill lets a last will through only if the certificate may publish it when it is sent.
// mochi sends whatever this hook returns (an error keeps the original will), so a refused
// will gets an empty topic, which reaches no subscriber.
func (h *iotHook) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	checks := []check{{"iot:Publish", "topic", will.TopicName}}
	if will.Retain {
		checks = append(checks, check{"iot:RetainPublish", "topic", will.TopicName})
	}
	if !strings.HasPrefix(will.TopicName, reservedPrefix) && h.authorize(cl, checks...) == granted {
		return will, nil
	}
	h.log.Info("last will suppressed", "client", cl.ID, "topic", will.TopicName)
	will.TopicName = ""
	will.Retain = false
	return will, nil
}
