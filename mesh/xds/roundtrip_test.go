package xds

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/xdsgen"
)

// scenarios are the config sets the round trip must preserve: every upstream Istio sample on the
// Bookinfo registry (as mesh/config's golden test loads them), the legacy RouteRules, and a file
// that uses every feature of the model.
func scenarios(t *testing.T) map[string][]string {
	t.Helper()
	const cfg = "../config/testdata/"
	samples, err := filepath.Glob(cfg + "istio-samples/*.yaml")
	if err != nil || len(samples) == 0 {
		t.Fatalf("no samples under %s: %v", cfg, err)
	}
	out := map[string][]string{
		"registry-only":     {cfg + "bookinfo-registry.yaml"},
		"legacy-routerules": {cfg + "bookinfo-registry.yaml", cfg + "legacy-routerules.yaml"},
		"features":          {"testdata/features.yaml"},
		"mtls":              {"testdata/mtls.yaml"},
	}
	for _, s := range samples {
		name := strings.TrimSuffix(filepath.Base(s), ".yaml")
		out[name] = []string{cfg + "bookinfo-registry.yaml", cfg + "istio-samples/destination-rule-all.yaml", s}
	}
	return out
}

// TestRoundTripEqualsDirectCompile: compiling a Snapshot directly and compiling what the proxy
// rebuilds from the rendered xDS give the same Table, for every scenario.
func TestRoundTripEqualsDirectCompile(t *testing.T) {
	for name, files := range scenarios(t) {
		t.Run(name, func(t *testing.T) {
			snap, err := config.Load(files...)
			if err != nil {
				t.Fatal(err)
			}
			want, err := config.Compile(snap)
			if err != nil {
				t.Fatal(err)
			}
			res := fromGenerated(xdsgen.Generate(snap, want))
			back, err := ToSnapshot(res, snap.Proxy, snap.Tracing)
			if err != nil {
				t.Fatalf("ToSnapshot: %v", err)
			}
			got, err := config.Compile(back)
			if err != nil {
				t.Fatalf("Compile of the rebuilt snapshot: %v", err)
			}
			sameMatchAll(want)
			sameMatchAll(got)
			opts := cmp.Options{
				cmp.AllowUnexported(config.Table{}),
				cmpopts.IgnoreUnexported(config.StringMatcher{}),
				cmpopts.IgnoreFields(config.Table{}, "Warnings"),
				cmpopts.EquateEmpty(),
				cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{}),
			}
			if d := cmp.Diff(want, got, opts); d != "" {
				t.Errorf("table after the xDS round trip differs (-direct +via xDS):\n%s", d)
			}
			var dw, dg bytes.Buffer
			_ = want.Dump(&dw)
			_ = got.Dump(&dg)
			if dw.String() != dg.String() {
				t.Errorf("dump differs:\n--- direct\n%s\n--- via xDS\n%s", dw.String(), dg.String())
			}
		})
	}
}

// sameMatchAll writes a route's single empty match (what a port-specific catch-all route becomes
// when a multi-port service's ports route differently) as no match: both accept every request.
func sameMatchAll(t *config.Table) {
	for _, h := range t.Hosts {
		for _, rt := range h.Routes {
			if len(rt.Matches) == 1 && cmp.Equal(*rt.Matches[0], config.Match{}, cmpopts.IgnoreUnexported(config.StringMatcher{})) {
				rt.Matches = nil
			}
		}
	}
}

// fromGenerated indexes the control plane's rendered resources by name, as the client holds them.
func fromGenerated(g xdsgen.Resources) *Resources {
	r := newResources()
	for _, x := range g[resource.ListenerType] {
		l := x.(*listenerv3.Listener)
		r.Listeners[l.GetName()] = l
	}
	for _, x := range g[resource.RouteType] {
		rc := x.(*routev3.RouteConfiguration)
		r.Routes[rc.GetName()] = rc
	}
	for _, x := range g[resource.ClusterType] {
		c := x.(*clusterv3.Cluster)
		r.Clusters[c.GetName()] = c
	}
	for _, x := range g[resource.EndpointType] {
		e := x.(*endpointv3.ClusterLoadAssignment)
		r.Endpoints[e.GetClusterName()] = e
	}
	for _, x := range g[resource.SecretType] {
		s := x.(*tlsv3.Secret)
		r.Secrets[s.GetName()] = s
	}
	for _, x := range g[resource.ExtensionConfigType] {
		e := x.(*corev3.TypedExtensionConfig)
		r.Extensions[e.GetName()] = e
	}
	return r
}
