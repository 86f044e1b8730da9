package reviews

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	text1     = `{  "reviewer": "Reviewer1",  "text": "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!"`
	text2     = `{  "reviewer": "Reviewer2",  "text": "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare."`
	errRating = `, "rating": {"error": "Ratings service is currently unavailable"}`
)

// fakeRatings answers like ratings v1 and records the headers of the last request.
type fakeRatings struct {
	mu      sync.Mutex
	headers http.Header
	status  int
	body    string
	block   bool // wait for the client to give up instead of answering
}

func (f *fakeRatings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.headers = r.Header.Clone()
	status, body, block := f.status, f.body, f.block
	f.mu.Unlock()
	if block {
		<-r.Context().Done()
		return
	}
	if status == 0 {
		status, body = 200, `{"id":0,"ratings":{"Reviewer1":5,"Reviewer2":4}}`
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func get(t *testing.T, h http.Handler, target string, header http.Header) (int, string) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), "GET", target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func serve(t *testing.T, version string, ratings *fakeRatings, tweak func(*Options)) http.Handler {
	t.Helper()
	opts, err := ForVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ratings)
	t.Cleanup(srv.Close)
	opts.RatingsURL = srv.URL + "/ratings"
	opts.PodName = "reviews-" + version + "-abc"
	if tweak != nil {
		tweak(&opts)
	}
	return Handler(opts)
}

func TestVersions(t *testing.T) {
	prefix := func(v string) string {
		return `{"id": "0","podname": "reviews-` + v + `-abc","clustername": "null","reviews": [`
	}
	cases := []struct{ version, want string }{
		{"v1", prefix("v1") + text1 + `},` + text2 + `}]}`},
		{"v2", prefix("v2") + text1 + `, "rating": {"stars": 5, "color": "black"}},` + text2 + `, "rating": {"stars": 4, "color": "black"}}]}`},
		{"v3", prefix("v3") + text1 + `, "rating": {"stars": 5, "color": "red"}},` + text2 + `, "rating": {"stars": 4, "color": "red"}}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.version, func(t *testing.T) {
			status, body := get(t, serve(t, tc.version, &fakeRatings{}, nil), "/reviews/0", nil)
			if status != 200 || body != tc.want {
				t.Errorf("got %d %s\nwant 200 %s", status, body, tc.want)
			}
		})
	}
}

func TestRatingsFailures(t *testing.T) {
	both := `{"id": "0","podname": "reviews-v2-abc","clustername": "null","reviews": [` + text1 + errRating + `},` + text2 + errRating + `}]}`
	cases := []struct {
		name    string
		ratings *fakeRatings
		want    string
	}{
		{"500", &fakeRatings{status: 500, body: "fault filter abort"}, both},
		{"timeout", &fakeRatings{block: true}, both},
		{"not json", &fakeRatings{status: 200, body: "<html>"}, both},
		{"one reviewer missing", &fakeRatings{status: 200, body: `{"id":0,"ratings":{"Reviewer2":1}}`},
			`{"id": "0","podname": "reviews-v2-abc","clustername": "null","reviews": [` + text1 + errRating + `},` +
				text2 + `, "rating": {"stars": 1, "color": "black"}}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := serve(t, "v2", tc.ratings, func(o *Options) {
				if tc.ratings.block { // only a ratings that never answers may meet the short timeout
					o.RatingsTimeout = 50 * time.Millisecond
				}
			})
			status, body := get(t, h, "/reviews/0", nil)
			if status != 200 || body != tc.want {
				t.Errorf("got %d %s\nwant 200 %s", status, body, tc.want)
			}
		})
	}
}

func TestRatingsDown(t *testing.T) {
	opts, _ := ForVersion("v3")
	opts.RatingsURL = "http://127.0.0.1:1/ratings" // nothing listens on port 1
	_, body := get(t, Handler(opts), "/reviews/0", nil)
	if strings.Count(body, "Ratings service is currently unavailable") != 2 {
		t.Errorf("body = %s", body)
	}
}

func TestPropagatesHeaders(t *testing.T) {
	ratings := &fakeRatings{}
	h := serve(t, "v2", ratings, nil)
	in := http.Header{}
	for _, k := range []string{"x-request-id", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled",
		"x-b3-flags", "end-user", "traceparent", "sw8", "cookie"} {
		in.Set(k, "v-"+k)
	}
	in.Set("x-not-propagated", "no")
	get(t, h, "/reviews/0", in)
	ratings.mu.Lock()
	defer ratings.mu.Unlock()
	for k := range in {
		want := in.Get(k)
		if k == "X-Not-Propagated" {
			want = ""
		}
		if got := ratings.headers.Get(k); got != want {
			t.Errorf("%s at ratings = %q, want %q", k, got, want)
		}
	}
	if got := ratings.headers.Get("Accept"); got != "application/json" {
		t.Errorf("Accept = %q", got)
	}
}

func TestPathsAndHealth(t *testing.T) {
	h := serve(t, "v1", &fakeRatings{}, nil)
	if status, body := get(t, h, "/health", nil); status != 200 || body != `{"status": "Reviews is healthy"}` {
		t.Errorf("/health = %d %s", status, body)
	}
	if status, _ := get(t, h, "/reviews/abc", nil); status != 404 {
		t.Errorf("/reviews/abc = %d, want 404", status)
	}
	if _, body := get(t, h, "/reviews/007", nil); !strings.HasPrefix(body, `{"id": "7",`) {
		t.Errorf("/reviews/007 = %s, want id 7", body)
	}
}

func TestDefaultTimeouts(t *testing.T) {
	for version, want := range map[string]time.Duration{"v2": 10 * time.Second, "v3": 2500 * time.Millisecond} {
		opts, _ := ForVersion(version)
		if got := newServer(opts).opts.RatingsTimeout; got != want {
			t.Errorf("%s ratings timeout = %v, want %v", version, got, want)
		}
	}
}
