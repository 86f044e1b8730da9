// Package pilot runs meshlab's control plane (`meshlab mesh pilot`): a registry feeding the xDS
// server (mesh/pilot/server) on the gRPC ports, the CA (mesh/pilot/caservice), and metrics plus
// /debug/status on the debug port. Sub-packages: model (the registry seam), xdsgen (model -> xDS
// translators), server (ADS, ACK tracking, debounce), filereg and kubereg (the registries), authn
// (who a sidecar is), caservice (its certificate), trustpub (the trust anchor in every namespace).
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

	"github.com/meshlab/meshlab/mesh/ca"
	"github.com/meshlab/meshlab/mesh/pilot/authn"
	"github.com/meshlab/meshlab/mesh/pilot/caservice"
	"github.com/meshlab/meshlab/mesh/pilot/model"
	"github.com/meshlab/meshlab/mesh/pilot/server"
)

// Options configure Run.
type Options struct {
	// GRPCAddr serves xDS in plaintext (Istio's 15010), where a proxy is who it claims to be:
	// for labs without Kubernetes, or behind an explicit flag. "" turns it off; with SecureAddr
	// also "", it defaults to server.DefaultGRPCAddr.
	GRPCAddr string
	// SecureAddr serves xDS and the CA over TLS (Istio's 15012) with a certificate from CA; with
	// Auth every ADS stream and CSR is authenticated. "" turns it off.
	SecureAddr string
	DebugAddr  string // default server.DefaultDebugAddr
	Registry   model.Registry
	// CA signs workload certificates; nil serves no CA (sidecars then run plaintext only).
	CA          *ca.CA
	TrustDomain string // default cluster.local
	// Auth authenticates sidecars (TokenReview); nil trusts what they claim and signs the CSR's
	// own identity, which is only for local labs, so the CA is then offered on GRPCAddr too.
	Auth authn.Authenticator
	// ServingNames are the DNS names of the secure port's certificate (the Service's names).
	ServingNames []string
	Logger       *slog.Logger
}

// Run serves until ctx ends or a listener or the registry fails.
func Run(ctx context.Context, opts Options) error {
	if opts.Registry == nil {
		return errors.New("pilot: a registry is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.GRPCAddr == "" && opts.SecureAddr == "" {
		opts.GRPCAddr = server.DefaultGRPCAddr
	}
	if opts.DebugAddr == "" {
		opts.DebugAddr = server.DefaultDebugAddr
	}
	if opts.SecureAddr != "" && opts.CA == nil {
		return errors.New("pilot: the secure port needs a CA for its certificate")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := server.New(server.Options{Logger: opts.Logger, Registerer: reg, TrustDomain: opts.TrustDomain})
	if err != nil {
		return err
	}
	var caSvc *caservice.Service
	if opts.CA != nil {
		caSvc, err = caservice.New(caservice.Options{CA: opts.CA, TrustDomain: opts.TrustDomain, Auth: opts.Auth, Logger: opts.Logger,
			Registerer: reg, Signed: srv.CertificateSigned})
		if err != nil {
			return err
		}
	}
	type listener struct {
		l    net.Listener
		opts server.ServeOptions
	}
	var ls []listener
	closeAll := func() {
		for _, l := range ls {
			l.l.Close()
		}
	}
	if opts.GRPCAddr != "" {
		l, err := net.Listen("tcp", opts.GRPCAddr)
		if err != nil {
			return fmt.Errorf("pilot: gRPC listener: %w", err)
		}
		var so server.ServeOptions
		if caSvc != nil && opts.Auth == nil {
			so.Register = append(so.Register, caSvc.Register)
		}
		ls = append(ls, listener{l, so})
	}
	if opts.SecureAddr != "" {
		l, err := net.Listen("tcp", opts.SecureAddr)
		if err != nil {
			closeAll()
			return fmt.Errorf("pilot: secure gRPC listener: %w", err)
		}
		so := server.ServeOptions{TLS: servingTLS(opts.CA, opts.ServingNames), Auth: opts.Auth, MeshRoots: opts.CA.Pool()}
		so.Register = append(so.Register, caSvc.Register)
		ls = append(ls, listener{l, so})
	}
	dl, err := net.Listen("tcp", opts.DebugAddr)
	if err != nil {
		closeAll()
		return fmt.Errorf("pilot: debug listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/", srv.DebugHandler())
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := len(ls) + 2
	errs := make(chan error, n)
	for _, l := range ls {
		go func() { errs <- srv.ServeWith(ctx, l.l, l.opts) }()
	}
	go func() {
		if err := hs.Serve(dl); !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("pilot: debug server: %w", err)
			return
		}
		errs <- nil
	}()
	go func() { errs <- srv.Run(ctx, opts.Registry) }()
	for _, l := range ls {
		opts.Logger.Info("pilot: serving", "addr", l.l.Addr(), "tls", l.opts.TLS != nil, "authenticated", l.opts.Auth != nil, "ca", len(l.opts.Register) > 0)
	}
	opts.Logger.Info("pilot: debug", "addr", dl.Addr())
	var first error
	for i := 0; i < n; i++ {
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
