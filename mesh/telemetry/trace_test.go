package telemetry

import (
	"net/http"
	"testing"
)

func TestExtract(t *testing.T) {
	const tid, sid, pid = "463ac35c9f6413ad48485a3953bb6124", "a2fb4a1d1a96d312", "0020000000000001"
	cases := []struct {
		name    string
		headers map[string]string
		want    SpanContext
		ok      bool
	}{
		{"b3 multi", map[string]string{"x-b3-traceid": tid, "x-b3-spanid": sid, "x-b3-parentspanid": pid, "x-b3-sampled": "1"},
			SpanContext{TraceID: tid, SpanID: sid, ParentID: pid, Sampled: true}, true},
		{"b3 multi 64-bit unsampled", map[string]string{"X-B3-TraceId": "48485a3953bb6124", "X-B3-SpanId": sid, "X-B3-Sampled": "0"},
			SpanContext{TraceID: "48485a3953bb6124", SpanID: sid}, true},
		{"b3 multi upper case ids", map[string]string{"X-B3-TraceId": "48485A3953BB6124", "X-B3-SpanId": "A2FB4A1D1A96D312"},
			SpanContext{TraceID: "48485a3953bb6124", SpanID: sid, Sampled: true}, true},
		{"b3 single", map[string]string{"b3": tid + "-" + sid + "-1-" + pid},
			SpanContext{TraceID: tid, SpanID: sid, ParentID: pid, Sampled: true}, true},
		{"b3 single deny", map[string]string{"b3": tid + "-" + sid + "-0"}, SpanContext{TraceID: tid, SpanID: sid}, true},
		{"traceparent", map[string]string{"traceparent": "00-" + tid + "-" + sid + "-01"},
			SpanContext{TraceID: tid, SpanID: sid, Sampled: true}, true},
		{"traceparent unsampled", map[string]string{"traceparent": "00-" + tid + "-" + sid + "-00"},
			SpanContext{TraceID: tid, SpanID: sid}, true},
		{"b3 wins over traceparent", map[string]string{"x-b3-traceid": tid, "x-b3-spanid": sid, "traceparent": "00-" + tid + "-" + pid + "-01"},
			SpanContext{TraceID: tid, SpanID: sid, Sampled: true}, true},
		{"none", map[string]string{}, SpanContext{}, false},
		{"traceparent zero trace", map[string]string{"traceparent": "00-00000000000000000000000000000000-" + sid + "-01"}, SpanContext{}, false},
		{"traceparent version ff", map[string]string{"traceparent": "ff-" + tid + "-" + sid + "-01"}, SpanContext{}, false},
		{"traceparent short", map[string]string{"traceparent": "00-abc-" + sid + "-01"}, SpanContext{}, false},
		{"b3 bad hex", map[string]string{"x-b3-traceid": "zz" + tid[2:], "x-b3-spanid": sid}, SpanContext{}, false},
		{"b3 single garbage", map[string]string{"b3": "-"}, SpanContext{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range c.headers {
				h.Set(k, v)
			}
			got, ok := Extract(h)
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v (got %+v)", ok, c.ok, got)
			}
			if ok && got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestInjectRoundTrip(t *testing.T) {
	parent := NewRoot(true)
	child := parent.Child()
	if child.TraceID != parent.TraceID || child.ParentID != parent.SpanID || child.SpanID == parent.SpanID {
		t.Fatalf("child %+v of %+v", child, parent)
	}
	h := http.Header{}
	h.Set("b3", "stale-value")
	Inject(h, child)
	if h.Get("b3") != "" {
		t.Fatal("single b3 header left beside the injected context")
	}
	got, ok := Extract(h)
	if !ok || got != child {
		t.Fatalf("B3 round trip: got %+v ok=%v, want %+v", got, ok, child)
	}
	h.Del(HeaderB3TraceID)
	got, ok = Extract(h) // now only traceparent remains usable
	if !ok || got.TraceID != child.TraceID || got.SpanID != child.SpanID || !got.Sampled {
		t.Fatalf("traceparent round trip: got %+v ok=%v", got, ok)
	}
}

func TestInject64BitTraceIDPadsTraceparent(t *testing.T) {
	h := http.Header{}
	Inject(h, SpanContext{TraceID: "48485a3953bb6124", SpanID: "a2fb4a1d1a96d312"})
	if got, want := h.Get("traceparent"), "00-000000000000000048485a3953bb6124-a2fb4a1d1a96d312-00"; got != want {
		t.Fatalf("traceparent = %q, want %q", got, want)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add("463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-1", "00-463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-01")
	f.Fuzz(func(t *testing.T, b3, tp string) {
		h := http.Header{}
		h.Set("b3", b3)
		h.Set("traceparent", tp)
		if sc, ok := Extract(h); ok && !sc.Valid() {
			t.Fatalf("Extract returned ok with an invalid context %+v", sc)
		}
	})
}
