package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// defaultMountPath is where the deployed charts' SecretProviderClass mounts the secrets.
const defaultMountPath = "/mnt/secrets-store"

type commonOptions struct {
	secretsDir string
	mountPaths stringList
	connectTo  string
	protocol   int
	timeout    time.Duration
}

type agentOptions struct {
	commonOptions
	cloudEventsClientID string
	consumerName        string
	noResync            bool
}

type serverOptions struct {
	commonOptions
	clientID        string
	sourceID        string
	resyncConsumers stringList
}

type probeOptions struct {
	commonOptions
	clientID      string
	subscribe     stringList
	publish       stringList
	listenSeconds float64
	qos           int
}

// stringList collects a flag given several times, in order.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

func newFlagSet(name string, stderr io.Writer, c *commonOptions) (*flag.FlagSet, *float64) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.secretsDir, "secrets-dir", "", "directory holding the files the CSI driver mounts")
	fs.Var(&c.mountPaths, "mount-path", "where the pod mounts the secrets; config.yaml paths under it are re-rooted to --secrets-dir (repeatable; default "+defaultMountPath+")")
	fs.StringVar(&c.connectTo, "connect-to", "", "dial HOST:PORT instead of brokerHost (TLS name stays brokerHost's host)")
	fs.IntVar(&c.protocol, "protocol", 5, "MQTT protocol version: 5, or 4 (3.1.1, probe only)")
	timeout := fs.Float64("timeout", 60, "overall timeout in seconds")
	return fs, timeout
}

func finishCommon(fs *flag.FlagSet, args []string, c *commonOptions, timeout *float64) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.secretsDir == "" {
		return errors.New("--secrets-dir is required")
	}
	if len(c.mountPaths) == 0 {
		c.mountPaths = stringList{defaultMountPath}
	}
	if c.protocol != 5 && c.protocol != 4 {
		return fmt.Errorf("--protocol must be 5 or 4, not %d", c.protocol)
	}
	if *timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	c.timeout = time.Duration(*timeout * float64(time.Second))
	return nil
}

func parseAgentFlags(args []string, stderr io.Writer) (*agentOptions, error) {
	o := &agentOptions{}
	fs, timeout := newFlagSet("agent", stderr, &o.commonOptions)
	fs.StringVar(&o.cloudEventsClientID, "cloudevents-client-id", "", "the agent ID (default <consumerName>-work-agent, as the deployed chart passes)")
	fs.StringVar(&o.consumerName, "consumer-name", "", "override the consumerName file (the agent's cluster name)")
	fs.BoolVar(&o.noResync, "no-resync", false, "do not send the spec resync request the agent sends once subscribed")
	if err := finishCommon(fs, args, &o.commonOptions, timeout); err != nil {
		return nil, err
	}
	if o.protocol != 5 {
		return nil, errors.New("the agent speaks MQTT 5 only (as Maestro's paho.golang transport does)")
	}
	return o, nil
}

func parseServerFlags(args []string, stderr io.Writer) (*serverOptions, error) {
	o := &serverOptions{}
	fs, timeout := newFlagSet("server", stderr, &o.commonOptions)
	fs.StringVar(&o.clientID, "client-id", "maestro", "MQTT client ID, used as is (Maestro's --client-id)")
	fs.StringVar(&o.sourceID, "source-id", "maestro", "CloudEvents source ID (Maestro's --source-id)")
	fs.Var(&o.resyncConsumers, "resync-consumer", "consumer to send a status resync request to once subscribed (Maestro sends one per consumer in its database); repeatable")
	if err := finishCommon(fs, args, &o.commonOptions, timeout); err != nil {
		return nil, err
	}
	if o.protocol != 5 {
		return nil, errors.New("the server speaks MQTT 5 only (as Maestro's paho.golang transport does)")
	}
	if o.clientID == "" || o.sourceID == "" {
		return nil, errors.New("--client-id and --source-id must not be empty")
	}
	return o, nil
}

func parseProbeFlags(args []string, stderr io.Writer) (*probeOptions, error) {
	o := &probeOptions{}
	fs, timeout := newFlagSet("probe", stderr, &o.commonOptions)
	fs.StringVar(&o.clientID, "client-id", "", "MQTT client ID, sent exactly as given (required)")
	fs.Var(&o.subscribe, "subscribe", "topic filter to subscribe to; repeatable")
	fs.Var(&o.publish, "publish", "topic to publish one message to; repeatable")
	fs.Float64Var(&o.listenSeconds, "listen-seconds", 2, "how long to listen for messages after subscribing and publishing")
	fs.IntVar(&o.qos, "qos", 1, "QoS for subscriptions and publishes (0 or 1)")
	if err := finishCommon(fs, args, &o.commonOptions, timeout); err != nil {
		return nil, err
	}
	if o.clientID == "" {
		return nil, errors.New("--client-id is required")
	}
	if o.qos != 0 && o.qos != 1 {
		return nil, fmt.Errorf("--qos must be 0 or 1, not %d", o.qos)
	}
	if o.listenSeconds < 0 {
		return nil, errors.New("--listen-seconds must not be negative")
	}
	return o, nil
}
