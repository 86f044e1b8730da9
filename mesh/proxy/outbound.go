package proxy

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/telemetry"
)

// PeerHeader carries the calling workload to the destination sidecar so that its
// destination-reported metrics have source labels (Istio uses x-envoy-peer-metadata). The
// destination sidecar removes it before the application sees the request.
const PeerHeader = "X-Meshlab-Peer"

// outboundHandler routes requests an application sends (captured on 15001).
type outboundHandler struct {
	p   *Proxy
	fwd *forwarder
}

func newOutboundHandler(p *Proxy) *outboundHandler {
	return &outboundHandler{p: p, fwd: newForwarder(&retryingTransport{p: p})}
}

// reqState travels with one request through the reverse proxy to the transport and back.
type reqState struct {
	host    *config.Host
	route   *config.Route
	cluster *config.Cluster // nil: passthrough to dst
	dst     netip.AddrPort
	h2      bool
	ep      *endpoint // the endpoint that answered
	flags   string    // Envoy response flags for metrics: UH, UF, UT, NR, DI, FI, URX
	span    telemetry.SpanContext
	traced  bool
	body    *downstreamBody // the client's request body, watched for framing errors
}

type reqStateKey struct{}

func (h *outboundHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info, _ := r.Context().Value(connInfoKey{}).(connInfo)
	t := h.p.table.Load()
	st := &reqState{dst: info.dst, h2: r.ProtoMajor == 2}
	sw := &statusWriter{ResponseWriter: w}
	if r.ProtoMajor == 1 && !onFastPath(w) {
		// Go's HTTP/1 server is half-duplex by default (it drains the request body before the
		// response starts); a proxy must let a streaming response overtake a streaming request.
		_ = http.NewResponseController(w).EnableFullDuplex()
	}
	if t != nil {
		st.host = t.ByAuthority(r.Host, info.dst.Port())
		if st.host == nil {
			var pinned bool
			if st.host, pinned = t.ByDestination(info.dst); pinned {
				st.host = nil // a pod address: forward to that pod as is
			}
		}
	}
	defer func() { h.observe(t, st, r, sw, start) }()
	if st.host != nil {
		st.route = st.host.Select(r)
		if st.route == nil {
			st.flags = "NR"
			http.Error(sw, "route not found", http.StatusNotFound)
			return
		}
		st.cluster = pickWeighted(st.route)
		st.h2 = st.h2 || st.cluster.Protocol == config.ProtocolHTTP2 || st.cluster.Protocol == config.ProtocolGRPC
	}
	st.span, st.traced = h.p.tracer.outboundSpan(r.Header, t)
	if r.Header.Get("X-Request-Id") == "" {
		r.Header.Set("X-Request-Id", newRequestID()) // as Envoy does; Bookinfo propagates it
	}
	r.Header.Del(PeerHeader)
	if peer := h.p.peer.Load(); peer != nil {
		r.Header.Set(PeerHeader, *peer)
	}
	if st.route != nil && st.route.Fault != nil {
		if done := h.fault(sw, r, st); done {
			return
		}
	}
	ctx := context.WithValue(r.Context(), reqStateKey{}, st)
	if st.route != nil && st.route.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, st.route.Timeout)
		defer cancel()
	}
	h.fwd.forward(sw, withContext(w, r, ctx), st)
}

// fault applies a route's delay and abort; done is true when the response was written. Injected
// aborts never reach the retry loop: Istio does not retry injected faults.
func (h *outboundHandler) fault(w http.ResponseWriter, r *http.Request, st *reqState) (done bool) {
	f := st.route.Fault
	if f.Delay > 0 && rand.Float64()*100 < f.DelayPercent {
		st.flags = "DI"
		tm := time.NewTimer(f.Delay)
		select {
		case <-tm.C:
		case <-r.Context().Done():
			tm.Stop()
			return true
		}
	}
	if f.AbortStatus != 0 && rand.Float64()*100 < f.AbortPercent {
		st.flags = "FI"
		http.Error(w, "fault filter abort", f.AbortStatus)
		return true
	}
	return false
}

// pickWeighted chooses a route destination by weight.
func pickWeighted(rt *config.Route) *config.Cluster {
	if len(rt.Destinations) == 1 {
		return rt.Destinations[0].Cluster
	}
	n := rand.IntN(rt.TotalWeight)
	for _, d := range rt.Destinations {
		if n < d.Weight {
			return d.Cluster
		}
		n -= d.Weight
	}
	return rt.Destinations[len(rt.Destinations)-1].Cluster
}

// newRequestID returns a random UUID (version 4), built in place: one allocation per request.
func newRequestID() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails on Linux
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

func peerValue(p config.Proxy) string {
	return p.Workload + "." + p.Namespace + ";app=" + p.Labels["app"] + ";version=" + p.Labels["version"]
}

func (h *outboundHandler) observe(t *config.Table, st *reqState, r *http.Request, sw *statusWriter, start time.Time) {
	d := time.Since(start)
	l := telemetry.Labels{Reporter: telemetry.ReporterSource, RequestProtocol: requestProtocol(r),
		ResponseFlags: st.flags, ConnectionSecurityPolicy: "unknown"}
	if t != nil {
		l.Source = workloadOf(t.Proxy)
	}
	if st.host != nil {
		l.DestinationService, l.DestinationServiceName, l.DestinationServiceNS = st.host.FQDN, st.host.Service, st.host.Namespace
	} else {
		l.DestinationService = st.dst.String()
	}
	if st.ep != nil {
		l.Destination = endpointWorkload(st.ep.ce, st.cluster.Namespace)
		if h.p.mtls != nil && st.cluster.MeshTLSTo(st.ep.ce) {
			l.Source.Principal, l.Destination.Principal = h.p.mtls.ownPrincipal(), st.ep.ce.Identity
		}
	}
	code := sw.status()
	h.p.opts.Telemetry.Request(l, code, sw.Header().Get("Grpc-Status"), d, max(r.ContentLength, 0), sw.n)
	if st.traced && st.span.Sampled {
		name := st.dst.String()
		if st.host != nil {
			name = st.host.FQDN + ":" + strconv.Itoa(int(st.host.Port))
		}
		h.p.tracer.report(st.span, telemetry.KindClient, name+"/*", start, d, t, r, code, st.upstream(), l.Destination.Principal)
	}
}

func (st *reqState) upstream() string {
	if st.ep != nil {
		return st.ep.addr.String()
	}
	return st.dst.String()
}

func requestProtocol(r *http.Request) string {
	if r.ProtoMajor == 2 && len(r.Header.Get("Content-Type")) >= 16 && r.Header.Get("Content-Type")[:16] == "application/grpc" {
		return "grpc"
	}
	return "http"
}
