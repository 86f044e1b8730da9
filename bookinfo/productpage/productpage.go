// Package productpage is Bookinfo's front end (upstream: Python/Flask): the product page HTML
// built from details and reviews, the JSON API under /api/v1/products, login and logout with a
// session cookie that becomes the end-user header, and the deliberate 3 s timeout with one retry
// toward reviews that Istio's fault-injection task relies on.
package productpage

import (
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure productpage. Only the three URLs are required.
type Options struct {
	// Base URLs of the backends, e.g. "http://details:9080"; the service paths (/details/0,
	// /reviews/0, /ratings/0) are appended.
	DetailsURL, ReviewsURL, RatingsURL string
	// Timeout bounds each backend try; 3 s (upstream) when zero.
	Timeout time.Duration
	// ReviewsTries is how many times reviews is asked before giving up; 2 (upstream's "bug
	// introduced explicitly for illustration") when zero.
	ReviewsTries int
	// SessionKey signs the session cookie; a fixed built-in key when empty, so that replicas
	// accept each other's sessions.
	SessionKey []byte
	// LegacyUserCookie reproduces Istio ≤0.8's login as well: a plain cookie user=<name> is set
	// and sent to the backends as "Cookie: user=<name>", so that seed-era RouteRules matching the
	// cookie regex ^(.*?;)?(user=jason)(;.*)?$ route a logged-in jason. Off by default, as upstream.
	LegacyUserCookie bool
	// Client makes the backend calls; a keep-alive client when nil.
	Client *http.Client
	Log    *slog.Logger
}

// server holds one productpage's dependencies; it has no other state than its metrics.
type server struct {
	opts     Options
	sessions sessions
	details  backend
	reviews  backend
	ratings  backend
	results  *prometheus.CounterVec // request_result_total{destination_app, response_code}
	registry *prometheus.Registry
	page     *pageRenderer
}

// Handler returns productpage's routes.
func Handler(opts Options) http.Handler {
	s := newServer(opts)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /index.html", s.index)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "Product page is healthy")
	})
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET /logout", s.logout)
	mux.HandleFunc("GET /productpage", s.productPage)
	mux.HandleFunc("GET /api/v1/products", s.products)
	mux.HandleFunc("GET /api/v1/products/{id}", s.productAPI(s.details))
	mux.HandleFunc("GET /api/v1/products/{id}/reviews", s.productAPI(s.reviews))
	mux.HandleFunc("GET /api/v1/products/{id}/ratings", s.productAPI(s.ratings))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles()))
	return mux
}

func newServer(opts Options) *server {
	if opts.Timeout == 0 {
		opts.Timeout = 3 * time.Second
	}
	if opts.ReviewsTries == 0 {
		opts.ReviewsTries = 2
	}
	if len(opts.SessionKey) == 0 {
		opts.SessionKey = []byte(defaultSessionKey)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	s := &server{
		opts:     opts,
		sessions: sessions{key: opts.SessionKey},
		details:  backend{app: "details", baseURL: opts.DetailsURL + "/details", tries: 1, failure: detailsUnavailable},
		reviews:  backend{app: "reviews", baseURL: opts.ReviewsURL + "/reviews", tries: opts.ReviewsTries, failure: reviewsUnavailable},
		ratings:  backend{app: "ratings", baseURL: opts.RatingsURL + "/ratings", tries: 1, failure: ratingsUnavailable},
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "request_result_total",
			Help: "Outcomes of productpage's calls to its backends, by backend and status code.",
		}, []string{"destination_app", "response_code"}),
		registry: prometheus.NewRegistry(),
		page:     newPageRenderer(),
	}
	s.registry.MustRegister(s.results, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s
}

// productPage renders product 0 with its details and reviews, asked one after the other as
// upstream does. It always answers 200: a failed backend only changes the HTML.
func (s *server) productPage(w http.ResponseWriter, r *http.Request) {
	user := s.sessions.user(r)
	h := s.forwardHeaders(r, user)
	details := s.fetch(r.Context(), s.details, "0", h)
	reviews := s.fetch(r.Context(), s.reviews, "0", h)
	html, err := s.page.render(user, details, reviews)
	if err != nil {
		s.opts.Log.Error("productpage: render failed", "err", err)
		http.Error(w, "render product page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(html)
}

// productAPI proxies one backend for /api/v1/products/<id>[/reviews|/ratings]: the backend's
// JSON re-encoded in Python's style, or {"error": ...} with the backend's status (500 when none
// arrived).
func (s *server) productAPI(b backend) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out := s.fetch(r.Context(), b, r.PathValue("id"), s.forwardHeaders(r, s.sessions.user(r)))
		var body []byte
		var err error
		if out.status == http.StatusOK {
			body, err = pythonJSON(out.body)
		} else {
			body, err = marshalPython(map[string]string{"error": b.failure})
		}
		if err != nil { // out.body was checked to be JSON; this is a defect, not bad input
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, out.status, body)
	}
}

func (s *server) products(w http.ResponseWriter, _ *http.Request) {
	body, err := marshalPython(products())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// login stores the form's username in the session (the password is not checked: any user works)
// and sends the browser back where it came from.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	user := r.FormValue("username")
	s.sessions.login(w, user)
	if s.opts.LegacyUserCookie {
		http.SetCookie(w, &http.Cookie{Name: legacyUserCookie, Value: user, Path: "/"})
	}
	s.opts.Log.Info("productpage: login", "user", user)
	redirectToReferer(w, r)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	s.sessions.logout(w)
	if s.opts.LegacyUserCookie {
		http.SetCookie(w, &http.Cookie{Name: legacyUserCookie, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0)})
	}
	redirectToReferer(w, r)
}

// redirectToReferer answers 302 with Location set to the Referer verbatim. Without a Referer
// upstream sends "Location: None" (Python's None formatted); so does this, for byte-faithful
// replies, even though a browser then lands on /None.
func redirectToReferer(w http.ResponseWriter, r *http.Request) {
	target := r.Referer()
	if target == "" {
		target = "None"
	}
	w.Header().Set("Location", target)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusFound)
	_, _ = io.WriteString(w, "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n")
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// index is the landing page: the service tree and links to the product page.
func (s *server) index(w http.ResponseWriter, _ *http.Request) {
	html, err := s.page.renderIndex()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(html)
}
