package authz

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// tenAllowRules is ten ALLOW policies of exact and prefix matches on principals, methods, paths
// and ports, the shape the benchmark's "10 ALLOW rules" means; the request matches the last one.
func tenAllowRules(b testing.TB) *Engine {
	var docs []string
	for i := range 10 {
		docs = append(docs, fmt.Sprintf(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-%d, namespace: default}
spec:
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/default/sa/client-%d"], namespaces: ["default"]}
    to:
    - operation: {methods: ["GET", "HEAD"], paths: ["/api/v%d/*", "/health"], ports: ["9080"]}
`, i, i, i))
	}
	e, err := Compile(policies(b, strings.Join(docs, "\n---\n")))
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkEvaluate shows that a decision over exact and prefix matches allocates nothing.
func BenchmarkEvaluate(b *testing.B) {
	e := tenAllowRules(b)
	h := &HTTP{Method: "GET", Host: "reviews:9080", Path: "/api/v9/items", Header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		r := Request{SourceIP: netip.AddrFrom4([4]byte{10, 0, 0, 1}), DestPort: 9080,
			PeerURI: "spiffe://cluster.local/ns/default/sa/client-9", HTTP: h}
		if d := e.Evaluate(&r); !d.Allowed {
			b.Fatalf("denied: %+v", d)
		}
	}
}

func TestEvaluateAllocatesNothing(t *testing.T) {
	e := tenAllowRules(t)
	h := &HTTP{Method: "GET", Host: "reviews:9080", Path: "/api/v9/items", Header: http.Header{}}
	r := Request{DestPort: 9080, PeerURI: "spiffe://cluster.local/ns/default/sa/client-9", HTTP: h}
	if n := testing.AllocsPerRun(100, func() { e.Evaluate(&r) }); n != 0 {
		t.Fatalf("Evaluate allocates %v times per request, want 0", n)
	}
}
