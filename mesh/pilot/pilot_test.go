package pilot

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/filereg"
	"github.com/meshlab/meshlab/mesh/pilot/server"
	"github.com/meshlab/meshlab/mesh/xds"
)

const samples = "../config/testdata/"

// freeAddr reserves a loopback port for a component that takes an address, not a listener.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil { // atomic, as a ConfigMap update is
		t.Fatal(err)
	}
}

// TestPilotFileRegistryEndToEnd runs the whole control plane on loopback with a watched file
// registry, connects a sidecar's xDS client, and checks status over HTTP and a file change
// reaching the sidecar within 5 s.
func TestPilotFileRegistryEndToEnd(t *testing.T) {
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes.yaml")
	copyFile(t, samples+"istio-samples/virtual-service-all-v1.yaml", routes)
	grpcAddr, debugAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{GRPCAddr: grpcAddr, DebugAddr: debugAddr, Registry: &filereg.Registry{
			Files:    []string{samples + "bookinfo-registry.yaml", samples + "istio-samples/destination-rule-all.yaml", routes},
			Interval: 50 * time.Millisecond,
		}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pilot: %v", err)
		}
	})

	var table atomic.Pointer[config.Table]
	proxy := config.Proxy{ID: "productpage-v1-0.default", Namespace: "default", Workload: "productpage-v1", Labels: map[string]string{"app": "productpage"}}
	cctx, ccancel := context.WithCancel(context.Background())
	cdone := make(chan struct{})
	go func() {
		defer close(cdone)
		_ = xds.Run(cctx, xds.Options{Addr: grpcAddr, Proxy: proxy, Apply: func(s *config.Snapshot) error {
			tab, err := config.Compile(s)
			if err == nil {
				table.Store(tab)
			}
			return err
		}})
	}()
	t.Cleanup(func() { ccancel(); <-cdone })

	synced := func() (server.ProxyStatus, bool) {
		st, err := FetchStatus(context.Background(), debugAddr)
		if err != nil || len(st) != 1 {
			return server.ProxyStatus{}, false
		}
		return st[0], st[0].State == server.StateSynced
	}
	waitFor(t, 10*time.Second, "SYNCED in /debug/status", func() bool { _, ok := synced(); return ok })
	first, _ := synced()
	if first.ID != proxy.ID || first.Workload != "productpage-v1" {
		t.Errorf("status = %+v", first)
	}
	if got := subsets(table.Load()); got != "v1" {
		t.Fatalf("reviews -> %q, want v1", got)
	}

	copyFile(t, samples+"istio-samples/virtual-service-reviews-v3.yaml", routes)
	waitFor(t, 5*time.Second, "the file change at the sidecar", func() bool { return subsets(table.Load()) == "v3" })
	waitFor(t, 5*time.Second, "SYNCED at the new version", func() bool {
		st, ok := synced()
		return ok && st.Version != first.Version
	})
}

func subsets(t *config.Table) string {
	if t == nil {
		return ""
	}
	h := t.ByAuthority("reviews", 9080)
	if h == nil || len(h.Routes) == 0 {
		return ""
	}
	s := ""
	for _, d := range h.Routes[0].Destinations {
		s += d.Cluster.Subset
	}
	return s
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
