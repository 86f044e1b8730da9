package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"fortio.org/fortio/fhttp"
	"fortio.org/fortio/periodic"
	"fortio.org/log"
)

// LoadOptions is one fortio run: Istio's recipe (HTTP/1.1 keep-alive, fixed QPS spread over a
// fixed number of connections, no jitter, 1 µs histogram resolution).
type LoadOptions struct {
	URL         string
	QPS         float64
	Connections int
	Duration    time.Duration
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

// RunLoad runs fortio's HTTP load generator in this process and returns the client-side figures.
func RunLoad(o LoadOptions) (LoadResult, error) {
	log.SetLogLevelQuiet(log.Error)
	ro := &fhttp.HTTPRunnerOptions{
		RunnerOptions: periodic.RunnerOptions{
			QPS: o.QPS, NumThreads: o.Connections, Duration: o.Duration,
			Percentiles: []float64{50, 90, 99}, Resolution: resolution, Out: io.Discard,
		},
		HTTPOptions:        fhttp.HTTPOptions{URL: o.URL, HTTPReqTimeOut: 5 * time.Second},
		AllowInitialErrors: false,
	}
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
