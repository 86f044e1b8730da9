package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
)

// Upstream pool bounds. Idle connections are capped so an idle mesh holds little memory; the
// per-cluster connection limit comes from the DestinationRule's connectionPool.
const (
	maxIdlePerHost     = 32
	defaultIdleTimeout = 90 * time.Second
)

// pools are the upstream connection pools of one cluster: HTTP/1.1 (h1client.go, falling back to
// the standard Transport for what it does not handle) and h2c (prior knowledge, for HTTP/2 and
// gRPC clients). Endpoints are told apart by the request URL's host, so one transport serves
// every endpoint of the cluster.
type pools struct {
	h1 *h1Transport
	h2 *http.Transport
}

// newPools builds the transports; source, when set, picks the address to connect from, and
// secure, when set, the TLS to put over a new connection to an address (nil: plaintext).
func newPools(p config.Pool, source func(dst string) *net.TCPAddr, secure func(addr string) *tls.Config) *pools {
	connect := p.ConnectTimeout
	if connect == 0 {
		connect = 10 * time.Second
	}
	idle := p.IdleTimeout
	if idle == 0 {
		idle = defaultIdleTimeout
	}
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	dial := d.DialContext
	if source != nil {
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dd := *d
			dd.LocalAddr = source(addr)
			c, err := dd.DialContext(ctx, network, addr)
			if errors.Is(err, syscall.EADDRNOTAVAIL) {
				// ::6 is not on lo in this namespace; connect from the default source instead.
				return d.DialContext(ctx, network, addr)
			}
			return c, err
		}
	}
	if secure != nil {
		dial = withTLS(dial, secure)
	}
	mk := func(h2 bool) *http.Transport {
		var protos http.Protocols
		if h2 {
			protos.SetUnencryptedHTTP2(true)
		} else {
			protos.SetHTTP1(true)
		}
		return &http.Transport{
			DialContext:         dial,
			Protocols:           &protos,
			MaxIdleConns:        0, // bounded per host below
			MaxIdleConnsPerHost: maxIdlePerHost,
			MaxConnsPerHost:     p.MaxConnections,
			IdleConnTimeout:     idle,
			DisableCompression:  true, // pass bodies through as they are
			// The proxy adds no User-Agent or Accept-Encoding: what the app sent goes upstream.
			MaxResponseHeaderBytes: 1 << 20,
		}
	}
	return &pools{h1: newH1Transport(dial, mk(false), idle), h2: mk(true)}
}

// withTLS wraps dial: a connection to an address secure gives a TLS configuration for is
// handshaken before use. Above it the pools speak HTTP/1.1 or h2c as on a plaintext connection;
// the peer sidecar terminates the TLS and sniffs the same bytes. A failed handshake is a connect
// failure, for retries and outlier detection alike.
func withTLS(dial func(ctx context.Context, network, addr string) (net.Conn, error), secure func(string) *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cfg := secure(addr)
		if cfg == nil {
			return c, nil
		}
		return clientHandshake(ctx, c, cfg, addr)
	}
}

// clientHandshake runs a TLS client over c (through raw system calls, as plaintext connections
// are) and returns the connection to use; c is closed on failure.
func clientHandshake(ctx context.Context, c net.Conn, cfg *tls.Config, addr string) (net.Conn, error) {
	inner := c
	if tc, ok := c.(*net.TCPConn); ok {
		if raw, err := newRawSocket(tc); err == nil {
			inner = &sniffedConn{TCPConn: tc, raw: raw}
		}
	}
	sc := tls.Client(inner, cfg)
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	if err := sc.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: c.RemoteAddr(), Err: fmt.Errorf("TLS handshake with %s: %w", addr, err)}
	}
	return upstreamTLSConn{sc}, nil
}

// upstreamTLSConn hides the *tls.Conn type from net/http, which would otherwise treat the
// connection as HTTPS (ALPN, TLS state in responses) rather than the plain pipe it is to it.
type upstreamTLSConn struct{ *tls.Conn }

func (p *pools) transport(h2 bool) http.RoundTripper {
	if h2 {
		return p.h2
	}
	return p.h1
}

func (p *pools) close() {
	p.h1.close()
	p.h2.CloseIdleConnections()
}
