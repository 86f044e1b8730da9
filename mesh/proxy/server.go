package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
)

type direction int

const (
	directionOutbound direction = iota
	directionInbound
)

func (d direction) String() string {
	if d == directionInbound {
		return "inbound"
	}
	return "outbound"
}

// server is one listener (outbound 15001 or inbound 15006): it accepts, finds the original
// destination, sniffs, and hands the connection to its HTTP server or to the TCP splicer.
type server struct {
	p      *Proxy
	ln     net.Listener
	dir    direction
	http   *http.Server
	httpLn *chanListener
	log    *slog.Logger

	ctx      context.Context // canceled when draining ends: stops TCP dials and hand-offs
	cancel   context.CancelFunc
	active   atomic.Int64 // open downstream connections
	draining atomic.Bool  // shutdown has begun: fast-path connections close between requests
	fastReqs atomic.Int64 // requests served by serveH1, for tests and debugging
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[*proxyConn]struct{} // every open downstream connection, closed at the drain deadline
}

type connInfoKey struct{}

func newServer(p *Proxy, ln net.Listener, dir direction) *server {
	s := &server{p: p, ln: ln, dir: dir, log: p.opts.Logger.With("listener", dir.String()), conns: map[*proxyConn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.httpLn = newChanListener(ln.Addr())
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge, which gRPC clients use
	var h http.Handler = newOutboundHandler(p)
	if dir == directionInbound {
		h = newInboundHandler(p)
	}
	s.http = &http.Server{
		Handler:           h,
		Protocols:         &protocols,
		ReadHeaderTimeout: p.opts.ReadHeaderTimeout,
		IdleTimeout:       p.opts.IdleTimeout,
		MaxHeaderBytes:    p.opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(p.opts.Logger.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if pc, ok := c.(*proxyConn); ok {
				return context.WithValue(ctx, connInfoKey{}, pc.info)
			}
			return ctx
		},
	}
	return s
}

func (s *server) serve() {
	go func() { _ = s.http.Serve(s.httpLn) }()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("proxy: accept", "err", err)
			continue
		}
		tc, ok := c.(*net.TCPConn)
		if !ok {
			c.Close()
			continue
		}
		if s.active.Add(1) > int64(s.p.opts.MaxConnections) {
			s.active.Add(-1)
			tc.Close() // over the limit: refuse rather than queue without bound
			continue
		}
		pc := &proxyConn{TCPConn: tc}
		if raw, err := newRawSocket(tc); err == nil {
			pc.raw = raw
		}
		s.mu.Lock()
		s.conns[pc] = struct{}{}
		s.mu.Unlock()
		pc.release = func() {
			s.active.Add(-1)
			s.mu.Lock()
			delete(s.conns, pc)
			s.mu.Unlock()
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(pc)
		}()
	}
}

func (s *server) handle(c *proxyConn) {
	dst, err := s.p.opts.OriginalDst(c.TCPConn)
	if err != nil {
		s.log.Debug("proxy: no original destination (connection was not redirected?)", "remote", c.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	c.info = connInfo{dst: netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port()), src: addrPortOf(c.RemoteAddr())}
	if s.isSelf(c.info.dst) {
		s.log.Warn("proxy: connection addressed to the proxy itself; closing to avoid a loop", "remote", c.RemoteAddr())
		c.Close()
		return
	}
	t := s.p.table.Load()
	if s.dir == directionInbound && !s.secureInbound(c, t) {
		return
	}
	var host *config.Host
	if t != nil {
		if s.dir == directionInbound {
			host = t.Local(c.info.dst.Port())
		} else {
			host, _ = t.ByDestination(c.info.dst)
		}
	}
	proto := config.ProtocolAuto
	if host != nil {
		proto = host.Protocol
	}
	serverFirst := t != nil && slices.Contains(t.Proxy.ServerFirstPorts, c.info.dst.Port())
	isHTTP := false
	switch {
	case serverFirst || proto == config.ProtocolTCP:
	case proto == config.ProtocolAuto:
		var eof bool
		isHTTP, eof = sniff(c, s.p.opts.SniffTimeout)
		if eof {
			c.Close()
			return
		}
	default:
		isHTTP = true
	}
	if isHTTP && !s.serveH1(c) {
		return // served on the fast path until it closed
	}
	if isHTTP && s.httpLn.push(s.ctx, c) {
		return // the HTTP server owns c now
	}
	if isHTTP {
		c.Close() // draining
		return
	}
	if !s.allowTCP(c) {
		c.Close()
		return
	}
	s.spliceTCP(c, t, host)
}

// handshakeTimeout bounds an inbound TLS handshake.
const handshakeTimeout = 10 * time.Second

// secureInbound applies the port's PeerAuthentication mode to an inbound connection: STRICT
// takes mutual TLS only, PERMISSIVE tells TLS from plaintext by the first bytes, DISABLE takes
// the bytes as they come. A TLS connection is terminated here and verified (the client's
// certificate chains to the mesh root and names an identity of the trust domain). false means the
// connection was refused and closed.
func (s *server) secureInbound(c *proxyConn, t *config.Table) bool {
	mode := config.MTLSPermissive
	if t != nil {
		mode = t.Inbound.ModeFor(c.info.dst.Port())
	}
	if mode == config.MTLSDisable {
		c.admitted.Store(admittedPlain)
		return true
	}
	m := s.p.mtls
	if mode == config.MTLSPermissive {
		isTLS, eof := sniffTLS(c, s.p.opts.SniffTimeout)
		if eof {
			c.Close()
			return false
		}
		if !isTLS || m == nil {
			c.admitted.Store(admittedPlain)
			return true // plaintext (or TLS the app itself speaks, when the sidecar has no identity)
		}
	} else if m == nil {
		s.log.Debug("proxy: STRICT mutual TLS but the sidecar has no workload identity; refusing", "remote", c.RemoteAddr(), "port", c.info.dst.Port())
		c.Close()
		return false
	}
	if err := c.terminateTLS(m.server, handshakeTimeout); err != nil {
		s.log.Debug("proxy: inbound mutual TLS refused", "remote", c.RemoteAddr(), "port", c.info.dst.Port(), "mode", mode, "err", err)
		c.Close()
		return false
	}
	c.admitted.Store(admittedMTLS)
	return true
}

// isSelf reports whether dst is one of this listener's own addresses.
func (s *server) isSelf(dst netip.AddrPort) bool {
	la := addrPortOf(s.ln.Addr())
	return dst.Port() == la.Port() && (dst.Addr() == la.Addr() || la.Addr().IsUnspecified() && dst.Addr().IsLoopback())
}

// shutdown stops accepting, lets in-flight HTTP requests and TCP connections finish until ctx
// ends, then closes whatever is left and waits for every handler goroutine.
func (s *server) shutdown(ctx context.Context) error {
	s.ln.Close()
	// Fast-path connections: idle ones wake up and close now, busy ones after their response
	// (serveH1 checks draining before it waits for another request).
	s.draining.Store(true)
	s.mu.Lock()
	for c := range s.conns {
		if c.fast.Load() {
			_ = c.TCPConn.SetReadDeadline(aLongTimeAgo)
		}
	}
	s.mu.Unlock()
	err := s.http.Shutdown(ctx) // closes idle HTTP connections, waits for active ones
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("proxy: HTTP drain", "err", err)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	left := len(s.conns)
	for c := range s.conns {
		c.TCPConn.Close() // the slot is released by the owner's own Close
	}
	s.mu.Unlock()
	if left > 0 {
		s.log.Info("proxy: drain timeout; closed remaining connections", "count", left)
	}
	s.wg.Wait()
	return nil
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
