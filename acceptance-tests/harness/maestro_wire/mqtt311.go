package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// A minimal MQTT 3.1.1 client, for the probe only. Maestro never speaks 3.1.1, but AWS IoT Core
// answers 3.1.1 clients differently (no reason codes: a forbidden publish closes the connection),
// and a negative test may want to see that. paho.golang is MQTT 5 only, hence these few packets.

const (
	pktConnect    = 1
	pktConnack    = 2
	pktPublish    = 3
	pktPuback     = 4
	pktSubscribe  = 8
	pktSuback     = 9
	pktPingreq    = 12
	pktDisconnect = 14
	ackTimeout311 = 10 * time.Second // paho.golang's default packet timeout, for comparable waits
)

var errNoAnswer = fmt.Errorf("no answer within %s", ackTimeout311)

type packet311 struct {
	kind  byte
	flags byte
	body  []byte
}

type client311 struct {
	conn     net.Conn
	writeMu  sync.Mutex
	incoming chan packet311
	readErr  error // set before incoming is closed
	nextID   uint16
	// onPublish gets every PUBLISH, whatever the probe is waiting for at the time.
	onPublish func(packet311)
}

func newClient311(conn net.Conn, em *emitter) *client311 {
	c := &client311{conn: conn, incoming: make(chan packet311, 64)}
	c.onPublish = func(p packet311) { c.handlePublish(em, p) }
	go c.readLoop()
	return c
}

func (c *client311) readLoop() {
	r := bufio.NewReader(c.conn)
	for {
		header, err := r.ReadByte()
		if err != nil {
			c.readErr = err
			close(c.incoming)
			return
		}
		length, err := readRemainingLength(r)
		if err != nil {
			c.readErr = err
			close(c.incoming)
			return
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(r, body); err != nil {
			c.readErr = err
			close(c.incoming)
			return
		}
		c.incoming <- packet311{kind: header >> 4, flags: header & 0x0f, body: body}
	}
}

func readRemainingLength(r io.ByteReader) (int, error) {
	value, multiplier := 0, 1
	for i := 0; i < 4; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		value += int(b&0x7f) * multiplier
		if b&0x80 == 0 {
			return value, nil
		}
		multiplier *= 128
	}
	return 0, errors.New("malformed remaining length")
}

func encodeRemainingLength(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

func mqttString(s string) []byte {
	out := make([]byte, 2, 2+len(s))
	binary.BigEndian.PutUint16(out, uint16(len(s)))
	return append(out, s...)
}

func (c *client311) write(header byte, body []byte) error {
	packet := append([]byte{header}, encodeRemainingLength(len(body))...)
	packet = append(packet, body...)
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_, err := c.conn.Write(packet)
	return err
}

func (c *client311) packetID() uint16 {
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	return c.nextID
}

// await returns the first packet of the wanted kind (and packet ID, when non-zero), handing any
// PUBLISH that arrives meanwhile to onPublish. ok is false when the connection closed or timed out.
func (c *client311) await(ctx context.Context, kind byte, id uint16) (packet311, bool, error) {
	timer := time.NewTimer(ackTimeout311)
	defer timer.Stop()
	for {
		select {
		case p, open := <-c.incoming:
			if !open {
				return packet311{}, false, c.readErr
			}
			if p.kind == pktPublish {
				c.onPublish(p)
				continue
			}
			if p.kind != kind {
				continue
			}
			if id != 0 && (len(p.body) < 2 || binary.BigEndian.Uint16(p.body) != id) {
				continue
			}
			return p, true, nil
		case <-timer.C:
			return packet311{}, false, errNoAnswer
		case <-ctx.Done():
			return packet311{}, false, ctx.Err()
		}
	}
}

func probe311(ctx context.Context, opts *probeOptions, cfg *brokerConfig, conn net.Conn, em *emitter) int {
	c := newClient311(conn, em)
	defer conn.Close()
	var disconnectOnce sync.Once
	reportClosed := func(err error) {
		disconnectOnce.Do(func() {
			em.emit("disconnected", "reasonCode", nil, "error", errString(orEOF(err)), "by", "network")
		})
	}

	// CONNECT: protocol "MQTT" level 4, clean session, the configured keep-alive.
	flags := byte(0x02)
	payload := mqttString(opts.clientID)
	if cfg.Username != "" {
		flags |= 0x80
		payload = append(payload, mqttString(cfg.Username)...)
	}
	if cfg.Password != "" {
		flags |= 0x40
		payload = append(payload, mqttString(cfg.Password)...)
	}
	body := append(mqttString("MQTT"), 4, flags, byte(cfg.KeepAlive>>8), byte(cfg.KeepAlive))
	body = append(body, payload...)
	if err := c.write(pktConnect<<4, body); err != nil {
		em.emit("connack", "clientId", opts.clientID, "reasonCode", nil, "error", err.Error())
		return exitOK
	}
	ack, ok, err := c.await(ctx, pktConnack, 0)
	if !ok || len(ack.body) < 2 {
		if isTLSFailure(err) {
			em.emit("tls-error", "error", fmt.Sprintf("after the TLS handshake: %v", err))
			return exitNoBroker
		}
		em.emit("connack", "clientId", opts.clientID, "reasonCode", nil, "error", fmt.Sprintf("no CONNACK: %v", orEOF(err)))
		reportClosed(err)
		return exitOK
	}
	em.emit("connack", "clientId", opts.clientID, "reasonCode", int(ack.body[1]), "sessionPresent", ack.body[0]&1 == 1)
	if ack.body[1] != 0 {
		return exitOK
	}
	if cfg.KeepAlive > 0 {
		go c.keepAlive(ctx, time.Duration(cfg.KeepAlive)*time.Second/2)
	}

	closed := false
	for _, filter := range opts.subscribe {
		if closed {
			em.emit("suback", "filter", filter, "reasonCode", nil, "error", "not connected", "connectionSurvived", false)
			continue
		}
		id := c.packetID()
		sub := binary.BigEndian.AppendUint16(nil, id)
		sub = append(sub, mqttString(filter)...)
		sub = append(sub, byte(opts.qos))
		if err := c.write(pktSubscribe<<4|0x02, sub); err != nil {
			closed = true
			reportClosed(err)
			em.emit("suback", "filter", filter, "reasonCode", nil, "error", err.Error(), "connectionSurvived", false)
			continue
		}
		p, ok, err := c.await(ctx, pktSuback, id)
		if !ok || len(p.body) < 3 {
			closed = c.closedAfter(err)
			if closed {
				reportClosed(err)
			}
			em.emit("suback", "filter", filter, "reasonCode", nil, "error", errString(orEOF(err)), "connectionSurvived", !closed)
			continue
		}
		closed = c.closedSoon()
		if closed {
			reportClosed(nil)
		}
		em.emit("suback", "filter", filter, "reasonCode", int(p.body[2]), "error", nil, "connectionSurvived", !closed)
	}
	for _, topic := range opts.publish {
		if closed {
			em.emit("puback", "topic", topic, "qos", opts.qos, "reasonCode", nil, "error", "not connected", "connectionSurvived", false)
			continue
		}
		header := byte(pktPublish << 4)
		pub := mqttString(topic)
		var id uint16
		if opts.qos == 1 {
			header |= 0x02
			id = c.packetID()
			pub = binary.BigEndian.AppendUint16(pub, id)
		}
		pub = append(pub, probePayload...)
		if err := c.write(header, pub); err != nil {
			closed = true
			reportClosed(err)
			em.emit("puback", "topic", topic, "qos", opts.qos, "reasonCode", nil, "error", err.Error(), "connectionSurvived", false)
			continue
		}
		if opts.qos == 0 {
			closed = c.closedSoon()
			if closed {
				reportClosed(nil)
			}
			em.emit("puback", "topic", topic, "qos", 0, "reasonCode", nil, "error", nil, "connectionSurvived", !closed)
			continue
		}
		// MQTT 3.1.1 PUBACK has no reason code: 0 stands for "acknowledged".
		_, ok, err := c.await(ctx, pktPuback, id)
		if !ok {
			closed = c.closedAfter(err)
			if closed {
				reportClosed(err)
			}
			em.emit("puback", "topic", topic, "qos", 1, "reasonCode", nil, "error", errString(orEOF(err)), "connectionSurvived", !closed)
			continue
		}
		closed = c.closedSoon()
		if closed {
			reportClosed(nil)
		}
		em.emit("puback", "topic", topic, "qos", 1, "reasonCode", 0, "error", nil, "connectionSurvived", !closed)
	}

	if !closed {
		stop := time.After(time.Duration(opts.listenSeconds * float64(time.Second)))
	listening:
		for {
			select {
			case p, open := <-c.incoming:
				if !open {
					reportClosed(c.readErr)
					closed = true
					break listening
				}
				if p.kind == pktPublish {
					c.onPublish(p)
				}
			case <-stop:
				break listening
			case <-ctx.Done():
				break listening
			}
		}
	}
	if !closed {
		_ = c.write(pktDisconnect<<4, nil)
	}
	return exitOK
}

// closedAfter: after a failed wait, is the connection gone (rather than merely slow)?
func (c *client311) closedAfter(err error) bool {
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.Is(err, errNoAnswer) {
		return true
	}
	return c.closedSoon()
}

// closedSoon waits briefly for the broker to hang up after an acknowledgement, as IoT Core does.
func (c *client311) closedSoon() bool {
	deadline := time.After(300 * time.Millisecond)
	for {
		select {
		case p, open := <-c.incoming:
			if !open {
				return true
			}
			if p.kind == pktPublish {
				c.onPublish(p)
			}
		case <-deadline:
			return false
		}
	}
}

func (c *client311) handlePublish(em *emitter, p packet311) {
	if len(p.body) < 2 {
		return
	}
	topicLen := int(binary.BigEndian.Uint16(p.body))
	if len(p.body) < 2+topicLen {
		return
	}
	topic := string(p.body[2 : 2+topicLen])
	rest := p.body[2+topicLen:]
	qos := (p.flags >> 1) & 0x03
	if qos > 0 && len(rest) >= 2 {
		id := binary.BigEndian.Uint16(rest)
		rest = rest[2:]
		_ = c.write(pktPuback<<4, binary.BigEndian.AppendUint16(nil, id))
	}
	emitMessage(em, topic, qos, p.flags&0x01 == 1, rest, nil)
}

func (c *client311) keepAlive(ctx context.Context, every time.Duration) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if c.write(pktPingreq<<4, nil) != nil {
				return
			}
		}
	}
}

func orEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}
