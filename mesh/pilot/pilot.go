// Package pilot runs meshlab's control plane (`meshlab mesh pilot`): a registry feeding the xDS
// server (mesh/pilot/server) on the gRPC port, and metrics plus /debug/status on the debug port.
// Sub-packages: model (the registry seam), xdsgen (model -> xDS translators), server (ADS, ACK
// tracking, debounce), filereg (the file registry).
package pilot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meshlab/meshlab/mesh/pilot/model"
	"github.com/meshlab/meshlab/mesh/pilot/server"
)

// Options configure Run.
type Options struct {
	GRPCAddr  string // default server.DefaultGRPCAddr
	DebugAddr string // default server.DefaultDebugAddr
	Registry  model.Registry
	Logger    *slog.Logger
}

// Run serves until ctx ends or a listener or the registry fails.
func Run(ctx context.Context, opts Options) error {
	if opts.Registry == nil {
		return errors.New("pilot: a registry is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.GRPCAddr == "" {
		opts.GRPCAddr = server.DefaultGRPCAddr
	}
	if opts.DebugAddr == "" {
		opts.DebugAddr = server.DefaultDebugAddr
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := server.New(server.Options{Logger: opts.Logger, Registerer: reg})
	if err != nil {
		return err
	}
	gl, err := net.Listen("tcp", opts.GRPCAddr)
	if err != nil {
		return fmt.Errorf("pilot: gRPC listener: %w", err)
	}
	dl, err := net.Listen("tcp", opts.DebugAddr)
	if err != nil {
		gl.Close()
		return fmt.Errorf("pilot: debug listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/", srv.DebugHandler())
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 3)
	go func() { errs <- srv.Serve(ctx, gl) }()
	go func() {
		if err := hs.Serve(dl); !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("pilot: debug server: %w", err)
			return
		}
		errs <- nil
	}()
	go func() { errs <- srv.Run(ctx, opts.Registry) }()
	opts.Logger.Info("pilot: serving", "grpc", gl.Addr(), "debug", dl.Addr())
	var first error
	for i := 0; i < 3; i++ {
		err := <-errs
		if first == nil && err != nil {
			first = err
		}
		cancel()
		shutdownCtx, done := context.WithTimeout(context.Background(), 2*time.Second)
		_ = hs.Shutdown(shutdownCtx)
		done()
	}
	return first
}

// FetchStatus asks a running control plane's debug port for its proxies' sync states.
func FetchStatus(ctx context.Context, debugAddr string) ([]server.ProxyStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+debugAddr+"/debug/status", nil)
	if err != nil {
		return nil, fmt.Errorf("pilot status: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pilot status from %s: %w", debugAddr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("pilot status from %s: %s: %s", debugAddr, resp.Status, b)
	}
	var out []server.ProxyStatus
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("pilot status from %s: decode: %w", debugAddr, err)
	}
	return out, nil
}
