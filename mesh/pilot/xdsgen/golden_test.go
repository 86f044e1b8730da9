package xdsgen

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/meshlab/meshlab/internal/golden"
	"github.com/meshlab/meshlab/mesh/config"
)

// goldenTypes orders the types in a golden file and says how to decode each.
var goldenTypes = []struct {
	key, typ string
	fresh    func() proto.Message
}{
	{"listeners", resource.ListenerType, func() proto.Message { return &listenerv3.Listener{} }},
	{"routes", resource.RouteType, func() proto.Message { return &routev3.RouteConfiguration{} }},
	{"clusters", resource.ClusterType, func() proto.Message { return &clusterv3.Cluster{} }},
	{"endpoints", resource.EndpointType, func() proto.Message { return &endpointv3.ClusterLoadAssignment{} }},
	{"secrets", resource.SecretType, func() proto.Message { return &tlsv3.Secret{} }},
}

// TestGoldenXDS renders every Istio sample (on the Bookinfo registry, for productpage's sidecar),
// the legacy RouteRules and meshlab's every-feature file, and compares with testdata/<name>.json.
func TestGoldenXDS(t *testing.T) {
	const cfg = "../../config/testdata/"
	samples, err := filepath.Glob(cfg + "istio-samples/*.yaml")
	if err != nil || len(samples) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	cases := map[string][]string{
		"legacy-routerules": {cfg + "bookinfo-registry.yaml", cfg + "legacy-routerules.yaml"},
		"features":          {"../../xds/testdata/features.yaml"},
		"mtls":              {"../../xds/testdata/mtls.yaml"},
	}
	for _, s := range samples {
		cases[strings.TrimSuffix(filepath.Base(s), ".yaml")] = []string{cfg + "bookinfo-registry.yaml", cfg + "istio-samples/destination-rule-all.yaml", s}
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			snap, err := config.Load(files...)
			if err != nil {
				t.Fatal(err)
			}
			tab, err := config.Compile(snap)
			if err != nil {
				t.Fatal(err)
			}
			got := Generate(snap, tab)
			for _, gt := range goldenTypes {
				for _, r := range got[gt.typ] {
					if err := r.(interface{ Validate() error }).Validate(); err != nil {
						t.Errorf("%s fails Envoy's validation: %v", gt.key, err)
					}
				}
			}
			path := filepath.Join("testdata", name+".json")
			if golden.Update() {
				golden.Write(t, path, encodeGolden(t, got))
				return
			}
			want := decodeGolden(t, golden.Read(t, path))
			for _, gt := range goldenTypes {
				if d := cmp.Diff(want[gt.typ], got[gt.typ], protocmp.Transform(), cmpopts.EquateEmpty()); d != "" {
					t.Errorf("%s %s differ from %s (-want +got; -update refreshes):\n%s", name, gt.key, path, d)
				}
			}
		})
	}
}

func encodeGolden(t *testing.T, res Resources) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString("{")
	for i, gt := range goldenTypes {
		if i > 0 {
			buf.WriteString(",")
		}
		buf.WriteString("\n" + `"` + gt.key + `": [`)
		for j, r := range res[gt.typ] {
			b, err := protojson.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if j > 0 {
				buf.WriteString(",")
			}
			buf.Write(b)
		}
		buf.WriteString("]")
	}
	buf.WriteString("\n}\n")
	// protojson varies its spacing on purpose; indenting makes the file stable and reviewable.
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteString("\n")
	return out.Bytes()
}

func decodeGolden(t *testing.T, data []byte) Resources {
	t.Helper()
	var raw map[string][]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	out := Resources{}
	for _, gt := range goldenTypes {
		out[gt.typ] = []types.Resource{}
		for _, r := range raw[gt.key] {
			m := gt.fresh()
			if err := protojson.Unmarshal(r, m); err != nil {
				t.Fatalf("%s: %v", gt.key, err)
			}
			out[gt.typ] = append(out[gt.typ], m)
		}
	}
	return out
}
