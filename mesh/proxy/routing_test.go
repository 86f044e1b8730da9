package proxy

import (
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func readSample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../config/testdata/istio-samples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// bookinfoReviews starts reviews v1..v3 and ratings v1 backends and a proxy on the Istio samples.
func bookinfoReviews(t *testing.T, vs string) (*testProxy, map[string]*backend) {
	bs := map[string]*backend{}
	for _, v := range []string{"v1", "v2", "v3"} {
		bs["reviews-"+v] = newBackend(t, v, nil)
	}
	bs["ratings-v1"] = newBackend(t, "v1", nil)
	reg := registry(map[string][]*backend{
		"reviews": {bs["reviews-v1"], bs["reviews-v2"], bs["reviews-v3"]},
		"ratings": {bs["ratings-v1"]},
	}, nil)
	files := map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": reg,
		"dr.yaml": readSample(t, "destination-rule-all.yaml"), "vs.yaml": vs}
	tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml", "dr.yaml", "vs.yaml"}, nil)
	tp.setDst(bs["reviews-v1"].addr()) // irrelevant for HTTP: the Host header picks the service
	return tp, bs
}

func TestRouteByHeaderTestV2(t *testing.T) {
	tp, _ := bookinfoReviews(t, readSample(t, "virtual-service-reviews-test-v2.yaml"))
	c := clientVia(tp.out)
	for range 5 {
		if _, body := get(t, c, "http://reviews:9080/reviews/0", map[string]string{"end-user": "jason"}); body != "v2" {
			t.Fatalf("jason got %q, want v2", body)
		}
		if _, body := get(t, c, "http://reviews:9080/reviews/0", nil); body != "v1" {
			t.Fatalf("anonymous got %q, want v1", body)
		}
	}
}

func TestWeightedRoute50V3(t *testing.T) {
	tp, _ := bookinfoReviews(t, readSample(t, "virtual-service-reviews-50-v3.yaml"))
	c := clientVia(tp.out)
	counts := map[string]int{}
	const n = 400
	for range n {
		_, body := get(t, c, "http://reviews.default.svc.cluster.local:9080/reviews/0", nil)
		counts[body]++
	}
	// Binomial(400, 0.5) outside 140..260: chance 1.1e-9 per run (TestStatedChances).
	if counts["v2"] != 0 || counts["v1"] < n/2-60 || counts["v3"] < n/2-60 {
		t.Errorf("split %v, want about %d each of v1 and v3 and no v2", counts, n/2)
	}
}

func TestFaultAbortForJasonOnly(t *testing.T) {
	tp, bs := bookinfoReviews(t, readSample(t, "virtual-service-ratings-test-abort.yaml"))
	c := clientVia(tp.out)
	code, body := get(t, c, "http://ratings:9080/ratings/0", map[string]string{"end-user": "jason"})
	if code != 500 || !strings.Contains(body, "fault filter abort") {
		t.Errorf("jason: %d %q, want 500 fault filter abort", code, body)
	}
	if bs["ratings-v1"].hits.Load() != 0 {
		t.Errorf("an aborted request reached ratings (injected faults must not be sent or retried)")
	}
	if code, body := get(t, c, "http://ratings:9080/ratings/0", nil); code != 200 || body != "v1" {
		t.Errorf("anonymous: %d %q, want 200 v1", code, body)
	}
}

func TestFaultDelay(t *testing.T) {
	vs := strings.Replace(readSample(t, "virtual-service-ratings-test-delay.yaml"), "fixedDelay: 7s", "fixedDelay: 300ms", 1)
	tp, _ := bookinfoReviews(t, vs)
	c := clientVia(tp.out)
	start := time.Now()
	if code, body := get(t, c, "http://ratings:9080/ratings/0", map[string]string{"end-user": "jason"}); code != 200 || body != "v1" {
		t.Errorf("jason: %d %q", code, body)
	}
	if d := time.Since(start); d < 300*time.Millisecond { // a lower bound only: it cannot be faster
		t.Errorf("delayed request took %v, want at least 300ms", d)
	}
}

const retryVS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
    retries: {attempts: 3, retryOn: 5xx}
    timeout: TIMEOUT
`

func TestRetriesOn5xx(t *testing.T) {
	var n atomic.Int64
	flaky := newBackend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	})
	files := map[string]string{"proxy.yaml": testProxyDoc,
		"registry.yaml": registry(map[string][]*backend{"reviews": {flaky}}, nil),
		"vs.yaml":       strings.Replace(retryVS, "TIMEOUT", "10s", 1)}
	tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml", "vs.yaml"}, nil)
	code, body := get(t, clientVia(tp.out), "http://reviews:9080/", nil)
	if code != 200 || body != "ok" || n.Load() != 3 {
		t.Errorf("got %d %q after %d tries, want 200 ok after 3", code, body, n.Load())
	}
}

func TestRouteTimeout(t *testing.T) {
	slow := newBackend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; the proxy's timeout must end it
	})
	files := map[string]string{"proxy.yaml": testProxyDoc,
		"registry.yaml": registry(map[string][]*backend{"reviews": {slow}}, nil),
		"vs.yaml":       strings.Replace(retryVS, "TIMEOUT", "200ms", 1)}
	tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml", "vs.yaml"}, nil)
	code, body := get(t, clientVia(tp.out), "http://reviews:9080/", nil)
	if code != http.StatusGatewayTimeout || !strings.Contains(body, "upstream request timeout") {
		t.Errorf("got %d %q, want 504 upstream request timeout", code, body)
	}
}

func TestOutlierDetectionEjects(t *testing.T) {
	good := newBackend(t, "good", nil)
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	})
	dr := `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 1m, maxEjectionPercent: 50}
`
	vs := "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n  - route: [{destination: {host: reviews}}]\n    retries: {attempts: 0}\n"
	files := map[string]string{"proxy.yaml": testProxyDoc,
		"registry.yaml": registry(map[string][]*backend{"reviews": {good, bad}}, nil), "dr.yaml": dr, "vs.yaml": vs}
	tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml", "dr.yaml", "vs.yaml"}, nil)
	c := clientVia(tp.out)
	for range 10 {
		get(t, c, "http://reviews:9080/", nil)
	}
	before := bad.hits.Load()
	if before < 2 {
		t.Fatalf("round robin sent only %d requests to the bad endpoint", before)
	}
	for range 20 {
		if code, _ := get(t, c, "http://reviews:9080/", nil); code != 200 {
			t.Fatalf("got %d after the bad endpoint should have been ejected", code)
		}
	}
	if after := bad.hits.Load(); after != before {
		t.Errorf("ejected endpoint still got %d requests", after-before)
	}
}

func TestUnknownHostPassesThrough(t *testing.T) {
	ext := newBackend(t, "external", nil)
	files := map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": registry(map[string][]*backend{}, nil)}
	tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml"}, nil)
	tp.setDst(ext.addr())
	if code, body := get(t, clientVia(tp.out), "http://example.invalid/", nil); code != 200 || body != "external" {
		t.Errorf("passthrough: %d %q", code, body)
	}
}

func TestReloadChangesRouting(t *testing.T) {
	tp, _ := bookinfoReviews(t, readSample(t, "virtual-service-all-v1.yaml"))
	c := clientVia(tp.out)
	if _, body := get(t, c, "http://reviews:9080/", nil); body != "v1" {
		t.Fatalf("all-v1: got %q", body)
	}
	tp.write(t, "vs.yaml", readSample(t, "virtual-service-reviews-v3.yaml"))
	eventually(t, "routing to follow the new file", func() bool {
		_, body := get(t, c, "http://reviews:9080/", nil)
		return body == "v3"
	})
	tp.write(t, "vs.yaml", "this: is: not yaml")
	time.Sleep(0) // the bad file is rejected; routing must stay on v3 (checked below after reload attempts)
	for range 5 {
		if _, body := get(t, c, "http://reviews:9080/", nil); body != "v3" {
			t.Fatalf("after a bad file: got %q, want the previous config (v3)", body)
		}
	}
}

func TestReadinessWaitsForConfig(t *testing.T) {
	files := map[string]string{"proxy.yaml": "apiVersion: meshlab.io/v1alpha1\nkind: Bogus\n"}
	tp := startProxy(t, files, []string{"proxy.yaml"}, nil)
	hc := &http.Client{Timeout: 5 * time.Second}
	status := func() int {
		resp, err := hc.Get("http://" + tp.health + "/healthz/ready")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status(); s != http.StatusServiceUnavailable {
		t.Fatalf("ready = %d before any valid config, want 503", s)
	}
	tp.write(t, "proxy.yaml", testProxyDoc)
	eventually(t, "readiness after a valid config", func() bool { return status() == http.StatusOK })
}

func TestConnectionPoolOverflow(t *testing.T) {
	release := make(chan struct{})
	slow := newBackend(t, "v1", func(w http.ResponseWriter, r *http.Request) { <-release })
	dr := `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy: {connectionPool: {http: {http2MaxRequests: 1}}}
`
	files := map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": registry(map[string][]*backend{"reviews": {slow}}, nil), "dr.yaml": dr}
	tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml", "dr.yaml"}, nil)
	t.Cleanup(func() { close(release) }) // runs before the proxy's drain, so the drain is quick
	c := clientVia(tp.out)
	go c.Get("http://reviews:9080/first")
	eventually(t, "the first request to be in flight", func() bool { return slow.hits.Load() == 1 })
	code, body := get(t, c, "http://reviews:9080/second", nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "overflow") {
		t.Errorf("second request: %d %q, want 503 overflow", code, body)
	}
}
