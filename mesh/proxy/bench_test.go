package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/mesh/ca"
)

// BenchmarkTwoHops measures client → sidecar (outbound) → sidecar (inbound) → server with a
// 1 KiB response, Istio's benchmark shape, in one process on loopback. Compare with
// BenchmarkDirect for the added cost; `make bench` (fortio) gives the real latency figures.
func BenchmarkTwoHops(b *testing.B) { benchTwoHops(b, "") }

// BenchmarkTwoHopsTenAllowRules is BenchmarkTwoHops with ten AuthorizationPolicies on the server
// side, the one that matches evaluated last: what authorization adds per request.
func BenchmarkTwoHopsTenAllowRules(b *testing.B) {
	var docs []string
	for i := range 10 {
		path := fmt.Sprintf("/api/v%d/*", i)
		if i == 9 {
			path = "/"
		}
		docs = append(docs, fmt.Sprintf(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-%d, namespace: default}
spec:
  selector: {matchLabels: {app: server}}
  rules:
  - to:
    - operation: {methods: ["GET", "HEAD"], paths: [%q]}
`, i, path))
	}
	benchTwoHops(b, strings.Join(docs, "---\n"))
}

func benchTwoHops(b *testing.B, policies string) {
	payload := strings.Repeat("x", 1024)
	app := newBackend(b, "v1", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, payload) })
	bDoc := strings.NewReplacer("productpage-v1", "server-v1", "productpage", "server").Replace(testProxyDoc)
	reg := registry(map[string][]*backend{"server": {app}}, nil)
	if policies != "" {
		reg += "\n---\n" + policies
	}
	srvSide := startProxyB(b, bDoc, reg)
	srvSide.setDst(app.addr())
	inbound := &backend{name: "v1"}
	inbound.Server = &httptest.Server{Listener: fakeAddrListener(srvSide.in)}
	cliSide := startProxyB(b, testProxyDoc, registry(map[string][]*backend{"server": {inbound}}, nil))
	c := clientVia(cliSide.out)
	benchGet(b, c, "http://server:9080/")
}

// BenchmarkTwoHopsMTLS is BenchmarkTwoHops with the two sidecars doing mutual TLS (certificates
// from a CA, auto mTLS to the server's endpoint), for the cost of the encryption per request.
func BenchmarkTwoHopsMTLS(b *testing.B) {
	payload := strings.Repeat("x", 1024)
	app := newBackend(b, "v1", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, payload) })
	root, err := ca.New(ca.Options{})
	if err != nil {
		b.Fatal(err)
	}
	p := startPair(b, issue(b, root, "cluster.local", "bookinfo-productpage"), issue(b, root, "cluster.local", "bookinfo-reviews"),
		app.Listener.Addr().String(), "HTTP", reviewsID, "")
	benchGet(b, clientVia(p.client.out), "http://reviews:9080/")
}

func BenchmarkDirect(b *testing.B) {
	payload := strings.Repeat("x", 1024)
	app := newBackend(b, "v1", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, payload) })
	benchGet(b, clientVia(app.Listener.Addr().String()), "http://server:9080/")
}

func benchGet(b *testing.B, c *http.Client, url string) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

func startProxyB(b *testing.B, proxyDoc, reg string) *testProxy {
	return startProxy(b, map[string]string{"proxy.yaml": proxyDoc, "registry.yaml": reg}, []string{"proxy.yaml", "registry.yaml"}, nil)
}
