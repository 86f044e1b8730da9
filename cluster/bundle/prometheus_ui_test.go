package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/meshlab/meshlab/internal/browser"
)

// TestBundlePrometheusUIRendersInChromium opens the web UI of the bundle's Prometheus in headless
// Chromium, as a person opening the lab's http://<node>:30003 would: the browser talks to a port
// that forwards to Prometheus's own (a NodePort does that), and Prometheus runs with the chart's
// arguments (no --web.external-url or route prefix: the app's URLs are relative, so any host and
// port in front of it work). Prometheus scrapes itself and a port where nothing listens,
// so the pages have data that only the API can give them. The test asserts on the text the app
// rendered from that data: the query page's table of `up`, its graph (the series drawn on a
// canvas), and the targets page's two jobs. Screenshots go to _output/test-artifacts.
func TestBundlePrometheusUIRendersInChromium(t *testing.T) {
	dir, m := builtBundle(t)
	b := browser.ForTest(t)
	work := t.TempDir()
	prom := filepath.Join(work, "prometheus")
	extractFromImage(t, dir, m, m.Versions["image-prometheus"], "bin/prometheus", prom)
	addr, nobody := freeLoopbackAddr(t), freeLoopbackAddr(t)
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: prometheus-self
    static_configs: [{targets: [%q]}]
  - job_name: nothing-listens
    static_configs: [{targets: [%q]}]
`, addr, nobody)
	if err := os.WriteFile(filepath.Join(work, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	startPeer(t, work, "prometheus", prom, chartPrometheusArgs(t, filepath.Join(work, "prometheus.yml"), filepath.Join(work, "data"), addr)...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitHTTP(ctx, t, "http://"+addr+"/-/ready")
	waitUpSeries(ctx, t, "http://"+addr, 2)

	node := forwardTCP(t, addr) // what the browser sees, like <node>:30003
	base := "http://" + node
	open := func(path string, want ...string) string {
		t.Helper()
		if err := b.Open(ctx, base+path); err != nil {
			t.Fatal(err)
		}
		text, err := b.WaitText(ctx, want...)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return text
	}

	// The table of `up`: one row per target, the instance labels and values only the API knows.
	open("/query?g0.expr=up&g0.tab=table", `instance="`+addr+`"`, `instance="`+nobody+`"`, `job="prometheus-self"`)
	shot(ctx, t, b, "query-table.png")

	// The graph of `up` over the last 15 s (Prometheus has been scraping every second since it
	// started): the legend names both series, and the lines are drawn on uPlot's canvas.
	open("/query?g0.expr=up&g0.tab=graph&g0.range_input=15s", `job="prometheus-self"`, `job="nothing-listens"`)
	if _, err := b.WaitCanvasColoured(ctx, 100); err != nil {
		t.Fatalf("the query page's graph has no series drawn: %v", err)
	}
	shot(ctx, t, b, "query-graph.png")

	// The targets page: both jobs, with the scrape URLs of their endpoints.
	open("/targets", "prometheus-self", "nothing-listens", "http://"+addr+"/metrics", "http://"+nobody+"/metrics")
	shot(ctx, t, b, "targets.png")

	if off := browser.OffHost(b.Requests(), node); len(off) > 0 {
		t.Errorf("the UI requested what is not on its own host and port %s: %v", node, off)
	}
	if ex := b.Exceptions(); len(ex) > 0 {
		t.Errorf("the UI threw: %v", ex)
	}
}

func shot(ctx context.Context, t *testing.T, b *browser.Browser, name string) {
	t.Helper()
	p := browser.Artifact(t, name)
	if err := b.Screenshot(ctx, p); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// waitUpSeries waits until the Prometheus at base has n series of up (every target scraped once).
func waitUpSeries(ctx context.Context, t *testing.T, base string, n int) {
	t.Helper()
	for {
		_, body := get(ctx, base+"/api/v1/query?query=up")
		var r struct {
			Data struct{ Result []json.RawMessage } `json:"data"`
		}
		if json.Unmarshal(body, &r) == nil && len(r.Data.Result) >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Prometheus never had %d series of up: %s", n, body)
		case <-time.After(200 * time.Millisecond): // polling interval of a deadline-bound wait
		}
	}
}

// forwardTCP listens on a free loopback port and forwards each connection to target, as a
// NodePort forwards to a pod: the browser's URLs carry this port, Prometheus never learns it.
func forwardTCP(t *testing.T, target string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	track := func(c net.Conn) { mu.Lock(); conns = append(conns, c); mu.Unlock() }
	// The browser may still hold keep-alive connections when the test ends: close them too.
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			track(c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				track(u)
				defer u.Close()
				go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, u)
			}()
		}
	}()
	return l.Addr().String()
}
