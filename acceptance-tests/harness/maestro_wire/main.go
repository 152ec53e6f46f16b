// Command maestro-wire runs Maestro's own MQTT transport — open-cluster-management.io/sdk-go's
// CloudEvents clients, at the versions Maestro pins (go.mod) — from the files a Maestro pod
// mounts, so the acceptance tests prove that what the provider writes lets the real clients work
// and refuses what it should.
//
//	maestro-wire agent  --consumer-name=NAME --workload-source-driver=mqtt \
//	                    --workload-source-config=/mnt/secrets-store/config.yaml \
//	                    --cloudevents-client-id=NAME-work-agent
//	maestro-wire server --message-broker-type=mqtt \
//	                    --message-broker-config-file=/mnt/secrets-store/config.yaml \
//	                    --source-id=maestro --client-id=maestro-POD --maestro-api-url=URL \
//	                    [--resync-consumer=NAME]...
//	maestro-wire probe  --config=/mnt/secrets-store/config.yaml --client-id=ID \
//	                    [--subscribe=FILTER]... [--publish=TOPIC]... [--listen-seconds=2]
//
// The agent and server flags are Maestro's (the agent chart's and the resource's server_flags;
// --maestro-api-url is where the server's database answers: Maestro's REST API, here the
// emulator's, which says which consumers are registered, registry.go),
// and each role is built the way its real program builds it: the agent as ocm's work agent does
// (sdk-go's ConfigLoader, GenericClientOptions with the ManifestBundle codec, the agent client
// holder), the server as Maestro's framework.go does (ConfigLoader, BuildCloudEventsSourceOptions,
// NewCloudEventSourceClient with the ManifestWork bundle codec). The probe is what sdk-go has no
// API for: connecting under any client ID and trying any topic, on sdk-go's own dialer.
//
// Paths and the broker host are taken exactly as config.yaml has them: the harness starts this
// program in a private mount namespace with the files at the chart's mount path and an
// /etc/hosts that resolves the broker's name (harness/pod_view.py).
//
// Output: one JSON object per line on stdout (events.go); sdk-go's log on stderr. The program
// stops on SIGTERM, when stdin closes, or after --timeout.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/klog/v2"
)

// Exit codes: agent and server exit with exitRefused when sdk-go could not connect.
const (
	exitOK      = 0
	exitUsage   = 1
	exitConfig  = 2
	exitRefused = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: maestro-wire agent|server|probe [flags] (see the package comment)")
		return exitUsage
	}
	em := newEmitter(stdout)
	logger := newSDKLogger(em, stderr)
	// sdk-go logs through the context's logger; the few global klog calls go the same way.
	klog.SetLogger(logger)
	ctx = klog.NewContext(ctx, logger)
	switch args[0] {
	case "agent":
		return runAgent(ctx, args[1:], em, stdin, stderr)
	case "server":
		return runServer(ctx, args[1:], em, stdin, stderr)
	case "probe":
		return runProbe(ctx, args[1:], em, stderr)
	default:
		fmt.Fprintf(stderr, "unknown mode %q\n", args[0])
		return exitUsage
	}
}

// lifetime is the program's context: done on a signal, when stdin reaches end of file (the
// harness's way to stop a client), or after timeout.
func lifetime(ctx context.Context, stdin io.Reader, timeout time.Duration, lines func(string)) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	go func() {
		defer cancel()
		readLines(stdin, lines)
	}()
	return ctx, cancel
}

func readLines(r io.Reader, each func(string)) {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for scanner.Scan() {
		if line := scanner.Text(); line != "" && each != nil {
			each(line)
		}
	}
}
