package inject

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshlab/meshlab/mesh/ca"
)

func TestWaitReadyReturnsOnceReady(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "config not received", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := WaitReady(ctx, srv.Client(), srv.URL+ReadyPath, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Errorf("%d calls, want 3", calls.Load())
	}
}

func TestWaitReadyGivesUpWithTheReason(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "config not received", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // already over: one attempt, then the error
	err := WaitReady(ctx, srv.Client(), srv.URL, time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "proxy not ready") {
		t.Fatalf("err = %v", err)
	}
}

// TestServeTLSAndShutdown runs Serve (what `meshlab mesh webhook` runs) on a loopback listener,
// probes it over TLS, and stops it through the context.
func TestServeTLSAndShutdown(t *testing.T) {
	root, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := root.Issue(ca.Request{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, leaf.TLS, NewWebhook(testOptions(), nil), discardLogger()) }()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsTrusting(root)}}
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := WaitReady(wctx, client, "https://"+ln.Addr().String()+"/healthz/ready", 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}
