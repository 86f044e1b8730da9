package proxy

import (
	"net"
	"net/http"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
)

// Upstream pool bounds. Idle connections are capped so an idle mesh holds little memory; the
// per-cluster connection limit comes from the DestinationRule's connectionPool.
const (
	maxIdlePerHost     = 32
	defaultIdleTimeout = 90 * time.Second
)

// pools are the upstream connection pools of one cluster: HTTP/1.1 and h2c (prior knowledge, for
// HTTP/2 and gRPC clients). Endpoints are told apart by the request URL's host, so one transport
// serves every endpoint of the cluster.
type pools struct {
	h1, h2 *http.Transport
}

// newPools builds the transports; local, when set, is the source address to connect from.
func newPools(p config.Pool, local *net.TCPAddr) *pools {
	connect := p.ConnectTimeout
	if connect == 0 {
		connect = 10 * time.Second
	}
	idle := p.IdleTimeout
	if idle == 0 {
		idle = defaultIdleTimeout
	}
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	if local != nil {
		d.LocalAddr = local
	}
	mk := func(h2 bool) *http.Transport {
		var protos http.Protocols
		if h2 {
			protos.SetUnencryptedHTTP2(true)
		} else {
			protos.SetHTTP1(true)
		}
		return &http.Transport{
			DialContext:         d.DialContext,
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
	return &pools{h1: mk(false), h2: mk(true)}
}

func (p *pools) transport(h2 bool) *http.Transport {
	if h2 {
		return p.h2
	}
	return p.h1
}

func (p *pools) close() {
	p.h1.CloseIdleConnections()
	p.h2.CloseIdleConnections()
}
