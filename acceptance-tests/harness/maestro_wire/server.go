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

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubetypes "k8s.io/apimachinery/pkg/types"
	workv1 "open-cluster-management.io/api/work/v1"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/common"
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
// Each stdin line {"consumer", "resourceid"} creates a ManifestWork with that UID (a one-ConfigMap
// bundle) as Maestro does: only for a consumer registered with Maestro's REST API at
// --maestro-api-url (else a "refused" event says why and nothing is sent), stored as a resource
// bundle, then published as a create_request. {"action": "delete", "consumer", "resourceid"}
// publishes the work's delete_request; the bundle is removed once the agent's status says
// "Deleted" (event "deleted"), as Maestro removes the resource only then. Each status sdk-go
// delivers is a "status" event, and each spec resync request sdk-go answers (it lists this
// server's works for the cluster) a "resync-request" event.
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
	apiURL := fs.String("maestro-api-url", "", "where Maestro's REST API (consumer registrations) answers")
	timeout := fs.Duration("timeout", 5*time.Minute, "stop after this long")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	_ = subscriptionType
	api, err := newMaestroAPI(*apiURL)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}

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

	client.Subscribe(ctx, func(ctx context.Context, mw *workv1.ManifestWork) error {
		conditions := conditionTypes(mw.Status.Conditions)
		em.emit("status", "resourceid", string(mw.UID), "clustername", mw.Namespace, "conditions", conditions)
		if meta.IsStatusConditionTrue(mw.Status.Conditions, common.ResourceDeleted) {
			sent.confirmDeleted(ctx, api, string(mw.UID))
		}
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
				Action     string `json:"action"`
				Consumer   string `json:"consumer"`
				ResourceID string `json:"resourceid"`
			}
			if err := json.Unmarshal([]byte(line), &request); err != nil || request.Consumer == "" || request.ResourceID == "" {
				em.emit("request-error", "line", line)
				continue
			}
			switch request.Action {
			case "", "create":
				createWork(ctx, client, api, sent, em, request.Consumer, request.ResourceID)
			case "delete":
				deleteWork(ctx, client, sent, em, request.Consumer, request.ResourceID)
			default:
				em.emit("request-error", "line", line)
			}
		}
	}
}

// workPublisher is the one method of sdk-go's source client that sends spec events.
type workPublisher interface {
	Publish(ctx context.Context, eventType types.CloudEventsType, mw *workv1.ManifestWork) error
}

func specEvent(action types.EventAction) types.CloudEventsType {
	return types.CloudEventsType{CloudEventsDataType: workpayload.ManifestBundleEventDataType,
		SubResource: types.SubResourceSpec, Action: action}
}

// createWork is Maestro's create: refused for a consumer its REST API does not list, and for one
// whose resource bundle Maestro's database refuses; otherwise stored, then published.
func createWork(ctx context.Context, client workPublisher, api *maestroAPI, sent *sentWorks, em *emitter,
	consumer, resourceID string) {
	registered, err := api.registered(ctx, consumer)
	if err != nil {
		em.emit("refused", "resourceid", resourceID, "clustername", consumer,
			"reason", fmt.Sprintf("cannot ask Maestro's REST API whether consumer %q is registered: %v", consumer, err))
		return
	}
	if !registered {
		em.emit("refused", "resourceid", resourceID, "clustername", consumer,
			"reason", fmt.Sprintf("consumer %q is not registered with Maestro (GET %s?search=name = '%s' lists no "+
				"consumer): register it first (maestro_consumer_registration)", consumer, consumersPath, consumer))
		return
	}
	bundle, err := api.storeBundle(ctx, consumer)
	if err != nil {
		em.emit("refused", "resourceid", resourceID, "clustername", consumer,
			"reason", fmt.Sprintf("Maestro could not store the work: %v", err))
		return
	}
	mw := newWork(consumer, resourceID)
	sent.add(mw, bundle)
	if err := client.Publish(ctx, specEvent(types.CreateRequestAction), mw); err != nil {
		em.emit("publish-error", "resourceid", resourceID, "error", err)
		return
	}
	em.emit("published", "resourceid", resourceID, "clustername", consumer, "bundle", bundle)
}

// deleteWork publishes the work's delete_request (the spec event carrying its deletion
// timestamp); the bundle stays until the agent confirms.
func deleteWork(ctx context.Context, client workPublisher, sent *sentWorks, em *emitter, consumer, resourceID string) {
	mw := sent.markDeleting(resourceID)
	if mw == nil || mw.Namespace != consumer {
		em.emit("request-error", "line", fmt.Sprintf("no work %s for %s to delete", resourceID, consumer))
		return
	}
	if err := client.Publish(ctx, specEvent(types.DeleteRequestAction), mw); err != nil {
		em.emit("publish-error", "resourceid", resourceID, "error", err)
		return
	}
	em.emit("delete-published", "resourceid", resourceID, "clustername", consumer)
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

// sentWorks is the server's record of what it published (and each work's resource bundle): sdk-go
// lists it to answer an agent's spec resync request (Maestro lists its database), which is how
// that request becomes visible.
type sentWorks struct {
	em      *emitter
	mu      sync.Mutex
	works   []*workv1.ManifestWork
	bundles map[string]string // resource ID -> bundle ID
}

func (s *sentWorks) add(mw *workv1.ManifestWork, bundle string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.works = append(s.works, mw)
	if s.bundles == nil {
		s.bundles = map[string]string{}
	}
	s.bundles[string(mw.UID)] = bundle
}

// markDeleting sets the work's deletion timestamp and returns a copy to publish (nil: unknown).
func (s *sentWorks) markDeleting(resourceID string) *workv1.ManifestWork {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, mw := range s.works {
		if string(mw.UID) == resourceID {
			now := metav1.Now()
			mw.DeletionTimestamp = &now
			return mw.DeepCopy()
		}
	}
	return nil
}

// confirmDeleted forgets a work the agent reported deleted and removes its resource bundle.
func (s *sentWorks) confirmDeleted(ctx context.Context, api *maestroAPI, resourceID string) {
	s.mu.Lock()
	var gone *workv1.ManifestWork
	kept := s.works[:0]
	for _, mw := range s.works {
		if string(mw.UID) == resourceID && !mw.DeletionTimestamp.IsZero() {
			gone = mw
			continue
		}
		kept = append(kept, mw)
	}
	s.works = kept
	bundle := s.bundles[resourceID]
	delete(s.bundles, resourceID)
	s.mu.Unlock()
	if gone == nil {
		return
	}
	if err := api.removeBundle(ctx, gone.Namespace, bundle); err != nil {
		s.em.emit("error", "message", "removing the resource bundle", "error", err)
		return
	}
	s.em.emit("deleted", "resourceid", resourceID, "clustername", gone.Namespace, "bundle", bundle)
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
