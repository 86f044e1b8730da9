package xds

import (
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meshlab/meshlab/mesh/authz"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/xdsgen"
)

// TestPoliciesRoundTrip: the policies the control plane sends a proxy come back as they were
// (namespace, name, spec, dry-run), marked as already selected.
func TestPoliciesRoundTrip(t *testing.T) {
	dir := "../config/testdata/istio-samples/authz-http"
	snap, err := config.Load("../config/testdata/bookinfo-registry.yaml", filepath.Join(dir, "allow-nothing.yaml"), filepath.Join(dir, "productpage-viewer.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dry, err := config.Parse("dry.yaml", []byte(`apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: dry, namespace: default, annotations: {istio.io/dry-run: "true"}}
spec:
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: default}
spec:
  jwtRules: [{issuer: "testing@secure.istio.io", jwksUri: "http://keys.default:8080/jwks.json", fromParams: [token]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	snap.AuthorizationPolicies = append(snap.AuthorizationPolicies, dry.AuthorizationPolicies...)
	snap.RequestAuthentications = dry.RequestAuthentications
	tbl, err := config.Compile(snap)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ToSnapshot(fromGenerated(xdsgen.Generate(snap, tbl)), snap.Proxy, snap.Tracing)
	if err != nil {
		t.Fatal(err)
	}
	if !back.PoliciesSelected || len(back.AuthorizationPolicies) != 3 || len(back.RequestAuthentications) != 1 {
		t.Fatalf("got selected=%v, %d authorization policies, %d request authentications", back.PoliciesSelected, len(back.AuthorizationPolicies), len(back.RequestAuthentications))
	}
	byName := map[string]bool{}
	for _, p := range back.AuthorizationPolicies {
		for _, q := range snap.AuthorizationPolicies {
			if p.Namespace == q.Namespace && p.Name == q.Name && proto.Equal(&p.Spec, &q.Spec) &&
				(p.Annotations[authz.DryRunAnnotation] == "true") == (q.Annotations[authz.DryRunAnnotation] == "true") {
				byName[p.Name] = true
			}
		}
	}
	if len(byName) != 3 {
		t.Fatalf("policies changed on the way: matched %v", byName)
	}
	if ra := back.RequestAuthentications[0]; ra.Name != "jwt" || !proto.Equal(&ra.Spec, &snap.RequestAuthentications[0].Spec) {
		t.Fatalf("RequestAuthentication changed: %+v", ra)
	}
}
