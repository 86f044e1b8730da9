// Package reviews is Bookinfo's reviews service (upstream: Java on Open Liberty) in its three
// versions: v1 shows no stars, v2 asks ratings and shows black stars, v3 asks ratings and shows
// red stars. Its reply is always 200; a failed ratings call only turns each review's rating into
// an error text.
package reviews

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/meshlab/meshlab/bookinfo/propagate"
)

// Options configure a reviews server. Defaults for a version come from ForVersion.
type Options struct {
	// RatingsEnabled makes the service call ratings (upstream ENABLE_RATINGS; true in v2 and v3).
	RatingsEnabled bool
	// StarColor is put in every rating (upstream STAR_COLOR: "black" in v2, "red" in v3).
	StarColor string
	// RatingsURL is the base URL of the ratings API, e.g. "http://ratings:9080/ratings"; the
	// product id is appended after a slash.
	RatingsURL string
	// RatingsTimeout bounds each ratings call. Zero means upstream's: 10 s when StarColor is
	// "black", 2.5 s otherwise (hard-coded that way in upstream, so v3 fails fast).
	RatingsTimeout time.Duration
	// PodName and ClusterName are echoed in the reply (upstream $HOSTNAME and $CLUSTER_NAME; an
	// unset one prints as "null", as Java's string concatenation does).
	PodName, ClusterName string
	// Client makes the ratings calls; a client with keep-alive connections when nil.
	Client *http.Client
	Log    *slog.Logger
}

// ForVersion returns upstream's settings for v1, v2 or v3.
func ForVersion(version string) (Options, error) {
	switch version {
	case "v1":
		return Options{RatingsEnabled: false, StarColor: "black"}, nil
	case "v2":
		return Options{RatingsEnabled: true, StarColor: "black"}, nil
	case "v3":
		return Options{RatingsEnabled: true, StarColor: "red"}, nil
	}
	return Options{}, fmt.Errorf("unknown reviews version %q (want v1, v2 or v3)", version)
}

// unavailable is the rating error text that productpage renders.
const unavailable = "Ratings service is currently unavailable"

// Handler serves GET /health and GET /reviews/{productId}.
func Handler(opts Options) http.Handler {
	s := newServer(opts)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status": "Reviews is healthy"}`)
	})
	mux.HandleFunc("GET /reviews/{productId}", s.reviews)
	return mux
}

type server struct{ opts Options }

// newServer fills in upstream's defaults.
func newServer(opts Options) *server {
	if opts.RatingsTimeout == 0 {
		opts.RatingsTimeout = 2500 * time.Millisecond
		if opts.StarColor == "black" {
			opts.RatingsTimeout = 10 * time.Second
		}
	}
	if opts.PodName == "" {
		opts.PodName = "null"
	}
	if opts.ClusterName == "" {
		opts.ClusterName = "null"
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &server{opts: opts}
}

func (s *server) reviews(w http.ResponseWriter, r *http.Request) {
	// JAX-RS converts the path parameter with Integer.valueOf; a value that does not convert
	// makes the resource method not match, hence 404.
	id, err := strconv.ParseInt(r.PathValue("productId"), 10, 32)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	product := strconv.FormatInt(id, 10)
	stars1, stars2 := -1, -1
	if s.opts.RatingsEnabled {
		stars1, stars2 = s.ratings(r, product)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, s.body(product, stars1, stars2))
}

// ratings asks the ratings service for a product and returns each reviewer's stars, -1 where
// the call failed or the reviewer is missing.
func (s *server) ratings(r *http.Request, product string) (stars1, stars2 int) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.RatingsTimeout)
	defer cancel()
	url := s.opts.RatingsURL + "/" + product
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		s.opts.Log.Warn("reviews: bad ratings URL", "url", url, "err", err)
		return -1, -1
	}
	req.Header.Set("Accept", "application/json")
	propagate.Copy(req.Header, r.Header, propagate.ReviewsCopied)
	res, err := s.opts.Client.Do(req)
	if err != nil {
		s.opts.Log.Warn("reviews: ratings call failed", "url", url, "err", err)
		return -1, -1
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		s.opts.Log.Warn("reviews: ratings call failed", "url", url, "status", res.StatusCode)
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
		return -1, -1
	}
	var body struct {
		Ratings map[string]json.RawMessage `json:"ratings"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&body); err != nil {
		s.opts.Log.Warn("reviews: ratings reply is not JSON", "url", url, "err", err)
		return -1, -1
	}
	return starsOf(body.Ratings, "Reviewer1"), starsOf(body.Ratings, "Reviewer2")
}

func starsOf(ratings map[string]json.RawMessage, reviewer string) int {
	var n int
	if raw, ok := ratings[reviewer]; !ok || json.Unmarshal(raw, &n) != nil {
		return -1
	}
	return n
}

// body builds the reply the way upstream concatenates it, odd spacing included, because clients
// and golden files may compare bytes.
func (s *server) body(product string, stars1, stars2 int) string {
	return `{"id": "` + product + `",` +
		`"podname": "` + s.opts.PodName + `",` +
		`"clustername": "` + s.opts.ClusterName + `",` +
		`"reviews": [` +
		`{  "reviewer": "Reviewer1",  "text": "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!"` +
		s.rating(stars1) + `},` +
		`{  "reviewer": "Reviewer2",  "text": "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare."` +
		s.rating(stars2) + `}` +
		`]}`
}

func (s *server) rating(stars int) string {
	switch {
	case !s.opts.RatingsEnabled:
		return ""
	case stars == -1:
		return `, "rating": {"error": "` + unavailable + `"}`
	default:
		return `, "rating": {"stars": ` + strconv.Itoa(stars) + `, "color": "` + s.opts.StarColor + `"}`
	}
}
