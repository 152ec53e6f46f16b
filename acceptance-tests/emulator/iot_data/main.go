// Command iotdata is the maestro emulator's AWS IoT Core data plane: an MQTT 5 / 3.1.1 broker
// (mochi-mqtt) behind mutual TLS that authenticates and authorises clients the way IoT Core
// does for X.509 certificates, asking the emulator's control plane about every certificate.
//
//	iotdata --listen 127.0.0.1:0 --tls-cert server.pem --tls-key server-key.pem \
//	        --control http://127.0.0.1:5000
//
// It prints one line, "LISTENING <host:port>", on stdout once it accepts connections and logs
// to stderr. It stops on SIGTERM or SIGINT, or when stdin reaches end of file, so that it
// never outlives the emulator that started it with a pipe on its stdin.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

func main() {
	os.Exit(run())
}

func run() int {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (port 0: any free port)")
	certFile := flag.String("tls-cert", "", "PEM file with the broker's server certificate (and chain)")
	keyFile := flag.String("tls-key", "", "PEM file with the server certificate's private key")
	control := flag.String("control", "", "base URL of the emulator, e.g. http://127.0.0.1:5000")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "iot-data")
	if *certFile == "" || *keyFile == "" || *control == "" {
		fmt.Fprintln(os.Stderr, "--tls-cert, --tls-key and --control are required")
		flag.Usage()
		return 2
	}
	pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Error("cannot load the server certificate", "error", err)
		return 1
	}

	listener, err := newTLSListener("iot-data-ats", *listen, serverTLSConfig(pair, time.Now))
	if err != nil {
		log.Error("cannot listen", "address", *listen, "error", err)
		return 1
	}

	server := mqtt.New(&mqtt.Options{
		Logger:       log,
		Capabilities: capabilities(),
		// mochi publishes its $SYS statistics on this interval; IoT Core has none (and the
		// broker never delivers them), so keep the work rare.
		SysTopicResendInterval: 3600,
	})
	if err := server.AddHook(newIoTHook(server, newControlClient(*control), log), nil); err != nil {
		log.Error("cannot add the IoT hook", "error", err)
		return 1
	}
	if err := server.AddListener(listener); err != nil {
		log.Error("cannot add the listener", "error", err)
		return 1
	}
	if err := server.Serve(); err != nil {
		log.Error("cannot serve", "error", err)
		return 1
	}
	// The socket was bound by newTLSListener and Serve has started accepting on it.
	fmt.Printf("LISTENING %s\n", listener.Address())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-ctx.Done():
		log.Info("signalled; stopping")
	case <-stdinClosed:
		log.Info("stdin closed; stopping")
	}
	if err := server.Close(); err != nil {
		log.Warn("stopping", "error", err)
	}
	return 0
}

// capabilities are mochi's defaults, limited to what IoT Core offers.
func capabilities() *mqtt.Capabilities {
	c := mqtt.NewDefaultServerCapabilities()
	c.MaximumQos = 1                      // IoT Core has no QoS 2; CONNACK advertises Maximum QoS 1
	c.TopicAliasMaximum = 8               // IoT Core's limit of topic aliases per connection
	c.MaximumSessionExpiryInterval = 3600 // IoT Core's default persistent session expiry (1 hour)
	// mochi would otherwise copy a PUBLISH's properties into its PUBACK, together with the
	// SUBACK-only reason code 0x01 ("granted QoS 1"), which MQTT 5 clients reject.
	c.Compatibilities.NoInheritedPropertiesOnAck = true
	return c
}

// serverTLSConfig requires a client certificate, as IoT Core does on its X.509 endpoint.
// Whether the certificate is one IoT knows (registered, ACTIVE) is decided per MQTT operation
// against the control plane; the handshake itself only insists on a certificate the client
// holds the key of (tls.RequireAnyClientCert: no chain building, IoT certificates need not
// chain to anything the broker knows) and that is within its validity period.
func serverTLSConfig(pair tls.Certificate, now func() time.Time) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("a client certificate is required")
			}
			leaf := cs.PeerCertificates[0]
			if t := now(); t.Before(leaf.NotBefore) || t.After(leaf.NotAfter) {
				return fmt.Errorf("client certificate outside its validity period (%s to %s)",
					leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
			}
			return nil
		},
	}
}
