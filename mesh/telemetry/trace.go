// Package telemetry is the sidecar's observability: trace context propagation (B3 and W3C), Zipkin
// v2 span reporting that never blocks traffic, and Prometheus metrics with Istio's names and labels
// so that Istio's Grafana dashboards and queries work unchanged against meshlab proxies.
package telemetry

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
)

// Header names. B3 is what Envoy's Zipkin tracer and Bookinfo propagate; W3C traceparent is what
// newer clients send. The proxy reads either and writes both so that either kind of app works.
const (
	HeaderB3TraceID      = "X-B3-Traceid"
	HeaderB3SpanID       = "X-B3-Spanid"
	HeaderB3ParentSpanID = "X-B3-Parentspanid"
	HeaderB3Sampled      = "X-B3-Sampled"
	HeaderB3Flags        = "X-B3-Flags"
	HeaderB3Single       = "B3"
	HeaderTraceparent    = "Traceparent"
)

// SpanContext identifies a span within a trace. IDs are lower-case hex: TraceID 16 or 32
// characters, SpanID and ParentID 16.
type SpanContext struct {
	TraceID  string
	SpanID   string
	ParentID string
	Sampled  bool
}

// Valid reports whether the context has well-formed trace and span IDs.
func (sc SpanContext) Valid() bool {
	return isHexID(sc.TraceID, 16, 32) && isHexID(sc.SpanID, 16) && (sc.ParentID == "" || isHexID(sc.ParentID, 16))
}

// Extract reads a span context from request headers: B3 multi-header first, then the single b3
// header, then W3C traceparent. The boolean is false when no valid context is present.
func Extract(h http.Header) (SpanContext, bool) {
	if tid, sid := h.Get(HeaderB3TraceID), h.Get(HeaderB3SpanID); tid != "" && sid != "" {
		sc := SpanContext{
			TraceID:  strings.ToLower(tid),
			SpanID:   strings.ToLower(sid),
			ParentID: strings.ToLower(h.Get(HeaderB3ParentSpanID)),
			Sampled:  h.Get(HeaderB3Sampled) != "0" || h.Get(HeaderB3Flags) == "1",
		}
		return sc, sc.Valid()
	}
	if v := h.Get(HeaderB3Single); v != "" {
		return parseB3Single(v)
	}
	if v := h.Get(HeaderTraceparent); v != "" {
		return parseTraceparent(v)
	}
	return SpanContext{}, false
}

// parseB3Single parses "traceid-spanid[-sampled[-parentid]]".
func parseB3Single(v string) (SpanContext, bool) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(v)), "-")
	if len(parts) < 2 || len(parts) > 4 {
		return SpanContext{}, false
	}
	sc := SpanContext{TraceID: parts[0], SpanID: parts[1], Sampled: true}
	if len(parts) >= 3 {
		sc.Sampled = parts[2] != "0"
	}
	if len(parts) == 4 {
		sc.ParentID = parts[3]
	}
	return sc, sc.Valid()
}

// parseTraceparent parses "00-<32 hex trace>-<16 hex parent>-<2 hex flags>".
func parseTraceparent(v string) (SpanContext, bool) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(v)), "-")
	if len(parts) < 4 || parts[0] == "ff" || !isHex(parts[0], 2) || !isHex(parts[3], 2) {
		return SpanContext{}, false
	}
	if parts[1] == strings.Repeat("0", 32) || parts[2] == strings.Repeat("0", 16) {
		return SpanContext{}, false
	}
	flags, _ := hex.DecodeString(parts[3])
	sc := SpanContext{TraceID: parts[1], SpanID: parts[2], Sampled: flags[0]&1 == 1}
	if len(sc.TraceID) != 32 {
		return SpanContext{}, false
	}
	return sc, sc.Valid()
}

// Inject writes sc as B3 multi-headers and W3C traceparent, replacing any present. The single b3
// header is removed so that a downstream reader cannot see two different contexts.
func Inject(h http.Header, sc SpanContext) {
	sampled, flags := "0", "00"
	if sc.Sampled {
		sampled, flags = "1", "01"
	}
	tid := sc.TraceID
	if len(tid) == 16 { // W3C needs 128-bit trace IDs; B3 allows 64-bit ones, left-padded here
		tid = "0000000000000000" + tid
	}
	// Every request gets these headers on every hop, so their values share one array, and the
	// keys, canonical already, go into the map directly (what Set and Del would do).
	v := make([]string, 5)
	v[0], v[1], v[2], v[3] = sc.TraceID, sc.SpanID, sampled, "00-"+tid+"-"+sc.SpanID+"-"+flags
	h[HeaderB3TraceID], h[HeaderB3SpanID], h[HeaderB3Sampled], h[HeaderTraceparent] = v[0:1:1], v[1:2:2], v[2:3:3], v[3:4:4]
	if sc.ParentID != "" {
		v[4] = sc.ParentID
		h[HeaderB3ParentSpanID] = v[4:5:5]
	} else {
		delete(h, HeaderB3ParentSpanID)
	}
	delete(h, HeaderB3Single)
	delete(h, HeaderB3Flags)
}

// NewRoot starts a new trace.
func NewRoot(sampled bool) SpanContext {
	return SpanContext{TraceID: randomHex(16), SpanID: randomHex(8), Sampled: sampled}
}

// Child returns a new span in the same trace whose parent is sc.
func (sc SpanContext) Child() SpanContext {
	return SpanContext{TraceID: sc.TraceID, SpanID: randomHex(8), ParentID: sc.SpanID, Sampled: sc.Sampled}
}

// randomHex returns n random bytes (n <= 16) in hex, with no allocation but the string's.
func randomHex(n int) string {
	var b [16]byte
	_, _ = rand.Read(b[:n]) // crypto/rand.Read never fails on Linux
	var out [32]byte
	hex.Encode(out[:], b[:n])
	return string(out[:2*n])
}

// isHexID reports whether s is a non-zero lower-case hex ID of one of the given lengths.
func isHexID(s string, lengths ...int) bool {
	for _, n := range lengths {
		if isHex(s, n) && strings.Trim(s, "0") != "" {
			return true
		}
	}
	return false
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
