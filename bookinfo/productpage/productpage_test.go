package productpage

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// shortTimeout stands in for upstream's 3 s in tests whose backend never answers. Only fakes
// that block are expected to hit it, so assertions never depend on a fast reply beating it.
const shortTimeout = 200 * time.Millisecond

var (
	blackStars = `, "rating": {"stars": 5, "color": "black"}`
	fourBlack  = `, "rating": {"stars": 4, "color": "black"}`
	ratingErr  = `, "rating": {"error": "Ratings service is currently unavailable"}`
)

func TestReviewsTimeoutIsRetriedOnce(t *testing.T) {
	f := newFixture(t, ok(detailsJSON), []fakeReply{{block: true}}, ok(ratingsJSON),
		func(o *Options) { o.Timeout = shortTimeout })
	page := f.page(t)
	if n := f.reviews.count(); n != 2 {
		t.Errorf("reviews asked %d times, want 2 (one try and upstream's single retry)", n)
	}
	for _, want := range []string{"Error fetching product reviews",
		"Sorry, product reviews are currently unavailable for this book."} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "Book Reviews") {
		t.Error("page shows Book Reviews although reviews failed")
	}
	if n := f.details.count(); n != 1 {
		t.Errorf("details asked %d times, want 1 (no retry)", n)
	}
	// The API route has the same retry, and a timeout (no response at all) becomes 500.
	status, _, body := f.do(t, "GET", "/api/v1/products/0/reviews", nil, nil)
	if status != 500 || body != `{"error": "Sorry, product reviews are currently unavailable for this book."}` {
		t.Errorf("reviews API after timeouts = %d %s", status, body)
	}
	if n := f.reviews.count(); n != 4 {
		t.Errorf("reviews asked %d times in all, want 4", n)
	}
}

func TestDefaultTimeoutsAreUpstreams(t *testing.T) {
	s := newServer(Options{})
	if s.opts.Timeout != 3*time.Second || s.reviews.tries != 2 || s.details.tries != 1 || s.ratings.tries != 1 {
		t.Errorf("timeout %v, tries reviews %d details %d ratings %d; want 3s, 2, 1, 1",
			s.opts.Timeout, s.reviews.tries, s.details.tries, s.ratings.tries)
	}
}

func TestReviewsRetrySucceeds(t *testing.T) {
	f := newFixture(t, ok(detailsJSON),
		[]fakeReply{{status: 503, body: "upstream connect error"}, {status: 200, body: reviewsJSON(blackStars, fourBlack)}},
		ok(ratingsJSON), nil)
	page := f.page(t)
	if f.reviews.count() != 2 || !strings.Contains(page, "Book Reviews") {
		t.Errorf("after a 503 and a 200: %d calls, page has reviews: %v", f.reviews.count(), strings.Contains(page, "Book Reviews"))
	}
}

func TestDetailsFailure(t *testing.T) {
	f := newFixture(t, []fakeReply{{block: true}}, ok(reviewsJSON("", "")), ok(ratingsJSON),
		func(o *Options) { o.Timeout = shortTimeout })
	page := f.page(t)
	for _, want := range []string{`<p class="text-2xl text-red-500">Error fetching product details</p>`,
		`<p class="text-lg text-gray-600">Sorry, product details are currently unavailable for this book.</p>`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestAPIStatusPassThrough(t *testing.T) {
	f := newFixture(t, []fakeReply{{status: 404, body: "no"}}, []fakeReply{{status: 503, body: "no healthy upstream"}},
		ok(ratingsJSON), nil)
	cases := []struct {
		path   string
		status int
		body   string
	}{
		{"/api/v1/products", 200, `[{"id": 0, "title": "The Comedy of Errors", "descriptionHtml": "<a href=\"https://en.wikipedia.org/wiki/The_Comedy_of_Errors\">Wikipedia Summary</a>: The Comedy of Errors is one of <b>William Shakespeare's</b> early plays. It is his shortest and one of his most farcical comedies, with a major part of the humour coming from slapstick and mistaken identity, in addition to puns and word play."}]`},
		{"/api/v1/products/0", 404, `{"error": "Sorry, product details are currently unavailable for this book."}`},
		{"/api/v1/products/0/reviews", 503, `{"error": "Sorry, product reviews are currently unavailable for this book."}`},
		{"/api/v1/products/0/ratings", 200, `{"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}`},
	}
	for _, tc := range cases {
		status, h, body := f.do(t, "GET", tc.path, nil, nil)
		if status != tc.status || body != tc.body || h.Get("Content-Type") != "application/json" {
			t.Errorf("%s = %d %q %s\nwant %d application/json %s", tc.path, status, h.Get("Content-Type"), body, tc.status, tc.body)
		}
	}
	if got := f.ratings.last(t).URL.Path; got != "/ratings/0" {
		t.Errorf("ratings asked for %s", got)
	}
}

func TestLoginLogout(t *testing.T) {
	f := newFixture(t, ok(detailsJSON), ok(reviewsJSON(blackStars, fourBlack)), ok(ratingsJSON), nil)
	// A client's own end-user header is not forwarded: only a login makes productpage send it.
	status, _, page := f.do(t, "GET", "/productpage", http.Header{"End-User": {"jason"}}, nil)
	if status != 200 || !strings.Contains(page, `id="sign-in-button"`) {
		t.Fatalf("anonymous page: status %d, sign-in button shown: %v", status, strings.Contains(page, `id="sign-in-button"`))
	}
	if got := f.reviews.last(t).Header.Get("end-user"); got != "" {
		t.Errorf("anonymous request reached reviews with end-user %q", got)
	}

	referer := http.Header{"Referer": {f.url + "/productpage"}}
	status, h, _ := f.do(t, "POST", "/login", referer, url.Values{"username": {"jason"}, "passwd": {"anything"}})
	if status != http.StatusFound || h.Get("Location") != f.url+"/productpage" {
		t.Fatalf("login: %d Location %q, want 302 to the Referer", status, h.Get("Location"))
	}
	if sc := h.Get("Set-Cookie"); !strings.HasPrefix(sc, "session=") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "Path=/") {
		t.Errorf("login Set-Cookie = %q", sc)
	}
	page = f.page(t)
	if !strings.Contains(page, ">jason<") || strings.Contains(page, `id="sign-in-button"`) {
		t.Error("logged-in page does not show jason in the navbar")
	}
	for name, b := range map[string]*fakeBackend{"details": f.details, "reviews": f.reviews} {
		if got := b.last(t).Header.Get("end-user"); got != "jason" {
			t.Errorf("%s got end-user %q, want jason", name, got)
		}
		if got := b.last(t).Header.Get("Cookie"); !strings.HasPrefix(got, "session=") {
			t.Errorf("%s got cookie %q, want the session cookie forwarded", name, got)
		}
	}

	status, h, _ = f.do(t, "GET", "/logout", referer, nil)
	wantCookie := "session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly"
	if status != http.StatusFound || h.Get("Location") != f.url+"/productpage" || h.Get("Set-Cookie") != wantCookie {
		t.Errorf("logout: %d Location %q Set-Cookie %q", status, h.Get("Location"), h.Get("Set-Cookie"))
	}
	if page = f.page(t); strings.Contains(page, ">jason<") || f.reviews.last(t).Header.Get("end-user") != "" {
		t.Error("still logged in after logout")
	}
}

func TestLoginQuirksAndForgery(t *testing.T) {
	f := newFixture(t, ok(detailsJSON), ok(reviewsJSON("", "")), ok(ratingsJSON), nil)
	status, h, _ := f.do(t, "POST", "/login", nil, url.Values{"username": {"jason"}})
	if status != http.StatusFound || h.Get("Location") != "None" {
		t.Errorf("login without Referer: %d Location %q, want upstream's 302 to None", status, h.Get("Location"))
	}
	if status, _, _ := f.do(t, "GET", "/login", nil, nil); status != http.StatusMethodNotAllowed {
		t.Errorf("GET /login = %d, want 405", status)
	}
	// A cookie not signed by productpage is no login.
	forged := http.Header{"Cookie": {"session=eyJ1c2VyIjoiamFzb24ifQ.bogus"}}
	f.client.Jar = nil
	if _, _, page := f.do(t, "GET", "/productpage", forged, nil); strings.Contains(page, ">jason<") {
		t.Error("forged session accepted")
	}
}

func TestHeaderPropagation(t *testing.T) {
	f := newFixture(t, ok(detailsJSON), ok(reviewsJSON("", "")), ok(ratingsJSON), nil)
	in := http.Header{
		"X-Request-Id":      {"req-42"},
		"X-B3-Traceid":      {"463ac35c9f6413ad"},
		"X-B3-Spanid":       {"a2fb4a1d1a96d312"},
		"X-B3-Parentspanid": {"0020000000000001"},
		"X-B3-Sampled":      {"1"},
		"Sw8":               {"1-abc"},
		"Traceparent":       {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		"User-Agent":        {"meshlab-test"},
	}
	f.do(t, "GET", "/productpage", in, nil)
	want := map[string]string{
		"x-request-id": "req-42", "x-b3-traceid": "0000000000000000463ac35c9f6413ad",
		"x-b3-spanid": "a2fb4a1d1a96d312", "x-b3-sampled": "1", "sw8": "1-abc",
		"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"user-agent":  "meshlab-test", "x-b3-parentspanid": "",
	}
	for name, b := range map[string]*fakeBackend{"details": f.details, "reviews": f.reviews} {
		got := b.last(t).Header
		for k, v := range want {
			if got.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", name, k, got.Get(k), v)
			}
		}
	}
}

func TestSmallEndpoints(t *testing.T) {
	f := newFixture(t, ok(detailsJSON), ok(reviewsJSON("", "")), ok(ratingsJSON), nil)
	if status, h, body := f.do(t, "GET", "/health", nil, nil); status != 200 || body != "Product page is healthy" ||
		h.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("/health = %d %q %q", status, h.Get("Content-Type"), body)
	}
	for _, p := range []string{"/", "/index.html"} {
		if status, _, body := f.do(t, "GET", p, nil, nil); status != 200 || !strings.Contains(body, "simple bookstore application") {
			t.Errorf("%s = %d", p, status)
		}
	}
	for _, p := range []string{"/static/tailwind/tailwind.css", "/static/img/izzy.png"} {
		if status, _, _ := f.do(t, "GET", p, nil, nil); status != 200 {
			t.Errorf("%s = %d", p, status)
		}
	}
	f.page(t)
	_, _, metrics := f.do(t, "GET", "/metrics", nil, nil)
	for _, want := range []string{`request_result_total{destination_app="details",response_code="200"} 1`,
		`request_result_total{destination_app="reviews",response_code="200"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestRatingErrorRendering(t *testing.T) {
	f := newFixture(t, ok(detailsJSON), ok(reviewsJSON(ratingErr, ratingErr)), ok(ratingsJSON), nil)
	page := f.page(t)
	if n := strings.Count(page, `<p class="text-red-500">Ratings service is currently unavailable</p>`); n != 2 {
		t.Errorf("rating error shown %d times, want 2", n)
	}
	if n := strings.Count(page, "glyphicon glyphicon-star"); n != 0 {
		t.Errorf("%d stars with ratings failing", n)
	}
}

func TestLegacyUserCookie(t *testing.T) {
	f := newFixture(t, ok(detailsJSON), ok(reviewsJSON("", "")), ok(ratingsJSON),
		func(o *Options) { o.LegacyUserCookie = true })
	referer := http.Header{"Referer": {f.url + "/productpage"}}
	_, h, _ := f.do(t, "POST", "/login", referer, url.Values{"username": {"jason"}})
	if cookies := h.Values("Set-Cookie"); len(cookies) != 2 || cookies[1] != "user=jason; Path=/" {
		t.Errorf("login Set-Cookie = %q, want the session and user=jason", cookies)
	}
	f.page(t)
	if got := f.reviews.last(t).Header.Get("Cookie"); got != "user=jason" {
		t.Errorf("reviews got Cookie %q, want user=jason (matches the seed-era cookie regex)", got)
	}
	f.do(t, "GET", "/logout", referer, nil)
	f.page(t)
	if got := f.reviews.last(t).Header.Get("Cookie"); got != "" {
		t.Errorf("after logout reviews got Cookie %q", got)
	}
}
