package proxy

import (
	"context"
	"errors"
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

// newPools builds the transports; source, when set, picks the address to connect from.
func newPools(p config.Pool, source func(dst string) *net.TCPAddr) *pools {
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
