package verify

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// Page is one productpage response, classified by the markers Istio's own tests use: the stars
// div's colour class (black for reviews v2, red for v3) and the star SVGs' "glyphicon
// glyphicon-star" id, kept in upstream's template for those tests.
type Page struct {
	Status  int
	Body    string
	Elapsed time.Duration
}

// Markers of the page (upstream's template; the Go productpage renders the same).
const (
	TitleMarker        = "<title>Simple Bookstore App</title>"
	redStars           = `class="flex gap-x-1 text-red-500"`
	blackStars         = `class="flex gap-x-1 text-black-500"`
	anyStar            = "glyphicon glyphicon-star"
	reviewsUnavailable = "Sorry, product reviews are currently unavailable for this book."
	ratingsUnavailable = "Ratings service is currently unavailable"
)

// ReviewsVersion says which reviews version rendered the page: v1 (no stars), v2 (black),
// v3 (red), or "none" (reviews failed or the page is not productpage).
func (p Page) ReviewsVersion() string {
	switch {
	case strings.Contains(p.Body, redStars):
		return "v3"
	case strings.Contains(p.Body, blackStars):
		return "v2"
	case strings.Contains(p.Body, "Book Reviews") && !strings.Contains(p.Body, anyStar) &&
		!strings.Contains(p.Body, ratingsUnavailable):
		return "v1"
	}
	return "none"
}

// ReviewsUnavailable: productpage gave up on reviews (the delay scenario).
func (p Page) ReviewsUnavailable() bool { return strings.Contains(p.Body, reviewsUnavailable) }

// RatingsUnavailable: reviews could not reach ratings (the abort scenario).
func (p Page) RatingsUnavailable() bool { return strings.Contains(p.Body, ratingsUnavailable) }

// Browser fetches productpage the way a person does: through BaseURL (the ingress gateway, or
// productpage itself for the namespace mesh), anonymously or logged in through the form.
type Browser struct {
	BaseURL string // e.g. http://10.0.0.2:30080 (no trailing slash)
	Timeout time.Duration
}

// Session is a browser's cookie jar; nil means anonymous.
type Session struct {
	User   string
	client *http.Client
}

func (b Browser) client(jar http.CookieJar) *http.Client {
	t := b.Timeout
	if t == 0 {
		t = 30 * time.Second
	}
	// Never follow /login's redirect: its Location is the Referer, and the cookie is what counts.
	return &http.Client{Jar: jar, Timeout: t, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// Login posts productpage's sign-in form as user (any password works) and keeps the session.
// It returns the page the user lands on, fetched with the session: the first page as user
// (the delay scenario needs only that one; each costs 6 s).
func (b Browser) Login(ctx context.Context, user string) (*Session, Page, error) {
	jar, _ := cookiejar.New(nil)
	c := b.client(jar)
	form := url.Values{"username": {user}, "passwd": {"meshlab"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.BaseURL+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, Page{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", b.BaseURL+"/productpage")
	resp, err := c.Do(req)
	if err != nil {
		return nil, Page{}, fmt.Errorf("log in as %s: %w", user, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return nil, Page{}, fmt.Errorf("log in as %s: POST /login answered %s, want 302 Found", user, resp.Status)
	}
	s := &Session{User: user, client: c}
	p, err := b.Get(ctx, s)
	if err != nil {
		return nil, Page{}, err
	}
	if !strings.Contains(p.Body, ">"+user+"<") {
		return nil, Page{}, fmt.Errorf("log in as %s: the page after login does not show %q in the navbar", user, user)
	}
	return s, p, nil
}

// Get fetches /productpage; s nil is an anonymous visit. A non-200 answer is an error.
func (b Browser) Get(ctx context.Context, s *Session) (Page, error) {
	c := b.client(nil)
	if s != nil {
		c = s.client
	}
	u := b.BaseURL + "/productpage"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Page{}, err
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return Page{}, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	p := Page{Status: resp.StatusCode, Body: string(data), Elapsed: time.Since(start)}
	if err != nil {
		return p, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return p, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return p, nil
}

// Count fetches the page n times and counts the reviews versions seen.
func (b Browser) Count(ctx context.Context, s *Session, n int) (map[string]int, error) {
	counts := map[string]int{}
	for range n {
		p, err := b.Get(ctx, s)
		if err != nil {
			return counts, err
		}
		counts[p.ReviewsVersion()]++
	}
	return counts, nil
}

// formatCounts renders version counts in a stable order: "v1=20 v2=0 v3=0".
func formatCounts(c map[string]int) string {
	s := fmt.Sprintf("v1=%d v2=%d v3=%d", c["v1"], c["v2"], c["v3"])
	if c["none"] > 0 {
		s += fmt.Sprintf(" none=%d", c["none"])
	}
	return s
}
