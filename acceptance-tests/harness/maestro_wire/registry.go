package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maestroAPI is what Maestro's server keeps in its database, reached where the harness plays
// that server: the consumer registrations (Maestro's REST API, /api/maestro/v1/consumers) and
// the resource bundles each work is stored as. Maestro refuses a work for a consumer that is not
// registered (the resources table's foreign key to consumers: "maestro-9 ... violates foreign
// key constraint fk_resources_consumers"), and keeps its resource bundle until the agent
// confirms the deletion, which is why a registration cannot be deleted while work exists. The
// emulator answers both: the REST API as Maestro does, the bundles through its control endpoint
// (Maestro makes them over gRPC, which the emulator does not speak).
type maestroAPI struct {
	base   string
	client *http.Client
}

const (
	consumersPath = "/api/maestro/v1/consumers"
	bundlesPath   = "/maestro-emulator/maestro-api/resource-bundles"
)

func newMaestroAPI(base string) (*maestroAPI, error) {
	parsed, err := url.Parse(base)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return nil, fmt.Errorf("--maestro-api-url=%q is not an http(s) URL", base)
	}
	return &maestroAPI{base: strings.TrimRight(base, "/"), client: &http.Client{Timeout: 10 * time.Second}}, nil
}

// maestroError is Maestro's error body ({kind: "Error", code, reason}).
type maestroError struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

func (a *maestroAPI) call(ctx context.Context, method, path string, body any, into any) (int, error) {
	var reader io.Reader
	if body != nil {
		encoded, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		reader = bytes.NewReader(encoded)
	}
	request, err := http.NewRequestWithContext(ctx, method, a.base+path, reader)
	if err != nil {
		return 0, err
	}
	request.Header.Set("Content-Type", "application/json")
	response, err := a.client.Do(request)
	if err != nil {
		return 0, err
	}
	defer response.Body.Close()
	raw, err := io.ReadAll(response.Body)
	if err != nil {
		return response.StatusCode, err
	}
	if response.StatusCode >= 300 {
		var refused maestroError
		if json.Unmarshal(raw, &refused) == nil && refused.Code != "" {
			return response.StatusCode, fmt.Errorf("%s %s: HTTP %d %s: %s", method, path, response.StatusCode,
				refused.Code, refused.Reason)
		}
		return response.StatusCode, fmt.Errorf("%s %s: HTTP %d", method, path, response.StatusCode)
	}
	if into != nil && len(raw) > 0 {
		return response.StatusCode, json.Unmarshal(raw, into)
	}
	return response.StatusCode, nil
}

// searchPath is the consumer list filtered by name, in the search syntax Maestro's REST API
// takes (name = 'x'), encoded as a query parameter.
func searchPath(consumer string) string {
	return consumersPath + "?search=" + url.QueryEscape(fmt.Sprintf("name = '%s'", consumer))
}

// registered reports whether Maestro's REST API lists a consumer of that name.
func (a *maestroAPI) registered(ctx context.Context, consumer string) (bool, error) {
	var listed struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	if _, err := a.call(ctx, http.MethodGet, searchPath(consumer), nil, &listed); err != nil {
		return false, err
	}
	for _, item := range listed.Items {
		if item.Name == consumer {
			return true, nil
		}
	}
	return false, nil
}

// storeBundle records a work for consumer as Maestro stores it; returns the bundle's id.
func (a *maestroAPI) storeBundle(ctx context.Context, consumer string) (string, error) {
	var bundle struct {
		ID string `json:"id"`
	}
	if _, err := a.call(ctx, http.MethodPost, bundlesPath, map[string]string{"consumer_name": consumer}, &bundle); err != nil {
		return "", err
	}
	return bundle.ID, nil
}

// removeBundle forgets one bundle, as Maestro does once the agent confirmed the deletion.
func (a *maestroAPI) removeBundle(ctx context.Context, consumer, id string) error {
	_, err := a.call(ctx, http.MethodDelete,
		bundlesPath+"?consumer_name="+url.QueryEscape(consumer)+"&id="+url.QueryEscape(id), nil, nil)
	return err
}
