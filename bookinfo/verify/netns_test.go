package verify

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/meshlab/meshlab/mesh/localmesh/localmeshtest"

	"testing"
	"time"

	"github.com/meshlab/meshlab/bookinfo/deploy"
	"github.com/meshlab/meshlab/bookinfo/local"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/gateway"
	"github.com/meshlab/meshlab/mesh/localmesh"
)

func startGateway(ctx context.Context, t *testing.T, dir, productpage, zipkin string) string {
	t.Helper()
	sample, err := deploy.Sample(deploy.GatewayFile)
	if err != nil {
		t.Fatal(err)
	}
	gwFile, regFile := filepath.Join(dir, "bookinfo-gateway.yaml"), filepath.Join(dir, "gateway-registry.yaml")
	registry := "apiVersion: meshlab.io/v1alpha1\nkind: Registry\nspec:\n  services:\n  - name: productpage\n" +
		"    ports: [{name: http, port: 9080, protocol: HTTP}]\n" +
		"    endpoints: [{address: " + productpage + ", labels: {app: productpage, version: v1}, workload: productpage-v1}]\n"
	for f, data := range map[string][]byte{gwFile: sample, regFile: []byte(registry)} {
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g, err := gateway.New(gateway.Options{ConfigFiles: []string{gwFile, regFile}, Listen: map[uint16]string{8080: "127.0.0.1:0"},
		WorkDir: dir, HealthAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0",
		Tracing: &config.Tracing{ZipkinURL: "http://" + zipkin + "/api/v2/spans", SamplePercent: 100}})
	if err != nil {
		t.Fatal(err)
	}
	gctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(gctx) }()
	t.Cleanup(func() { cancel(); <-done })
	addr, err := g.Addr(ctx, 8080)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + addr.String()
}

// TestScenariosOnNamespaceMesh runs the smoke and routing checks against the real data plane:
// Bookinfo in network namespaces with meshlab sidecars (bookinfo/local), routed through the
// file the sidecars watch, and checks the user's routes file is restored byte for byte.
func TestScenariosOnNamespaceMesh(t *testing.T) {
	localmeshtest.Require(t)
	dir := localmeshtest.Dir(t, "meshlab-verify-netns-")
	bin := localmeshtest.BuildMeshlab(t, dir)
	// The user's routing before verify: the subsets only, as after Istio's setup step.
	routes := filepath.Join(dir, "routes.yaml")
	userRoutes, err := deploy.Sample("destination-rule-all.yaml")
	if err != nil {
		t.Fatal(err)
	}
	userRoutes = append([]byte("# user routing: must come back byte for byte\n"), userRoutes...)
	if err := os.WriteFile(routes, userRoutes, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Networks of this test only (other netns tests use 10.213-10.219), so they can run at once.
	podNet, svcNet := netip.MustParsePrefix("10.223.0.0/24"), netip.MustParsePrefix("10.223.1.0/24")
	zipkin := netip.AddrPortFrom(podNet.Addr().Next(), 9411).String() // the host on the pods' bridge
	m, err := local.Start(ctx, localmesh.Options{Name: "vfy", Binary: bin, Dir: filepath.Join(dir, "mesh"), RouteFiles: []string{routes},
		PodNet: podNet, SvcNet: svcNet,
		Tracing: &config.Tracing{ZipkinURL: "http://" + zipkin + "/api/v2/spans", SamplePercent: 100}})
	if err != nil {
		t.Fatalf("start Bookinfo: %v", err)
	}
	t.Cleanup(func() { m.Stop(context.Background()) })

	// The ingress gateway on this host, configured by bookinfo-gateway.yaml unchanged, in
	// front of productpage's pod: verify reaches Bookinfo the way a user of the lab does.
	gwURL := startGateway(ctx, t, dir, m.PodAddr("productpage-v1").String(), zipkin)
	// A real Prometheus scraping the sidecars; the dashboards' queries run against it.
	promURL, stopProm := startRealPrometheus(ctx, t, dir, m)
	// Jaeger as the tracing backend, as in the offline lab.
	tracingURL, stopJaeger := startRealJaeger(ctx, t, dir, zipkin)
	lab := Lab{
		Namespace:     "default",
		Browser:       Browser{BaseURL: gwURL, Timeout: 30 * time.Second},
		Router:        FileRouter{Path: routes},
		PrometheusURL: promURL,
		TracingURL:    tracingURL,
	}
	ds, err := EmbeddedDashboards()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Title != "meshlab Control Plane" { // no pilot in the namespace mesh (files configure it)
			lab.Dashboards = append(lab.Dashboards, d)
		}
	}
	var suite []Category
	for _, c := range Suite(lab) {
		switch c.Name {
		case "bookinfo", "routing", "security", "prometheus", "tracing":
			suite = append(suite, c)
		case "grafana": // no Grafana here: its dashboards' queries only
			c.Checkers = slices.DeleteFunc(c.Checkers, func(k Checker) bool { return !strings.HasPrefix(k.Name, "queries: ") })
			suite = append(suite, c)
		}
	}
	results, failed := Runner{Poll: 500 * time.Millisecond}.Run(ctx, suite, nil)
	var out strings.Builder
	_ = RenderTable(&out, results)
	t.Logf("verify on the namespace mesh:\n%s", out.String())
	if failed {
		t.Fatal("verify failed on the namespace mesh")
	}
	for _, r := range results {
		// The task's principal steps need the workload identities of mutual TLS, which the
		// namespace mesh does not have, and the mutual TLS checks read pods through a cluster:
		// they skip, saying so (bookinfo/local's TestBookinfoMutualTLS runs them over mTLS).
		principal := strings.Contains(r.Check, "details-viewer") || strings.Contains(r.Check, "ratings-viewer")
		mtlsRow := !strings.HasPrefix(r.Check, "authz: ") && r.Check != "jwt"
		if r.Category == "security" && (principal || mtlsRow) && r.Status == Skipped {
			continue
		}
		if r.Status != Passed {
			t.Errorf("%s/%s: %s", r.Category, r.Check, r.Status)
		}
	}
	if back, _ := os.ReadFile(routes); string(back) != string(userRoutes) {
		t.Fatalf("the user's routes file was not restored:\n%s", back)
	}

	// The real backends go down: every check that needs them fails with the reason, at once
	// (an hour between retries would outlive the context if any check waited to retry).
	stopProm()
	stopJaeger()
	var down []Category
	for _, c := range suite {
		if c.Name == "prometheus" || c.Name == "grafana" || c.Name == "tracing" && lab.TracingURL != "" {
			down = append(down, c)
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	results, failed = Runner{Poll: time.Hour}.Run(dctx, down, nil)
	out.Reset()
	_ = RenderTable(&out, results)
	t.Logf("verify with Prometheus and Jaeger stopped (%.1fs):\n%s", time.Since(start).Seconds(), out.String())
	if dctx.Err() != nil {
		t.Fatal("a check waited to retry a backend that refuses connections")
	}
	for _, r := range results {
		backend := r.Category
		if r.Category == "grafana" {
			backend = "prometheus" // the dashboards' queries run against Prometheus
		}
		if !failed || r.Status != Failed || !strings.HasPrefix(r.Error, backend+": connection refused at ") {
			t.Errorf("%s/%s: %s %q, want FAILED: %s: connection refused", r.Category, r.Check, r.Status, r.Error, backend)
		}
	}
}
