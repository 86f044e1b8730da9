package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Span kinds in Zipkin v2.
const (
	KindClient = "CLIENT"
	KindServer = "SERVER"
)

// Endpoint is a Zipkin v2 endpoint.
type Endpoint struct {
	ServiceName string `json:"serviceName,omitempty"`
	IPv4        string `json:"ipv4,omitempty"`
	IPv6        string `json:"ipv6,omitempty"`
	Port        int    `json:"port,omitempty"`
}

// Span is one Zipkin v2 span, encoded exactly as the v2 JSON API expects (timestamps and
// durations in microseconds).
type Span struct {
	TraceID        string            `json:"traceId"`
	ID             string            `json:"id"`
	ParentID       string            `json:"parentId,omitempty"`
	Name           string            `json:"name,omitempty"`
	Kind           string            `json:"kind,omitempty"`
	Timestamp      int64             `json:"timestamp,omitempty"`
	Duration       int64             `json:"duration,omitempty"`
	Shared         bool              `json:"shared,omitempty"`
	LocalEndpoint  *Endpoint         `json:"localEndpoint,omitempty"`
	RemoteEndpoint *Endpoint         `json:"remoteEndpoint,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
}

// NewSpan fills the identity and timing fields of a span from a context, a start time and a
// duration; the caller adds names, endpoints and tags.
func NewSpan(sc SpanContext, kind, name string, start time.Time, d time.Duration) Span {
	us := d.Microseconds()
	if us < 1 {
		us = 1 // Zipkin treats 0 as "unknown"
	}
	return Span{TraceID: sc.TraceID, ID: sc.SpanID, ParentID: sc.ParentID, Kind: kind, Name: name,
		Timestamp: start.UnixMicro(), Duration: us}
}

// Reporter accepts finished spans. Report never blocks.
type Reporter interface {
	Report(Span)
}

// ZipkinOptions tune a ZipkinReporter. Zero values take the defaults.
type ZipkinOptions struct {
	BufferSize    int           // spans held while the collector is slow; beyond it spans are dropped (default 4096)
	BatchSize     int           // spans per POST (default 100)
	FlushInterval time.Duration // longest a span waits in a partial batch (default 1s)
	Timeout       time.Duration // per POST (default 5s)
	Client        *http.Client
	Logger        *slog.Logger
}

// ZipkinReporter batches spans and POSTs them to a Zipkin v2 collector (/api/v2/spans). Traffic
// never waits for it: a full buffer drops spans and counts them.
type ZipkinReporter struct {
	url    string
	opts   ZipkinOptions
	queue  chan Span
	done   chan struct{}
	closed sync.Once

	sent, dropped, failed atomic.Uint64
}

var _ Reporter = (*ZipkinReporter)(nil)

// NewZipkinReporter starts the background sender. Close it to flush and stop.
func NewZipkinReporter(url string, opts ZipkinOptions) *ZipkinReporter {
	if opts.BufferSize <= 0 {
		opts.BufferSize = 4096
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: opts.Timeout}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &ZipkinReporter{url: url, opts: opts, queue: make(chan Span, opts.BufferSize), done: make(chan struct{})}
	go r.loop()
	return r
}

// Report queues a span, or drops it when the buffer is full.
func (r *ZipkinReporter) Report(s Span) {
	select {
	case r.queue <- s:
	default:
		r.dropped.Add(1)
	}
}

// Stats returns how many spans were sent, dropped for a full buffer, and lost to failed POSTs.
func (r *ZipkinReporter) Stats() (sent, dropped, failed uint64) {
	return r.sent.Load(), r.dropped.Load(), r.failed.Load()
}

// Close flushes what is queued (bounded by ctx) and stops the sender. Report must not be
// called after Close.
func (r *ZipkinReporter) Close(ctx context.Context) error {
	r.closed.Do(func() { close(r.queue) })
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("zipkin reporter: flush: %w", ctx.Err())
	}
}

func (r *ZipkinReporter) loop() {
	defer close(r.done)
	batch := make([]Span, 0, r.opts.BatchSize)
	tick := time.NewTicker(r.opts.FlushInterval)
	defer tick.Stop()
	flush := func() {
		if len(batch) > 0 {
			r.post(batch)
			batch = batch[:0]
		}
	}
	for {
		select {
		case s, ok := <-r.queue:
			if !ok {
				flush()
				return
			}
			batch = append(batch, s)
			if len(batch) >= r.opts.BatchSize {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

func (r *ZipkinReporter) post(batch []Span) {
	body, err := json.Marshal(batch)
	if err != nil { // cannot happen for these types; counted rather than ignored
		r.failed.Add(uint64(len(batch)))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		r.failed.Add(uint64(len(batch)))
		r.opts.Logger.Warn("zipkin: bad collector URL", "url", r.url, "err", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.opts.Client.Do(req)
	if err != nil {
		r.failed.Add(uint64(len(batch)))
		r.opts.Logger.Debug("zipkin: post failed", "url", r.url, "err", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		r.failed.Add(uint64(len(batch)))
		r.opts.Logger.Debug("zipkin: collector refused spans", "url", r.url, "status", resp.StatusCode)
		return
	}
	r.sent.Add(uint64(len(batch)))
}
