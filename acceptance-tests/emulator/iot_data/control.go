package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// principalPath is the emulator's endpoint that tells the broker what IoT Core's registry
// knows about a client certificate (see maestro_emulator/iot_data.py).
const principalPath = "/maestro-emulator/iot-data/principal"

// principal is the emulator's answer for one certificate.
type principal struct {
	Found         bool             `json:"found"`
	AccountID     string           `json:"accountId"`
	Region        string           `json:"region"`
	CertificateID string           `json:"certificateId"`
	Status        string           `json:"status"`
	Policies      []attachedPolicy `json:"policies"`
	Things        []string         `json:"things"`
}

// attachedPolicy is a policy attached to the certificate, with the document of its default
// version (the only one IoT Core evaluates).
type attachedPolicy struct {
	Name     string `json:"policyName"`
	Document string `json:"document"`
}

// principals looks certificates up in the emulated control plane.
type principals interface {
	lookup(ctx context.Context, certificatePEM, serverName string) (*principal, error)
}

// controlClient asks the emulator over HTTP, every time: a certificate deactivated or a policy
// version changed must count for the very next operation.
type controlClient struct {
	url  string
	http *http.Client
}

func newControlClient(base string) *controlClient {
	return &controlClient{
		url:  strings.TrimRight(base, "/") + principalPath,
		http: &http.Client{Timeout: 10 * time.Second},
	}
}

// lookupAttempts bounds the retries of a lookup that failed in transport. The lookup only
// reads, so repeating it is harmless; without retries one connection the emulator's HTTP
// server closed between two lookups would refuse (fail closed) a client that is authorised.
const lookupAttempts = 3

func (c *controlClient) lookup(ctx context.Context, certificatePEM, serverName string) (*principal, error) {
	body, err := json.Marshal(map[string]string{"certificatePem": certificatePEM, "serverName": serverName})
	if err != nil {
		return nil, err
	}
	var resp *http.Response
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		// Marks the POST as safe to repeat, so net/http itself retries it on a reused
		// keep-alive connection the server had already closed.
		req.Header.Set("Idempotency-Key", "principal-lookup")
		resp, err = c.http.Do(req)
		if err == nil {
			break
		}
		if attempt == lookupAttempts || ctx.Err() != nil {
			return nil, err
		}
		select {
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s: %.200s", c.url, resp.Status, data)
	}
	var p principal
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", c.url, err)
	}
	return &p, nil
}
