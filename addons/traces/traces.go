// Package traces reads recent traces from the lab's tracing backend, Zipkin (its v2 API) or
// Jaeger (its query API: the offline lab runs Jaeger behind Zipkin's Service and NodePort),
// into one model, and renders them for a terminal: a list of traces, and one trace as a
// waterfall of its spans. It is the trace view for a lab without a tracing UI.
package traces

import (
	"slices"
	"strings"
	"time"
)

// Span is one timed operation of a trace, whichever backend stored it.
type Span struct {
	ID        string        `json:"id"`
	ParentID  string        `json:"parentId,omitempty"`
	Service   string        `json:"service"`
	Operation string        `json:"operation"`
	Kind      string        `json:"kind,omitempty"` // server, client, … (lower case)
	Start     time.Time     `json:"start"`
	Duration  time.Duration `json:"duration"`
	// Status is the HTTP status code the span recorded ("" when none).
	Status string `json:"status,omitempty"`
	// Error is set when the span is tagged as failed (error=true, or a 5xx status).
	Error bool `json:"error,omitempty"`
}

// Trace is one request's spans, ordered by start time.
type Trace struct {
	ID    string `json:"id"`
	Spans []Span `json:"spans"`
}

// Root is the span with no parent in the trace (the earliest such span when the trace is
// incomplete), or the earliest span.
func (t Trace) Root() Span {
	ids := map[string]bool{}
	for _, s := range t.Spans {
		ids[s.ID] = true
	}
	for _, s := range t.Spans {
		if s.ParentID == "" || !ids[s.ParentID] {
			return s
		}
	}
	if len(t.Spans) > 0 {
		return t.Spans[0]
	}
	return Span{}
}

// Start is when the trace's first span started.
func (t Trace) Start() time.Time {
	if len(t.Spans) == 0 {
		return time.Time{}
	}
	return t.Spans[0].Start
}

// Duration is from the first span's start to the last span's end.
func (t Trace) Duration() time.Duration {
	var end time.Time
	for _, s := range t.Spans {
		if e := s.Start.Add(s.Duration); e.After(end) {
			end = e
		}
	}
	return end.Sub(t.Start())
}

// Errors counts the failed spans.
func (t Trace) Errors() int {
	n := 0
	for _, s := range t.Spans {
		if s.Error {
			n++
		}
	}
	return n
}

// normalize orders the spans by start time (ties by ID, so output is stable).
func (t *Trace) normalize() {
	slices.SortStableFunc(t.Spans, func(a, b Span) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// newestFirst orders traces by start time, newest first.
func newestFirst(ts []Trace) {
	slices.SortStableFunc(ts, func(a, b Trace) int {
		if c := b.Start().Compare(a.Start()); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
