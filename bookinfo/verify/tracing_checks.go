package verify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// span is the part of a span the check needs, whichever backend stored it.
type span struct {
	id, parent, service string
}

// edge is "caller→callee" between two services of one trace.
type edge struct{ from, to string }

// wantEdges are Bookinfo's calls a complete trace shows, the edges Istio's distributed-tracing
// docs check (productpage→details, productpage→reviews, reviews→ratings).
var wantEdges = []edge{{"productpage", "details"}, {"productpage", "reviews"}, {"reviews", "ratings"}}

// zipkinSpan is the part of a Zipkin v2 span (openzipkin/zipkin-api's zipkin2-api.yaml) the checks
// read.
type zipkinSpan struct {
	ID            string `json:"id"`
	ParentID      string `json:"parentId"`
	LocalEndpoint struct {
		ServiceName string `json:"serviceName"`
	} `json:"localEndpoint"`
}

// jaegerTraces is Jaeger's query API answer (GET /api/traces).
type jaegerTraces struct {
	Data []struct {
		Spans []struct {
			SpanID     string `json:"spanID"`
			ProcessID  string `json:"processID"`
			References []struct {
				RefType string `json:"refType"`
				SpanID  string `json:"spanID"`
			} `json:"references"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	} `json:"data"`
}

// fetchTraces asks the tracing backend at base for recent productpage traces; it tries Zipkin's
// API, then Jaeger's, and says which answered.
func (a api) fetchTraces(ctx context.Context, base, namespace string) (backend string, traces [][]span, err error) {
	svc := "productpage." + namespace
	var zt [][]zipkinSpan
	zerr := a.getJSON(ctx, base+"/api/v2/traces?limit=50&serviceName="+url.QueryEscape(svc), &zt)
	if zerr == nil {
		for _, t := range zt {
			var ss []span
			for _, s := range t {
				ss = append(ss, span{id: s.ID, parent: s.ParentID, service: s.LocalEndpoint.ServiceName})
			}
			traces = append(traces, ss)
		}
		return "zipkin", traces, nil
	}
	var jt jaegerTraces
	jerr := a.getJSON(ctx, base+"/api/traces?limit=50&lookback=1h&service="+url.QueryEscape(svc), &jt)
	if jerr != nil {
		return "", nil, fmt.Errorf("neither the Zipkin nor the Jaeger query API answered: %w", errors.Join(zerr, jerr))
	}
	for _, t := range jt.Data {
		var ss []span
		for _, s := range t.Spans {
			sp := span{id: s.SpanID, service: t.Processes[s.ProcessID].ServiceName}
			for _, r := range s.References {
				if r.RefType == "CHILD_OF" {
					sp.parent = r.SpanID
				}
			}
			ss = append(ss, sp)
		}
		traces = append(traces, ss)
	}
	return "jaeger", traces, nil
}

// edgesOf lists the service-to-service calls in a trace: a span whose parent belongs to another
// service. Names are reduced to the app ("reviews.bookinfo" → "reviews").
func edgesOf(t []span) []edge {
	byID := map[string]span{}
	for _, s := range t {
		byID[s.id] = s
	}
	app := func(s string) string { a, _, _ := strings.Cut(s, "."); return a }
	var out []edge
	for _, s := range t {
		p, ok := byID[s.parent]
		if !ok || app(p.service) == app(s.service) {
			continue
		}
		e := edge{app(p.service), app(s.service)}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// tracePages is how many pages the trace check sends per attempt. Only reviews v2 and v3 call
// ratings; with reviews balanced evenly over three versions, no page of an attempt reaches
// ratings with chance (1/3)^12 ≈ 1.9e-6, and the check retries within its budget besides.
const tracePages = 12

// traceComplete checks the tracing backend holds a trace with every expected edge. It sends
// requests first, so the newest traces are of this attempt's pages.
func traceComplete(a api, base, namespace string, b Browser) CheckFunc {
	return func(ctx context.Context) (Observation, error) {
		if _, err := b.Count(ctx, nil, tracePages); err != nil {
			return Observation{Observed: "no traffic"}, err
		}
		backend, traces, err := a.fetchTraces(ctx, base, namespace)
		if err != nil {
			return Observation{Observed: "unreachable"}, err
		}
		best := 0
		var bestEdges []edge
		for _, t := range traces {
			es := edgesOf(t)
			n := 0
			for _, w := range wantEdges {
				if slices.Contains(es, w) {
					n++
				}
			}
			if n > best || bestEdges == nil {
				best, bestEdges = n, es
			}
			if n == len(wantEdges) {
				return Observation{Observed: fmt.Sprintf("%s: trace with %s", backend, formatEdges(es))}, nil
			}
		}
		o := Observation{Observed: fmt.Sprintf("%s: %d traces; best has %s", backend, len(traces), formatEdges(bestEdges))}
		return o, errors.New("no trace shows productpage→details, productpage→reviews and reviews→ratings")
	}
}

func formatEdges(es []edge) string {
	if len(es) == 0 {
		return "no calls"
	}
	var s []string
	for _, e := range es {
		s = append(s, e.from+"→"+e.to)
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}
