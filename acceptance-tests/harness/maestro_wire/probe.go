package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/options/builder"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/options/mqtt"
)

// runProbe asks the broker what sdk-go's clients never ask: may this certificate connect under
// any client ID, subscribe to any filter, publish to any topic. It loads config.yaml and dials
// with sdk-go (its TLS 1.3 settings, CA and client certificate) and sends the CONNECT sdk-go
// would, with the given client ID; SUBSCRIBE and PUBLISH are paho.golang's, one packet per
// filter or topic so each gets its own reason code. Events: connack, suback, puback, message,
// disconnected, done; a reason code is null where no acknowledgement came back.
func runProbe(ctx context.Context, args []string, em *emitter, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "the broker config file (config.yaml as mounted)")
	clientID := fs.String("client-id", "", "the MQTT client ID, sent exactly as given")
	var subscribe, publish []string
	fs.Func("subscribe", "topic filter to subscribe to (repeatable)", func(v string) error {
		subscribe = append(subscribe, v)
		return nil
	})
	fs.Func("publish", "topic to publish one message to (repeatable)", func(v string) error {
		publish = append(publish, v)
		return nil
	})
	listen := fs.Duration("listen", 2*time.Second, "how long to listen after subscribing and publishing")
	qos := fs.Int("qos", 1, "QoS of subscriptions and publishes")
	timeout := fs.Duration("timeout", time.Minute, "overall limit")
	if err := fs.Parse(args); err != nil || *clientID == "" || *configPath == "" {
		fmt.Fprintln(stderr, "probe needs --config and --client-id")
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	defer em.emit("done")

	_, loaded, err := builder.NewConfigLoader("mqtt", *configPath).LoadConfig()
	if err != nil {
		em.emit("config-error", "error", err)
		return exitUsage
	}
	opts := loaded.(*mqtt.MQTTOptions)
	conn, err := opts.Dialer.Dial()
	if err != nil {
		em.emit("connack", "reasonCode", nil, "error", err)
		return exitOK
	}
	defer conn.Close()

	disconnected := make(chan struct{})
	client := paho.NewClient(paho.ClientConfig{
		ClientID: *clientID,
		Conn:     conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(p paho.PublishReceived) (bool, error) {
			em.emit("message", "topic", p.Packet.Topic)
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) {
			em.emit("disconnected", "reasonCode", int(d.ReasonCode))
		},
		OnClientError: func(err error) {
			select {
			case <-disconnected:
			default:
				close(disconnected)
				em.emit("disconnected", "reasonCode", nil, "error", err)
			}
		},
	})
	connack, err := client.Connect(ctx, opts.GetMQTTConnectOption(*clientID))
	if connack == nil {
		em.emit("connack", "reasonCode", nil, "error", errorText(err))
		return exitOK
	}
	em.emit("connack", "reasonCode", int(connack.ReasonCode), "error", errorText(err))
	if err != nil || connack.ReasonCode >= 0x80 {
		return exitOK
	}
	for _, filter := range subscribe {
		suback, err := client.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: byte(*qos)}}})
		var code any
		if suback != nil && len(suback.Reasons) == 1 {
			code = int(suback.Reasons[0])
		}
		em.emit("suback", "filter", filter, "reasonCode", code, "error", errorText(err))
	}
	for _, topic := range publish {
		response, err := client.Publish(ctx, &paho.Publish{Topic: topic, QoS: byte(*qos), Payload: []byte("probe")})
		var code any
		if response != nil {
			code = int(response.ReasonCode)
		} else if err == nil && *qos == 0 {
			code = 0
		}
		em.emit("puback", "topic", topic, "reasonCode", code, "error", errorText(err))
	}
	select {
	case <-time.After(*listen):
	case <-disconnected:
	case <-ctx.Done():
	}
	_ = client.Disconnect(&paho.Disconnect{ReasonCode: 0})
	return exitOK
}

func errorText(err error) any {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return err.Error()
}
