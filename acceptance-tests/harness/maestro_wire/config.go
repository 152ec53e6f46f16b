package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The topic shapes sdk-go enforces (pkg/cloudevents/generic/types/types.go).
var (
	eventsTopicPattern          = regexp.MustCompile(`^(\$share/[a-z0-9-]+/)?([a-z]+)/([a-z0-9-]+|\+)/([a-z]+)/([a-z0-9-]+|\+)/(sourceevents|agentevents)$`)
	sourceEventsTopicPattern    = regexp.MustCompile(`^(\$share/[a-z0-9-]+/)?([a-z]+)/([a-z0-9-]+|\+)/([a-z]+)/([a-z0-9-]+|\+)/sourceevents$`)
	agentEventsTopicPattern     = regexp.MustCompile(`^(\$share/[a-z0-9-]+/)?([a-z]+)/([a-z0-9-]+|\+)/([a-z]+)/([a-z0-9-]+|\+)/agentevents$`)
	sourceBroadcastTopicPattern = regexp.MustCompile(`^(\$share/[a-z0-9-]+/)?([a-z]+)/([a-z0-9-]+|\+)/sourcebroadcast$`)
	agentBroadcastTopicPattern  = regexp.MustCompile(`^(\$share/[a-z0-9-]+/)?([a-z]+)/([a-z0-9-]+|\+)/agentbroadcast$`)
)

type topicsConfig struct {
	SourceEvents    string `yaml:"sourceEvents"`
	AgentEvents     string `yaml:"agentEvents"`
	SourceBroadcast string `yaml:"sourceBroadcast"`
	AgentBroadcast  string `yaml:"agentBroadcast"`
}

// base64Bytes is how sdk-go reads caData/clientCertData/clientKeyData: base64 text in YAML.
type base64Bytes []byte

func (b *base64Bytes) UnmarshalYAML(node *yaml.Node) error {
	var s string
	if err := node.Decode(&s); err != nil {
		return err
	}
	decoded, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	*b = decoded
	return nil
}

// mqttConfig mirrors sdk-go's MQTTConfig (with its inlined CertConfig) key for key.
type mqttConfig struct {
	BrokerHost     string         `yaml:"brokerHost"`
	Username       string         `yaml:"username"`
	Password       string         `yaml:"password"`
	KeepAlive      *uint16        `yaml:"keepAlive"`
	DialTimeout    *time.Duration `yaml:"dialTimeout"`
	PubQoS         *int           `yaml:"pubQoS"`
	SubQoS         *int           `yaml:"subQoS"`
	Topics         *topicsConfig  `yaml:"topics"`
	CAFile         string         `yaml:"caFile"`
	CAData         base64Bytes    `yaml:"caData"`
	ClientCertFile string         `yaml:"clientCertFile"`
	ClientCertData base64Bytes    `yaml:"clientCertData"`
	ClientKeyFile  string         `yaml:"clientKeyFile"`
	ClientKeyData  base64Bytes    `yaml:"clientKeyData"`
}

// brokerConfig is the loaded, defaulted configuration (sdk-go's MQTTOptions).
type brokerConfig struct {
	BrokerHost  string
	Username    string
	Password    string
	KeepAlive   uint16
	DialTimeout time.Duration
	PubQoS      byte
	SubQoS      byte
	Topics      topicsConfig
	CA          []byte
	ClientCert  []byte
	ClientKey   []byte
}

func (c *brokerConfig) hasCerts() bool { return len(c.ClientCert) != 0 && len(c.ClientKey) != 0 }

// reroot maps a path as the pod sees it (under one of its secret mounts) onto the directory the
// test wrote the same files to. Other paths are left alone, as Maestro would read them.
func reroot(path string, mountPaths []string, secretsDir string) string {
	clean := filepath.Clean(path)
	for _, mountPath := range mountPaths {
		mount := filepath.Clean(mountPath)
		if clean == mount {
			return secretsDir
		}
		if rel, ok := strings.CutPrefix(clean, mount+string(filepath.Separator)); ok {
			return filepath.Join(secretsDir, rel)
		}
	}
	return path
}

// loadBrokerConfig reads DIR/config.yaml the way sdk-go's BuildMQTTOptionsFromFlags does: parse,
// embed the certificate files, require brokerHost, check certificate/key pairing, validate the
// topics (when validateTopicShapes), then apply the defaults.
func loadBrokerConfig(c *commonOptions, validateTopicShapes bool) (*brokerConfig, error) {
	path := filepath.Join(c.secretsDir, "config.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var parsed mqttConfig
	if err := yaml.Unmarshal(raw, &parsed); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	embed := func(data []byte, file, what string) ([]byte, error) {
		if len(data) != 0 || file == "" {
			return data, nil
		}
		contents, err := os.ReadFile(reroot(file, c.mountPaths, c.secretsDir))
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %v", what, file, err)
		}
		return contents, nil
	}
	cfg := &brokerConfig{
		BrokerHost:  parsed.BrokerHost,
		Username:    parsed.Username,
		Password:    parsed.Password,
		KeepAlive:   60,
		DialTimeout: 60 * time.Second,
		PubQoS:      1,
		SubQoS:      1,
	}
	if cfg.CA, err = embed(parsed.CAData, parsed.CAFile, "caFile"); err != nil {
		return nil, err
	}
	if cfg.ClientCert, err = embed(parsed.ClientCertData, parsed.ClientCertFile, "clientCertFile"); err != nil {
		return nil, err
	}
	if cfg.ClientKey, err = embed(parsed.ClientKeyData, parsed.ClientKeyFile, "clientKeyFile"); err != nil {
		return nil, err
	}
	if cfg.BrokerHost == "" {
		return nil, errors.New("brokerHost is required")
	}
	if (len(cfg.ClientCert) == 0) != (len(cfg.ClientKey) == 0) {
		return nil, errors.New("either both or none of clientCertFile and clientKeyFile must be set")
	}
	if validateTopicShapes {
		if err := validateTopics(parsed.Topics); err != nil {
			return nil, err
		}
	}
	if parsed.Topics != nil {
		cfg.Topics = *parsed.Topics
	}
	if parsed.KeepAlive != nil {
		cfg.KeepAlive = *parsed.KeepAlive
	}
	if parsed.DialTimeout != nil {
		cfg.DialTimeout = *parsed.DialTimeout
	}
	for _, q := range []struct {
		value *int
		into  *byte
		name  string
	}{{parsed.PubQoS, &cfg.PubQoS, "pubQoS"}, {parsed.SubQoS, &cfg.SubQoS, "subQoS"}} {
		if q.value == nil {
			continue
		}
		if *q.value < 0 || *q.value > 2 {
			return nil, fmt.Errorf("%s must be 0, 1 or 2, not %d", q.name, *q.value)
		}
		*q.into = byte(*q.value)
	}
	return cfg, nil
}

func validateTopics(t *topicsConfig) error {
	if t == nil {
		return errors.New("the topics must be set")
	}
	var problems []string
	if !sourceEventsTopicPattern.MatchString(t.SourceEvents) {
		problems = append(problems, fmt.Sprintf("invalid source events topic %q, it should match `%s`", t.SourceEvents, sourceEventsTopicPattern))
	}
	if !agentEventsTopicPattern.MatchString(t.AgentEvents) {
		problems = append(problems, fmt.Sprintf("invalid agent events topic %q, it should match `%s`", t.AgentEvents, agentEventsTopicPattern))
	}
	if t.SourceBroadcast != "" && !sourceBroadcastTopicPattern.MatchString(t.SourceBroadcast) {
		problems = append(problems, fmt.Sprintf("invalid source broadcast topic %q, it should match `%s`", t.SourceBroadcast, sourceBroadcastTopicPattern))
	}
	if t.AgentBroadcast != "" && !agentBroadcastTopicPattern.MatchString(t.AgentBroadcast) {
		problems = append(problems, fmt.Sprintf("invalid agent broadcast topic %q, it should match `%s`", t.AgentBroadcast, agentBroadcastTopicPattern))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, ", "))
	}
	return nil
}

// sourceOfEventsTopic is the source segment: the 4th element after "$share/<group>/", else the 2nd.
func sourceOfEventsTopic(topic string) (string, error) {
	if !eventsTopicPattern.MatchString(topic) {
		return "", fmt.Errorf("failed to get source from topic: %q", topic)
	}
	parts := strings.Split(topic, "/")
	if strings.HasPrefix(topic, "$share") {
		return parts[3], nil
	}
	return parts[1], nil
}

func replaceFirst(s, old, replacement string) string { return strings.Replace(s, old, replacement, 1) }

func replaceLast(s, old, replacement string) string {
	i := strings.LastIndex(s, old)
	if i < 0 {
		return s
	}
	return s[:i] + replacement + s[i+len(old):]
}

// agentSubscribeTopics: sourceEvents with the last "+" as the cluster, then sourceBroadcast.
func agentSubscribeTopics(t topicsConfig, cluster string) []string {
	out := []string{replaceLast(t.SourceEvents, "+", cluster)}
	if t.SourceBroadcast != "" {
		out = append(out, t.SourceBroadcast)
	}
	return out
}

// agentStatusTopic: agentEvents, last "+" the cluster, then the next last "+" the topic's source.
func agentStatusTopic(t topicsConfig, cluster string) (string, error) {
	source, err := sourceOfEventsTopic(t.AgentEvents)
	if err != nil {
		return "", err
	}
	return replaceLast(replaceLast(t.AgentEvents, "+", cluster), "+", source), nil
}

// agentResyncAllTopic is where a spec resync request to all sources goes.
func agentResyncAllTopic(t topicsConfig, cluster string) string {
	if t.AgentBroadcast == "" {
		return replaceLast(t.AgentEvents, "+", cluster)
	}
	return replaceFirst(t.AgentBroadcast, "+", cluster)
}

// serverPublishTopic: sourceEvents with the first "+" as the consumer (the clustername extension).
func serverPublishTopic(t topicsConfig, consumer string) string {
	return replaceFirst(t.SourceEvents, "+", consumer)
}

func serverSubscribeTopics(t topicsConfig) []string {
	out := []string{t.AgentEvents}
	if t.AgentBroadcast != "" {
		out = append(out, t.AgentBroadcast)
	}
	return out
}

// readConsumerName reads the consumerName file the deployed chart's SecretProviderClass mounts
// (and syncs to CONSUMER_NAME, which becomes --consumer-name). The upstream chart mounts no such
// file: it passes its consumerName value as the flag, and so must the caller (--consumer-name).
func readConsumerName(secretsDir string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(secretsDir, "consumerName"))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no consumerName file in %s (the deployed chart mounts one; with the upstream chart pass --consumer-name)", secretsDir)
	}
	if err != nil {
		return "", err
	}
	name := strings.TrimSpace(string(raw))
	if name == "" {
		return "", errors.New("consumerName is empty")
	}
	return name, nil
}
