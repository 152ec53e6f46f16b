package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// The payload shapes of sdk-go's clients/work/payload (ManifestBundle, ManifestBundleStatus) and
// generic/payload (the resync lists), reduced to what this tool fills in.

type manifestBundle struct {
	Manifests       []map[string]any `json:"manifests"`
	DeleteOption    map[string]any   `json:"deleteOption,omitempty"`
	ManifestConfigs []map[string]any `json:"manifestConfigs,omitempty"`
}

type condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	ObservedGeneration int64  `json:"observedGeneration,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime"`
	Reason             string `json:"reason"`
	Message            string `json:"message"`
}

type manifestBundleStatus struct {
	Conditions     []condition `json:"conditions"`
	ResourceStatus []any       `json:"resourceStatus,omitempty"`
}

type resourceVersion struct {
	ResourceID      string `json:"resourceID"`
	ResourceVersion int64  `json:"resourceVersion"`
}

type resourceVersionList struct {
	Versions []resourceVersion `json:"resourceVersions"`
}

type resourceStatusHash struct {
	ResourceID string `json:"resourceID"`
	StatusHash string `json:"statusHash"`
}

type resourceStatusHashList struct {
	Hashes []resourceStatusHash `json:"statusHashes"`
}

// demoBundle is the small ManifestBundle the server mode sends when a request brings no data:
// one ConfigMap, named after the resource so several works never collide on a cluster.
func demoBundle(resourceID string) manifestBundle {
	name := "maestro-wire-" + resourceID
	if len(name) > 63 {
		name = name[:63]
	}
	return manifestBundle{
		Manifests: []map[string]any{{
			"apiVersion": "v1",
			"kind":       "ConfigMap",
			"metadata":   map[string]any{"name": name, "namespace": "default"},
			"data":       map[string]any{"resourceid": resourceID},
		}},
		DeleteOption: map[string]any{"propagationPolicy": "Foreground"},
	}
}

// workStatusHash follows sdk-go's statushash: SHA-256 of the JSON of the work's status object.
func workStatusHash(conditions []condition) string {
	status := map[string]any{"conditions": conditions, "resourceStatus": map[string]any{}}
	encoded, _ := json.Marshal(status)
	return fmt.Sprintf("%x", sha256.Sum256(encoded))
}

func nowRFC3339() string { return time.Now().UTC().Format(time.RFC3339) }

func parseVersion(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("missing")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// CloudEvents integers may arrive as "1.0"; sdk-go's ToInteger accepts those too.
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return 0, err
		}
		v = int64(f)
	}
	return v, nil
}

// stdinLines delivers stdin line by line and closes the channel at EOF: closing stdin is how the
// Python driver stops a client.
func stdinLines(r io.Reader) <-chan string {
	out := make(chan string)
	go func() {
		defer close(out)
		scanner := bufio.NewScanner(r)
		scanner.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for scanner.Scan() {
			out <- scanner.Text()
		}
	}()
	return out
}
