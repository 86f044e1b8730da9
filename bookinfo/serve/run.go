package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// shutdownGrace is how long in-flight requests get to finish after the context ends.
const shutdownGrace = 5 * time.Second

// Run serves the configured service until ctx ends, then drains in-flight requests for up to
// shutdownGrace. ready, when not nil, is called with the bound address once the listener is
// open (useful with Listen "127.0.0.1:0").
func Run(ctx context.Context, cfg Config, ready func(net.Addr)) error {
	cfg = cfg.withDefaults()
	h, err := Handler(cfg)
	if err != nil {
		return fmt.Errorf("bookinfo %s %s: %w", cfg.Service, cfg.Version, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("bookinfo %s: listen on %s: %w", cfg.Service, cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           accessLog(cfg.Log, cfg.Service, h),
		ReadHeaderTimeout: 10 * time.Second, // a client that never finishes its headers is dropped
		IdleTimeout:       2 * time.Minute,
	}
	cfg.Log.Info("bookinfo service listening", "service", cfg.Service, "version", cfg.Version, "addr", ln.Addr().String())
	if ready != nil {
		ready(ln.Addr())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("bookinfo %s: serve on %s: %w", cfg.Service, ln.Addr(), err)
	case <-ctx.Done():
	}
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err = srv.Shutdown(drainCtx)
	if err != nil { // requests still running after the grace period are cut off
		err = errors.Join(err, srv.Close())
	}
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("bookinfo %s: shut down: %w", cfg.Service, err)
	}
	cfg.Log.Info("bookinfo service stopped", "service", cfg.Service)
	return nil
}
