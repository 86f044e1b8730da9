// Package server is meshlab's control plane: it keeps the latest model.State from a registry,
// renders it per proxy into xDS (mesh/pilot/xdsgen), and serves it over ADS with
// go-control-plane's snapshot cache. Pushes are debounced; every proxy's ACKs and NACKs are
// tracked for `meshlab mesh status` and the convergence-time histogram.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/model"
	"github.com/meshlab/meshlab/mesh/spiffe"
)

// Default listen addresses, Istio's istiod ports.
const (
	DefaultGRPCAddr  = ":15010"
	DefaultDebugAddr = ":15014"
)

// maxStreams bounds concurrent gRPC streams per connection; one proxy uses one ADS stream.
const maxStreams = 100_000

// Options configure a Server. Zero values take the defaults.
type Options struct {
	Logger        *slog.Logger
	Registerer    prometheus.Registerer // nil: a private registry
	DebounceQuiet time.Duration         // default DebounceQuiet
	DebounceMax   time.Duration         // default DebounceMax
	TrustDomain   string                // of authenticated proxies' SPIFFE IDs; default cluster.local
}

// Server is the control plane. Create it with New, feed it with Run, serve it with Serve.
type Server struct {
	opts    Options
	cache   *shardedCache
	xds     serverv3.Server
	tracker *tracker
	metrics *metrics
	changes chan struct{}

	// pushMu orders whole pushes: without it a proxy's push of an older state could land after a
	// newer one and leave that proxy behind until the next change.
	pushMu sync.Mutex

	mu         sync.Mutex
	state      *model.State
	podsByName map[string]model.Pod    // "namespace/name" -> pod, of state
	nodes      map[string]config.Proxy // connected node ID -> identity
	certs      map[string]time.Time    // "namespace/pod" -> expiry of its latest certificate
	rendered   map[string]rendered     // render key -> snapshot of the current state
}

type rendered struct {
	snap    *cachev3.Snapshot
	inbound string // the proxy's inbound policy, for status
	err     error
}

// New builds a server; it serves nothing until a state arrives.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.DebounceQuiet <= 0 {
		opts.DebounceQuiet = DebounceQuiet
	}
	if opts.DebounceMax <= 0 {
		opts.DebounceMax = DebounceMax
	}
	if opts.TrustDomain == "" {
		opts.TrustDomain = spiffe.DefaultTrustDomain
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("pilot: metrics: %w", err)
	}
	s := &Server{
		opts: opts, metrics: m, changes: make(chan struct{}, 1),
		nodes: map[string]config.Proxy{}, rendered: map[string]rendered{}, certs: map[string]time.Time{},
	}
	s.cache = newShardedCache(cacheLogger{opts.Logger})
	s.tracker = newTracker(m, s.nodeConnected, s.nodeGone)
	s.tracker.authorize = s.authenticatedNode
	return s, nil
}

// Update replaces the mesh state; the push follows after the debounce. Registries call it.
func (s *Server) Update(st model.State) {
	byName := make(map[string]model.Pod, len(st.Pods))
	for _, p := range st.Pods {
		byName[p.Namespace+"/"+p.Name] = p
	}
	s.mu.Lock()
	s.state = &st
	s.podsByName = byName
	for k := range s.certs {
		if _, ok := byName[k]; !ok && len(byName) > 0 {
			delete(s.certs, k) // the pod is gone
		}
	}
	s.mu.Unlock()
	select {
	case s.changes <- struct{}{}:
	default: // a change is already pending; the flush reads the latest state
	}
}

// Run runs reg, feeding Update, and the debounced pushes, until ctx ends or reg fails.
func (s *Server) Run(ctx context.Context, reg model.Registry) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		debounce(ctx, s.changes, s.opts.DebounceQuiet, s.opts.DebounceMax, s.pushAll)
	}()
	err := reg.Run(ctx, s.Update)
	cancel()
	<-done
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("pilot: registry: %w", err)
	}
	return nil
}

// Serve serves ADS in plaintext on l until ctx ends; a proxy there is who it claims to be.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return s.ServeWith(ctx, l, ServeOptions{})
}

// ServeWith serves ADS, and the services o registers, on l until ctx ends.
func (s *Server) ServeWith(ctx context.Context, l net.Listener, o ServeOptions) error {
	opts := []grpc.ServerOption{
		grpc.MaxConcurrentStreams(maxStreams),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 15 * time.Second, PermitWithoutStream: true}),
	}
	if o.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	if o.Auth != nil {
		opts = append(opts, grpc.StreamInterceptor(s.authenticateStreams(o)))
	}
	g := grpc.NewServer(opts...)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, s.xdsServer(ctx))
	for _, r := range o.Register {
		r(g)
	}
	stop := context.AfterFunc(ctx, g.Stop) // Stop, not GracefulStop: ADS streams never end by themselves
	defer stop()
	if err := g.Serve(l); err != nil && ctx.Err() == nil {
		return fmt.Errorf("pilot: serve ADS on %s: %w", l.Addr(), err)
	}
	return nil
}

func (s *Server) xdsServer(ctx context.Context) serverv3.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.xds == nil {
		s.xds = serverv3.NewServer(ctx, s.cache, s.tracker)
	}
	return s.xds
}

// Status lists connected proxies and their sync state, sorted by ID, with the expiry of each
// pod's certificate (the later of the last one signed here and the one it presented when it
// connected) and the config the control plane refused.
func (s *Server) Status() []ProxyStatus {
	st := s.tracker.status()
	s.mu.Lock()
	defer s.mu.Unlock()
	var rejected []string
	if s.state != nil {
		rejected = s.state.Rejected
	}
	for i := range st {
		if signed := s.certs[st[i].Namespace+"/"+podName(st[i].ID, st[i].Namespace)]; signed.After(st[i].CertExpiry) {
			st[i].CertExpiry = signed
		}
		st[i].Rejected = rejected
	}
	return st
}

// CertificateSigned records a certificate the CA signed for a pod (for status).
func (s *Server) CertificateSigned(namespace, pod string, notAfter time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.certs[namespace+"/"+pod] = notAfter
}

// podName is the pod of a node ID (pod.namespace, as the authenticated node is named).
func podName(id, namespace string) string {
	name, _ := strings.CutSuffix(id, "."+namespace)
	return name
}

// DebugHandler serves /debug/status (JSON of Status).
func (s *Server) DebugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s.Status())
	})
	return mux
}

// nodeConnected is called on a node's first request: remember its identity and give it the
// current config at once (no debounce: a new proxy is waiting to become ready).
func (s *Server) nodeConnected(n *corev3.Node) {
	s.mu.Lock()
	var pods map[netip.Addr]model.Pod
	if s.state != nil {
		pods = s.state.Pods
	}
	p := model.ProxyFromNode(n, pods)
	s.nodes[n.GetId()] = p
	s.mu.Unlock()
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	s.push(n.GetId(), p)
}

// nodeGone forgets a node whose last stream closed, and its snapshot.
func (s *Server) nodeGone(id string) {
	s.mu.Lock()
	delete(s.nodes, id)
	s.mu.Unlock()
	s.cache.ClearSnapshot(id)
}

// pushAll renders the latest state for every connected proxy.
func (s *Server) pushAll() {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	start := time.Now()
	s.mu.Lock()
	s.rendered = map[string]rendered{}
	nodes := make(map[string]config.Proxy, len(s.nodes))
	for id, p := range s.nodes {
		nodes[id] = p
	}
	s.mu.Unlock()
	for id, p := range nodes {
		s.push(id, p)
	}
	s.opts.Logger.Info("pilot: pushed", "proxies", len(nodes), "took", time.Since(start))
}

// push renders (or reuses) p's config and sets it for node id; callers hold pushMu.
func (s *Server) push(id string, p config.Proxy) {
	s.mu.Lock()
	if s.state == nil {
		s.mu.Unlock()
		return
	}
	key := renderKey(p)
	r, ok := s.rendered[key]
	if !ok {
		snap, t, err := render(s.state, p)
		r = rendered{snap: snap, err: err}
		if t != nil {
			r.inbound = t.Inbound.String()
			for _, w := range t.Warnings {
				s.opts.Logger.Warn("pilot: config", "proxy", p.ID, "warning", w)
			}
		}
		s.rendered[key] = r
	}
	s.mu.Unlock()
	if r.err != nil {
		s.opts.Logger.Error("pilot: config not pushed; the proxy keeps its previous one", "proxy", id, "err", r.err)
		return
	}
	s.tracker.pushed(id, p, r.snap.GetVersion(resourceTypes[0]), r.inbound)
	if err := s.cache.SetSnapshot(context.Background(), id, r.snap); err != nil {
		s.opts.Logger.Error("pilot: set snapshot", "proxy", id, "err", err)
	}
}
