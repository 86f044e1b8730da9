// Package serve runs one Bookinfo service (productpage, details, reviews or ratings) in one
// version on one listener, configured from upstream's environment variables. It is what
// `meshlab bookinfo serve` and the local mesh start.
package serve

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/meshlab/meshlab/bookinfo/details"
	"github.com/meshlab/meshlab/bookinfo/productpage"
	"github.com/meshlab/meshlab/bookinfo/ratings"
	"github.com/meshlab/meshlab/bookinfo/reviews"
)

// ServiceNames are the names Config.Service accepts.
func ServiceNames() []string { return []string{"productpage", "details", "reviews", "ratings"} }

// DefaultListen is upstream's: every Bookinfo service listens on 9080.
const DefaultListen = ":9080"

// Config says which service to run and where its settings come from.
type Config struct {
	Service string // productpage, details, reviews or ratings
	Version string // v1 when empty; reviews also v2, v3; ratings also its test variants
	Listen  string // DefaultListen when empty
	// Getenv looks up upstream's environment variables (SERVICES_DOMAIN, DETAILS_HOSTNAME,
	// DETAILS_SERVICE_PORT, REVIEWS_HOSTNAME, REVIEWS_SERVICE_PORT, RATINGS_HOSTNAME,
	// RATINGS_SERVICE_PORT, ENABLE_RATINGS, STAR_COLOR, HOSTNAME, CLUSTER_NAME,
	// ENABLE_EXTERNAL_BOOK_SERVICE). os.Getenv in production; nil means all unset.
	Getenv func(string) string
	Log    *slog.Logger
	// LegacyUserCookie makes productpage also log users in the Istio ≤0.8 way (cookie
	// user=<name>, forwarded as the cookie header) for seed-era cookie-matching RouteRules.
	LegacyUserCookie bool
	// Client makes the service's outbound calls; a keep-alive client that ignores proxy
	// variables when nil (Bookinfo talks to its neighbours directly or through the sidecar).
	Client *http.Client
}

// Handler builds the configured service's HTTP handler.
func Handler(cfg Config) (http.Handler, error) {
	cfg = cfg.withDefaults()
	env := cfg.Getenv
	switch cfg.Service {
	case "productpage":
		if cfg.Version != "v1" {
			return nil, fmt.Errorf("productpage has only v1, not %q", cfg.Version)
		}
		return productpage.Handler(productpage.Options{
			DetailsURL:       serviceURL(env, "DETAILS", "details"),
			ReviewsURL:       serviceURL(env, "REVIEWS", "reviews"),
			RatingsURL:       serviceURL(env, "RATINGS", "ratings"),
			LegacyUserCookie: cfg.LegacyUserCookie,
			Client:           cfg.Client,
			Log:              cfg.Log,
		}), nil
	case "details":
		if cfg.Version != "v1" || env("ENABLE_EXTERNAL_BOOK_SERVICE") == "true" {
			return nil, errors.New("details v2 (ENABLE_EXTERNAL_BOOK_SERVICE) asks the Google Books API, which a lab on this machine cannot reach; only details v1 is offered")
		}
		return details.Handler(cfg.Log), nil
	case "reviews":
		opts, err := reviews.ForVersion(cfg.Version)
		if err != nil {
			return nil, err
		}
		// As in upstream's images, the version only sets defaults; the variables win.
		if v := env("ENABLE_RATINGS"); v != "" {
			opts.RatingsEnabled = strings.EqualFold(v, "true") // Java's Boolean.valueOf
		}
		if v := env("STAR_COLOR"); v != "" {
			opts.StarColor = v
		}
		opts.RatingsURL = serviceURL(env, "RATINGS", "ratings") + "/ratings"
		opts.PodName, opts.ClusterName = env("HOSTNAME"), env("CLUSTER_NAME")
		opts.Client, opts.Log = cfg.Client, cfg.Log
		return reviews.Handler(opts), nil
	case "ratings":
		s, err := ratings.New(ratings.Options{Version: cfg.Version, Log: cfg.Log})
		if err != nil { // not a typed nil inside a non-nil http.Handler
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("unknown Bookinfo service %q (want one of %s)", cfg.Service, strings.Join(ServiceNames(), ", "))
}

func (cfg Config) withDefaults() Config {
	if cfg.Version == "" {
		cfg.Version = "v1"
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Getenv == nil {
		cfg.Getenv = func(string) string { return "" }
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Client == nil {
		cfg.Client = newClient()
	}
	return cfg
}

// serviceURL is upstream's "http://<NAME>_HOSTNAME[.SERVICES_DOMAIN]:<NAME>_SERVICE_PORT".
func serviceURL(env func(string) string, prefix, defaultHost string) string {
	host := env(prefix + "_HOSTNAME")
	if host == "" {
		host = defaultHost
	}
	if domain := env("SERVICES_DOMAIN"); domain != "" {
		host += "." + domain
	}
	port := env(prefix + "_SERVICE_PORT")
	if port == "" {
		port = "9080"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// newClient keeps connections to the neighbours open: upstream productpage opens one per call,
// but a pool costs nothing in behaviour (timeouts are per request) and keeps the services lean
// under benchmark load.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: time.Minute, // the services' own per-call timeouts are shorter
	}}
}
