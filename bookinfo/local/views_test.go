package local

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/addons/graph"
	"github.com/meshlab/meshlab/addons/graph/picture"
	"github.com/meshlab/meshlab/addons/traces"
)

// viewsOutput is where the views' pictures and text are kept as test artifacts.
const viewsOutput = "../../_output/observability"

// viewsWindow is the graph's window here: short, so that a call that stops leaves the graph
// within seconds (Prometheus scrapes every second).
const viewsWindow = 10 * time.Second

// TestServiceGraphAndTraceViews draws `meshlab mesh graph` from a real Prometheus scraping the
// real sidecars of Bookinfo, and `meshlab mesh traces` from a real Jaeger they report to:
// productpage calls details and reviews-v3, which calls ratings. Then the routes send reviews
// to v1, and the reviews-v3 and ratings edges leave the graph. The SVG, PNG, DOT and text are
// kept under _output/observability.
func TestServiceGraphAndTraceViews(t *testing.T) {
	jaeger, noJaeger := jaegerBinary()
	if noJaeger != "" {
		t.Skip(noJaeger)
	}
	prometheus, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("needs prometheus (apt package prometheus)")
	}
	b, dir := startObservedBookinfo(t)
	jaegerURL := startJaeger(t, jaeger, dir)
	promURL := startPrometheus(t, prometheus, dir, b.mesh)
	out, err := filepath.Abs(viewsOutput)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	q, err := graph.NewQuerier(promURL)
	if err != nil {
		t.Fatal(err)
	}

	v3 := []call{{"unknown", "productpage-v1"}, {"productpage-v1", "details-v1"}, {"productpage-v1", "reviews-v3"}, {"reviews-v3", "ratings-v1"}}
	g := b.waitForGraph(q, v3, nil)
	t.Logf("graph from Prometheus:\n%s", graph.Text(g))
	for _, e := range g.Edges {
		if e.ErrorRate != 0 || !(e.P99 > 0) {
			t.Errorf("%s→%s: error rate %v, p99 %v; want 0 and a duration", e.From.ID(), e.To.ID(), e.ErrorRate, e.P99)
		}
	}
	if e, _ := findEdge(g, "productpage-v1", "reviews-v3"); e.Reporter != "source" || !strings.HasPrefix(strings.Join(e.Services, ","), "reviews.") {
		t.Errorf("productpage→reviews-v3 = %+v: want productpage's sidecar's report, to the reviews service", e)
	}
	savePictures(t, out, "service-graph", g)

	// The command itself, as a user runs it against this Prometheus.
	cli, err := exec.Command(meshlabBinary, "mesh", "graph", "--prometheus", promURL, "--once", "--window", viewsWindow.String()).CombinedOutput()
	if err != nil || !strings.Contains(string(cli), "└─▶ ratings-v1.default") {
		t.Fatalf("meshlab mesh graph --once: %v\n%s", err, cli)
	}
	t.Logf("meshlab mesh graph --once:\n%s", cli)
	writeArtifact(t, out, "mesh-graph.txt", cli)

	// Traces: Jaeger holds the same calls, productpage → reviews → ratings nested.
	tr := waitForTrace(t, jaegerURL)
	wf := traces.Waterfall(tr)
	t.Logf("trace from Jaeger:\n%s", wf)
	depth := map[string]int{}
	for _, l := range strings.Split(wf, "\n")[2:] {
		name := strings.Fields(l + " x")[0]
		if _, seen := depth[name]; !seen {
			depth[name] = len(l) - len(strings.TrimLeft(l, " "))
		}
	}
	if !(depth["productpage.default"] < depth["reviews.default"] && depth["reviews.default"] < depth["ratings.default"] &&
		depth["productpage.default"] < depth["details.default"]) {
		t.Errorf("the waterfall does not nest ratings under reviews under productpage (indents %v):\n%s", depth, wf)
	}
	cli, err = exec.Command(meshlabBinary, "mesh", "traces", "--tracing", jaegerURL, "--service", "productpage.default", "--limit", "5").CombinedOutput()
	if err != nil || !strings.Contains(string(cli), "recent traces from jaeger") || !strings.Contains(string(cli), "ratings.default") {
		t.Fatalf("meshlab mesh traces: %v\n%s", err, cli)
	}
	t.Logf("meshlab mesh traces:\n%s", cli)
	writeArtifact(t, out, "mesh-traces.txt", cli)

	// reviews to v1, which calls nobody: reviews-v3's and ratings' edges must go.
	b.writeRoutes("destination-rule-all.yaml", "virtual-service-all-v1.yaml")
	start := time.Now()
	v1 := []call{{"productpage-v1", "details-v1"}, {"productpage-v1", "reviews-v1"}}
	g = b.waitForGraph(q, v1, []call{{"productpage-v1", "reviews-v3"}, {"reviews-v3", "ratings-v1"}})
	t.Logf("reviews-v3 and ratings left the graph %s after the routes changed (window %s):\n%s",
		time.Since(start).Round(time.Second), viewsWindow, graph.Text(g))
	savePictures(t, out, "service-graph-reviews-v1", g)
}

type call struct{ from, to string }

func findEdge(g graph.Graph, from, to string) (graph.Edge, bool) {
	for _, e := range g.Edges {
		if e.From.Workload == from && e.To.Workload == to {
			return e, true
		}
	}
	return graph.Edge{}, false
}

// waitForGraph sends a page a second (the window needs steady traffic) until the graph has
// every call of want and none of gone, for at most a minute.
func (b *bookinfo) waitForGraph(q graph.Querier, want, gone []call) graph.Graph {
	b.t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last error
	var g graph.Graph
	for time.Now().Before(deadline) {
		b.get(anonymous())
		var err error
		g, err = graph.Fetch(context.Background(), q, graph.Options{Window: viewsWindow})
		if err != nil {
			b.t.Fatal(err)
		}
		last = nil
		for _, c := range want {
			if _, ok := findEdge(g, c.from, c.to); !ok {
				last = fmt.Errorf("no %s→%s edge", c.from, c.to)
			}
		}
		for _, c := range gone {
			if _, ok := findEdge(g, c.from, c.to); ok {
				last = fmt.Errorf("the %s→%s edge is still there", c.from, c.to)
			}
		}
		if last == nil {
			return g
		}
		time.Sleep(time.Second)
	}
	b.t.Fatalf("the graph never matched within a minute: %v\n%s", last, graph.Text(g))
	return g
}

// waitForTrace polls Jaeger for a productpage trace that reaches ratings.
func waitForTrace(t *testing.T, jaegerURL string) traces.Trace {
	t.Helper()
	c := traces.Client{Base: jaegerURL}
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ts, backend, err := c.Recent(context.Background(), traces.Query{Service: "productpage.default", Limit: 10})
		last = err
		if err == nil && backend != traces.Jaeger {
			t.Fatalf("Jaeger detected as %s", backend)
		}
		for _, tr := range ts {
			services := map[string]bool{}
			for _, s := range tr.Spans {
				services[s.Service] = true
			}
			if services["ratings.default"] && services["details.default"] && tr.Root().Service == "productpage.default" {
				one, _, err := c.Trace(context.Background(), tr.ID)
				if err != nil {
					t.Fatal(err)
				}
				return one
			}
		}
		if err == nil {
			last = fmt.Errorf("%d traces, none through details and ratings", len(ts))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("no complete trace in Jaeger within 30 s: %v", last)
	return traces.Trace{}
}

// savePictures writes the graph's DOT, SVG and PNG under dir and checks the pictures name
// every workload and decode.
func savePictures(t *testing.T, dir, name string, g graph.Graph) {
	t.Helper()
	writeArtifact(t, dir, name+".dot", []byte(graph.DOT(g)))
	svg, err := picture.Render(context.Background(), graph.DOT(g), picture.SVG)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range g.Nodes {
		// Graphviz writes "-" in text as &#45;.
		if !bytes.Contains(svg, []byte(">"+strings.ReplaceAll(n.Workload, "-", "&#45;")+"<")) {
			t.Errorf("%s.svg has no node %s", name, n.Workload)
		}
	}
	writeArtifact(t, dir, name+".svg", svg)
	pic, err := picture.Render(context.Background(), graph.DOT(g), picture.PNG)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(pic))
	if err != nil || img.Bounds().Dx() < 200 {
		t.Fatalf("%s.png: %v, %v", name, err, img)
	}
	writeArtifact(t, dir, name+".png", pic)
}

func writeArtifact(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("artifact: %s", p)
}
