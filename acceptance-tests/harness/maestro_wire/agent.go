package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubetypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	workv1 "open-cluster-management.io/api/work/v1"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/common"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/options"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/store"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work"
	agentcodec "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work/agent/codec"
	workpayload "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work/payload"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/options/builder"
)

// runAgent is the work agent's transport as ocm's work agent builds it
// (pkg/work/spoke/spokeagent.go): config from --workload-source-config through sdk-go's
// ConfigLoader, GenericClientOptions with the ManifestBundle codec and --cloudevents-client-id,
// the cluster name from --consumer-name, and the agent client holder, which connects (as
// "<client id>-client"), subscribes, and sends a spec resync once subscribed. Every ManifestWork
// it delivers is reported as a "work" event and answered with a status patch, which the agent
// client publishes as the status update the real agent sends after applying. A work the server
// deletes is "work-deleting" (its finalizer is then removed, as the work agent does once the
// manifests are gone) and, when sdk-go has reported it "Deleted" to the server, "work-deleted".
func runAgent(ctx context.Context, args []string, em *emitter, stdin io.Reader, stderr io.Writer) int {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	consumer := fs.String("consumer-name", "", "the agent's cluster (consumer) name")
	driver := fs.String("workload-source-driver", "mqtt", "the message broker type")
	configPath := fs.String("workload-source-config", "", "the broker config file")
	clientID := fs.String("cloudevents-client-id", "", "the agent ID; the MQTT client ID is <ID>-client")
	timeout := fs.Duration("timeout", 5*time.Minute, "stop after this long")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}

	ctx, cancel := lifetime(ctx, stdin, *timeout, nil)
	defer cancel()

	_, config, err := builder.NewConfigLoader(*driver, *configPath).LoadConfig()
	if err != nil {
		em.emit("config-error", "error", err)
		return exitConfig
	}
	watcherStore := store.NewAgentInformerWatcherStore[*workv1.ManifestWork]()
	clientOptions := options.NewGenericClientOptions(config, agentcodec.NewManifestBundleCodec(), *clientID).
		WithClusterName(*consumer).
		WithClientWatcherStore(watcherStore)
	holder, err := work.NewAgentClientHolder(ctx, clientOptions)
	if err != nil {
		em.emit("connect-error", "error", err)
		return exitRefused
	}
	em.emit("connected", "clientId", agentClientID(config, *consumer, *clientID), "agentId", *clientID,
		"clusterName", *consumer)

	works := holder.ManifestWorks(*consumer)
	watcher, err := works.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		em.emit("error", "message", "cannot watch manifestworks", "error", err)
		return exitConfig
	}
	defer watcher.Stop()
	for {
		select {
		case <-ctx.Done():
			em.emit("stopped")
			return exitOK
		case event, ok := <-watcher.ResultChan():
			if !ok {
				return exitOK
			}
			mw, isWork := event.Object.(*workv1.ManifestWork)
			if !isWork {
				continue
			}
			switch {
			case event.Type == watch.Deleted:
				em.emit("work-deleted", "resourceid", string(mw.UID), "clustername", mw.Namespace)
				continue
			case event.Type == watch.Modified && !mw.DeletionTimestamp.IsZero() && len(mw.Finalizers) > 0:
				// The server deleted the work: remove what it applied (nothing here) and the
				// finalizer, as the work agent does; sdk-go's agent client then reports the work
				// "Deleted" to the server and drops it.
				em.emit("work-deleting", "resourceid", string(mw.UID), "clustername", mw.Namespace)
				go func(mw *workv1.ManifestWork) {
					if err := untilStored(ctx, func() error { return releaseFinalizers(ctx, works, mw) }); err != nil {
						em.emit("status-error", "resourceid", string(mw.UID), "error", err)
					}
				}(mw)
				continue
			case event.Type != watch.Added:
				continue
			}
			em.emit("work", "resourceid", string(mw.UID), "name", mw.Name, "clustername", mw.Namespace,
				"generation", mw.Generation, "source", mw.Labels[common.CloudEventsOriginalSourceLabelKey],
				"manifests", len(mw.Spec.Workload.Manifests))
			// Off this loop: the agent client's Patch hands the patched work back to the store,
			// whose watcher delivers it to this loop.
			go func(mw *workv1.ManifestWork) {
				if err := untilStored(ctx, func() error { return reportApplied(ctx, works, mw) }); err != nil {
					em.emit("status-error", "resourceid", string(mw.UID), "error", err)
					return
				}
				em.emit("status-sent", "resourceid", string(mw.UID))
			}(mw)
		}
	}
}

// patcher is the one method of the agent's ManifestWork client this program uses.
type patcher interface {
	Patch(ctx context.Context, name string, pt kubetypes.PatchType, data []byte, opts metav1.PatchOptions,
		subresources ...string) (*workv1.ManifestWork, error)
}

// reportApplied patches the work's status as the work agent does once its manifests are applied
// (this program applies nothing: there is no cluster behind it).
func reportApplied(ctx context.Context, works patcher, mw *workv1.ManifestWork) error {
	now := metav1.NewTime(time.Now())
	conditions := []metav1.Condition{}
	for _, kind := range []string{workv1.WorkApplied, workv1.WorkAvailable} {
		meta.SetStatusCondition(&conditions, metav1.Condition{
			Type: kind, Status: metav1.ConditionTrue, Reason: "AppliedManifestWorkComplete",
			Message: "reported by the acceptance tests' agent", ObservedGeneration: mw.Generation,
			LastTransitionTime: now,
		})
	}
	// The agent codec leaves a delivered work's resourceVersion empty, which the agent client's
	// version check refuses; "0" is the value that check documents as "force".
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": "0"},
		"status":   map[string]any{"conditions": conditions},
	})
	if err != nil {
		return fmt.Errorf("encoding the status patch: %w", err)
	}
	_, err = works.Patch(ctx, mw.Name, kubetypes.MergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}

// untilStored retries `patch` while the work is not found, for at most ten seconds. sdk-go's
// AgentInformerWatcherStore hands a delivered work to its watchers before it stores it (Add calls
// Watcher.Receive, then Store.Add), so a patch sent the moment the "Added" event arrives can find
// no work yet. The work agent never sees this race fail: its controller requeues a reconcile whose
// patch failed. This is that requeue, bounded.
func untilStored(ctx context.Context, patch func() error) error {
	deadline := time.Now().Add(10 * time.Second)
	for delay := 20 * time.Millisecond; ; delay = min(2*delay, 500*time.Millisecond) {
		err := patch()
		if err == nil || !apierrors.IsNotFound(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
	}
}

// releaseFinalizers drops the work's finalizers (a metadata patch: sdk-go keeps it local).
func releaseFinalizers(ctx context.Context, works patcher, mw *workv1.ManifestWork) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": "0", "finalizers": nil},
	})
	if err != nil {
		return fmt.Errorf("encoding the finalizer patch: %w", err)
	}
	_, err = works.Patch(ctx, mw.Name, kubetypes.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// agentClientID builds the agent options once more, exactly as GenericClientOptions.AgentClient
// builds them, to read the client ID sdk-go's transport connects with.
func agentClientID(config any, clusterName, agentID string) string {
	built, err := builder.BuildCloudEventsAgentOptions(config, clusterName, agentID, workpayload.ManifestBundleEventDataType)
	if err != nil {
		return ""
	}
	return transportClientID(built.CloudEventsTransport)
}
