package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/meshlab/meshlab/mesh/telemetry"
)

// zipkinReceiver is a real HTTP server accepting Zipkin v2 JSON span batches.
type zipkinReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []telemetry.Span
}

func newZipkinReceiver(t *testing.T) *zipkinReceiver {
	z := &zipkinReceiver{}
	z.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/spans" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		var batch []telemetry.Span
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		z.mu.Lock()
		z.spans = append(z.spans, batch...)
		z.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(z.Close)
	return z
}

func (z *zipkinReceiver) all() []telemetry.Span {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]telemetry.Span(nil), z.spans...)
}

// TestTwoHopTraceAndMetrics: client → proxy A (outbound, productpage) → proxy B (inbound,
// reviews) → app. One trace with A's client span as the parent of B's server span; metrics on
// both sides with Istio's labels, the destination side knowing the source from the peer header.
func TestTwoHopTraceAndMetrics(t *testing.T) {
	zipkin := newZipkinReceiver(t)
	app := newBackend(t, "v2", nil)
	// Proxy B fronts the app; its inbound listener is the endpoint proxy A sends to.
	bDoc := strings.NewReplacer("productpage-v1", "reviews-v2", "productpage", "reviews", "version: v1", "version: v2").Replace(testProxyDoc)
	regB := registry(map[string][]*backend{"reviews": {app}}, nil)
	b := startProxy(t, map[string]string{"proxy.yaml": bDoc, "registry.yaml": regB}, []string{"proxy.yaml", "registry.yaml"}, nil)
	b.setDst(app.addr())
	bIn := &backend{name: "v2", Server: &httptest.Server{Listener: fakeAddrListener(b.in)}}
	tracing := fmt.Sprintf("  tracing: {zipkinURL: %q, samplePercent: 100}\n", zipkin.URL+"/api/v2/spans")
	regA := registry(map[string][]*backend{"reviews": {bIn}}, nil)
	a := startProxy(t, map[string]string{"proxy.yaml": testProxyDoc + tracing, "registry.yaml": regA}, []string{"proxy.yaml", "registry.yaml"}, nil)
	// B reports to the same collector.
	b.write(t, "proxy.yaml", bDoc+tracing)
	eventually(t, "proxy B to pick up tracing", func() bool { return b.Table().Tracing.ZipkinURL != "" })

	if code, body := get(t, clientVia(a.out), "http://reviews:9080/reviews/0", nil); code != 200 || body != "v2" {
		t.Fatalf("two hops: %d %q", code, body)
	}
	var client, server *telemetry.Span
	eventually(t, "client and server spans at the collector", func() bool {
		client, server = nil, nil
		for _, s := range zipkin.all() {
			switch s.Kind {
			case telemetry.KindClient:
				client = &s
			case telemetry.KindServer:
				server = &s
			}
		}
		return client != nil && server != nil
	})
	if client.TraceID != server.TraceID || server.ParentID != client.ID {
		t.Errorf("spans not linked: client %+v, server %+v", *client, *server)
	}
	if client.Name != "reviews.default.svc.cluster.local:9080/*" || client.LocalEndpoint.ServiceName != "productpage.default" {
		t.Errorf("client span name %q service %q", client.Name, client.LocalEndpoint.ServiceName)
	}

	scrape := func(p *testProxy) string {
		resp, err := http.Get("http://" + p.metrics + "/stats/prometheus")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	src := scrape(a)
	for _, want := range []string{`reporter="source"`, `source_workload="productpage-v1"`, `destination_service="reviews.default.svc.cluster.local"`,
		`destination_version="v2"`, `response_code="200"`} {
		if !strings.Contains(src, want) {
			t.Errorf("source metrics lack %s:\n%s", want, grep(src, "istio_requests_total"))
		}
	}
	dst := scrape(b)
	for _, want := range []string{`reporter="destination"`, `source_workload="productpage-v1"`, `source_app="productpage"`, `destination_workload="reviews-v2"`} {
		if !strings.Contains(dst, want) {
			t.Errorf("destination metrics lack %s:\n%s", want, grep(dst, "istio_requests_total"))
		}
	}
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// addrOnly is a net.Listener that only reports an address, so registry() can name an endpoint
// that is another proxy's listener.
type addrOnly struct{ a net.Addr }

func (addrOnly) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (addrOnly) Close() error              { return nil }
func (a addrOnly) Addr() net.Addr          { return a.a }

func fakeAddrListener(addr string) net.Listener {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		panic(err)
	}
	return addrOnly{ta}
}
