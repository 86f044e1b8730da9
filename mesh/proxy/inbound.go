package proxy

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/telemetry"
)

// inboundHandler forwards requests arriving for this pod (captured on 15006) to the application
// at the original destination, connecting from 127.0.0.6 as Istio does, and reports them with
// reporter=destination.
type inboundHandler struct {
	p     *Proxy
	fwd   *forwarder
	pools *pools
}

func newInboundHandler(p *Proxy) *inboundHandler {
	h := &inboundHandler{p: p, pools: newPools(config.Pool{}, p.inboundSource, nil)}
	h.fwd = newForwarder(inboundTransport{h.pools})
	return h
}

// inboundSource is the local address for a connection to the application at dst: 127.0.0.6
// (Options.InboundSource) for IPv4 and ::6 for IPv6, the addresses the capture rules exempt.
func (p *Proxy) inboundSource(dst string) *net.TCPAddr {
	if ap, err := netip.ParseAddrPort(dst); err == nil && ap.Addr().Unmap().Is6() {
		return &net.TCPAddr{IP: netip.AddrFrom16([16]byte{15: 6}).AsSlice()}
	}
	return &net.TCPAddr{IP: p.opts.InboundSource.AsSlice()}
}

type inboundTransport struct{ pools *pools }

func (t inboundTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st, _ := req.Context().Value(reqStateKey{}).(*reqState)
	return t.pools.transport(st.h2).RoundTrip(req)
}

func (h *inboundHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info, _ := r.Context().Value(connInfoKey{}).(connInfo)
	t := h.p.table.Load()
	st := &reqState{dst: info.dst, h2: r.ProtoMajor == 2}
	if t != nil {
		st.host = t.Local(info.dst.Port())
		if st.host != nil && (st.host.Protocol == config.ProtocolHTTP2 || st.host.Protocol == config.ProtocolGRPC) {
			st.h2 = true
		}
	}
	source := parsePeer(r.Header.Get(PeerHeader))
	r.Header.Del(PeerHeader)
	st.span, st.traced = h.p.tracer.inboundSpan(r.Header, t)
	sw := &statusWriter{ResponseWriter: w}
	if r.ProtoMajor == 1 && !onFastPath(w) {
		// Go's HTTP/1 server is half-duplex by default (it drains the request body before the
		// response starts); a proxy must let a streaming response overtake a streaming request.
		_ = http.NewResponseController(w).EnableFullDuplex()
	}
	if ps := h.p.policy.Load(); !ps.active() || h.p.authorize(sw, r, info, ps) {
		watchBody(r, st)
		ctx := context.WithValue(r.Context(), reqStateKey{}, st)
		h.fwd.forward(sw, withContext(w, r, ctx), st)
	}

	d := time.Since(start)
	l := telemetry.Labels{Reporter: telemetry.ReporterDestination, Source: source, RequestProtocol: requestProtocol(r),
		ResponseFlags: st.flags, ConnectionSecurityPolicy: "none"}
	if info.mtls {
		l.ConnectionSecurityPolicy, l.Source.Principal = "mutual_tls", info.peer
	}
	if t != nil {
		l.Destination = workloadOf(t.Proxy)
		if info.mtls {
			l.Destination.Principal = h.p.mtls.ownPrincipal()
		}
	}
	if st.host != nil {
		l.DestinationService, l.DestinationServiceName, l.DestinationServiceNS = st.host.FQDN, st.host.Service, st.host.Namespace
	}
	code := sw.status()
	h.p.opts.Telemetry.Request(l, code, sw.Header().Get("Grpc-Status"), d, max(r.ContentLength, 0), sw.n)
	if st.traced && st.span.Sampled {
		name := "inbound:" + strconv.Itoa(int(info.dst.Port()))
		if st.host != nil {
			name = st.host.FQDN + ":" + strconv.Itoa(int(st.host.Port))
		}
		h.p.tracer.report(st.span, telemetry.KindServer, name+"/*", start, d, t, r, code, info.dst.String(), info.peer)
	}
}

// parsePeer reads PeerHeader: "workload.namespace;app=A;version=V".
func parsePeer(v string) telemetry.Workload {
	var w telemetry.Workload
	if v == "" {
		return w
	}
	id, rest, _ := strings.Cut(v, ";")
	w.Name, w.Namespace, _ = strings.Cut(id, ".")
	for kv := range strings.SplitSeq(rest, ";") {
		k, val, _ := strings.Cut(kv, "=")
		switch k {
		case "app":
			w.App = val
		case "version":
			w.Version = val
		}
	}
	return w
}
