package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// A control endpoint that drops the connection of the first request (as a server closing a
// kept-alive connection does) must not turn into a refused client: the lookup is repeated.
func TestLookupRepeatsAfterADroppedConnection(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			conn.Close()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"found": true, "status": "ACTIVE", "accountId": "123456789012"}`))
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := newControlClient(srv.URL).lookup(ctx, "pem", "host")
	if err != nil {
		t.Fatalf("lookup failed after a dropped connection: %v", err)
	}
	if !p.Found || p.AccountID != "123456789012" || calls.Load() < 2 {
		t.Fatalf("got %+v after %d calls", p, calls.Load())
	}
}

// A control plane that stays unreachable still fails the lookup (the broker then fails closed).
func TestLookupGivesUpWhenTheControlPlaneIsGone(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := newControlClient(url).lookup(ctx, "pem", "host"); err == nil {
		t.Fatal("lookup succeeded without a control plane")
	}
}
