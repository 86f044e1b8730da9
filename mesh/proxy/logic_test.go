package proxy

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
)

func testCluster(lb config.LBPolicy, n int, od *config.Outlier) (*clusterSet, *config.Cluster) {
	cl := &config.Cluster{Name: "outbound|80||svc.default.svc.cluster.local", LB: lb, Outlier: od}
	for i := range n {
		cl.Endpoints = append(cl.Endpoints, config.ClusterEndpoint{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 80)})
	}
	cs := newClusterSet(&Proxy{opts: Options{Logger: slog.New(slog.DiscardHandler)}})
	cs.update(&config.Table{Clusters: map[string]*config.Cluster{cl.Name: cl}})
	return cs, cl
}

func TestRoundRobinVisitsEveryEndpoint(t *testing.T) {
	cs, cl := testCluster(config.LBRoundRobin, 3, nil)
	seen := map[netip.AddrPort]int{}
	for range 30 {
		e := cs.pick(cl)
		seen[e.addr]++
		cs.done(cl, e, false, false)
	}
	for _, ce := range cl.Endpoints {
		if seen[ce.Addr] != 10 {
			t.Errorf("round robin: %v got %d of 30", ce.Addr, seen[ce.Addr])
		}
	}
}

func TestLeastRequestAvoidsBusyEndpoint(t *testing.T) {
	cs, cl := testCluster(config.LBLeastRequest, 2, nil)
	busy := cs.pick(cl) // held in flight
	for range 100 {
		busy.active.Add(1)
	}
	other := 0
	for range 100 {
		e := cs.pick(cl)
		if e != busy {
			other++
		}
		cs.done(cl, e, false, false)
	}
	// Two random choices pick the idle endpoint unless both land on the busy one (1 in 4):
	// fewer than 50 of 100 with chance 2.1e-8 per run (TestStatedChances).
	if other < 50 {
		t.Errorf("least request sent only %d of 100 to the idle endpoint", other)
	}
}

func TestOutlierEjectionRespectsMaxPercent(t *testing.T) {
	od := &config.Outlier{Consecutive5xx: 2, BaseEjectionTime: time.Minute, MaxEjectionPercent: 50}
	cs, cl := testCluster(config.LBRoundRobin, 2, od)
	st := cs.state(cl)
	a, b := st.endpoints[0], st.endpoints[1]
	for _, e := range []*endpoint{a, a, b, b} {
		e.active.Add(1)
		cs.done(cl, e, false, true)
	}
	now := time.Now().UnixNano()
	if !a.ejected(now) || b.ejected(now) {
		t.Errorf("ejected a=%v b=%v; want only a (50%% of 2 endpoints)", a.ejected(now), b.ejected(now))
	}
	for range 10 {
		if e := cs.pick(cl); e != b {
			t.Fatalf("picked an ejected endpoint %v", e.addr)
		}
	}
}

func TestPanicModeWhenAllEjected(t *testing.T) {
	cs, cl := testCluster(config.LBRandom, 1, &config.Outlier{Consecutive5xx: 1, BaseEjectionTime: time.Minute, MaxEjectionPercent: 100})
	e := cs.pick(cl)
	cs.done(cl, e, true, true)
	if cs.pick(cl) == nil {
		t.Error("no endpoint when all are ejected; want panic mode (use them anyway)")
	}
}

func TestRetriable(t *testing.T) {
	dial := &net.OpError{Op: "dial", Err: errors.New("refused")}
	read := &net.OpError{Op: "read", Err: errors.New("reset")}
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code, Header: http.Header{}} }
	grpcResp := &http.Response{StatusCode: 200, Header: http.Header{"Grpc-Status": {"14"}}}
	cases := []struct {
		on   string
		resp *http.Response
		err  error
		want bool
	}{
		{"connect-failure", nil, dial, true},
		{"connect-failure", nil, read, false},
		{"reset", nil, read, true},
		{"5xx", resp(500), nil, true},
		{"5xx", nil, dial, true},
		{"gateway-error", resp(500), nil, false},
		{"gateway-error", resp(503), nil, true},
		{"retriable-4xx", resp(409), nil, true},
		{"503", resp(503), nil, true},
		{"503", resp(502), nil, false},
		{"unavailable", grpcResp, nil, true},
		{"cancelled", grpcResp, nil, false},
	}
	for _, c := range cases {
		on := mustRetryOn(t, c.on)
		if got := retriable(on, c.resp, c.err); got != c.want {
			t.Errorf("retryOn %s, resp %v, err %v: %v, want %v", c.on, c.resp, c.err, got, c.want)
		}
	}
}

func mustRetryOn(t *testing.T, s string) config.RetryOn {
	t.Helper()
	snap, err := config.Parse("r.yaml", []byte(`apiVersion: meshlab.io/v1alpha1
kind: Registry
spec: {services: [{name: s, ports: [{name: http, port: 80}]}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: s}
spec:
  hosts: [s]
  http: [{route: [{destination: {host: s}}], retries: {attempts: 1, retryOn: "`+s+`"}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := config.Compile(snap)
	if err != nil {
		t.Fatal(err)
	}
	return tbl.ByAuthority("s", 80).Routes[0].Retry.On
}

func TestPickWeighted(t *testing.T) {
	a, b := &config.Cluster{Name: "a"}, &config.Cluster{Name: "b"}
	rt := &config.Route{Destinations: []config.WeightedCluster{{Weight: 90, Cluster: a}, {Weight: 10, Cluster: b}}, TotalWeight: 100}
	n := 0
	for range 10000 {
		if pickWeighted(rt) == a {
			n++
		}
	}
	if n < 8700 || n > 9300 { // mean 9000, sd 30: outside with chance 3.1e-22 (TestStatedChances)
		t.Errorf("90/10 split gave %d/10000 to a", n)
	}
}

func TestParsePeer(t *testing.T) {
	w := parsePeer("reviews-v2.default;app=reviews;version=v2")
	if w.Name != "reviews-v2" || w.Namespace != "default" || w.App != "reviews" || w.Version != "v2" {
		t.Errorf("parsePeer: %+v", w)
	}
	if w := parsePeer(""); w.Name != "" {
		t.Errorf("empty peer: %+v", w)
	}
}

func TestRequestIDIsUUIDv4(t *testing.T) {
	id := newRequestID()
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[14] != '4' || id[18] != '-' || id[23] != '-' || !strings.ContainsRune("89ab", rune(id[19])) {
		t.Errorf("request id %q is not a version-4 UUID", id)
	}
}
