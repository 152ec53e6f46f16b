// Command maestro-wire connects to an MQTT broker the way Maestro's server and agent do, so the
// acceptance tests can prove that what the provider writes (IoT policies, certificates, the
// mounted config.yaml) lets the real processes work — and refuses what it should refuse.
//
// What Maestro really does on the wire, read from source (paraphrased; no code copied).
// Sources: github.com/open-cluster-management-io/sdk-go at 3ea63fbc (2026-05-29; Maestro pins
// e885ccee, whose builder already selects the v2 MQTT transport) and
// github.com/openshift-online/maestro at ab480c65.
//
// Configuration (sdk-go pkg/cloudevents/generic/options/mqtt/options.go, .../options/cert/config.go):
//   - config.yaml keys: brokerHost ("host:port", required), username, password, keepAlive
//     (default 60 s), dialTimeout (default 60 s), pubQoS (default 1), subQoS (default 1),
//     topics.{sourceEvents, agentEvents, sourceBroadcast, agentBroadcast}, and caFile/caData,
//     clientCertFile/clientCertData, clientKeyFile/clientKeyData (the *Data forms are base64 and
//     win over the files). Certificate and key must be given both or neither.
//   - Only when a client certificate and key are present is TLS used at all; otherwise the dial is
//     plain TCP. With TLS the config is pinned to TLS 1.3 (min and max), the root pool is the
//     system pool plus the CA from caFile ("invalid CA" if it does not parse), and the server name
//     is the host part of brokerHost (crypto/tls derives it from the dialled address). The client
//     certificate is re-read from the files every few minutes and the connection dropped when it
//     changed (not modelled here: this tool reads the files once at start).
//   - Topic validation (sdk-go pkg/cloudevents/generic/types/types.go): sourceEvents must match
//     ^(\$share/[a-z0-9-]+/)?([a-z]+)/([a-z0-9-]+|\+)/([a-z]+)/([a-z0-9-]+|\+)/sourceevents$, and
//     agentEvents the same ending in agentevents; the broadcast topics, when set, must match
//     ^(\$share/[a-z0-9-]+/)?([a-z]+)/([a-z0-9-]+|\+)/(source|agent)broadcast$.
//
// Connection (options/mqtt/options.go GetMQTTConnectOption, options/v2/mqtt/transport.go):
//   - MQTT 5 through eclipse/paho.golang (v0.23.0 in both go.mod files); the TLS conn is wrapped
//     in paho's thread-safe conn. CONNECT carries the client ID, keepAlive, CleanStart=true,
//     username/password only when non-empty, and no properties. A CONNACK reason code other
//     than 0 is a failed connection.
//   - Agent client ID: "<agentID>-client" in both the deprecated v1 mqttAgentTransport
//     (options/mqtt/agentoptions.go) and the v2 NewAgentOptions (options/v2/mqtt/options.go).
//     agentID is the client ID given to the generic client options (clients/options/generic.go,
//     AgentClient -> builder.BuildCloudEventsAgentOptions(config, clusterName, clientID)); Maestro's
//     agent takes it from --cloudevents-client-id and clusterName from --consumer-name
//     (maestro cmd/maestro/agent/cmd.go, charts/maestro-agent/templates/deployment.yaml).
//   - Server client ID: the --client-id flag as is (maestro pkg/config/message_broker.go, default
//     "maestro"; --source-id defaults to "maestro"); passed unchanged to NewSourceOptions.
//
// Topics (options/mqtt/agentoptions.go, options/mqtt/sourceoptions.go):
//   - Agent subscribes to sourceEvents with the LAST "+" replaced by its cluster name (plus
//     sourceBroadcast as written, if set), at subQoS.
//   - Agent publishes status to agentEvents with the last "+" replaced by the cluster name and
//     then the (new) last "+" replaced by the source segment of agentEvents. A spec resync request
//     to all sources (originalsource "") goes to agentBroadcast with the first "+" replaced by the
//     cluster name, or — agentBroadcast unset — to agentEvents with the last "+" replaced.
//   - Server subscribes to agentEvents exactly as written ($share/<group>/... included, plus
//     agentBroadcast if set), at subQoS. Before that it takes the source segment of agentEvents
//     (4th path element after a $share/<group>/ prefix, else the 2nd) and fails with "the topic
//     source ... does not match the client sourceID ..." when it differs from the source ID. In
//     the v2 transport this check runs at Subscribe time, after CONNECT, and the subscription is
//     retried with backoff for ever (v1 failed before dialling); either way Maestro never
//     subscribes. This tool refuses before dialling (config-error, exit 2).
//   - Server publishes to sourceEvents with the FIRST "+" replaced by the event's clustername
//     extension; a status resync with clustername "" needs sourceBroadcast.
//   - Publishes use pubQoS, never retain.
//
// CloudEvents binding (cloudevents sdk-go protocol/mqtt_paho/v2 message.go, write_message.go, as
// vendored by sdk-go; sdk-go v2 transport calls WritePubMessage/NewMessage directly):
//   - Binary mode: every attribute except datacontenttype, and every extension, is an MQTT 5
//     user property named "ce-" + name (ce-id, ce-source, ce-specversion, ce-type, ce-time,
//     ce-clustername, ce-resourceid, ...), values in CloudEvents canonical string form (integers
//     decimal, times RFC 3339 with nanoseconds in UTC); datacontenttype is the MQTT content-type
//     property; the data is the payload. Attributes are written in the order id, source,
//     specversion, type, dataschema, subject, time; extensions follow in map order.
//   - On receipt a content type that is a CloudEvents format (application/cloudevents+json)
//     means structured mode; otherwise a "ce-specversion" user property means binary mode.
//
// Work events (clients/work/payload/manifestbundle.go, generic/types/types.go, maestro
// pkg/client/cloudevents/codec.go and source_client.go, sdk-go clients/work/agent/codec):
//   - Types are "<group>.<version>.<resource>.<spec|status>.<action>" with data type
//     io.open-cluster-management.works.v1alpha1.manifestbundles and actions create_request,
//     update_request, delete_request, resync_request, resync_response.
//   - Maestro's spec event: source = source ID, extensions resourceid (resource ID),
//     resourceversion (integer), clustername (consumer name), metadata (ObjectMeta JSON string,
//     name reset to the resource ID) and on deletion deletiontimestamp; data is a ManifestBundle
//     {manifests, deleteOption, manifestConfigs, executer}, content type application/json.
//   - The agent ignores spec events whose clustername is not its own. Its status event
//     (status.update_request, or status.resync_response when answering a resync): source =
//     agentID, extensions resourceid, sequenceid (snowflake, node 1), resourceversion,
//     clustername, originalsource (= the spec event's source), statushash, metadata; data is
//     ManifestBundleStatus {conditions, resourceStatus}.
//   - Maestro's server rejects a status event whose originalsource is not its source ID.
//   - Resync at start: once subscribed the agent sends spec.resync_request (source agentID,
//     clustername, originalsource "", data {"resourceVersions":[...]}) to the topic above;
//     the server, once subscribed, sends status.resync_request (source ID, clustername =
//     consumer, data {"statusHashes":[...]}) to each consumer it knows from its database,
//     through sourceEvents. The agent answers a status resync with status.resync_response events;
//     the server answers a spec resync with spec.resync_response events.
//
// Everything below implements these rules. Deliberate deviations, none of which changes a byte
// Maestro would send: --connect-to (the broker's real host name does not resolve here);
// --mount-path re-rooting (the pod's mounts); the source-ID check before dialling (above); a
// 250 ms pause after the TLS handshake to catch a broker's rejection of the client certificate
// (dial.go); no reconnects and no certificate reloading (a test wants to see the first outcome);
// and the agent's status conditions, which stand in for what the real work agent's appliers
// report (it applies nothing).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes. A refused connection is not a failure of the tool: probe reports it and exits 0;
// agent and server, which cannot do their job without a connection, exit with exitRefused.
const (
	exitOK        = 0
	exitUsage     = 1
	exitConfig    = 2
	exitNoBroker  = 3
	exitRefused   = 4
	usageOverview = `usage: maestro-wire <agent|server|probe> --secrets-dir DIR [options]

common options:
  --secrets-dir DIR        the files the Secrets Store CSI driver mounts (required)
  --mount-path PATH        where the pod mounts them; config.yaml paths under it are re-rooted
                           to --secrets-dir (repeatable; default /mnt/secrets-store)
  --connect-to HOST:PORT   dial this address, keep TLS verification and SNI on brokerHost's name
  --protocol 5|4           MQTT version (4 = MQTT 3.1.1, probe only; default 5)
  --timeout SECONDS        overall limit (default 60)

agent:  [--cloudevents-client-id ID] [--consumer-name NAME (default: the consumerName file)] [--no-resync]
server: [--client-id maestro] [--source-id maestro] [--resync-consumer NAME]...
probe:  --client-id ID [--subscribe FILTER]... [--publish TOPIC]... [--listen-seconds N] [--qos 1]
`
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program behind main, with its streams passed in so the Go tests can run the
// agent and the server side by side in one process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageOverview)
		return exitUsage
	}
	em := newEmitter(stdout)
	mode, rest := args[0], args[1:]
	switch mode {
	case "agent":
		opts, err := parseAgentFlags(rest, stderr)
		if err != nil {
			return usageError(em, stderr, err, exitConfig)
		}
		return runAgent(ctx, opts, em, stdin, stderr)
	case "server":
		opts, err := parseServerFlags(rest, stderr)
		if err != nil {
			return usageError(em, stderr, err, exitConfig)
		}
		return runServer(ctx, opts, em, stdin, stderr)
	case "probe":
		opts, err := parseProbeFlags(rest, stderr)
		if err != nil {
			return usageError(em, stderr, err, exitUsage)
		}
		return runProbe(ctx, opts, em, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usageOverview)
		return exitOK
	default:
		fmt.Fprintf(stderr, "unknown mode %q\n%s", mode, usageOverview)
		return exitUsage
	}
}

func usageError(em *emitter, stderr io.Writer, err error, code int) int {
	fmt.Fprintf(stderr, "maestro-wire: %v\n", err)
	em.emit("config-error", "error", err.Error())
	return code
}
