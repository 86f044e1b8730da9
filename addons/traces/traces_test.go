package traces

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
)

var t0 = time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)

// span of the fixture: service, operation, parent, start and duration in ms, status.
type fixSpan struct {
	id, parent, service, op, kind string
	start, dur                    float64
	status                        string
}

// bookinfoTrace is one productpage request: details, then reviews calling ratings, which
// fails with 503.
var bookinfoTrace = []fixSpan{
	{"a1", "", "productpage.default", "productpage.default.svc.cluster.local:9080/productpage", "SERVER", 0, 40, "200"},
	{"a2", "a1", "productpage.default", "details.default.svc.cluster.local:9080/*", "CLIENT", 2, 4, "200"},
	{"a3", "a2", "details.default", "details.default.svc.cluster.local:9080/*", "SERVER", 2.5, 3, "200"},
	{"a4", "a1", "productpage.default", "reviews.default.svc.cluster.local:9080/*", "CLIENT", 8, 30, "200"},
	{"a5", "a4", "reviews.default", "reviews.default.svc.cluster.local:9080/*", "SERVER", 9, 28, "200"},
	{"a6", "a5", "reviews.default", "ratings.default.svc.cluster.local:9080/*", "CLIENT", 12, 18, "503"},
	{"a7", "a6", "ratings.default", "ratings.default.svc.cluster.local:9080/*", "SERVER", 13, 16, "503"},
}

func us(ms float64) int64 { return int64(ms * 1000) }

func zipkinJSON(traceID string, start time.Time, spans []fixSpan) []map[string]any {
	var out []map[string]any
	for _, s := range spans {
		m := map[string]any{"traceId": traceID, "id": s.id, "name": s.op, "kind": s.kind,
			"timestamp": start.UnixMicro() + us(s.start), "duration": us(s.dur),
			"localEndpoint": map[string]any{"serviceName": s.service},
			"tags":          map[string]string{"http.status_code": s.status}}
		if s.parent != "" {
			m["parentId"] = s.parent
		}
		if strings.HasPrefix(s.status, "5") {
			m["tags"].(map[string]string)["error"] = "true"
		}
		out = append(out, m)
	}
	return out
}

func jaegerJSON(traceID string, start time.Time, spans []fixSpan) map[string]any {
	procs := map[string]any{}
	pid := map[string]string{}
	var js []map[string]any
	for _, s := range spans {
		if pid[s.service] == "" {
			pid[s.service] = "p" + string(rune('1'+len(pid)))
			procs[pid[s.service]] = map[string]any{"serviceName": s.service}
		}
		tags := []map[string]any{{"key": "span.kind", "type": "string", "value": strings.ToLower(s.kind)},
			{"key": "http.status_code", "type": "int64", "value": json.Number(s.status)}}
		if strings.HasPrefix(s.status, "5") {
			tags = append(tags, map[string]any{"key": "error", "type": "bool", "value": true})
		}
		m := map[string]any{"traceID": traceID, "spanID": s.id, "operationName": s.op, "processID": pid[s.service],
			"startTime": start.UnixMicro() + us(s.start), "duration": us(s.dur), "tags": tags, "references": []any{}}
		if s.parent != "" {
			m["references"] = []any{map[string]any{"refType": "CHILD_OF", "traceID": traceID, "spanID": s.parent}}
		}
		js = append(js, m)
	}
	return map[string]any{"traceID": traceID, "spans": js, "processes": procs}
}

// second is an older, shorter trace: productpage calling details only.
var second = bookinfoTrace[:3]

func serve(t *testing.T, routes map[string]any) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, ok := routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func zipkinServer(t *testing.T) *httptest.Server {
	return serve(t, map[string]any{
		"/api/v2/services": []string{"productpage.default"},
		"/api/v2/traces": [][]map[string]any{
			zipkinJSON("00000000000000b1", t0.Add(-time.Minute), second), zipkinJSON("00000000000000a1", t0, bookinfoTrace)},
		"/api/v2/trace/00000000000000a1": zipkinJSON("00000000000000a1", t0, bookinfoTrace),
	})
}

func jaegerServer(t *testing.T) *httptest.Server {
	a := jaegerJSON("00000000000000a1", t0, bookinfoTrace)
	b := jaegerJSON("00000000000000b1", t0.Add(-time.Minute), second)
	return serve(t, map[string]any{
		"/api/services": map[string]any{"data": []string{"details.default", "jaeger-all-in-one", "productpage.default"}},
		// Asked per service; the same traces come back for each and must be merged.
		"/api/traces":                  map[string]any{"data": []any{b, a}},
		"/api/traces/00000000000000a1": map[string]any{"data": []any{a}},
	})
}

func TestRecentAndTrace(t *testing.T) {
	for _, tc := range []struct {
		name string
		srv  func(*testing.T) *httptest.Server
		want Backend
	}{{"zipkin", zipkinServer, Zipkin}, {"jaeger", jaegerServer, Jaeger}} {
		t.Run(tc.name, func(t *testing.T) {
			c := Client{Base: tc.srv(t).URL}
			ts, b, err := c.Recent(context.Background(), Query{End: t0.Add(time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			if b != tc.want || len(ts) != 2 || ts[0].ID != "00000000000000a1" {
				t.Fatalf("backend %s, %d traces (first %+v); want %s, 2, the newest first", b, len(ts), ts, tc.want)
			}
			golden.RequireEqual(t, []byte(List(ts, b)))
			tr, _, err := c.Trace(context.Background(), "00000000000000a1")
			if err != nil {
				t.Fatal(err)
			}
			if r := tr.Root(); r.Service != "productpage.default" || tr.Errors() != 2 || tr.Duration() != 40*time.Millisecond {
				t.Fatalf("root %+v, %d errors, %s", r, tr.Errors(), tr.Duration())
			}
			// Both backends render the same waterfall: one golden file.
			got := Waterfall(tr)
			want := Waterfall(fromZipkinFixture())
			if got != want {
				t.Fatalf("%s waterfall differs from Zipkin's:\n%s\nwant:\n%s", tc.name, got, want)
			}
		})
	}
}

func fromZipkinFixture() Trace {
	raw, _ := json.Marshal(zipkinJSON("00000000000000a1", t0, bookinfoTrace))
	var spans []zipkinSpan
	_ = json.Unmarshal(raw, &spans)
	return fromZipkin(spans)
}

func TestWaterfall(t *testing.T) {
	golden.RequireEqual(t, []byte(Waterfall(fromZipkinFixture())))
}

// TestWaterfallOrphan: a span whose parent was not recorded still shows, as a root.
func TestWaterfallOrphan(t *testing.T) {
	tr := fromZipkinFixture()
	tr.Spans = append(tr.Spans[:1:1], tr.Spans[2:]...) // drop a2: a3's parent
	out := Waterfall(tr)
	if !strings.Contains(out, "\ndetails.default ") {
		t.Fatalf("the orphan span is not a root row:\n%s", out)
	}
}

func TestTraceNotFound(t *testing.T) {
	c := Client{Base: zipkinServer(t).URL}
	if _, _, err := c.Trace(context.Background(), "ffff"); err == nil || !strings.Contains(err.Error(), "trace ffff: not in zipkin") {
		t.Fatalf("missing trace: %v", err)
	}
}

func TestNoBackend(t *testing.T) {
	c := Client{Base: serve(t, nil).URL}
	_, _, err := c.Recent(context.Background(), Query{})
	if err == nil || !strings.Contains(err.Error(), "neither Zipkin's API") {
		t.Fatalf("a server that is no tracing backend: %v", err)
	}
}

func TestListEmpty(t *testing.T) {
	golden.RequireEqual(t, []byte(List(nil, Jaeger)))
}

func TestBar(t *testing.T) {
	for _, tc := range []struct {
		off, d, total time.Duration
		want          string
	}{
		{0, 10, 10, strings.Repeat("█", barWidth)},
		{5, 0, 10, strings.Repeat(" ", 16) + "█" + strings.Repeat(" ", 15)},
		{10, 0, 10, strings.Repeat(" ", 31) + "█"},
	} {
		if got := bar(tc.off, tc.d, tc.total); got != tc.want {
			t.Errorf("bar(%d, %d, %d) = %q, want %q", tc.off, tc.d, tc.total, got, tc.want)
		}
	}
}
