package productpage

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// fakeBackend answers each request with the next scripted reply (the last one repeats) and
// records what it was asked. A reply with block set waits until the caller gives up, so tests
// see productpage's timeouts without sleeping.
type fakeBackend struct {
	mu       sync.Mutex
	replies  []fakeReply
	requests []*http.Request
}

type fakeReply struct {
	status int
	body   string
	block  bool
}

func (f *fakeBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Clone(r.Context()))
	reply := f.replies[min(len(f.requests), len(f.replies))-1]
	f.mu.Unlock()
	if reply.block {
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(reply.status)
	_, _ = io.WriteString(w, reply.body)
}

func (f *fakeBackend) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fakeBackend) last(t *testing.T) *http.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("backend was not called")
	}
	return f.requests[len(f.requests)-1]
}

const (
	detailsJSON = `{"id":0,"author":"William Shakespeare","year":1595,"type":"paperback","pages":200,"publisher":"PublisherA","language":"English","ISBN-10":"1234567890","ISBN-13":"123-1234567890"}`
	ratingsJSON = `{"id":0,"ratings":{"Reviewer1":5,"Reviewer2":4}}`
)

func reviewsJSON(rating1, rating2 string) string {
	return `{"id": "0","podname": "reviews-v2-abc","clustername": "null","reviews": [` +
		`{  "reviewer": "Reviewer1",  "text": "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!"` + rating1 + `},` +
		`{  "reviewer": "Reviewer2",  "text": "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare."` + rating2 + `}]}`
}

// fixture is a productpage on loopback with three fake backends.
type fixture struct {
	details, reviews, ratings *fakeBackend
	url                       string
	client                    *http.Client // with a cookie jar; never follows redirects
}

// quietLog keeps the expected backend failures out of the test output.
var quietLog = slog.New(slog.DiscardHandler)

func ok(body string) []fakeReply { return []fakeReply{{status: 200, body: body}} }

func newFixture(t *testing.T, details, reviews, ratings []fakeReply, tweak func(*Options)) *fixture {
	t.Helper()
	f := &fixture{
		details: &fakeBackend{replies: details},
		reviews: &fakeBackend{replies: reviews},
		ratings: &fakeBackend{replies: ratings},
	}
	opts := Options{Log: quietLog}
	for _, b := range []struct {
		fake *fakeBackend
		url  *string
	}{{f.details, &opts.DetailsURL}, {f.reviews, &opts.ReviewsURL}, {f.ratings, &opts.RatingsURL}} {
		srv := httptest.NewServer(b.fake)
		t.Cleanup(srv.Close)
		*b.url = srv.URL
	}
	if tweak != nil {
		tweak(&opts)
	}
	pp := httptest.NewServer(Handler(opts))
	t.Cleanup(pp.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	f.url = pp.URL
	f.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	return f
}

// do sends a request and returns the status, headers and body.
func (f *fixture) do(t *testing.T, method, path string, header http.Header, form url.Values) (int, http.Header, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, f.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

func (f *fixture) page(t *testing.T) string {
	t.Helper()
	status, _, body := f.do(t, "GET", "/productpage", nil, nil)
	if status != 200 {
		t.Fatalf("/productpage status %d", status)
	}
	return body
}
