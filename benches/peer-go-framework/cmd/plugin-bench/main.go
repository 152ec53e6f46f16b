// Command plugin-bench times Terraform provider plugins the way Terraform and OpenTofu start and
// call them, so that two providers written in different languages are measured identically:
//
//   - a fresh client certificate per start, ECDSA P-521 and shaped like go-plugin's (AutoMTLS);
//   - the environment go-plugin's client sets (magic cookie, PLUGIN_PROTOCOL_VERSIONS=5,6,
//     PLUGIN_MIN_PORT/MAX_PORT, PLUGIN_CLIENT_CERT), stdout and stderr read through pipes;
//   - start → handshake line; then a grpc-go connection over mTLS pinned to the certificate the
//     line carries (unix socket or TCP, whichever the plugin announced) and GetProviderSchema,
//     first on the new connection and then repeatedly on the warm one;
//   - GRPCController.Shutdown at the end, as the CLI does.
//
// Calls use a pass-through codec: the response bytes are not decoded into Go structs (only
// walked once, outside the timings, to count what the schema holds), so the client-side cost is
// the same whichever plugin answers.
//
// Usage: plugin-bench [-runs N] [-warm N] [-json FILE] name=/path/to/plugin [name=/path ...]
//
//	plugin-bench -handshake-only -wrap 'valgrind --tool=callgrind --callgrind-out-file=F' name=/path
//	plugin-bench -first-schema-only -wrap '...' name=/path
//
// The first plugin named is "ours"; ratios are ours / each other one.
//
// Every start offers AutoMTLS, as the CLI does. There is no "no TLS" row (nor -plain / -no-tls
// flags) any more: terraform-provider-maestro refuses to serve without PLUGIN_CLIENT_CERT, since
// an unauthenticated loopback port would let any local user drive it with the launching user's
// credentials; only its explicit -debug mode serves without TLS, and the CLI never starts it so.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	magicCookieKey   = "TF_PLUGIN_MAGIC_COOKIE"
	magicCookieValue = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
	schemaMethod     = "/tfplugin6.Provider/GetProviderSchema"
	shutdownMethod   = "/plugin.GRPCController/Shutdown"
	// go-plugin's client gives a plugin one minute to print its handshake line.
	handshakeTimeout = time.Minute
)

type plugin struct {
	name, path string
}

// row names, in the order the table prints them.
const (
	rowStartTLS = "start → handshake line (AutoMTLS)"
	rowFirst    = "connect (mTLS) + first GetProviderSchema"
	rowWarm     = "GetProviderSchema, warm connection"
	rowTotal    = "start → first GetProviderSchema answered"
)

var rows = []string{rowStartTLS, rowFirst, rowWarm, rowTotal}

func main() {
	runs := flag.Int("runs", 30, "cold starts per plugin (each also gives one first-schema sample)")
	warm := flag.Int("warm", 10, "warm GetProviderSchema calls per cold start")
	jsonOut := flag.String("json", "", "also write every sample here as JSON")
	handshakeOnly := flag.Bool("handshake-only", false, "start each plugin once with AutoMTLS, wait for the handshake line, end it with SIGTERM (for callgrind)")
	wrap := flag.String("wrap", "", "command prefix to start the plugin under, split on spaces (e.g. valgrind options)")
	firstSchemaOnly := flag.Bool("first-schema-only", false, "like -handshake-only, but connect (mTLS) and wait for the first GetProviderSchema before SIGTERM")
	flag.Parse()
	var plugins []plugin
	for _, arg := range flag.Args() {
		name, path, ok := strings.Cut(arg, "=")
		if !ok || name == "" || path == "" {
			fatalf("plugins are given as name=/path/to/binary, got %q", arg)
		}
		plugins = append(plugins, plugin{name, path})
	}
	if len(plugins) == 0 {
		fatalf("name at least one plugin: name=/path/to/binary")
	}
	var prefix []string
	if *wrap != "" {
		prefix = strings.Fields(*wrap)
	}
	if *handshakeOnly || *firstSchemaOnly {
		for _, p := range plugins {
			if err := startOnceAndTerminate(p, prefix, *firstSchemaOnly); err != nil {
				fatalf("%s: %v", p.name, err)
			}
		}
		return
	}

	loadBefore := loadAverage()
	samples := map[string]map[string][]time.Duration{}
	schemas := map[string]schemaCounts{}
	for _, p := range plugins {
		samples[p.name] = map[string][]time.Duration{}
	}
	for i := 0; i < *runs; i++ {
		// Rotate the order so that no plugin always runs first (or right after the other's exit).
		for j := range plugins {
			p := plugins[(i+j)%len(plugins)]
			s := samples[p.name]
			r, err := coldRun(p, prefix, *warm)
			if err != nil {
				fatalf("%s, run %d: %v", p.name, i+1, err)
			}
			s[rowStartTLS] = append(s[rowStartTLS], r.handshake)
			s[rowFirst] = append(s[rowFirst], r.firstSchema)
			s[rowTotal] = append(s[rowTotal], r.handshake+r.firstSchema)
			s[rowWarm] = append(s[rowWarm], r.warm...)
			schemas[p.name] = r.schema
		}
	}
	loadAfter := loadAverage()

	fmt.Printf("plugin start-up and GetProviderSchema, %d cold starts per plugin (interleaved), %d warm calls per start\n", *runs, *warm)
	fmt.Printf("load average before: %s; after: %s (%d CPUs)\n", loadBefore, loadAfter, cpuCount())
	for _, p := range plugins {
		c := schemas[p.name]
		fmt.Printf("  %-8s %s\n           schema: %d bytes; %d resources (%d attributes), %d data sources, %d ephemeral, %d list, %d actions, %d functions; provider block %d attributes%s\n",
			p.name, p.path, c.Bytes, c.Resources, c.ResourceAttributes, c.DataSources, c.Ephemeral, c.Lists, c.Actions, c.Functions, c.ProviderAttributes, c.diagnosticsNote())
	}
	printTable(plugins, samples)
	if *jsonOut != "" {
		writeJSON(*jsonOut, plugins, samples, schemas, loadBefore, loadAfter)
	}
}

type runResult struct {
	handshake, firstSchema time.Duration
	warm                   []time.Duration
	schema                 schemaCounts
}

// started is a plugin process that has printed its handshake line.
type started struct {
	cmd      *exec.Cmd
	line     string
	elapsed  time.Duration
	stderrCh chan []byte
}

func startPlugin(p plugin, prefix []string, clientCertPEM []byte) (*started, error) {
	argv := append(append([]string{}, prefix...), p.path)
	cmd := exec.Command(argv[0], argv[1:]...)
	env := []string{}
	for _, kv := range os.Environ() {
		// Logging would change what is measured; Terraform leaves it off unless asked.
		if strings.HasPrefix(kv, "TF_LOG") || strings.HasPrefix(kv, "PLUGIN_") || strings.HasPrefix(kv, magicCookieKey+"=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, magicCookieKey+"="+magicCookieValue, "PLUGIN_PROTOCOL_VERSIONS=5,6", "PLUGIN_MIN_PORT=10000", "PLUGIN_MAX_PORT=25000")
	if clientCertPEM != nil {
		env = append(env, "PLUGIN_CLIENT_CERT="+string(clientCertPEM))
	}
	cmd.Env = env
	cmd.Stdin = nil
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	lineCh := make(chan string, 1)
	errCh := make(chan error, 1)
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stderrCh := make(chan []byte, 1)
	go func() {
		// The CLI reads plugin stderr all the time; so do we, keeping it for error messages.
		var buf bytes.Buffer
		_, _ = io.Copy(&buf, stderr)
		stderrCh <- buf.Bytes()
	}()
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			errCh <- fmt.Errorf("no handshake line: %w (stdout so far %q)", err, line)
			return
		}
		lineCh <- line
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-lineCh:
		return &started{cmd: cmd, line: strings.TrimSpace(line), elapsed: time.Since(t0), stderrCh: stderrCh}, nil
	case err := <-errCh:
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%w; stderr ends: %s", err, tail(<-stderrCh, 2000))
	case <-time.After(handshakeTimeout):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, errors.New("no handshake line within a minute")
	}
}

// handshake is the parsed go-plugin handshake line: CORE|APP|NETWORK|ADDR|PROTOCOL|CERT.
type handshake struct {
	network, address string
	serverCert       *x509.Certificate
}

func parseHandshake(line string) (handshake, error) {
	parts := strings.Split(line, "|")
	if len(parts) < 5 {
		return handshake{}, fmt.Errorf("handshake line %q has too few fields", line)
	}
	if parts[0] != "1" || parts[1] != "6" || parts[4] != "grpc" {
		return handshake{}, fmt.Errorf("handshake line %q: want core 1, protocol 6, grpc", line)
	}
	h := handshake{network: parts[2], address: parts[3]}
	if len(parts) > 5 && parts[5] != "" {
		der, err := base64.RawStdEncoding.DecodeString(parts[5])
		if err != nil {
			return h, fmt.Errorf("server certificate is not unpadded standard base64: %w", err)
		}
		if h.serverCert, err = x509.ParseCertificate(der); err != nil {
			return h, fmt.Errorf("server certificate: %w", err)
		}
	}
	return h, nil
}

func coldRun(p plugin, prefix []string, warmCalls int) (runResult, error) {
	certPEM, clientCert, err := clientCertificate()
	if err != nil {
		return runResult{}, err
	}
	s, err := startPlugin(p, prefix, certPEM)
	if err != nil {
		return runResult{}, err
	}
	defer stop(s, nil)
	h, err := parseHandshake(s.line)
	if err != nil {
		return runResult{}, err
	}
	if h.serverCert == nil {
		return runResult{}, fmt.Errorf("AutoMTLS was offered but the handshake line carries no certificate: %q", s.line)
	}
	t0 := time.Now()
	conn, err := dial(h, &clientCert)
	if err != nil {
		return runResult{}, err
	}
	defer conn.Close()
	first, err := callSchema(conn)
	if err != nil {
		return runResult{}, err
	}
	r := runResult{handshake: s.elapsed, firstSchema: time.Since(t0), schema: countSchema(first)}
	for k := 0; k < warmCalls; k++ {
		t := time.Now()
		if _, err := callSchema(conn); err != nil {
			return r, err
		}
		r.warm = append(r.warm, time.Since(t))
	}
	stop(s, conn)
	return r, nil
}

// stop asks the plugin to shut down as the CLI does, and kills it if it has not exited two
// seconds later (go-plugin's grace period). Safe to call twice.
func stop(s *started, conn *grpc.ClientConn) {
	if s.cmd.ProcessState != nil {
		return
	}
	if conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var empty []byte
		_ = conn.Invoke(ctx, shutdownMethod, &empty, &empty, grpc.ForceCodec(rawCodec{}))
		cancel()
	} else {
		_ = s.cmd.Process.Kill()
	}
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// startOnceAndTerminate starts a plugin once (under a wrapper such as callgrind) with AutoMTLS,
// waits for the handshake line (and, with schema, for the answer to a first GetProviderSchema
// over mTLS) and ends it with SIGTERM, so that the wrapper can report on exactly that path.
func startOnceAndTerminate(p plugin, prefix []string, schema bool) error {
	certPEM, clientCert, err := clientCertificate()
	if err != nil {
		return err
	}
	s, err := startPlugin(p, prefix, certPEM)
	if err != nil {
		return err
	}
	fmt.Printf("%s: handshake line after %v (under %q)\n", p.name, s.elapsed.Round(time.Millisecond), strings.Join(prefix, " "))
	if schema {
		h, err := parseHandshake(s.line)
		if err != nil {
			return err
		}
		t0 := time.Now()
		conn, err := dial(h, &clientCert)
		if err != nil {
			return err
		}
		if _, err := callSchema(conn); err != nil {
			return err
		}
		fmt.Printf("%s: first GetProviderSchema answered after %v more\n", p.name, time.Since(t0).Round(time.Millisecond))
		defer conn.Close()
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	return nil
}

func dial(h handshake, clientCert *tls.Certificate) (*grpc.ClientConn, error) {
	network, address := h.network, h.address
	creds := insecure.NewCredentials()
	if clientCert != nil {
		// As go-plugin's client: the server's certificate is the only root, the client's own
		// certificate is presented, TLS 1.2 at least, server name localhost.
		roots := x509.NewCertPool()
		roots.AddCert(h.serverCert)
		creds = credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{*clientCert},
			RootCAs:      roots,
			MinVersion:   tls.VersionTLS12,
			ServerName:   "localhost",
		})
	}
	return grpc.NewClient("passthrough:///plugin",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, address)
		}),
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
	)
}

func callSchema(conn *grpc.ClientConn) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var empty, resp []byte
	if err := conn.Invoke(ctx, schemaMethod, &empty, &resp, grpc.ForceCodec(rawCodec{})); err != nil {
		return nil, fmt.Errorf("GetProviderSchema: %w", err)
	}
	return resp, nil
}

// rawCodec passes message bytes through untouched; an empty request is the empty message.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) ([]byte, error) {
	return *(v.(*[]byte)), nil
}
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}

// clientCertificate makes the certificate go-plugin's client makes for AutoMTLS: a fresh ECDSA
// P-521 key, self-signed, CA, CN and SAN localhost, client and server auth.
func clientCertificate() ([]byte, tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	template := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"HashiCorp"}},
		DNSNames:              []string{"localhost"},
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		SerialNumber:          serial,
		NotBefore:             time.Now().Add(-30 * time.Second),
		NotAfter:              time.Now().Add(262980 * time.Hour),
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return certPEM, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

type stats struct {
	n                          int
	min, median, p90, max, avg time.Duration
}

func summarise(d []time.Duration) stats {
	if len(d) == 0 {
		return stats{}
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(p float64) time.Duration { return s[int(math.Round(float64(len(s)-1)*p))] }
	var sum time.Duration
	for _, x := range s {
		sum += x
	}
	return stats{n: len(s), min: s[0], median: at(0.5), p90: at(0.9), max: s[len(s)-1], avg: sum / time.Duration(len(s))}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func printTable(plugins []plugin, samples map[string]map[string][]time.Duration) {
	fmt.Println()
	header := fmt.Sprintf("%-42s", "ms (median / p90)")
	for _, p := range plugins {
		header += fmt.Sprintf(" | %-19s", p.name)
	}
	for _, p := range plugins[1:] {
		header += fmt.Sprintf(" | %-22s", plugins[0].name+"/"+p.name)
	}
	fmt.Println(header)
	fmt.Println(strings.Repeat("-", len([]rune(header))))
	for _, row := range rows {
		if len(samples[plugins[0].name][row]) == 0 {
			continue
		}
		line := fmt.Sprintf("%-42s", row)
		var ours stats
		for i, p := range plugins {
			s := summarise(samples[p.name][row])
			if i == 0 {
				ours = s
			}
			line += fmt.Sprintf(" | %8s / %8s", ms(s.median), ms(s.p90))
		}
		for _, p := range plugins[1:] {
			s := summarise(samples[p.name][row])
			line += fmt.Sprintf(" | %8s / %8s    ", ratio(ours.median, s.median), ratio(ours.p90, s.p90))
		}
		fmt.Println(line)
	}
	fmt.Printf("(%d samples per cell; warm: every call on the warm connection; a ratio below 1.00 means %s is faster)\n",
		summarise(samples[plugins[0].name][rowStartTLS]).n, plugins[0].name)
}

func ratio(a, b time.Duration) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

func writeJSON(path string, plugins []plugin, samples map[string]map[string][]time.Duration, schemas map[string]schemaCounts, before, after string) {
	type cell struct {
		N                             int
		MinMs, MedianMs, P90Ms, MaxMs float64
		SamplesMs                     []float64
	}
	out := map[string]any{"load_average_before": before, "load_average_after": after, "cpus": cpuCount()}
	list := []map[string]any{}
	for _, p := range plugins {
		cells := map[string]cell{}
		for row, d := range samples[p.name] {
			s := summarise(d)
			c := cell{N: s.n, MinMs: msf(s.min), MedianMs: msf(s.median), P90Ms: msf(s.p90), MaxMs: msf(s.max)}
			for _, x := range d {
				c.SamplesMs = append(c.SamplesMs, msf(x))
			}
			cells[row] = c
		}
		list = append(list, map[string]any{"name": p.name, "path": p.path, "schema": schemas[p.name], "rows": cells})
	}
	out["plugins"] = list
	b, _ := json.MarshalIndent(out, "", "  ")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		fatalf("writing %s: %v", path, err)
	}
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func cpuCount() int { return runtime.NumCPU() }

// tail keeps the last n bytes of a plugin's stderr for an error message.
func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "plugin-bench: "+format+"\n", args...)
	os.Exit(1)
}
