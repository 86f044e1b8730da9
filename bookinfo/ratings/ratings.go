// Package ratings is Bookinfo's ratings service (upstream: Node.js + httpdispatcher): per-product
// star ratings from memory (v1), plus upstream's test variants that fail on purpose. The
// database-backed v2 (MongoDB, MySQL) is not offered.
package ratings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Versions this package serves (upstream's SERVICE_VERSION values).
const (
	V1           = "v1"
	VFaulty      = "v-faulty"      // half of the requests fail with 503
	VDelayed     = "v-delayed"     // half of the requests answer after Options.Delay
	VUnavailable = "v-unavailable" // alternates available / 503 every Options.FlipEvery
	VUnhealthy   = "v-unhealthy"   // alternates healthy / unhealthy (and 503) every Options.FlipEvery
)

// Options configure a ratings server. The zero value is v1 with upstream's timings.
type Options struct {
	Version   string           // V1 when empty
	Delay     time.Duration    // v-delayed's delay; 7 s when zero
	FlipEvery time.Duration    // 60 s for v-unavailable, 15 min for v-unhealthy when zero
	Rand      func() float64   // the coin for v-faulty and v-delayed, in [0,1); math/rand when nil
	Now       func() time.Time // the clock for the flipping variants; time.Now when nil
	Log       *slog.Logger
}

// Server holds the ratings posted since start (v1 keeps them in memory, like upstream).
type Server struct {
	opts  Options
	start time.Time

	mu     sync.Mutex
	posted map[int64]json.RawMessage // product id → the ratings object a client POSTed
}

// New checks the options and returns a server.
func New(opts Options) (*Server, error) {
	if opts.Version == "" {
		opts.Version = V1
	}
	switch opts.Version {
	case V1, VFaulty, VDelayed, VUnavailable, VUnhealthy:
	case "v2":
		return nil, errors.New("ratings v2 reads MongoDB or MySQL, which meshlab does not ship; use v1 or a test variant")
	default:
		return nil, fmt.Errorf("unknown ratings version %q (want v1, v-faulty, v-delayed, v-unavailable or v-unhealthy)", opts.Version)
	}
	if opts.Delay == 0 {
		opts.Delay = 7 * time.Second
	}
	if opts.FlipEvery == 0 {
		opts.FlipEvery = time.Minute
		if opts.Version == VUnhealthy {
			opts.FlipEvery = 15 * time.Minute
		}
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Server{opts: opts, start: opts.Now(), posted: map[int64]json.RawMessage{}}, nil
}

// ServeHTTP routes like httpdispatcher: GET /health exactly, GET and POST on anything that starts
// with /ratings/, and a 404 with an empty body for everything else.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	uri := r.URL.RequestURI()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/health":
		s.health(w)
	case strings.HasPrefix(uri, "/ratings/") && r.Method == http.MethodGet:
		s.get(w, r, uri)
	case strings.HasPrefix(uri, "/ratings/") && r.Method == http.MethodPost:
		s.post(w, r, uri)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (s *Server) health(w http.ResponseWriter) {
	if s.opts.Version == VUnhealthy && s.flippedOff() {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"status": "Ratings is not healthy"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "Ratings is healthy"})
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, uri string) {
	id, ok := parseIntJS(lastSegment(uri))
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "please provide numeric product ID"})
		return
	}
	if s.failNow(r) {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "Service unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, s.productRatings(id))
}

func (s *Server) post(w http.ResponseWriter, r *http.Request, uri string) {
	id, ok := parseIntJS(lastSegment(uri))
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "please provide numeric product ID"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var compact bytes.Buffer
	if err != nil || json.Compact(&compact, body) != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "please provide valid ratings JSON"})
		return
	}
	s.mu.Lock()
	s.posted[id] = json.RawMessage(compact.Bytes())
	s.mu.Unlock()
	s.opts.Log.Info("ratings: stored posted ratings", "product", id)
	writeJSON(w, http.StatusOK, s.productRatings(id))
}

// productBody is the reply to GET and POST on /ratings/<id>.
type productBody struct {
	ID      int64 `json:"id"`
	Ratings any   `json:"ratings"`
}

// defaultRatings are upstream's built-in stars, in upstream's key order.
type defaultRatings struct {
	Reviewer1 int
	Reviewer2 int
}

// productRatings is what GET returns for a product: what was POSTed for it, else 5 and 4 stars.
func (s *Server) productRatings(id int64) productBody {
	s.mu.Lock()
	posted, ok := s.posted[id]
	s.mu.Unlock()
	if ok {
		return productBody{ID: id, Ratings: posted}
	}
	return productBody{ID: id, Ratings: defaultRatings{Reviewer1: 5, Reviewer2: 4}}
}

// failNow applies the test variants: it reports whether this request must get a 503, and
// delays it first for v-delayed (giving up early if the client goes away).
func (s *Server) failNow(r *http.Request) bool {
	switch s.opts.Version {
	case VFaulty:
		return s.opts.Rand() < 0.5
	case VDelayed:
		if s.opts.Rand() < 0.5 {
			t := time.NewTimer(s.opts.Delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
			}
		}
	case VUnavailable, VUnhealthy:
		return s.flippedOff()
	}
	return false
}

// flippedOff is true in every second FlipEvery period since start: the service starts up healthy.
func (s *Server) flippedOff() bool {
	return (s.opts.Now().Sub(s.start)/s.opts.FlipEvery)%2 == 1
}

// lastSegment is JavaScript's url.split('/').pop(): the query string stays on it.
func lastSegment(uri string) string {
	return uri[strings.LastIndexByte(uri, '/')+1:]
}

// parseIntJS follows JavaScript's parseInt(s) in base 10: leading blanks, a sign, then the
// longest run of digits; no digits is NaN. Ids beyond int64 are refused (JavaScript would lose
// precision instead).
func parseIntJS(s string) (int64, bool) {
	s = strings.TrimLeft(s, " \t\n\r\v\f")
	end := 0
	if end < len(s) && (s[end] == '+' || s[end] == '-') {
		end++
	}
	digits := end
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == digits {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:end], 10, 64)
	return n, err == nil
}

// writeJSON writes compact JSON without HTML escaping, as JSON.stringify does.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}
