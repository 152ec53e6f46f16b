package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// handshakeTimeout bounds a TLS handshake, so that a client that connects and then sends
// nothing does not hold a goroutine for ever.
const handshakeTimeout = 10 * time.Second

// tlsListener is a mochi listener that completes the TLS handshake before handing the
// connection to the broker. mochi's own TCP listener leaves the handshake to the first read
// of the CONNECT packet, with no deadline, and a failed handshake then only shows up as an
// unexplained read error.
type tlsListener struct {
	id     string
	ln     net.Listener
	config *tls.Config
	log    *slog.Logger
	once   sync.Once
}

var _ listeners.Listener = (*tlsListener)(nil)

// newTLSListener binds address at once, so the caller can report the port before serving.
func newTLSListener(id, address string, config *tls.Config) (*tlsListener, error) {
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return nil, err
	}
	return &tlsListener{id: id, ln: ln, config: config, log: slog.Default()}, nil
}

func (l *tlsListener) ID() string       { return l.id }
func (l *tlsListener) Address() string  { return l.ln.Addr().String() }
func (l *tlsListener) Protocol() string { return "tls" }

func (l *tlsListener) Init(log *slog.Logger) error {
	l.log = log
	return nil
}

func (l *tlsListener) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.log.Error("accept failed", "error", err)
			}
			return
		}
		go l.handle(conn, establish)
	}
}

func (l *tlsListener) handle(conn net.Conn, establish listeners.EstablishFn) {
	tc := tls.Server(conn, l.config)
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.log.Info("TLS handshake refused", "remote", conn.RemoteAddr().String(), "error", err)
		_ = conn.Close()
		return
	}
	if err := establish(l.id, tc); err != nil {
		l.log.Debug("connection ended", "remote", conn.RemoteAddr().String(), "error", err)
	}
}

func (l *tlsListener) Close(closeClients listeners.CloseFn) {
	l.once.Do(func() {
		closeClients(l.id)
		_ = l.ln.Close()
	})
}
