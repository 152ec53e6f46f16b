package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubetypes "k8s.io/apimachinery/pkg/types"
	workv1 "open-cluster-management.io/api/work/v1"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/statushash"
	workpayload "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work/payload"
	sourcecodec "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work/source/codec"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/clients"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/options/builder"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/types"
)

// runServer is Maestro's server transport as cmd/maestro/environments/framework.go builds it:
// sdk-go's ConfigLoader on --message-broker-type/--message-broker-config-file,
// BuildCloudEventsSourceOptions with --client-id (sent as is) and --source-id, and the
// CloudEvents source client on the ManifestWork bundle codec. Once sdk-go signals that it
// subscribed, it resyncs the status of each --resync-consumer, as Maestro's dispatcher does for
// the consumers in its database.
//
// Each stdin line {"consumer", "resourceid"} publishes a create_request for a ManifestWork with
// that UID (a one-ConfigMap bundle); each status sdk-go delivers is a "status" event, and each
// spec resync request sdk-go answers (it lists this server's works for the cluster) a
// "resync-request" event.
func runServer(ctx context.Context, args []string, em *emitter, stdin io.Reader, stderr io.Writer) int {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokerType := fs.String("message-broker-type", "mqtt", "the message broker type")
	configFile := fs.String("message-broker-config-file", "", "the broker config file")
	sourceID := fs.String("source-id", "maestro", "the CloudEvents source ID")
	clientID := fs.String("client-id", "maestro", "the MQTT client ID, used as is")
	subscriptionType := fs.String("subscription-type", "shared", "Maestro's flag; the topics in config.yaml decide")
	var resync []string
	fs.Func("resync-consumer", "consumer whose status to resync once subscribed (repeatable)", func(v string) error {
		resync = append(resync, v)
		return nil
	})
	timeout := fs.Duration("timeout", 5*time.Minute, "stop after this long")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	_ = subscriptionType

	_, config, err := builder.NewConfigLoader(*brokerType, *configFile).LoadConfig()
	if err != nil {
		em.emit("config-error", "error", err)
		return exitConfig
	}
	sourceOptions, err := builder.BuildCloudEventsSourceOptions(config, *clientID, *sourceID,
		workpayload.ManifestBundleEventDataType)
	if err != nil {
		em.emit("config-error", "error", err)
		return exitConfig
	}

	requests := make(chan string, 16)
	ctx, cancel := lifetime(ctx, stdin, *timeout, func(line string) { requests <- line })
	defer cancel()

	sent := &sentWorks{em: em}
	client, err := clients.NewCloudEventSourceClient[*workv1.ManifestWork](ctx, sourceOptions, sent,
		statushash.StatusHash, sourcecodec.NewManifestBundleCodec())
	if err != nil {
		em.emit("connect-error", "error", err)
		return exitRefused
	}
	em.emit("connected", "clientId", transportClientID(sourceOptions.CloudEventsTransport), "sourceId", *sourceID)

	client.Subscribe(ctx, func(_ context.Context, mw *workv1.ManifestWork) error {
		em.emit("status", "resourceid", string(mw.UID), "clustername", mw.Namespace,
			"conditions", conditionTypes(mw.Status.Conditions))
		return nil
	})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-client.SubscribedChan():
				for _, consumer := range resync {
					if err := client.Resync(ctx, consumer); err != nil {
						em.emit("error", "message", "status resync", "error", err)
					}
				}
			}
		}
	}()

	for {
		select {
		case <-ctx.Done():
			em.emit("stopped")
			return exitOK
		case line := <-requests:
			var request struct {
				Consumer   string `json:"consumer"`
				ResourceID string `json:"resourceid"`
			}
			if err := json.Unmarshal([]byte(line), &request); err != nil || request.Consumer == "" || request.ResourceID == "" {
				em.emit("request-error", "line", line)
				continue
			}
			mw := newWork(request.Consumer, request.ResourceID)
			sent.add(mw)
			eventType := types.CloudEventsType{CloudEventsDataType: workpayload.ManifestBundleEventDataType,
				SubResource: types.SubResourceSpec, Action: types.CreateRequestAction}
			if err := client.Publish(ctx, eventType, mw); err != nil {
				em.emit("publish-error", "resourceid", request.ResourceID, "error", err)
				continue
			}
			em.emit("published", "resourceid", request.ResourceID, "clustername", request.Consumer)
		}
	}
}

// newWork is a one-ConfigMap ManifestWork for consumer, named by its resource ID as Maestro names
// the works it sends.
func newWork(consumer, resourceID string) *workv1.ManifestWork {
	configMap := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"wire-%s","namespace":"default"},"data":{"from":"maestro"}}`,
		strings.ToLower(resourceID))
	return &workv1.ManifestWork{
		ObjectMeta: metav1.ObjectMeta{Name: resourceID, Namespace: consumer, UID: kubetypes.UID(resourceID),
			Generation: 1, CreationTimestamp: metav1.Now()},
		Spec: workv1.ManifestWorkSpec{Workload: workv1.ManifestsTemplate{
			Manifests: []workv1.Manifest{{RawExtension: runtime.RawExtension{Raw: []byte(configMap)}}}}},
	}
}

// sentWorks is the server's record of what it published: sdk-go lists it to answer an agent's
// spec resync request (Maestro lists its database), which is how that request becomes visible.
type sentWorks struct {
	em    *emitter
	mu    sync.Mutex
	works []*workv1.ManifestWork
}

func (s *sentWorks) add(mw *workv1.ManifestWork) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.works = append(s.works, mw)
}

func (s *sentWorks) List(_ context.Context, opts types.ListOptions) ([]*workv1.ManifestWork, error) {
	s.em.emit("resync-request", "clustername", opts.ClusterName)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*workv1.ManifestWork
	for _, mw := range s.works {
		if opts.ClusterName == types.ClusterAll || mw.Namespace == opts.ClusterName {
			out = append(out, mw)
		}
	}
	return out, nil
}

func conditionTypes(conditions []metav1.Condition) []string {
	out := []string{}
	for _, c := range conditions {
		if c.Status == metav1.ConditionTrue {
			out = append(out, c.Type)
		}
	}
	return out
}
