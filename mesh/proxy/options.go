// Package proxy is meshlab's sidecar: it accepts connections captured by iptables (outbound on
// 15001, inbound on 15006), recovers their original destination, sniffs the protocol, and either
// routes HTTP/1.1, h2c and gRPC by the compiled config.Table (weights, matches, retries, timeouts,
// faults, load balancing, outlier detection) or splices TCP through. It reports Istio-named
// metrics and Zipkin spans through the small interfaces in telemetry.go, serves readiness on
// 15021 and Prometheus metrics on 15090, reloads its config files when they change, and drains on
// shutdown.
package proxy

import (
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Istio's sidecar port plan: captured outbound traffic arrives on 15001, captured inbound on 15006,
// readiness is served on 15021 and the proxy's Prometheus metrics on 15090 (the ports istio.io's
// deployment requirements page lists).
const (
	DefaultOutboundAddr = ":15001"
	DefaultInboundAddr  = ":15006"
	DefaultHealthAddr   = ":15021"
	DefaultMetricsAddr  = ":15090"
)

// defaultInboundSource is the address the proxy connects to the application from. The capture
// rules return traffic from it on lo untouched, so the proxy's own connection to the app is not
// captured again (Istio's InboundPassthroughBindIpv4).
func defaultInboundSource() netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 0, 6}) }

// Options configure a Proxy. Zero values take the defaults named on each field.
type Options struct {
	// ConfigFiles are loaded in order into one config.Snapshot (config.Load) and reloaded when
	// any of them changes.
	ConfigFiles []string
	// External means the config arrives only through ApplySnapshot (the xDS client, H13): the
	// ConfigFiles are then neither loaded nor watched, and the proxy is unready until the first
	// snapshot applies.
	External bool
	// Addresses of the listeners; "" means the Default* constant. Tests use 127.0.0.1:0.
	OutboundAddr, InboundAddr, HealthAddr, MetricsAddr string
	// OriginalDst recovers a captured connection's destination; nil means SO_ORIGINAL_DST
	// (capture.OriginalDst). Tests without iptables substitute a fixed answer.
	OriginalDst func(*net.TCPConn) (netip.AddrPort, error)
	// InboundSource is the address connections to the application come from (default 127.0.0.6).
	InboundSource netip.Addr
	// SniffTimeout is how long the proxy waits for a client's first bytes before treating the
	// connection as opaque TCP (default 1s; server-first ports never wait).
	SniffTimeout time.Duration
	// DrainTimeout bounds graceful shutdown: in-flight requests and connections get this long
	// after the listeners close (default 5s, Istio's terminationDrainDuration).
	DrainTimeout time.Duration
	// ReloadInterval is how often the config files' modification times are polled (default 1s).
	ReloadInterval time.Duration
	// MaxConnections caps concurrently open downstream connections per listener; beyond it new
	// connections are closed at once (default 16384).
	MaxConnections int
	// ReadHeaderTimeout bounds how long a client may take to send request headers, the
	// slowloris defence (default 10s). IdleTimeout closes idle keep-alive connections (default 5m).
	ReadHeaderTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers (default 64 KiB).
	MaxHeaderBytes int
	// Certs is the sidecar's workload identity (mesh/identity); nil: no mutual TLS, and the
	// proxy refuses inbound connections where STRICT is asked.
	Certs Certs
	// Telemetry receives metrics and spans; nil means a no-op.
	Telemetry Telemetry
	Logger    *slog.Logger
}

func (o *Options) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.OutboundAddr, DefaultOutboundAddr)
	def(&o.InboundAddr, DefaultInboundAddr)
	def(&o.HealthAddr, DefaultHealthAddr)
	def(&o.MetricsAddr, DefaultMetricsAddr)
	if !o.InboundSource.IsValid() {
		o.InboundSource = defaultInboundSource()
	}
	durDef := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	durDef(&o.SniffTimeout, time.Second)
	durDef(&o.DrainTimeout, 5*time.Second)
	durDef(&o.ReloadInterval, time.Second)
	durDef(&o.ReadHeaderTimeout, 10*time.Second)
	durDef(&o.IdleTimeout, 5*time.Minute)
	if o.MaxConnections == 0 {
		o.MaxConnections = 16384
	}
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	if o.Telemetry == nil {
		o.Telemetry = nopTelemetry{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}
