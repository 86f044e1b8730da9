package propagate

import (
	"net/http"
	"strings"
)

// B3 headers, lower case as they travel on the wire between Bookinfo services.
const (
	HeaderTraceID      = "x-b3-traceid"
	HeaderSpanID       = "x-b3-spanid"
	HeaderParentSpanID = "x-b3-parentspanid"
	HeaderSampled      = "x-b3-sampled"
	HeaderFlags        = "x-b3-flags"
	HeaderSingle       = "b3"
)

// B3 re-encodes the incoming B3 context the way productpage's OpenTelemetry B3MultiFormat
// extract-then-inject does: the output carries only x-b3-traceid (always 32 hex, a 64-bit id is
// left-padded with zeros), x-b3-spanid (the incoming span id) and x-b3-sampled ("1" or "0").
// A single "b3" header is accepted on input. Nothing is set when the incoming context has no
// valid trace and span id, because OpenTelemetry then has no span context to inject.
func B3(dst, src http.Header) {
	traceID, spanID, sampled, ok := extractB3(src)
	if !ok {
		return
	}
	dst.Set(HeaderTraceID, traceID)
	dst.Set(HeaderSpanID, spanID)
	if sampled {
		dst.Set(HeaderSampled, "1")
	} else {
		dst.Set(HeaderSampled, "0")
	}
}

// extractB3 returns the normalised (lower-case, 32-hex) trace id, the span id and the sampling
// decision, or ok=false when the context is invalid.
func extractB3(h http.Header) (traceID, spanID string, sampled, ok bool) {
	var sampledValue, flags string
	if single := h.Get(HeaderSingle); single != "" {
		// b3: {traceid}-{spanid}[-{sampled}[-{parentspanid}]]; a lone "0"/"1"/"d" carries no ids.
		parts := strings.Split(single, "-")
		if len(parts) < 2 || len(parts) > 4 {
			return "", "", false, false
		}
		traceID, spanID = parts[0], parts[1]
		if len(parts) > 2 {
			sampledValue = parts[2]
		}
	} else {
		traceID, spanID = h.Get(HeaderTraceID), h.Get(HeaderSpanID)
		sampledValue, flags = h.Get(HeaderSampled), h.Get(HeaderFlags)
	}
	if !isHex(traceID) || (len(traceID) != 16 && len(traceID) != 32) || !isHex(spanID) || len(spanID) != 16 {
		return "", "", false, false
	}
	traceID, spanID = strings.ToLower(traceID), strings.ToLower(spanID)
	traceID = strings.Repeat("0", 32-len(traceID)) + traceID
	if allZero(traceID) || allZero(spanID) {
		return "", "", false, false
	}
	// OpenTelemetry's B3 propagator treats these spellings (and debug) as sampled.
	switch sampledValue {
	case "1", "true", "True", "d":
		sampled = true
	}
	if flags == "1" {
		sampled = true
	}
	return traceID, spanID, sampled, true
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	return strings.Trim(s, "0") == ""
}
