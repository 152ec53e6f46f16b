package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// brokerError is a failure to reach the broker or to complete TLS with it: the JSON event to
// print ("dial-error" or "tls-error") and the cause.
type brokerError struct {
	event string
	err   error
}

func (e *brokerError) Error() string { return e.err.Error() }

// tlsConfigFor builds what sdk-go's AutoLoadTLSConfig builds: TLS 1.3 only, the system roots plus
// the configured CA, the client certificate. The server name is set here (sdk-go leaves it to
// crypto/tls, which takes the host of brokerHost) so that --connect-to cannot change it.
func tlsConfigFor(cfg *brokerConfig) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if len(cfg.CA) != 0 && !pool.AppendCertsFromPEM(cfg.CA) {
		return nil, errors.New("invalid CA")
	}
	pair, err := tls.X509KeyPair(cfg.ClientCert, cfg.ClientKey)
	if err != nil {
		// sdk-go would fail the same way, inside every handshake, so report it as a TLS failure.
		return nil, &brokerError{"tls-error", fmt.Errorf("client certificate: %v", err)}
	}
	return &tls.Config{
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		ServerName:   hostOf(cfg.BrokerHost),
		Certificates: []tls.Certificate{pair},
	}, nil
}

func hostOf(hostPort string) string {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return hostPort
	}
	return host
}

// dialBroker opens the connection Maestro's MQTTDialer would: TLS when a client certificate is
// configured, plain TCP otherwise. --connect-to changes only the TCP address.
func dialBroker(ctx context.Context, cfg *brokerConfig, connectTo string) (net.Conn, error) {
	address := cfg.BrokerHost
	if connectTo != "" {
		address = connectTo
	}
	var tlsConfig *tls.Config
	if cfg.hasCerts() {
		var err error
		if tlsConfig, err = tlsConfigFor(cfg); err != nil {
			var be *brokerError
			if errors.As(err, &be) {
				return nil, be
			}
			return nil, err
		}
	}
	dialCtx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(dialCtx, "tcp", address)
	if err != nil {
		return nil, &brokerError{"dial-error", fmt.Errorf("failed to connect to MQTT broker %s: %v", address, err)}
	}
	if tlsConfig == nil {
		return packets.NewThreadSafeConn(raw), nil
	}
	conn := tls.Client(raw, tlsConfig)
	if err := conn.HandshakeContext(dialCtx); err != nil {
		_ = raw.Close()
		return nil, &brokerError{"tls-error", fmt.Errorf("TLS handshake with %s (server name %s): %v", address, tlsConfig.ServerName, err)}
	}
	checked, err := awaitCertificateVerdict(conn)
	if err != nil {
		_ = raw.Close()
		return nil, &brokerError{"tls-error", fmt.Errorf("TLS with %s (server name %s): the broker refused the client certificate: %v", address, tlsConfig.ServerName, err)}
	}
	return packets.NewThreadSafeConn(checked), nil
}

// postHandshakeWait is how long to listen for the broker's verdict on the client certificate.
const postHandshakeWait = 250 * time.Millisecond

// awaitCertificateVerdict listens briefly before CONNECT is sent. In TLS 1.3 the client's
// handshake completes before the server has checked the client certificate; a server that
// rejects it sends an alert and hangs up, and a CONNECT written meanwhile then fails with a bare
// "broken pipe". Reading first turns that race into a clear tls-error. The broker sends no MQTT
// data before CONNECT, so the read normally times out (harmless for crypto/tls); the only cost is
// this delay, and nothing Maestro sends changes.
func awaitCertificateVerdict(conn *tls.Conn) (net.Conn, error) {
	if err := conn.SetReadDeadline(time.Now().Add(postHandshakeWait)); err != nil {
		return nil, err
	}
	var first [1]byte
	n, err := conn.Read(first[:])
	_ = conn.SetReadDeadline(time.Time{})
	var netErr net.Error
	switch {
	case n > 0:
		// Unexpected, but not ours to drop: hand the byte back to the MQTT client.
		return &prefixedConn{Conn: conn, prefix: first[:n]}, nil
	case errors.As(err, &netErr) && netErr.Timeout():
		return conn, nil
	case err == nil:
		return conn, nil
	default:
		return nil, err
	}
}

// prefixedConn replays bytes read ahead of the MQTT client.
type prefixedConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// isTLSFailure tells a TLS alert the broker sent after the handshake (TLS 1.3 checks the client
// certificate only then, so a rejected certificate surfaces on the first read) from a plain
// connection close.
func isTLSFailure(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "remote error" {
		return true
	}
	return err != nil && strings.Contains(err.Error(), "tls: ")
}

// isConnectionClosed: the broker hung up (what AWS IoT Core does to a CONNECT it refuses
// without a CONNACK, and to MQTT 3.1.1 clients that break the policy).
func isConnectionClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
