package config

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/mesh/authz"
)

// authzSamples are Istio's Bookinfo authorization policies in the order the task applies them.
var authzSamples = []string{"allow-nothing", "productpage-viewer", "details-viewer", "reviews-viewer", "ratings-viewer"}

func sampleFile(name string) string {
	return filepath.Join("testdata", "istio-samples", "authz-http", name+".yaml")
}

// TestBookinfoAuthorizationTask replays Istio's task on the loaded samples: after each step,
// which Bookinfo hops are allowed, with the principals the hops carry under mutual TLS.
func TestBookinfoAuthorizationTask(t *testing.T) {
	type hop struct{ dst, sa string } // destination app; the caller's ServiceAccount
	hops := []hop{{"productpage", "ingress"}, {"details", "bookinfo-productpage"}, {"reviews", "bookinfo-productpage"}, {"ratings", "bookinfo-reviews"}}
	want := [][]bool{ // per step: productpage, details, reviews, ratings
		{false, false, false, false},
		{true, false, false, false},
		{true, true, false, false},
		{true, true, true, false},
		{true, true, true, true},
	}
	for step := range authzSamples {
		var files []string
		for _, n := range authzSamples[:step+1] {
			files = append(files, sampleFile(n))
		}
		snap, err := Load(files...)
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range hops {
			snap.Proxy = Proxy{Namespace: "default", Labels: map[string]string{"app": h.dst, "version": "v1"}}
			e, err := authz.Compile(snap.SelectedAuthorizationPolicies())
			if err != nil {
				t.Fatal(err)
			}
			d := e.Evaluate(&authz.Request{DestPort: 9080, PeerURI: "spiffe://cluster.local/ns/default/sa/" + h.sa,
				HTTP: &authz.HTTP{Method: "GET", Host: h.dst + ":9080", Path: "/", Header: http.Header{}}})
			if d.Allowed != want[step][i] {
				t.Errorf("after %s: GET %s from %s: allowed=%v (%s), want %v", authzSamples[step], h.dst, h.sa, d.Allowed, d.Policy, want[step][i])
			}
		}
	}
}

func TestLoadRejectsBadPolicies(t *testing.T) {
	for _, c := range []struct{ name, doc, want string }{
		{"principal without slash", `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: details-viewer, namespace: default}
spec:
  rules:
  - from:
    - source: {principals: [bookinfo-productpage]}
`, `p.yaml:2: AuthorizationPolicy details-viewer: spec.rules[0].from[0].source.principals[0]: "bookinfo-productpage" has no '/'`},
		{"unknown field", `
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: x}
spec:
  rule: []
`, `p.yaml:2: AuthorizationPolicy x: spec: `},
		{"jwks that does not parse", `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt}
spec:
  jwtRules:
  - issuer: me
    jwks: "not json"
`, `spec.jwtRules[0].jwks: Jwks is an invalid JSON`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestPoliciesSelectedByTheControlPlane: a snapshot from the control plane applies its policies
// as they are; one from files picks those that select the proxy.
func TestPoliciesSelectedByTheControlPlane(t *testing.T) {
	snap, err := Load(sampleFile("details-viewer"))
	if err != nil {
		t.Fatal(err)
	}
	snap.Proxy = Proxy{Namespace: "default", Labels: map[string]string{"app": "ratings"}}
	if n := len(snap.SelectedAuthorizationPolicies()); n != 0 {
		t.Fatalf("file snapshot: %d policies select ratings, want 0", n)
	}
	snap.PoliciesSelected = true
	if n := len(snap.SelectedAuthorizationPolicies()); n != 1 {
		t.Fatalf("selected snapshot: %d policies, want 1", n)
	}
}
