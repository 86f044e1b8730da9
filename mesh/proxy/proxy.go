package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshlab/meshlab/mesh/capture"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/jwtauth"
)

// ProxyUID is the UID and GID the capture rules exempt; the sidecar must run as it.
const ProxyUID = 1337

// ErrRunningAsRoot is returned by CheckIdentity when the proxy would run as root: its own
// upstream connections would then be captured again and loop.
var ErrRunningAsRoot = errors.New("the proxy must run as UID/GID 1337, not root (the capture rules only exempt 1337; use --allow-root for tests without capture)")

// CheckIdentity refuses root unless allowRoot, and warns through the error when not 1337.
func CheckIdentity(allowRoot bool) error {
	if os.Geteuid() == 0 && !allowRoot {
		return ErrRunningAsRoot
	}
	return nil
}

// Proxy is one running sidecar. Create it with New and start it with Run.
type Proxy struct {
	opts     Options
	table    atomic.Pointer[config.Table] // nil until the first complete config
	policy   atomic.Pointer[policyState]  // the security policies that go with table
	jwks     *jwtauth.Keys                // JWKS fetched for RequestAuthentications, kept across configs
	peer     atomic.Pointer[string]       // PeerHeader value for the current table
	clusters *clusterSet
	tracer   *tracer
	mtls     *meshTLS // nil when the sidecar has no workload identity (plaintext only)

	mu        sync.Mutex
	listeners []net.Listener
	addrs     map[string]net.Addr // listener role -> bound address, for tests and logs
	servers   map[string]*server  // listener role -> server, for tests
	bound     chan struct{}       // closed once every listener is bound
}

// New checks opts and returns a proxy that has not loaded its config yet.
func New(opts Options) (*Proxy, error) {
	opts.setDefaults()
	if len(opts.ConfigFiles) == 0 && !opts.External {
		return nil, errors.New("proxy: at least one config file is required")
	}
	if opts.OriginalDst == nil {
		opts.OriginalDst = capture.OriginalDst
	}
	p := &Proxy{opts: opts, addrs: map[string]net.Addr{}, bound: make(chan struct{})}
	if opts.Certs != nil {
		p.mtls = newMeshTLS(opts.Certs)
	}
	p.clusters = newClusterSet(p)
	p.jwks = &jwtauth.Keys{Logger: opts.Logger}
	p.tracer = newTracer(opts.Logger)
	return p, nil
}

// Addr returns the bound address of a listener role ("outbound", "inbound", "health",
// "metrics"), waiting until Run has bound them all or ctx ends.
func (p *Proxy) Addr(ctx context.Context, role string) (net.Addr, error) {
	select {
	case <-p.bound:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.addrs[role]
	if !ok {
		return nil, fmt.Errorf("proxy: no listener %q", role)
	}
	return a, nil
}

// Ready reports whether a complete config has been applied and, for a sidecar with a workload
// identity, a valid certificate is at hand.
func (p *Proxy) Ready() bool { return p.NotReady() == nil }

// NotReady says why the proxy is not ready, nil when it is.
func (p *Proxy) NotReady() error {
	if p.table.Load() == nil {
		return errors.New("config not received: no complete routing config has loaded yet")
	}
	if p.opts.Certs != nil {
		if err := p.opts.Certs.Ready(); err != nil {
			return fmt.Errorf("workload certificate: %w", err)
		}
	}
	return nil
}

// Table returns the routing table in use (nil before the first config).
func (p *Proxy) Table() *config.Table { return p.table.Load() }

// Run loads the config, serves until ctx ends, then drains for at most DrainTimeout. A config
// that fails to load at start is retried on every change; the proxy stays unready meanwhile.
func (p *Proxy) Run(ctx context.Context) error {
	log := p.opts.Logger
	stamps := p.fileStamps() // before loading: a change made during the load triggers a reload
	// With External the config comes through ApplySnapshot (xds_hook.go) instead.
	if !p.opts.External {
		if err := p.reload(); err != nil {
			log.Error("proxy: config not applied; not ready until it loads", "err", err)
		}
	}
	out, err := p.listen("outbound", p.opts.OutboundAddr)
	if err != nil {
		return err
	}
	in, err := p.listen("inbound", p.opts.InboundAddr)
	if err != nil {
		p.closeListeners()
		return err
	}
	admin, err := p.startAdmin()
	if err != nil {
		p.closeListeners()
		return err
	}
	outbound := newServer(p, out, directionOutbound)
	inbound := newServer(p, in, directionInbound)
	p.mu.Lock()
	p.servers = map[string]*server{"outbound": outbound, "inbound": inbound}
	p.mu.Unlock()
	close(p.bound)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); outbound.serve() }()
	go func() { defer wg.Done(); inbound.serve() }()
	go func() {
		defer wg.Done()
		if !p.opts.External {
			p.watch(ctx, stamps)
		}
	}()
	log.Info("proxy: serving", "outbound", out.Addr(), "inbound", in.Addr(), "ready", p.Ready())

	<-ctx.Done()
	log.Info("proxy: draining", "timeout", p.opts.DrainTimeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), p.opts.DrainTimeout)
	defer cancel()
	var derr error
	var dmu sync.Mutex
	var dwg sync.WaitGroup
	for _, s := range []*server{outbound, inbound} {
		dwg.Add(1)
		go func() {
			defer dwg.Done()
			if err := s.shutdown(drainCtx); err != nil {
				dmu.Lock()
				derr = errors.Join(derr, err)
				dmu.Unlock()
			}
		}()
	}
	dwg.Wait()
	admin.close()
	wg.Wait()
	p.clusters.close()
	p.tracer.close(drainCtx)
	return derr
}

func (p *Proxy) listen(role, addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("proxy: %s listener on %s: %w", role, addr, err)
	}
	p.mu.Lock()
	p.listeners = append(p.listeners, l)
	p.addrs[role] = l.Addr()
	p.mu.Unlock()
	return l, nil
}

func (p *Proxy) closeListeners() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.listeners {
		l.Close()
	}
}

// reload loads and compiles the config files and swaps the table in one step, so a request sees
// either the old or the new config, never a mix.
func (p *Proxy) reload() error {
	snap, err := config.Load(p.opts.ConfigFiles...)
	if err != nil {
		return err
	}
	return p.ApplySnapshot(snap)
}

// watch polls the config files' modification times and sizes and reloads on any change. Polling
// (not inotify) also sees files replaced by rename, which is how editors and ConfigMaps update.
func (p *Proxy) watch(ctx context.Context, last string) {
	tick := time.NewTicker(p.opts.ReloadInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := p.fileStamps()
		if now == last {
			continue
		}
		last = now
		if err := p.reload(); err != nil {
			p.opts.Logger.Error("proxy: config change rejected; keeping the previous config", "err", err)
			continue
		}
		p.opts.Logger.Info("proxy: config reloaded", "files", p.opts.ConfigFiles)
	}
}

func (p *Proxy) fileStamps() string {
	var s string
	for _, f := range p.opts.ConfigFiles {
		fi, err := os.Stat(f)
		if err != nil {
			s += f + ":missing;"
			continue
		}
		s += fmt.Sprintf("%s:%d:%d;", f, fi.ModTime().UnixNano(), fi.Size())
	}
	return s
}
