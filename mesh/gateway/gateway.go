package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/proxy"
)

// Options configure a Gateway.
type Options struct {
	// ConfigFiles hold the Gateways, VirtualServices, DestinationRules and the meshlab Registry;
	// they are re-read when they change.
	ConfigFiles []string
	// Labels are the gateway's own; Gateways whose selector matches them are served
	// (DefaultLabels when nil).
	Labels map[string]string
	// Listen maps a server port to the address to listen on; a port not in the map listens on
	// ":<port>". Tests use "127.0.0.1:0".
	Listen map[uint16]string
	// WorkDir receives the translated proxy config (gateway.yaml); a temporary directory when "".
	WorkDir string
	// HealthAddr and MetricsAddr are the proxy's admin listeners (defaults :15021 and :15090).
	HealthAddr, MetricsAddr string
	// ReloadInterval is how often ConfigFiles are polled (default 1s).
	ReloadInterval time.Duration
	// Tracing is where the gateway reports its spans and how many requests it samples. The
	// gateway starts most traces, and sidecars follow its decision: nil means sample 100 % (a
	// lab, like Istio's demo profile) and report nowhere itself.
	Tracing *config.Tracing
	// Certs is the gateway's workload identity: with it the gateway originates mutual TLS to
	// meshed backends (auto mTLS, as sidecars do); nil sends plaintext.
	Certs proxy.Certs
	// Namespace is the one the gateway runs in: its identity in telemetry (default
	// config.DefaultNamespace; in a cluster, the pod's).
	Namespace string
	// Telemetry records the gateway's requests as a sidecar's are (Istio-named metrics served
	// on MetricsAddr); nil records nothing and serves no metrics.
	Telemetry proxy.Telemetry
	Logger    *slog.Logger
}

// Gateway is a running ingress gateway. Create with New, run with Run.
type Gateway struct {
	opts Options
	mu   sync.Mutex
	// addrs holds the bound address of every server port; bound is closed and replaced each
	// time a port is bound, so Addr can wait for a port that a later Gateway declares.
	addrs map[uint16]net.Addr
	bound chan struct{}
}

// New checks opts.
func New(opts Options) (*Gateway, error) {
	if len(opts.ConfigFiles) == 0 {
		return nil, errors.New("gateway: at least one config file is required")
	}
	if opts.Labels == nil {
		opts.Labels = DefaultLabels()
	}
	if opts.ReloadInterval == 0 {
		opts.ReloadInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Tracing == nil {
		opts.Tracing = &config.Tracing{SamplePercent: 100}
	}
	return &Gateway{opts: opts, bound: make(chan struct{}), addrs: map[uint16]net.Addr{}}, nil
}

// Addr returns where server port listens, waiting until a Gateway declares the port and Run
// has bound it (or ctx ends).
func (g *Gateway) Addr(ctx context.Context, port uint16) (net.Addr, error) {
	for {
		g.mu.Lock()
		a, ok := g.addrs[port]
		bound := g.bound
		g.mu.Unlock()
		if ok {
			return a, nil
		}
		select {
		case <-bound:
		case <-ctx.Done():
			return nil, fmt.Errorf("gateway: no server on port %d: %w", port, ctx.Err())
		}
	}
}

func (g *Gateway) setAddr(port uint16, a net.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if a == nil {
		delete(g.addrs, port)
		return
	}
	g.addrs[port] = a
	close(g.bound)
	g.bound = make(chan struct{})
}

func (g *Gateway) translate(out string) (*Translation, string, error) {
	files := map[string][]byte{}
	stamp := ""
	for _, f := range g.opts.ConfigFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, "", fmt.Errorf("gateway: %w", err)
		}
		files[f] = data
		if fi, err := os.Stat(f); err == nil {
			stamp += fmt.Sprintf("%s:%d:%d;", f, fi.ModTime().UnixNano(), fi.Size())
		}
	}
	t, err := Translate(files, g.opts.Labels, Identity{Namespace: g.opts.Namespace, Tracing: *g.opts.Tracing})
	if err != nil {
		return nil, stamp, err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, t.Config, 0o644); err != nil {
		return nil, stamp, fmt.Errorf("gateway: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, stamp, fmt.Errorf("gateway: %w", err)
	}
	return t, stamp, nil
}

// Run translates the config, starts the proxy and one HTTP listener per Gateway server port,
// follows config changes (ports come and go with the Gateways), and drains on ctx's end. With no
// Gateway selecting its labels yet the gateway runs, ready, with no listener, as Istio's does:
// the Gateway usually arrives with the application, after the gateway is installed.
func (g *Gateway) Run(ctx context.Context) error {
	log := g.opts.Logger
	dir := g.opts.WorkDir
	if dir == "" {
		d, err := os.MkdirTemp("", "meshlab-gateway-")
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	gen := filepath.Join(dir, "gateway.yaml")
	t, stamp, err := g.translate(gen)
	if err != nil {
		return err
	}
	// The gateway hands each translation to its proxy itself, before its listeners follow it, so
	// a port is never served ahead of the routes it needs.
	p, err := proxy.New(proxy.Options{
		External:     true,
		OutboundAddr: "127.0.0.1:0", InboundAddr: "127.0.0.1:0", // a gateway has no captured traffic
		HealthAddr: g.opts.HealthAddr, MetricsAddr: g.opts.MetricsAddr,
		OriginalDst: func(*net.TCPConn) (netip.AddrPort, error) {
			return netip.AddrPort{}, errors.New("gateway: no capture")
		},
		Telemetry: g.opts.Telemetry, Logger: log, Certs: g.opts.Certs,
	})
	if err != nil {
		return err
	}
	pctx, stopProxy := context.WithCancel(context.WithoutCancel(ctx))
	defer stopProxy()
	proxyDone := make(chan error, 1)
	go func() { proxyDone <- p.Run(pctx) }()
	if _, err := p.Addr(ctx, "outbound"); err != nil {
		return err
	}
	ls := &listeners{g: g, p: p, servers: map[uint16]*portServer{}}
	if err := ls.apply(t); err != nil {
		ls.close()
		stopProxy()
		<-proxyDone
		return err
	}
	g.watch(ctx, gen, stamp, ls)
	ls.close()
	stopProxy()
	return <-proxyDone
}

// watch re-translates on every change of the input files; the proxy takes the result and the
// listeners follow its ports.
func (g *Gateway) watch(ctx context.Context, gen, last string, ls *listeners) {
	tick := time.NewTicker(g.opts.ReloadInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if g.stamp() == last {
			continue
		}
		nt, stamp, err := g.translate(gen)
		last = stamp
		if err != nil {
			g.opts.Logger.Error("gateway: config change rejected; keeping the previous routes", "err", err)
			continue
		}
		if err := ls.apply(nt); err != nil {
			g.opts.Logger.Error("gateway: config reloaded, but a port cannot be served", "err", err)
			continue
		}
		g.opts.Logger.Info("gateway: config reloaded")
	}
}

func (g *Gateway) stamp() string {
	s := ""
	for _, f := range g.opts.ConfigFiles {
		if fi, err := os.Stat(f); err == nil {
			s += fmt.Sprintf("%s:%d:%d;", f, fi.ModTime().UnixNano(), fi.Size())
		}
	}
	return s
}
