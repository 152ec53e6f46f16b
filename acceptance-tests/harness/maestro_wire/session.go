package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/eclipse/paho.golang/paho"
)

// session is one MQTT 5 connection made the way sdk-go's v2 transport makes it: a paho.Client on
// an already dialled conn, CONNECT with CleanStart and the configured keep-alive, received
// publishes handed to a bounded channel (100, as sdk-go) that the mode's loop drains.
type session struct {
	client   *paho.Client
	em       *emitter
	inbound  chan *paho.Publish
	lost     chan struct{} // closed once the connection is gone, whoever ended it
	lostOnce sync.Once
	closing  atomic.Bool // we are disconnecting on purpose: do not report it as "disconnected"
}

// connectResult says how CONNECT went: a session, or the event already printed and an exit code.
type connectResult struct {
	session        *session
	sessionPresent bool
	code           *byte // the CONNACK reason code, when one came back
	err            error
	event          string // "connect-refused" or "tls-error"
}

func connectSession(ctx context.Context, conn net.Conn, cfg *brokerConfig, clientID string, em *emitter) connectResult {
	s := &session{em: em, inbound: make(chan *paho.Publish, 100), lost: make(chan struct{})}
	s.client = paho.NewClient(paho.ClientConfig{
		ClientID: clientID,
		Conn:     conn,
		// Only for reporting: sdk-go leaves OnServerDisconnect unset, and paho then treats the
		// DISCONNECT as a client error — the connection ends either way.
		OnServerDisconnect: func(d *paho.Disconnect) {
			reason := ""
			if d.Properties != nil {
				reason = d.Properties.ReasonString
			}
			s.markLost(func() {
				em.emit("disconnected", "reasonCode", int(d.ReasonCode), "reasonString", reason, "by", "server")
			})
		},
		OnClientError: func(err error) {
			s.markLost(func() { em.emit("disconnected", "reasonCode", nil, "error", err.Error(), "by", "network") })
		},
	})
	s.client.AddOnPublishReceived(func(r paho.PublishReceived) (bool, error) {
		select {
		case s.inbound <- r.Packet:
			return true, nil
		case <-s.lost:
			return false, errors.New("connection closed")
		}
	})
	connect := &paho.Connect{ClientID: clientID, KeepAlive: cfg.KeepAlive, CleanStart: true}
	if cfg.Username != "" {
		connect.Username, connect.UsernameFlag = cfg.Username, true
	}
	if cfg.Password != "" {
		connect.Password, connect.PasswordFlag = []byte(cfg.Password), true
	}
	ack, err := s.client.Connect(ctx, connect)
	switch {
	case err == nil && ack != nil && ack.ReasonCode == 0:
		return connectResult{session: s, sessionPresent: ack.SessionPresent}
	case ack != nil:
		code := ack.ReasonCode
		if err == nil {
			err = fmt.Errorf("CONNACK reason code %d", code)
		}
		if ack.Properties != nil && ack.Properties.ReasonString != "" {
			err = fmt.Errorf("%v (reason string %q)", err, ack.Properties.ReasonString)
		}
		return connectResult{code: &code, err: err, event: "connect-refused"}
	case isTLSFailure(err):
		return connectResult{err: fmt.Errorf("after the TLS handshake: %v", err), event: "tls-error"}
	case isConnectionClosed(err):
		return connectResult{err: fmt.Errorf("the broker closed the connection without a CONNACK: %v", err), event: "connect-refused"}
	default:
		return connectResult{err: err, event: "connect-refused"}
	}
}

func (s *session) markLost(report func()) {
	s.lostOnce.Do(func() {
		if !s.closing.Load() {
			report()
		}
		close(s.lost)
	})
}

func (s *session) isLost() bool {
	select {
	case <-s.lost:
		return true
	default:
		return false
	}
}

// close sends DISCONNECT (normal disconnection) unless the connection is already gone.
func (s *session) close() {
	s.closing.Store(true)
	if !s.isLost() {
		_ = s.client.Disconnect(&paho.Disconnect{ReasonCode: 0})
	}
	s.lostOnce.Do(func() { close(s.lost) })
}

// subscribe sends one SUBSCRIBE with all the filters, as sdk-go does, and reports the SUBACK.
func (s *session) subscribe(ctx context.Context, topics []string, qos byte) (*paho.Suback, error) {
	sub := &paho.Subscribe{}
	for _, t := range topics {
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: t, QoS: qos})
	}
	return s.client.Subscribe(ctx, sub)
}

// publish sends and waits for the acknowledgement; the reason code is nil when none came back.
func (s *session) publish(ctx context.Context, p *paho.Publish) (*byte, error) {
	resp, err := s.client.Publish(ctx, p)
	if resp != nil && p.QoS > 0 {
		code := resp.ReasonCode
		return &code, err
	}
	return nil, err
}

// reportConnect prints the outcome of CONNECT and returns the exit code for a failure.
func reportConnect(em *emitter, r connectResult, clientID string, failCode int) (int, bool) {
	if r.session != nil {
		em.emit("connected", "clientId", clientID, "sessionPresent", r.sessionPresent)
		return 0, true
	}
	if r.event == "tls-error" {
		em.emit("tls-error", "error", r.err.Error())
		return exitNoBroker, false
	}
	em.emit("connect-refused", "clientId", clientID, "reasonCode", optionalCode(r.code), "error", r.err.Error())
	return failCode, false
}

// reportBrokerError prints a dial/TLS failure and returns exitNoBroker, or a config error.
func reportBrokerError(em *emitter, stderr io.Writer, err error) int {
	var be *brokerError
	if errors.As(err, &be) {
		fmt.Fprintf(stderr, "maestro-wire: %s: %v\n", be.event, be.err)
		em.emit(be.event, "error", be.err.Error())
		return exitNoBroker
	}
	fmt.Fprintf(stderr, "maestro-wire: config error: %v\n", err)
	em.emit("config-error", "error", err.Error())
	return exitConfig
}
