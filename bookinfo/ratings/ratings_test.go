package ratings

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type reply struct {
	status int
	body   string
}

func do(t *testing.T, h http.Handler, method, target, body string) reply {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, target, r)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Body.Len() > 0 && rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: Content-Type = %q", method, target, rec.Header().Get("Content-Type"))
	}
	return reply{rec.Code, rec.Body.String()}
}

func TestV1(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		method, target, body string
		want                 reply
	}{
		{"GET", "/ratings/0", "", reply{200, `{"id":0,"ratings":{"Reviewer1":5,"Reviewer2":4}}`}},
		{"GET", "/ratings/12abc", "", reply{200, `{"id":12,"ratings":{"Reviewer1":5,"Reviewer2":4}}`}},
		{"GET", "/ratings/abc", "", reply{400, `{"error":"please provide numeric product ID"}`}},
		{"GET", "/ratings/", "", reply{400, `{"error":"please provide numeric product ID"}`}},
		{"GET", "/ratings", "", reply{404, ""}},
		{"GET", "/nothing", "", reply{404, ""}},
		{"PUT", "/ratings/0", "", reply{404, ""}},
		{"GET", "/health", "", reply{200, `{"status":"Ratings is healthy"}`}},
		{"POST", "/ratings/1", `{"Reviewer1": 1, "Reviewer2": 2}`, reply{200, `{"id":1,"ratings":{"Reviewer1":1,"Reviewer2":2}}`}},
		{"GET", "/ratings/1", "", reply{200, `{"id":1,"ratings":{"Reviewer1":1,"Reviewer2":2}}`}},
		{"GET", "/ratings/0", "", reply{200, `{"id":0,"ratings":{"Reviewer1":5,"Reviewer2":4}}`}},
		{"POST", "/ratings/1", `{not json`, reply{400, `{"error":"please provide valid ratings JSON"}`}},
		{"POST", "/ratings/x", `{}`, reply{400, `{"error":"please provide numeric product ID"}`}},
	}
	for _, st := range steps {
		if got := do(t, s, st.method, st.target, st.body); got != st.want {
			t.Errorf("%s %s = %+v, want %+v", st.method, st.target, got, st.want)
		}
	}
}

func TestV2Refused(t *testing.T) {
	if _, err := New(Options{Version: "v2"}); err == nil {
		t.Fatal("v2 accepted; it needs a database meshlab does not ship")
	}
	if _, err := New(Options{Version: "v9"}); err == nil {
		t.Fatal("unknown version accepted")
	}
}

func TestFaulty(t *testing.T) {
	coin := 0.0
	s, err := New(Options{Version: VFaulty, Rand: func() float64 { return coin }})
	if err != nil {
		t.Fatal(err)
	}
	if got := do(t, s, "GET", "/ratings/0", ""); got != (reply{503, `{"error":"Service unavailable"}`}) {
		t.Errorf("heads: %+v", got)
	}
	coin = 0.9
	if got := do(t, s, "GET", "/ratings/0", ""); got.status != 200 {
		t.Errorf("tails: %+v", got)
	}
}

func TestFlippingVariants(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	unavailable, err := New(Options{Version: VUnavailable, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	unhealthy, err := New(Options{Version: VUnhealthy, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if got := do(t, unavailable, "GET", "/ratings/0", ""); got.status != 200 {
		t.Errorf("v-unavailable at start: %+v", got)
	}
	now = now.Add(61 * time.Second)
	if got := do(t, unavailable, "GET", "/ratings/0", ""); got.status != 503 {
		t.Errorf("v-unavailable after 61 s: %+v", got)
	}
	if got := do(t, unhealthy, "GET", "/health", ""); got.status != 200 {
		t.Errorf("v-unhealthy after 61 s: %+v", got)
	}
	now = now.Add(15 * time.Minute)
	if got := do(t, unhealthy, "GET", "/health", ""); got != (reply{500, `{"status":"Ratings is not healthy"}`}) {
		t.Errorf("v-unhealthy after 16 min: %+v", got)
	}
}

func TestDelayedGivesUpWithClient(t *testing.T) {
	s, err := New(Options{Version: VDelayed, Delay: time.Hour, Rand: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/ratings/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 50 * time.Millisecond}
	if _, err := client.Do(req); err == nil {
		t.Fatal("v-delayed answered at once with a 1 h delay")
	}
}
