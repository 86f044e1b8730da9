package gateway

import (
	"os"
	"testing"

	"github.com/meshlab/meshlab/mesh/config"
)

// TestGatewayPolicies: the gateway applies the policies that select it (root namespace, its
// labels), not the namespace-wide policies of Bookinfo's namespace.
func TestGatewayPolicies(t *testing.T) {
	sample, err := os.ReadFile("../config/testdata/istio-samples/bookinfo-gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	allowNothing, err := os.ReadFile("../config/testdata/istio-samples/authz-http/allow-nothing.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gwPolicy := []byte(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ingress-deny-admin, namespace: ` + config.RootNamespace + `}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
`)
	tr, err := Translate(map[string][]byte{"gw.yaml": sample, "reg.yaml": []byte(registry(9080)),
		"a.yaml": allowNothing, "b.yaml": gwPolicy}, DefaultLabels(), Identity{})
	if err != nil {
		t.Fatal(err)
	}
	got := tr.Snapshot.SelectedAuthorizationPolicies()
	if len(got) != 1 || got[0].Name != "ingress-deny-admin" {
		t.Fatalf("the gateway applies %d policies (%v), want only ingress-deny-admin", len(got), got)
	}
}
