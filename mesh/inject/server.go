package inject

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

// DefaultWebhookPort is where the webhook listens in the pod (Istio's injector port).
const DefaultWebhookPort = 15017

// Serve runs the webhook over TLS on ln until ctx ends, then shuts down gracefully. /healthz/ready
// answers 200 for the pod's probe. The listener is the caller's so tests can use 127.0.0.1:0.
func Serve(ctx context.Context, ln net.Listener, cert tls.Certificate, h *Webhook, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle(WebhookPath, h)
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
	log.Info("sidecar injector webhook listening", "addr", ln.Addr().String(), "path", WebhookPath)
	select {
	case err := <-done:
		return fmt.Errorf("webhook server on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("webhook server shutdown: %w", err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("webhook server on %s: %w", ln.Addr(), err)
	}
	return nil
}
