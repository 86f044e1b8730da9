package server

import (
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/filereg"
)

// TestRenderSendsTheSelectedPolicies: each proxy gets the policies that select it, by its
// namespace and labels, and the root namespace's.
func TestRenderSendsTheSelectedPolicies(t *testing.T) {
	dir := "../../config/testdata/istio-samples/authz-http"
	var files []string
	for _, n := range []string{"allow-nothing", "productpage-viewer", "details-viewer"} {
		files = append(files, filepath.Join(dir, n+".yaml"))
	}
	st, err := filereg.Load(append([]string{"../../config/testdata/bookinfo-registry.yaml"}, files...)...)
	if err != nil {
		t.Fatal(err)
	}
	mesh, err := config.Parse("mesh.yaml", []byte(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-debug, namespace: `+config.RootNamespace+`}
spec:
  action: DENY
  rules: [{to: [{operation: {paths: ["/debug*"]}}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	st.AuthorizationPolicies = append(st.AuthorizationPolicies, mesh.AuthorizationPolicies...)
	for _, c := range []struct {
		proxy config.Proxy
		want  []string
	}{
		{config.Proxy{ID: "pp", Namespace: "default", Labels: map[string]string{"app": "productpage"}},
			[]string{"meshlab.authz/default/allow-nothing", "meshlab.authz/default/productpage-viewer", "meshlab.authz/meshlab-system/deny-debug"}},
		{config.Proxy{ID: "d", Namespace: "default", Labels: map[string]string{"app": "details"}},
			[]string{"meshlab.authz/default/allow-nothing", "meshlab.authz/default/details-viewer", "meshlab.authz/meshlab-system/deny-debug"}},
		{config.Proxy{ID: "o", Namespace: "other", Labels: map[string]string{"app": "details"}},
			[]string{"meshlab.authz/meshlab-system/deny-debug"}},
	} {
		snap, _, err := render(&st, c.proxy)
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Sorted(maps.Keys(snap.GetResources(resource.ExtensionConfigType)))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s/%v: got %v, want %v", c.proxy.Namespace, c.proxy.Labels, got, c.want)
		}
	}
}
