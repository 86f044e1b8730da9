package graph

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// series is one sample of a fake Prometheus answer.
type series struct {
	reporter, from, fromNS, to, toNS, service string
	value                                     float64
}

func (s series) sample() *model.Sample {
	m := model.Metric{"reporter": model.LabelValue(s.reporter),
		"source_workload": model.LabelValue(s.from), "source_workload_namespace": model.LabelValue(s.fromNS),
		"destination_workload": model.LabelValue(s.to), "destination_workload_namespace": model.LabelValue(s.toNS)}
	if s.service != "" {
		m["destination_service"] = model.LabelValue(s.service)
	}
	return &model.Sample{Metric: m, Value: model.SampleValue(s.value)}
}

// fakeProm answers the graph's three queries from data, chosen by what the query asks for.
type fakeProm struct {
	rates, errors, p99s []series
	asked               []string
}

func (f *fakeProm) Query(_ context.Context, q string, _ time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	f.asked = append(f.asked, q)
	var ss []series
	switch {
	case strings.HasPrefix(q, "histogram_quantile(0.99"):
		ss = f.p99s
	case strings.Contains(q, `response_code=~"5.."`):
		ss = f.errors
	default:
		ss = f.rates
	}
	var v model.Vector
	for _, s := range ss {
		v = append(v, s.sample())
	}
	return v, nil, nil, nil
}

const svc = ".default.svc.cluster.local"

// bookinfo is Bookinfo's traffic as both sidecars of each call report it, plus a gateway
// in front, reviews-v3 idle (rate 0) and ratings failing a quarter of its calls.
func bookinfo() *fakeProm {
	both := func(from, to, service string, v float64) []series {
		return []series{
			{"source", from, "default", to, "default", service + svc, v},
			{"destination", from, "default", to, "default", service + svc, v * 0.9},
		}
	}
	var rates []series
	rates = append(rates, series{"source", "meshlab-ingressgateway", "meshlab-system", "productpage-v1", "default", "productpage" + svc, 2})
	rates = append(rates, both("productpage-v1", "details-v1", "details", 2)...)
	rates = append(rates, both("productpage-v1", "reviews-v1", "reviews", 1)...)
	rates = append(rates, both("productpage-v1", "reviews-v2", "reviews", 1)...)
	rates = append(rates, both("productpage-v1", "reviews-v3", "reviews", 0)...)
	rates = append(rates, both("reviews-v2", "ratings-v1", "ratings", 1)...)
	// Outside the mesh: only the callee's sidecar reports it.
	rates = append(rates, series{"destination", "unknown", "unknown", "productpage-v1", "default", "productpage" + svc, 0.5})
	return &fakeProm{
		rates:  rates,
		errors: []series{{"source", "reviews-v2", "default", "ratings-v1", "default", "", 0.25}},
		p99s: []series{
			{"source", "productpage-v1", "default", "details-v1", "default", "", 4.95},
			{"source", "productpage-v1", "default", "reviews-v2", "default", "", 24},
			{"destination", "productpage-v1", "default", "reviews-v2", "default", "", 20},
			{"source", "reviews-v2", "default", "ratings-v1", "default", "", 1500},
			{"source", "meshlab-ingressgateway", "meshlab-system", "productpage-v1", "default", "", math.NaN()},
		},
	}
}

var at = time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)

func fetchBookinfo(t *testing.T, o Options) Graph {
	t.Helper()
	o.At = at
	g, err := Fetch(context.Background(), bookinfo(), o)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestFetch(t *testing.T) {
	g := fetchBookinfo(t, Options{})
	if _, ok := g.Edge("productpage-v1.default", "reviews-v3.default"); ok {
		t.Error("an edge with no calls in the window is shown")
	}
	for _, n := range g.Nodes {
		if n.Workload == "reviews-v3" {
			t.Error("a workload without traffic is a node")
		}
	}
	e, ok := g.Edge("productpage-v1.default", "reviews-v2.default")
	if !ok {
		t.Fatalf("no productpage→reviews-v2 edge in %+v", g.Edges)
	}
	if e.Reporter != "source" || e.Rate != 1 || e.P99 != 24 {
		t.Errorf("productpage→reviews-v2 = %+v, want the caller's report: 1 rps, p99 24", e)
	}
	if e, _ := g.Edge("reviews-v2.default", "ratings-v1.default"); e.ErrorRate != 0.25 {
		t.Errorf("reviews-v2→ratings error rate = %v, want 0.25", e.ErrorRate)
	}
	if e, ok := g.Edge("unknown", "productpage-v1.default"); !ok || e.Reporter != "destination" || e.Rate != 0.5 {
		t.Errorf("a call from outside the mesh (reported by the callee only) = %+v, %v", e, ok)
	}
	if e, _ := g.Edge("meshlab-ingressgateway.meshlab-system", "productpage-v1.default"); !math.IsNaN(e.P99) {
		t.Errorf("p99 without histogram data = %v, want NaN", e.P99)
	}
	if len(g.Nodes) != 7 || len(g.Edges) != 6 {
		t.Errorf("%d nodes, %d edges; want 7 and 6", len(g.Nodes), len(g.Edges))
	}

	only := fetchBookinfo(t, Options{Namespace: "meshlab-system"})
	if len(only.Edges) != 1 {
		t.Errorf("namespace meshlab-system: %d edges, want the gateway's one", len(only.Edges))
	}
}

func TestFetchWindow(t *testing.T) {
	f := bookinfo()
	if _, err := Fetch(context.Background(), f, Options{Window: 90 * time.Second, At: at}); err != nil {
		t.Fatal(err)
	}
	for _, q := range f.asked {
		if !strings.Contains(q, "[1m30s]") {
			t.Errorf("query without the 90 s window: %s", q)
		}
	}
}

func TestText(t *testing.T) {
	golden.RequireEqual(t, []byte(Text(fetchBookinfo(t, Options{}))))
}

func TestTextEmpty(t *testing.T) {
	golden.RequireEqual(t, []byte(Text(Graph{At: at, Window: time.Minute})))
}

// TestTextCycle: a cycle is shown once, without looping.
func TestTextCycle(t *testing.T) {
	a, b := Node{"a", "ns"}, Node{"b", "ns"}
	g := build(at, time.Minute, []Edge{{From: a, To: b, Rate: 1, P99: 3}, {From: b, To: a, Rate: 1, P99: 3}})
	golden.RequireEqual(t, []byte(Text(g)))
}

func TestDOT(t *testing.T) {
	golden.RequireEqual(t, []byte(DOT(fetchBookinfo(t, Options{}))))
}

func TestEdgeJSON(t *testing.T) {
	g := fetchBookinfo(t, Options{})
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"from":{"workload":"meshlab-ingressgateway","namespace":"meshlab-system"}`, `"p99":null`, `"p99":1500`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b)
		}
	}
}

func TestHeadlineWindow(t *testing.T) {
	for d, want := range map[time.Duration]string{10 * time.Second: "last 10s ", time.Minute: "last 1m ", 90 * time.Second: "last 1m30s "} {
		if h := Headline(Graph{At: at, Window: d}); !strings.Contains(h, want) {
			t.Errorf("window %s: %q lacks %q", d, h, want)
		}
	}
}
