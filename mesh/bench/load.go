package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"fortio.org/fortio/fhttp"
	"fortio.org/fortio/periodic"
	"fortio.org/log"
)

// LoadOptions is one fortio run: HTTP/1.1 keep-alive, a fixed QPS spread over a fixed number of
// connections, 1 µs histogram resolution, and the way the connections' requests are timed.
type LoadOptions struct {
	URL         string
	QPS         float64
	Connections int
	Duration    time.Duration
	Shape       Shape
}

// Shape is how fortio times the connections' requests against each other.
type Shape string

const (
	// ShapeIstio is Istio's latency recipe (istio/tools perf/benchmark: latency.yaml sets
	// uniform and nocatchup, run_perf_test.conf sets jitter): the connections' schedules are
	// staggered evenly, each send is moved by up to ±10 %, and a late request is not made up
	// with a burst.
	ShapeIstio Shape = "istio"
	// ShapeHerd is fortio's default: every connection starts at the same instant with the same
	// period, so the requests arrive in bursts of one per connection (fortio's documentation
	// calls it the thundering herd). It measures how fast a proxy drains a burst.
	ShapeHerd Shape = "herd"
)

// Shapes is what a benchmark run measures by default: Istio's recipe, whose figures the targets
// are checked against, then the herd.
var Shapes = []Shape{ShapeIstio, ShapeHerd}

// ParseShapes reads a comma-separated list of shape names; "" is Shapes.
func ParseShapes(s string) ([]Shape, error) {
	if s == "" {
		return Shapes, nil
	}
	var out []Shape
	for name := range strings.SplitSeq(s, ",") {
		sh, err := ParseShape(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		out = append(out, sh)
	}
	return out, nil
}

// ParseShape reads a shape's name; "" is ShapeIstio.
func ParseShape(s string) (Shape, error) {
	switch Shape(s) {
	case "", ShapeIstio:
		return ShapeIstio, nil
	case ShapeHerd:
		return ShapeHerd, nil
	}
	return "", fmt.Errorf("load shape %q: want %q or %q", s, ShapeIstio, ShapeHerd)
}

// Describe names the shape and the fortio options it stands for, for the table's title.
func (s Shape) Describe() string {
	if s == ShapeHerd {
		return "herd (fortio's default: all connections send at the same instants)"
	}
	return "istio (Istio's recipe: -uniform -jitter -nocatchup)"
}

// LoadResult is what a run measured at the client.
type LoadResult struct {
	Requests  int64
	Errors    int64 // anything but 200, socket errors included
	ActualQPS float64
	P50       time.Duration
	P90       time.Duration
	P99       time.Duration
}

// resolution is Istio's `fortio load -r 0.000001`: latency buckets of 1 µs, not fortio's default
// 1 ms, which would hide sub-millisecond differences.
const resolution = 1e-6

// runnerOptions turns o into fortio's options.
func runnerOptions(o LoadOptions) *fhttp.HTTPRunnerOptions {
	ro := &fhttp.HTTPRunnerOptions{
		RunnerOptions: periodic.RunnerOptions{
			QPS: o.QPS, NumThreads: o.Connections, Duration: o.Duration,
			Percentiles: []float64{50, 90, 99}, Resolution: resolution, Out: io.Discard,
		},
		HTTPOptions:        fhttp.HTTPOptions{URL: o.URL, HTTPReqTimeOut: 5 * time.Second},
		AllowInitialErrors: false,
	}
	if o.Shape != ShapeHerd {
		ro.Uniform, ro.Jitter, ro.NoCatchUp = true, true, true
	}
	return ro
}

// RunLoad runs fortio's HTTP load generator in this process and returns the client-side figures.
func RunLoad(o LoadOptions) (LoadResult, error) {
	log.SetLogLevelQuiet(log.Error)
	ro := runnerOptions(o)
	res, err := fhttp.RunHTTPTest(ro)
	if err != nil {
		return LoadResult{}, fmt.Errorf("fortio load %s: %w", o.URL, err)
	}
	h := res.DurationHistogram
	out := LoadResult{Requests: h.Count, ActualQPS: res.ActualQPS, Errors: h.Count - res.RetCodes[http.StatusOK]}
	for _, p := range h.Percentiles {
		d := time.Duration(p.Value * float64(time.Second))
		switch p.Percentile {
		case 50:
			out.P50 = d
		case 90:
			out.P90 = d
		case 99:
			out.P99 = d
		}
	}
	if h.Count == 0 {
		return out, fmt.Errorf("fortio load %s: no request completed", o.URL)
	}
	return out, nil
}

// ServeEcho serves fortio's echo handler (`/echo?size=1024` answers 1 KiB, as Istio's
// fortioserver does) on addr until ctx ends.
func ServeEcho(ctx context.Context, addr string) error {
	log.SetLogLevelQuiet(log.Error)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("echo server: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(fhttp.EchoHandler), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("echo server: %w", err)
	}
	return nil
}
