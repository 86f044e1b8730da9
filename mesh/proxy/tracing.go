package proxy

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/telemetry"
)

// tracer creates spans for requests and reports them to the Zipkin collector the config names.
// The collector can change on reload; the reporter is swapped and the old one flushed.
type tracer struct {
	log *slog.Logger

	mu  sync.RWMutex
	url string
	rep *telemetry.ZipkinReporter
}

func newTracer(log *slog.Logger) *tracer { return &tracer{log: log} }

func (t *tracer) update(cfg config.Tracing) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cfg.ZipkinURL == t.url {
		return
	}
	if old := t.rep; old != nil {
		go func() { // flush the old collector's spans without holding up the reload
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = old.Close(ctx)
		}()
	}
	t.url, t.rep = cfg.ZipkinURL, nil
	if cfg.ZipkinURL != "" {
		t.rep = telemetry.NewZipkinReporter(cfg.ZipkinURL, telemetry.ZipkinOptions{Logger: t.log})
	}
}

func (t *tracer) close(ctx context.Context) {
	t.mu.Lock()
	rep := t.rep
	t.rep = nil
	t.mu.Unlock()
	if rep != nil {
		_ = rep.Close(ctx)
	}
}

// outboundSpan continues the application's trace (its propagated headers) with a client span, or
// starts a trace, sampled by the configured percentage, when the request carries none.
func (t *tracer) outboundSpan(h http.Header, tbl *config.Table) (telemetry.SpanContext, bool) {
	if parent, ok := telemetry.Extract(h); ok {
		return parent.Child(), true
	}
	if tbl == nil {
		return telemetry.SpanContext{}, false
	}
	return telemetry.NewRoot(rand.Float64()*100 < tbl.Tracing.SamplePercent), true
}

// inboundSpan is the server span: a child of the caller's client span. Injected into the request
// the application receives, it becomes the parent of the application's own outbound calls.
func (t *tracer) inboundSpan(h http.Header, tbl *config.Table) (telemetry.SpanContext, bool) {
	sc, ok := t.outboundSpan(h, tbl)
	if ok {
		telemetry.Inject(h, sc)
	}
	return sc, ok
}

// report sends one finished span; it never blocks (the reporter drops when its buffer is full).
// report sends one span; peer is the other side's SPIFFE ID when the hop was mutual TLS.
func (t *tracer) report(sc telemetry.SpanContext, kind, name string, start time.Time, d time.Duration,
	tbl *config.Table, r *http.Request, code int, remote, peer string) {
	t.mu.RLock()
	rep := t.rep
	t.mu.RUnlock()
	if rep == nil {
		return
	}
	s := telemetry.NewSpan(sc, kind, name, start, d)
	if tbl != nil {
		s.LocalEndpoint = &telemetry.Endpoint{ServiceName: tbl.Proxy.Labels["app"] + "." + tbl.Proxy.Namespace}
		if tbl.Proxy.Labels["app"] == "" {
			s.LocalEndpoint.ServiceName = tbl.Proxy.Workload + "." + tbl.Proxy.Namespace
		}
	}
	s.Tags = map[string]string{
		"http.method":      r.Method,
		"http.url":         "http://" + r.Host + r.URL.RequestURI(),
		"http.status_code": strconv.Itoa(code),
		"component":        "proxy",
		"peer.address":     remote,
	}
	if code >= 500 {
		s.Tags["error"] = "true"
	}
	if peer != "" {
		s.Tags["peer.principal"] = peer
	}
	rep.Report(s)
}
