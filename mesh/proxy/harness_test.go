package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meshlab/meshlab/mesh/telemetry"
)

// testProxy is a proxy on loopback ports whose "original destination" is set by the test: there
// is no iptables here, so every accepted connection is treated as sent to dst.
type testProxy struct {
	*Proxy
	dst      atomic.Pointer[netip.AddrPort]
	out, in  string // listener addresses
	health   string
	metrics  string
	dir      string // config directory
	cancel   context.CancelFunc
	runErr   chan error
	stopOnce sync.Once
}

// startProxy writes files (name → content) to a temp dir and runs a proxy on them.
func startProxy(t testing.TB, files map[string]string, order []string, tweak func(*Options)) *testProxy {
	t.Helper()
	tp := &testProxy{dir: t.TempDir(), runErr: make(chan error, 1)}
	tp.setDst(netip.MustParseAddrPort("127.0.0.1:1")) // HTTP routing goes by Host; tests of TCP set a real one
	var paths []string
	for _, name := range order {
		path := filepath.Join(tp.dir, name)
		if err := os.WriteFile(path, []byte(files[name]), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	reg := prometheus.NewRegistry()
	m, err := telemetry.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		ConfigFiles:  paths,
		OutboundAddr: "127.0.0.1:0", InboundAddr: "127.0.0.1:0", HealthAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0",
		OriginalDst: func(*net.TCPConn) (netip.AddrPort, error) {
			if d := tp.dst.Load(); d != nil {
				return *d, nil
			}
			return netip.AddrPort{}, errors.New("test: no original destination set")
		},
		ReloadInterval: 20 * time.Millisecond,
		SniffTimeout:   200 * time.Millisecond,
		DrainTimeout:   2 * time.Second,
		Telemetry:      NewTelemetry(m, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})),
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if tweak != nil {
		tweak(&opts)
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	tp.Proxy = p
	ctx, cancel := context.WithCancel(context.Background())
	tp.cancel = cancel
	go func() { tp.runErr <- p.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	for role, dst := range map[string]*string{"outbound": &tp.out, "inbound": &tp.in, "health": &tp.health, "metrics": &tp.metrics} {
		a, err := p.Addr(wctx, role)
		if err != nil {
			t.Fatalf("proxy did not bind %s: %v", role, err)
		}
		*dst = a.String()
	}
	t.Cleanup(tp.stop)
	return tp
}

// stop cancels the proxy and waits for Run to return; it may be called more than once.
func (tp *testProxy) stop() {
	tp.stopOnce.Do(func() {
		tp.cancel()
		select {
		case <-tp.runErr:
		case <-time.After(30 * time.Second):
			panic("proxy did not stop within 30s of cancel")
		}
	})
}

func (tp *testProxy) setDst(ap netip.AddrPort) { tp.dst.Store(&ap) }

// write replaces a config file; the proxy's watcher picks it up.
func (tp *testProxy) write(t *testing.T, name, content string) {
	t.Helper()
	path := filepath.Join(tp.dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// dialRaw opens a TCP connection to addr for a test that writes raw bytes, with a deadline on
// every read and write; the connection is closed when the test ends.
func dialRaw(t *testing.T, addr string, deadline time.Duration) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(deadline))
	return c
}

// client returns an HTTP client whose every connection goes to the proxy listener addr.
func clientVia(addr string) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		DisableCompression: true,
	}
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// get sends a request and returns status and body.
func get(t *testing.T, c *http.Client, url string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// backend is a real HTTP server on loopback that names itself in every response.
type backend struct {
	*httptest.Server
	name string
	hits atomic.Int64
}

func newBackend(t testing.TB, name string, h http.HandlerFunc) *backend {
	b := &backend{name: name}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		fmt.Fprint(w, name)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) addr() netip.AddrPort { return netip.MustParseAddrPort(b.Listener.Addr().String()) }

// registry renders a Registry document: service name → endpoints (version label → backend).
func registry(services map[string][]*backend, vips map[string]string) string {
	var sb strings.Builder
	sb.WriteString("apiVersion: meshlab.io/v1alpha1\nkind: Registry\nspec:\n  services:\n")
	for name, eps := range services {
		fmt.Fprintf(&sb, "  - name: %s\n    ports: [{name: http, port: 9080}]\n", name)
		if v := vips[name]; v != "" {
			fmt.Fprintf(&sb, "    vips: [%s]\n", v)
		}
		sb.WriteString("    endpoints:\n")
		for _, b := range eps {
			a := b.addr()
			fmt.Fprintf(&sb, "    - {address: %s, port: %d, workload: %s-%s, labels: {app: %s, version: %s}}\n",
				a.Addr(), a.Port(), name, b.name, name, b.name)
		}
	}
	return sb.String()
}

const testProxyDoc = `apiVersion: meshlab.io/v1alpha1
kind: Proxy
spec:
  workload: productpage-v1
  namespace: default
  ip: 127.0.0.1
  labels: {app: productpage, version: v1}
`

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: CI machines may be loaded
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (tp *testProxy) outboundServer() *server {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.servers["outbound"]
}
