package proxy

import (
	"context"
	"net/http"
	"net/netip"
)

// GatewayHandler returns the proxy's outbound HTTP routing as a handler for a listener that is
// not fed by capture, such as an ingress gateway's port: each request is routed as if it had
// been captured on its way to dst, so the routes compiled for the service whose VIP:port is dst
// apply (mesh/gateway compiles a Gateway's bound VirtualServices into such a service). The
// request's Host is kept, as Envoy's gateway keeps it. The RequestAuthentications and
// AuthorizationPolicies of the proxy's config apply first. The proxy must be running (Run).
func (p *Proxy) GatewayHandler(dst netip.AddrPort) http.Handler {
	h := newOutboundHandler(p)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := connInfo{dst: dst}
		if src, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			info.src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		}
		// Policies that select the gateway are enforced before routing, as the ingress gateway's
		// RBAC and jwt_authn filters do in Istio.
		if ps := p.policy.Load(); ps.active() && !p.authorize(w, r, info, ps) {
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), connInfoKey{}, info)))
	})
}
