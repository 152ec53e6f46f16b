package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// The probe is for negative tests: it does one thing at a time with a client ID chosen by the
// test, and reports every acknowledgement, so a test can see exactly where a policy says no.

const probePayload = `{"probe":"maestro-wire"}`

func runProbe(ctx context.Context, opts *probeOptions, em *emitter, stderr io.Writer) int {
	cfg, err := loadBrokerConfig(&opts.commonOptions, false)
	if err == nil {
		err = fallBackToMountedFiles(cfg, opts.secretsDir)
	}
	if err != nil {
		if code := reportBrokerError(em, stderr, err); code != exitConfig {
			return code
		}
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	conn, err := dialBroker(ctx, cfg, opts.connectTo)
	if err != nil {
		return reportBrokerError(em, stderr, err)
	}
	var code int
	if opts.protocol == 4 {
		code = probe311(ctx, opts, cfg, conn, em)
	} else {
		code = probe5(ctx, opts, cfg, conn, em)
	}
	if code == exitOK {
		em.emit("done")
	}
	return code
}

// fallBackToMountedFiles: a config.yaml without certificate paths still leaves the mounted
// certificate, key and CA next to it; the probe uses them (the agent and server never do).
func fallBackToMountedFiles(cfg *brokerConfig, dir string) error {
	if cfg.hasCerts() {
		return nil
	}
	read := func(name string) ([]byte, error) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return data, err
	}
	var err error
	if cfg.ClientCert, err = read("certificate"); err != nil {
		return err
	}
	if cfg.ClientKey, err = read("privateKey"); err != nil {
		return err
	}
	if len(cfg.CA) == 0 {
		if cfg.CA, err = read("ca.crt"); err != nil {
			return err
		}
	}
	return nil
}

func probe5(ctx context.Context, opts *probeOptions, cfg *brokerConfig, conn net.Conn, em *emitter) int {
	result := connectSession(ctx, conn, cfg, opts.clientID, em)
	if result.session == nil {
		if result.event == "tls-error" {
			em.emit("tls-error", "error", result.err.Error())
			return exitNoBroker
		}
		em.emit("connack", "clientId", opts.clientID, "reasonCode", optionalCode(result.code), "error", result.err.Error())
		return exitOK
	}
	s := result.session
	defer s.close()
	em.emit("connack", "clientId", opts.clientID, "reasonCode", 0, "sessionPresent", result.sessionPresent)
	qos := byte(opts.qos)

	for _, filter := range opts.subscribe {
		if s.isLost() {
			em.emit("suback", "filter", filter, "reasonCode", nil, "error", "not connected", "connectionSurvived", false)
			continue
		}
		suback, err := s.subscribe(ctx, []string{filter}, qos)
		var code any
		if suback != nil && len(suback.Reasons) > 0 {
			code = int(suback.Reasons[0])
		}
		em.emit("suback", "filter", filter, "reasonCode", code, "error", errString(err), "connectionSurvived", survives(s))
	}
	for _, topic := range opts.publish {
		if s.isLost() {
			em.emit("puback", "topic", topic, "qos", opts.qos, "reasonCode", nil, "error", "not connected", "connectionSurvived", false)
			continue
		}
		code, err := s.publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: []byte(probePayload)})
		em.emit("puback", "topic", topic, "qos", opts.qos, "reasonCode", optionalCode(code), "error", errString(err), "connectionSurvived", survives(s))
	}
	stop := time.After(time.Duration(opts.listenSeconds * float64(time.Second)))
	for {
		select {
		case p := <-s.inbound:
			emitMessage(em, p.Topic, p.QoS, p.Retain, p.Payload, p)
		case <-stop:
			return exitOK
		case <-s.lost:
			return exitOK
		case <-ctx.Done():
			return exitOK
		}
	}
}

// survives gives the broker a moment to act on what it just acknowledged (AWS IoT Core may
// disconnect right after a refusal) before saying whether the connection is still up.
func survives(s *session) bool {
	select {
	case <-s.lost:
		return false
	case <-time.After(300 * time.Millisecond):
		return true
	}
}

func emitMessage(em *emitter, topic string, qos byte, retain bool, payload []byte, p *paho.Publish) {
	kv := []any{"topic", topic, "qos", int(qos), "retain", retain, "payloadBytes", len(payload)}
	if p != nil {
		if e, err := eventFromPublish(p); err == nil {
			kv = append(kv, "id", e.ID, "type", e.Type, "source", e.Source, "clustername", e.Extensions[extClusterName])
		}
	}
	em.emit("message", kv...)
}
