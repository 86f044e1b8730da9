package telemetry

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// collector is a real HTTP server on loopback that accepts Zipkin v2 span batches.
type collector struct {
	mu      sync.Mutex
	batches [][]Span
	block   chan struct{} // when non-nil, requests wait on it
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.block != nil {
		<-c.block
	}
	if r.URL.Path != "/api/v2/spans" || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var spans []Span
	if err := json.NewDecoder(r.Body).Decode(&spans); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.batches = append(c.batches, spans)
	c.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (c *collector) spans() []Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var all []Span
	for _, b := range c.batches {
		all = append(all, b...)
	}
	return all
}

func TestZipkinReporterBatchesAndFlushes(t *testing.T) {
	c := &collector{}
	srv := httptest.NewServer(c)
	defer srv.Close()
	r := NewZipkinReporter(srv.URL+"/api/v2/spans", ZipkinOptions{BatchSize: 10, FlushInterval: time.Hour})
	root := NewRoot(true)
	for i := 0; i < 25; i++ {
		s := NewSpan(root.Child(), KindClient, "reviews.default.svc.cluster.local:9080/*", time.Now(), 3*time.Millisecond)
		s.LocalEndpoint = &Endpoint{ServiceName: "productpage.default", IPv4: "127.0.0.1"}
		r.Report(s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := c.spans()
	if len(got) != 25 {
		t.Fatalf("collector got %d spans, want 25", len(got))
	}
	if len(c.batches) != 3 {
		t.Errorf("got %d batches, want 3 (10+10+5)", len(c.batches))
	}
	if got[0].TraceID != root.TraceID || got[0].ParentID != root.SpanID || got[0].Kind != KindClient || got[0].Duration != 3000 {
		t.Errorf("span fields not preserved: %+v", got[0])
	}
	if sent, dropped, failed := r.Stats(); sent != 25 || dropped != 0 || failed != 0 {
		t.Errorf("stats sent=%d dropped=%d failed=%d", sent, dropped, failed)
	}
}

func TestZipkinReporterNeverBlocksOnSlowCollector(t *testing.T) {
	c := &collector{block: make(chan struct{})}
	srv := httptest.NewServer(c)
	defer srv.Close()
	r := NewZipkinReporter(srv.URL+"/api/v2/spans", ZipkinOptions{BufferSize: 8, BatchSize: 1, FlushInterval: time.Millisecond})
	done := make(chan struct{})
	go func() {
		for i := 0; i < 1000; i++ {
			r.Report(NewSpan(NewRoot(true), KindServer, "x", time.Now(), time.Millisecond))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Report blocked while the collector was stuck")
	}
	close(c.block)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	sent, dropped, _ := r.Stats()
	if dropped == 0 || sent+dropped != 1000 {
		t.Fatalf("sent=%d dropped=%d: a bounded buffer must drop and count", sent, dropped)
	}
}

func TestZipkinReporterCountsFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	r := NewZipkinReporter(srv.URL, ZipkinOptions{})
	r.Report(NewSpan(NewRoot(true), KindServer, "x", time.Now(), time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, failed := r.Stats(); failed != 1 {
		t.Fatalf("failed = %d, want 1", failed)
	}
}
