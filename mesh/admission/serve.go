// Package admission serves Kubernetes admission webhooks (meshlab's sidecar injector and its
// config validator) over TLS: one server shape, so both get the same timeouts, readiness probe
// and graceful shutdown.
package admission

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Serve runs handler at path over TLS on ln until ctx ends, then shuts down gracefully.
// /healthz/ready answers 200 for the pod's probe. name says which webhook in logs and errors.
// The listener is the caller's so that tests can use 127.0.0.1:0.
func Serve(ctx context.Context, ln net.Listener, cert tls.Certificate, name, path string, handler http.Handler, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle(path, handler)
	mux.HandleFunc("/healthz/ready", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	log.Info(name+" listening", "addr", ln.Addr().String(), "path", path)
	select {
	case err := <-done:
		return fmt.Errorf("%s on %s: %w", name, ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("%s shutdown: %w", name, err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s on %s: %w", name, ln.Addr(), err)
	}
	return nil
}
