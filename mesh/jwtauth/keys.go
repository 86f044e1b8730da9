package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Defaults of the JWKS cache.
const (
	// DefaultRefresh is how often a jwksUri is fetched again while in use (Envoy's remote JWKS
	// cache duration is of this order; keys rotate rarely, and a new kid is fetched at once).
	DefaultRefresh = 5 * time.Minute
	// DefaultFetchTimeout bounds one fetch, and how long a request waits for the first fetch of
	// its issuer's keys (Istio's jwtRules timeout default).
	DefaultFetchTimeout = 5 * time.Second
	// retryAfterFailure is how soon a failed fetch is tried again.
	retryAfterFailure = 10 * time.Second
	maxJWKSBytes      = 1 << 20
)

// errFetchFailed is Envoy's answer while a remote JWKS cannot be had.
//
//lint:ignore ST1005 Envoy's exact text, which clients and docs expect in the 401 body
var errFetchFailed = errors.New("Jwks remote fetch is failed")

// Keys fetches and caches the key sets behind jwksUri: each URI is fetched once when first asked
// for, then refreshed in the background every Refresh; a failed refresh keeps the last good set.
// A URI that has never been fetched successfully makes requests with a token fail (401) with one
// log line per failed fetch. One Keys serves the proxy for its life, across config changes.
type Keys struct {
	Client  *http.Client  // default: a client with FetchTimeout and no proxy from the environment
	Refresh time.Duration // default DefaultRefresh
	Timeout time.Duration // default DefaultFetchTimeout
	Logger  *slog.Logger

	mu      sync.Mutex
	entries map[string]*keyEntry
}

type keyEntry struct {
	mu      sync.Mutex
	set     *jose.JSONWebKeySet // last good set; nil until a fetch succeeded
	err     error               // last fetch's error
	fetched time.Time           // last attempt
	ready   chan struct{}       // closed when the first attempt ends
	running bool
}

func (k *Keys) defaults() {
	if k.Refresh <= 0 {
		k.Refresh = DefaultRefresh
	}
	if k.Timeout <= 0 {
		k.Timeout = DefaultFetchTimeout
	}
	if k.Client == nil {
		k.Client = &http.Client{Timeout: k.Timeout, Transport: &http.Transport{Proxy: nil, ResponseHeaderTimeout: k.Timeout}}
	}
	if k.Logger == nil {
		k.Logger = slog.New(slog.DiscardHandler)
	}
	if k.entries == nil {
		k.entries = map[string]*keyEntry{}
	}
}

// Prefetch starts fetching uri in the background, so the first request need not wait.
func (k *Keys) Prefetch(uri string) { k.entry(uri) }

func (k *Keys) entry(uri string) *keyEntry {
	k.mu.Lock()
	k.defaults()
	e := k.entries[uri]
	if e == nil {
		e = &keyEntry{ready: make(chan struct{})}
		k.entries[uri] = e
	}
	k.mu.Unlock()
	e.mu.Lock()
	due := e.set == nil && time.Since(e.fetched) > retryAfterFailure || e.set != nil && time.Since(e.fetched) > k.Refresh
	if !e.running && (e.fetched.IsZero() || due) {
		e.running = true
		go k.fetch(uri, e)
	}
	e.mu.Unlock()
	return e
}

// Get returns uri's key set, waiting up to wait for a first fetch still under way.
func (k *Keys) Get(ctx context.Context, uri string, wait time.Duration) (*jose.JSONWebKeySet, error) {
	e := k.entry(uri)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-e.ready:
	case <-t.C:
	case <-ctx.Done():
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.set == nil {
		return nil, errFetchFailed
	}
	return e.set, nil
}

func (k *Keys) fetch(uri string, e *keyEntry) {
	set, err := k.get(uri)
	e.mu.Lock()
	first := e.fetched.IsZero()
	e.fetched, e.running, e.err = time.Now(), false, err
	if err == nil {
		e.set = set
	}
	hadKeys := e.set != nil
	e.mu.Unlock()
	// The log line comes before the waiting requests are let go, so that whoever sees the 401
	// also finds its reason in the log.
	switch {
	case err != nil && hadKeys:
		k.Logger.Warn("jwt: JWKS refresh failed; keeping the keys fetched before", "jwksUri", uri, "err", err)
	case err != nil:
		k.Logger.Error("jwt: JWKS fetch failed; requests with a token for this issuer get 401 \"Jwks remote fetch is failed\" until it succeeds",
			"jwksUri", uri, "err", err, "retry_in", retryAfterFailure)
	default:
		k.Logger.Info("jwt: JWKS fetched", "jwksUri", uri, "keys", len(set.Keys))
	}
	if first {
		close(e.ready)
	}
}

func (k *Keys) get(uri string) (*jose.JSONWebKeySet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), k.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := k.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", uri, res.Status)
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", uri, err)
	}
	return parseJWKS(data)
}
