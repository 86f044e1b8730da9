package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/meshlab/meshlab/addons/graph"
	"github.com/meshlab/meshlab/bookinfo/verify"
	"github.com/meshlab/meshlab/internal/browser"
	"github.com/meshlab/meshlab/provision/event"
)

// observeLab is issue 17's "done when" on the whole lab, looked at as a person would: every
// URL of `meshlab up`'s summary opens a working page in headless Chromium; Prometheus's UI
// graphs istio_requests_total and shows the lab's targets up; `meshlab mesh graph` shows
// Bookinfo's six workloads and the gateway with live edges, and reviews-v3's edges leave it
// within a minute of scaling reviews-v3 to zero. Screenshots and the graph's pictures are kept
// under _output/test-artifacts. It runs last: it scales reviews-v3 (and brings it back).
func observeLab(ctx context.Context, t *testing.T, c *cli, up []event.Event) {
	// Pictures are drawn by meshlab-graphviz next to meshlab, where `make build` puts it.
	buildStatic(t, "./cmd/meshlab-graphviz", filepath.Join(filepath.Dir(c.bin), "meshlab-graphviz"))
	var nodes []string // the only addresses the browser may reach besides loopback
	for _, m := range c.lab.Machines {
		nodes = append(nodes, m.Address)
	}
	gw := verify.Browser{BaseURL: "http://" + net.JoinHostPort(c.lab.Machines[0].Address, "30080")}
	stop := driveTraffic(ctx, gw)
	defer stop()
	links := summaryLinks(up)

	// The graph first: Prometheus may have restarted a minute ago (an earlier subtest scales
	// it down and up), and the pages' graphs show more than a dot with a few minutes of data.
	t.Run("mesh graph: Bookinfo and the gateway live; reviews-v3 scaled to zero leaves it within a minute", func(t *testing.T) {
		start := time.Now()
		checkMeshGraph(ctx, t, c, gw)
		t.Logf("MEASURE mesh graph subtest: %.1fs", time.Since(start).Seconds())
	})

	t.Run("summary URLs open working pages in Chromium", func(t *testing.T) {
		start := time.Now()
		checkSummaryLinks(ctx, t, browser.ForTest(t, nodes...), links)
		t.Logf("MEASURE summary URLs checked in Chromium: %.1fs", time.Since(start).Seconds())
	})

	t.Run("Prometheus's UI graphs istio_requests_total and shows the lab's targets up", func(t *testing.T) {
		start := time.Now()
		prom := "http://" + net.JoinHostPort(c.lab.Machines[0].Address, "30003")
		checkPrometheusUI(ctx, t, browser.ForTest(t, nodes...), prom)
		t.Logf("MEASURE Prometheus's UI checked in Chromium: %.1fs", time.Since(start).Seconds())
	})
}

// driveTraffic loads productpage through the gateway about five times a second until stop:
// the graph's edges and Prometheus's series are of live traffic, as when a person browses.
func driveTraffic(ctx context.Context, gw verify.Browser) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			_, _ = gw.Get(ctx, nil) // failures show in the checks, not here
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// summaryLink is one line of the up's summary: what, and its URL (or "— why not", or a path).
type summaryLink struct{ what, where string }

func summaryLinks(events []event.Event) []summaryLink {
	var out []summaryLink
	for _, e := range events {
		if e.Phase != "summary" || e.Kind != event.Log {
			continue
		}
		l := e.Line
		i := strings.Index(l, " http://")
		if i < 0 {
			i = strings.Index(l, " — ")
		}
		if i < 0 { // a path: kubeconfig
			i = strings.Index(l, " ")
		}
		if i < 0 {
			continue
		}
		out = append(out, summaryLink{strings.TrimSpace(l[:i]), strings.TrimSpace(l[i:])})
	}
	return out
}

// offlineTracing is the summary's tracing line offline (issue 17's wording): the bundle's
// Jaeger serves its API, not its UI.
const offlineTracing = "tracing (jaeger API; UI needs the online bundle)"

// checkSummaryLinks opens every URL of the summary and asserts on what the page rendered.
// A line of a kind this test does not know fails it: a new URL gets a check of its own.
func checkSummaryLinks(ctx context.Context, t *testing.T, b *browser.Browser, links []summaryLink) {
	seen := map[string]int{}
	for _, l := range links {
		t.Logf("summary: %-50s %s", l.what, l.where)
		switch {
		case l.what == "productpage":
			seen["productpage"]++
			checkProductpage(ctx, t, b, l.where)
		case l.what == "prometheus":
			seen["prometheus"]++
			// The app's own start page (it redirects to /query): the editor and its button are
			// what the React app rendered, not the 500 "Error opening React index.html" of before.
			open(ctx, t, b, l.where, "Query", "Alerts", "Status", "Execute")
			shot(ctx, t, b, "prometheus.png")
		case strings.HasPrefix(l.what, "tracing ("):
			seen["tracing"]++
			if l.what != offlineTracing {
				t.Errorf("offline tracing line says %q, want %q", l.what, offlineTracing)
			}
			// Jaeger's API: the services it has traces of, productpage's among them.
			text := open(ctx, t, b, l.where, `"data"`, "productpage")
			if !json.Valid([]byte(strings.TrimSpace(text))) {
				t.Errorf("%s is not the API's JSON: %q", l.where, text)
			}
			shot(ctx, t, b, "tracing-api.png")
		case strings.HasPrefix(l.what, "dashboard: "):
			seen["dashboard"]++
			checkDashboardLink(ctx, t, b, l)
		case l.what == "grafana":
			seen["grafana"]++
			if l.where != "— not in the offline bundle" {
				t.Errorf("grafana offline: %q, want it marked not in the offline bundle", l.where)
			}
		case l.what == "kubeconfig":
			seen["kubeconfig"]++
			if st, err := os.Stat(l.where); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("kubeconfig %s: %v (want a 0600 file)", l.where, err)
			}
		default:
			t.Errorf("summary line %q %q: no check for it here; add one", l.what, l.where)
		}
	}
	for _, kind := range []string{"productpage", "prometheus", "tracing", "dashboard", "grafana", "kubeconfig"} {
		if seen[kind] == 0 {
			t.Errorf("the summary has no %s line: %v", kind, links)
		}
	}
	if ex := b.Exceptions(); len(ex) > 0 {
		t.Errorf("pages threw: %v", ex)
	}
}

// open loads url and waits for its rendered text to hold every one of want.
func open(ctx context.Context, t *testing.T, b *browser.Browser, url string, want ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := b.Open(ctx, url); err != nil {
		t.Fatal(err)
	}
	text, err := b.WaitText(ctx, want...)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return text
}

func shot(ctx context.Context, t *testing.T, b *browser.Browser, name string) string {
	t.Helper()
	p := browser.Artifact(t, name)
	if err := b.Screenshot(ctx, p); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
	return p
}

// star is one rating star of productpage as laid out: its size and colour.
type star struct {
	W, H   float64
	Colour string
}

// checkProductpage opens productpage through the gateway until a page shows reviews v3's red
// stars, and checks the page's text (the book, its details, both reviews) and the stars'
// layout: 20 px with the page's stylesheet, 300×150 without (an SVG's default size).
//
// False failure: reviews are spread over v1, v2 and v3; with at most 30 pages, missing v3 every
// time has the chance (2/3)^30 = 5.2e-6 under uniform spreading (round robin: never).
func checkProductpage(ctx context.Context, t *testing.T, b *browser.Browser, page string) {
	t.Helper()
	const pages = 30
	var stars []star
	var colours []string
	for i := 0; i < pages && !redStars(stars); i++ {
		open(ctx, t, b, page, "The Comedy of Errors", "Book Details", "ISBN-10", "Book Reviews",
			"Reviewer1", "Reviewer2", "An extremely entertaining play by Shakespeare")
		var err error
		stars, err = chromedp.Run(b.Context(), chromedp.Evaluate[[]star](`Array.from(
		  document.querySelectorAll('svg[id="glyphicon glyphicon-star"]'), s => {
		    const r = s.getBoundingClientRect();
		    return {W: r.width, H: r.height, Colour: getComputedStyle(s).color};
		  })`))
		if err != nil {
			t.Fatal(err)
		}
		if len(stars) > 0 {
			colours = append(colours, stars[0].Colour)
		}
	}
	if !redStars(stars) {
		t.Fatalf("no page of %d showed reviews v3's red stars (star colours seen: %v)", pages, colours)
	}
	for _, s := range stars {
		if s.W <= 0 || s.H <= 0 || s.W > 40 || s.H > 40 {
			t.Errorf("a star is laid out %.0f×%.0f px: the page's stylesheet did not apply", s.W, s.H)
		}
	}
	t.Logf("productpage: %d stars of %.0f×%.0f px in %s", len(stars), stars[0].W, stars[0].H, stars[0].Colour)
	shot(ctx, t, b, "productpage.png")
	u, _ := url.Parse(page)
	if off := browser.OffHost(b.Requests(), u.Host); len(off) > 0 {
		t.Errorf("productpage requested what is not behind the gateway %s: %v", u.Host, off)
	}
}

// redStars: the stars are drawn in a red (reviews v3), e.g. rgb(239, 68, 68).
func redStars(stars []star) bool {
	if len(stars) == 0 {
		return false
	}
	var r, g, bl int
	if _, err := fmt.Sscanf(stars[0].Colour, "rgb(%d, %d, %d)", &r, &g, &bl); err != nil {
		return false
	}
	return r > 150 && g < 120 && bl < 120
}

// Prometheus's query page renders each panel's result as one of these (a graph's legend hint,
// no data, or the error).
const (
	panelGraph = "Click: show single series"
	panelEmpty = "Empty query result"
	panelError = "Error executing query"
)

// checkDashboardLink opens one dashboard's link: its panels' queries as graphs on Prometheus's
// query page. Every query must run (no error panel) and at least one have data.
func checkDashboardLink(ctx context.Context, t *testing.T, b *browser.Browser, l summaryLink) {
	t.Helper()
	u, err := url.Parse(l.where)
	if err != nil {
		t.Fatal(err)
	}
	panels := 0
	for k := range u.Query() {
		if strings.HasSuffix(k, ".expr") {
			panels++
		}
	}
	text := open(ctx, t, b, l.where, "Execute")
	deadline := time.Now().Add(time.Minute)
	for done := 0; ; {
		done = strings.Count(text, panelGraph) + strings.Count(text, panelEmpty) + strings.Count(text, panelError)
		if done >= panels {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d panels answered within a minute:\n%s", l.what, done, panels, text)
		}
		sleep(ctx, t, 250*time.Millisecond)
		text, _ = b.WaitText(ctx)
	}
	if strings.Contains(text, panelError) {
		t.Errorf("%s: a query failed:\n%s", l.what, text)
	}
	// Data, not drawn lines: a panel whose series began a minute ago is a dot at the right
	// edge of the hour the link shows (the drawing is checked on istio_requests_total's graph).
	if !strings.Contains(text, panelGraph) {
		t.Errorf("%s: no panel has data:\n%s", l.what, text)
	}
	t.Logf("%s: %d panels, %d with data, %d empty", l.what, panels, strings.Count(text, panelGraph), strings.Count(text, panelEmpty))
	name := regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(strings.TrimPrefix(l.what, "dashboard: ")), "-")
	shot(ctx, t, b, "dashboard-"+name+".png")
}

// checkPrometheusUI: the query page graphs istio_requests_total with the mesh's series, and
// the targets page shows every target Prometheus scrapes (its API's list) up.
func checkPrometheusUI(ctx context.Context, t *testing.T, b *browser.Browser, prom string) {
	t.Helper()
	// The legend lists the series the API returned: calls reported by the gateway's and the
	// workloads' sidecars, to productpage and on to ratings.
	open(ctx, t, b, prom+"/query?g0.expr=istio_requests_total&g0.tab=graph&g0.range_input=15m",
		"istio_requests_total{", `destination_workload="productpage-v1"`, `destination_workload="ratings-v1"`,
		`source_workload="meshlab-ingressgateway"`)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	n, err := b.WaitCanvasColoured(wctx, 100)
	if err != nil {
		t.Fatalf("the graph of istio_requests_total has no series drawn: %v", err)
	}
	t.Logf("istio_requests_total graph: %d coloured pixels", n)
	shot(ctx, t, b, "prometheus-istio-requests-total.png")

	pools := activeTargets(ctx, t, prom)
	var want []string
	for pool, urls := range pools {
		want = append(want, pool)
		want = append(want, urls...)
	}
	text := open(ctx, t, b, prom+"/targets", want...)
	for pool, urls := range pools {
		// "kubernetes-pods\n\n9 / 9 up": the pool's health line as the page renders it.
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(pool) + `\s*\n\s*(\d+) / (\d+) up`).FindStringSubmatch(text)
		if m == nil || m[1] != m[2] || m[2] != fmt.Sprint(len(urls)) {
			t.Errorf("targets page: pool %s shows %v, want all %d of its targets up", pool, m, len(urls))
		}
	}
	if strings.Contains(text, "DOWN") {
		t.Errorf("targets page shows a target DOWN:\n%s", text)
	}
	if len(pools["kubernetes-pods"])+len(pools["envoy-stats"]) < 7 {
		t.Errorf("Prometheus scrapes %v: fewer than the six Bookinfo sidecars and the gateway", pools)
	}
	shot(ctx, t, b, "prometheus-targets.png")
	host := strings.TrimPrefix(prom, "http://")
	if off := browser.OffHost(b.Requests(), host); len(off) > 0 {
		t.Errorf("Prometheus's UI requested what is not on its own host and port %s: %v", host, off)
	}
	if ex := b.Exceptions(); len(ex) > 0 {
		t.Errorf("Prometheus's UI threw: %v", ex)
	}
}

// activeTargets asks Prometheus's API which targets it scrapes: scrape URLs by pool, waiting
// until every one of them was scraped successfully (a pod just started may not be yet).
func activeTargets(ctx context.Context, t *testing.T, prom string) map[string][]string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var r struct {
			Data struct {
				ActiveTargets []struct {
					ScrapePool, ScrapeURL, Health, LastError string
				} `json:"activeTargets"`
			} `json:"data"`
		}
		pools := map[string][]string{}
		down := []string{}
		err := getJSON(ctx, prom+"/api/v1/targets?state=active", &r)
		for _, a := range r.Data.ActiveTargets {
			pools[a.ScrapePool] = append(pools[a.ScrapePool], a.ScrapeURL)
			if a.Health != "up" {
				down = append(down, a.ScrapeURL+" "+a.Health+" "+a.LastError)
			}
		}
		if err == nil && len(pools) > 0 && len(down) == 0 {
			return pools
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus's targets not all up within a minute: %v; down: %v", err, down)
		}
		sleep(ctx, t, time.Second)
	}
}

func getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Bookinfo's workloads as the graph names them (workload.namespace), the gateway, and the calls
// between them: Bookinfo's topology, which live traffic must show.
const (
	gatewayNode = "meshlab-ingressgateway.meshlab-system"
	productpage = "productpage-v1.bookinfo"
	details     = "details-v1.bookinfo"
	reviewsV1   = "reviews-v1.bookinfo"
	reviewsV2   = "reviews-v2.bookinfo"
	reviewsV3   = "reviews-v3.bookinfo"
	ratings     = "ratings-v1.bookinfo"
)

var bookinfoCalls = [][2]string{
	{gatewayNode, productpage}, {productpage, details}, {productpage, reviewsV1}, {productpage, reviewsV2},
	{productpage, reviewsV3}, {reviewsV2, ratings}, {reviewsV3, ratings},
}

// graphWindow is the graph's --window: short, so that a call that stopped leaves the graph
// soon, and at least two of Prometheus's 15 s scrapes long (rate() needs two samples).
const graphWindow = 30 * time.Second

// checkMeshGraph: the graph of the lab shows every Bookinfo call live; scaling reviews-v3 to zero
// removes its node and edges within a minute while the other calls stay; pictures of both
// graphs are kept (SVG and PNG), and the SVG is checked as Chromium draws it.
func checkMeshGraph(ctx context.Context, t *testing.T, c *cli, gw verify.Browser) {
	t.Helper()
	before, took := untilGraph(ctx, t, c, 2*time.Minute, "every Bookinfo call live", func(g graph.Graph) string {
		return missingCalls(g, bookinfoCalls)
	})
	t.Logf("MEASURE graph with every Bookinfo call: %.1fs after the subtest began", took.Seconds())
	nodes := map[string]bool{}
	for _, n := range before.Nodes {
		nodes[n.ID()] = true
	}
	for _, id := range []string{gatewayNode, productpage, details, reviewsV1, reviewsV2, reviewsV3, ratings} {
		if !nodes[id] {
			t.Errorf("graph lacks node %s", id)
		}
	}
	t.Logf("graph before scaling reviews-v3 to zero:\n%s", keepGraph(ctx, t, c, "before"))
	checkGraphSVG(ctx, t, before, browser.Artifact(t, "graph-before.svg"))

	k := c.kubectl(t)
	scaled := time.Now()
	k.run(ctx, t, "-n", "bookinfo", "scale", "deployment/reviews-v3", "--replicas=0")
	defer func() { // the lab as it was, for whatever runs after
		k.run(ctx, t, "-n", "bookinfo", "scale", "deployment/reviews-v3", "--replicas=1")
		k.run(ctx, t, "-n", "bookinfo", "rollout", "status", "deployment/reviews-v3", "--timeout=3m")
		untilMix(ctx, t, gw)
	}()
	still := [][2]string{{gatewayNode, productpage}, {productpage, details}, {productpage, reviewsV1},
		{productpage, reviewsV2}, {reviewsV2, ratings}}
	gone := func(g graph.Graph) string {
		for _, e := range g.Edges {
			if e.From.ID() == reviewsV3 || e.To.ID() == reviewsV3 {
				return fmt.Sprintf("edge %s → %s still there (%.2f rps)", e.From.ID(), e.To.ID(), e.Rate)
			}
		}
		return missingCalls(g, still) // the rest of the traffic is still seen
	}
	// The bar: its edges leave within a minute.
	after, _ := untilGraph(ctx, t, c, time.Minute-time.Since(scaled), "reviews-v3's edges gone", gone)
	t.Logf("MEASURE reviews-v3 scaled to zero: its edges left the graph (--window %s) %.1fs after kubectl scale",
		graphWindow, time.Since(scaled).Seconds())
	// A scrape interval later they are still gone: not one evaluation that missed a sample.
	sleep(ctx, t, 15*time.Second)
	untilGraph(ctx, t, c, 0, "reviews-v3's edges still gone a scrape later", gone)
	t.Logf("graph after scaling reviews-v3 to zero:\n%s", keepGraph(ctx, t, c, "after"))
	checkGraphSVG(ctx, t, after, browser.Artifact(t, "graph-after.svg"))
}

// missingCalls names the first call of want that the graph lacks, or "".
func missingCalls(g graph.Graph, want [][2]string) string {
	for _, w := range want {
		if e, ok := g.Edge(w[0], w[1]); !ok || e.Rate <= 0 {
			return "no live edge " + w[0] + " → " + w[1]
		}
	}
	return ""
}

// meshGraph runs `meshlab mesh graph --hosts H --window 30s --output FORMAT` as a user would.
func meshGraph(ctx context.Context, c *cli, format string, extra ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	args := append([]string{"mesh", "graph", "--hosts", c.lab.HostsFile, "--window", graphWindow.String(), "--output", format}, extra...)
	cmd := exec.CommandContext(ctx, c.bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("meshlab %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// untilGraph polls the graph's JSON until cond says nothing is wrong ("") or within is over,
// and returns that graph and how long it took.
func untilGraph(ctx context.Context, t *testing.T, c *cli, within time.Duration, what string, cond func(graph.Graph) string) (graph.Graph, time.Duration) {
	t.Helper()
	start := time.Now()
	why := ""
	for {
		out, err := meshGraph(ctx, c, "json")
		var g graph.Graph
		if err == nil {
			err = json.Unmarshal(out, &g)
		}
		if err != nil {
			why = err.Error()
		} else if why = cond(g); why == "" {
			return g, time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("graph: not %s within %s: %s\n%s", what, within.Round(time.Second), why, out)
		}
		sleep(ctx, t, 2*time.Second)
	}
}

// keepGraph writes the graph as JSON, text, SVG and PNG to the test's artifacts and returns the
// text view.
func keepGraph(ctx context.Context, t *testing.T, c *cli, name string) string {
	t.Helper()
	text := ""
	for _, f := range []string{"json", "text", "svg", "png"} {
		ext := map[string]string{"text": "txt"}[f]
		if ext == "" {
			ext = f
		}
		p := browser.Artifact(t, "graph-"+name+"."+ext)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := meshGraph(ctx, c, f, "--out", p); err != nil {
			t.Fatal(err)
		}
		t.Logf("graph %s: %s", f, p)
		if f == "text" {
			b, _ := os.ReadFile(p)
			text = string(b)
		}
		if f == "png" {
			checkPNG(t, p)
		}
	}
	return text
}

// checkPNG: the picture decodes and is not blank.
func checkPNG(t *testing.T, p string) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if n := inked(img); n < 1000 {
		t.Errorf("%s (%v) has %d non-white pixels: blank", p, img.Bounds().Size(), n)
	}
}

// inked counts the pixels that are not (nearly) white.
func inked(img image.Image) int {
	n := 0
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			if r, g, b, _ := img.At(x, y).RGBA(); r < 0xe000 || g < 0xe000 || b < 0xe000 {
				n++
			}
		}
	}
	return n
}

// svgNode is a workload's box in Graphviz's SVG (<g class="node"><title>ID</title>…).
type svgNode struct {
	Title, Text string
	W, H        float64
}

type svgPicture struct {
	Tag   string
	W, H  float64
	Nodes []svgNode
	Edges int
}

// checkGraphSVG opens the SVG that `mesh graph --output svg` wrote, served from loopback, in
// Chromium: one laid-out box per node of g, labelled with its workload, and one arrow per
// edge; the screenshot is kept beside it and must not be blank.
func checkGraphSVG(ctx context.Context, t *testing.T, g graph.Graph, file string) {
	t.Helper()
	b := browser.ForTest(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		http.ServeFile(w, r, file)
	}))
	defer srv.Close()
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := b.Open(octx, srv.URL+"/"+filepath.Base(file)); err != nil {
		t.Fatal(err)
	}
	pic, err := chromedp.Run(b.Context(), chromedp.Evaluate[svgPicture](`(() => {
	  const svg = document.documentElement, box = svg.getBoundingClientRect();
	  const nodes = Array.from(document.querySelectorAll("g.node"), g => {
	    const b = g.getBBox();
	    return {Title: g.querySelector("title").textContent,
	            Text: Array.from(g.querySelectorAll("text"), x => x.textContent).join(" "), W: b.width, H: b.height};
	  });
	  return {Tag: svg.tagName, W: box.width, H: box.height, Nodes: nodes, Edges: document.querySelectorAll("g.edge").length};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if pic.Tag != "svg" || pic.W < 100 || pic.H < 100 {
		t.Fatalf("%s renders as <%s> of %.0f×%.0f px", file, pic.Tag, pic.W, pic.H)
	}
	drawn := map[string]svgNode{}
	for _, n := range pic.Nodes {
		drawn[n.Title] = n
	}
	for _, n := range g.Nodes {
		d, ok := drawn[n.ID()]
		if !ok || d.W <= 0 || d.H <= 0 || !strings.Contains(d.Text, n.Workload) {
			t.Errorf("%s: node %s drawn as %+v (ok=%v)", file, n.ID(), d, ok)
		}
	}
	if len(pic.Nodes) != len(g.Nodes) || pic.Edges != len(g.Edges) {
		t.Errorf("%s: %d nodes and %d edges drawn, the graph has %d and %d", file, len(pic.Nodes), pic.Edges, len(g.Nodes), len(g.Edges))
	}
	p := strings.TrimSuffix(file, ".svg") + "-in-chromium.png"
	if err := b.Screenshot(octx, p); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, p)
	t.Logf("screenshot: %s", p)
}
