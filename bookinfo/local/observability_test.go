package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshlab/meshlab/mesh/localmesh/localmeshtest"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/localmesh"
)

// The observability tests' own networks, so that they never meet TestBookinfoRoutingInNamespaces'
// (10.214.0.0/24) if both run at once from different test binaries.
var (
	obsPodNet = netip.MustParsePrefix("10.218.0.0/24")
	obsSvcNet = netip.MustParsePrefix("10.218.1.0/24")
	// obsGateway is the host's address on the pods' bridge: the only host address pods reach.
	obsGateway = obsPodNet.Addr().Next()
)

// zipkinPort is Zipkin's conventional collector port; Jaeger listens on it on obsGateway only.
const zipkinPort = 9411

// startObservedBookinfo runs Bookinfo (reviews routed to v3, which calls ratings) with every
// sidecar tracing at 100 % to a Zipkin collector on the bridge address.
func startObservedBookinfo(t *testing.T) (*bookinfo, string) {
	t.Helper()
	localmeshtest.Require(t)
	dir, err := os.MkdirTemp("", "meshlab-bookinfo-observed-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // sidecars (UID 1337) read their config here
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pod and peer logs kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	b := &bookinfo{t: t, routes: filepath.Join(dir, "routes.yaml")}
	b.writeRoutes("destination-rule-all.yaml", "virtual-service-all-v1.yaml", "virtual-service-reviews-v3.yaml")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := Start(ctx, localmesh.Options{
		Name: "bio", Binary: meshlabBinary, Dir: filepath.Join(dir, "mesh"),
		PodNet: obsPodNet, SvcNet: obsSvcNet, RouteFiles: []string{b.routes},
		Tracing: &config.Tracing{
			ZipkinURL:     fmt.Sprintf("http://%s/api/v2/spans", netip.AddrPortFrom(obsGateway, zipkinPort)),
			SamplePercent: 100,
		},
	})
	if err != nil {
		t.Fatalf("start Bookinfo: %v", err)
	}
	t.Cleanup(func() { m.Stop(context.Background()) })
	b.mesh, b.url = m, ProductpageURL(m)
	return b, dir
}

// getJSON decodes url's JSON body into v, or says why not.
func getJSON(u string, v any) error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// TestBookinfoObservability proves the sidecars' telemetry against real receivers: one request
// becomes one trace in Jaeger (built from its Go module), and Prometheus (Debian's) scrapes
// Istio's request metrics from every sidecar.
func TestBookinfoObservability(t *testing.T) {
	jaeger, noJaeger := jaegerBinary()
	prometheus, err := exec.LookPath("prometheus")
	noPrometheus := ""
	if err != nil {
		noPrometheus = "needs prometheus (apt package prometheus)"
	}
	if noJaeger != "" && noPrometheus != "" {
		t.Skip(noJaeger + "; " + noPrometheus)
	}
	b, dir := startObservedBookinfo(t)

	t.Run("one request, one trace through four services", func(t *testing.T) {
		if noJaeger != "" {
			t.Skip(noJaeger)
		}
		query := startJaeger(t, jaeger, dir)
		if p := b.get(anonymous()); p.reviewsVersion() != "v3" {
			t.Fatalf("productpage shows reviews %s; the routes send reviews to v3", p.reviewsVersion())
		}
		checkTrace(t, query)
	})

	t.Run("Prometheus scrapes istio_requests_total from the sidecars", func(t *testing.T) {
		if noPrometheus != "" {
			t.Skip(noPrometheus)
		}
		prom := startPrometheus(t, prometheus, dir, b.mesh)
		for range 10 {
			b.get(anonymous())
		}
		checkPrometheus(t, prom)
	})
}
