package proxy

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/meshlab/meshlab/mesh/authz"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/jwtauth"
)

// Server-side security: the RequestAuthentications and AuthorizationPolicies that select this
// workload, enforced on the inbound listener as Envoy's jwt_authn and RBAC filters do in an Istio
// sidecar: an invalid token gets 401, a denied request 403 "RBAC: access denied", a denied TCP
// connection is closed, and each denial is logged naming the rule that decided.

// rbacDeniedBody is what Envoy answers on an RBAC denial (and what Istio's docs and users'
// scripts look for).
const rbacDeniedBody = "RBAC: access denied"

// policyState is the compiled security config; it is swapped with the routing table.
type policyState struct {
	authz *authz.Engine          // nil: no AuthorizationPolicy selects this workload
	jwt   *jwtauth.Authenticator // nil: no RequestAuthentication does
	names []string               // the applied policies, for the config dump
}

func (s *policyState) active() bool { return s != nil && (s.authz != nil || s.jwt != nil) }

// compilePolicies builds the security state of snap for its proxy. An error rejects the whole
// config: the proxy keeps the previous policies rather than run with fewer (never fail open).
func (p *Proxy) compilePolicies(snap *config.Snapshot) (*policyState, error) {
	aps, ras := snap.SelectedAuthorizationPolicies(), snap.SelectedRequestAuthentications()
	st := &policyState{}
	var err error
	if st.authz, err = authz.Compile(aps); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if st.jwt, err = jwtauth.Compile(ras, p.jwks); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	for _, a := range aps {
		st.names = append(st.names, fmt.Sprintf("AuthorizationPolicy %s/%s (%s)", a.Namespace, a.Name, a.Spec.GetAction()))
	}
	for _, r := range ras {
		st.names = append(st.names, fmt.Sprintf("RequestAuthentication %s/%s", r.Namespace, r.Name))
	}
	return st, nil
}

// dumpPolicies writes the applied policies after the routing table in /config_dump.
func (s *policyState) dump(w io.Writer) {
	if s == nil || len(s.names) == 0 {
		fmt.Fprintln(w, "security: no policy selects this workload")
		return
	}
	fmt.Fprintln(w, "security:")
	for _, n := range s.names {
		fmt.Fprintln(w, "  "+n)
	}
}

// setTLSPeer records the authenticated peer of a connection whose TLS the inbound listener
// terminated, cs being the state of a handshake whose client certificate the mesh's TLS verified
// (meshTLS.server): the peer's SPIFFE ID (source.principal without the "spiffe://") and the SNI
// it asked for (connection.sni). This is where mutual TLS hands the peer's identity to
// authorization; a connection without mutual TLS has none.
func (i *connInfo) setTLSPeer(cs tls.ConnectionState) {
	i.mtls, i.peer, i.sni = true, peerPrincipal(cs), cs.ServerName
}

// authzRequest fills r with what policies may see of an inbound HTTP request, pointing at h.
func authzRequest(r *authz.Request, h *authz.HTTP, info connInfo, req *http.Request) {
	*h = httpAttrs(req, h.JWT)
	*r = connAttrs(info)
	r.HTTP = h
}

// connAttrs is what policies may see of the connection.
func connAttrs(info connInfo) authz.Request {
	return authz.Request{SourceIP: info.src.Addr(), DestIP: info.dst.Addr(), DestPort: info.dst.Port(), PeerURI: info.peer, SNI: info.sni}
}

// httpAttrs is what policies may see of the request.
func httpAttrs(req *http.Request, jwt *authz.JWT) authz.HTTP {
	target := req.RequestURI
	if !strings.HasPrefix(target, "/") {
		target = req.URL.RequestURI()
	}
	return authz.HTTP{Method: req.Method, Host: req.Host, Path: authz.NormalizePath(target), Header: req.Header, JWT: jwt}
}

// authorize runs RequestAuthentication, then AuthorizationPolicy, on an inbound request. When the
// request may not go on it answers it (401 or 403) and returns false; flags are the response
// flags for metrics (Envoy sets none for either).
func (p *Proxy) authorize(w http.ResponseWriter, r *http.Request, info connInfo, ps *policyState) bool {
	var jwt *authz.JWT
	if ps.jwt != nil {
		j, fail := ps.jwt.Authenticate(r.Context(), r)
		if fail != nil {
			p.opts.Logger.Info("jwt: request refused", "code", http.StatusUnauthorized, "details", "jwt_authn_access_denied{"+fail.Message+"}",
				"rule", fail.Rule, "err", fail.Err, "method", r.Method, "path", r.URL.Path, "authority", r.Host, "source", info.src.String())
			jwtauth.WriteUnauthorized(w, r, fail)
			return false
		}
		jwt = j
	}
	// Both on the stack: Evaluate keeps nothing, so a decision allocates nothing.
	hr := httpAttrs(r, jwt)
	ar := connAttrs(info)
	ar.HTTP = &hr
	d := ps.authz.Evaluate(&ar)
	if d.Audit != "" || d.DryRun != nil && !d.DryRun.Allowed {
		p.opts.Logger.Info("rbac: audit", "allowed", d.Allowed, "audit", d.Audit, "dry_run", d.DryRun,
			"method", r.Method, "path", hr.Path, "authority", r.Host, "source", info.src.String(), "principal", info.peer)
	}
	if d.Allowed {
		return true
	}
	p.opts.Logger.Info("rbac: access denied", "code", http.StatusForbidden, "details", "rbac_access_denied_matched_policy["+d.Policy+"]",
		"method", r.Method, "path", hr.Path, "authority", r.Host, "source", info.src.String(), "principal", info.peer,
		"request_principal", requestPrincipal(jwt))
	hd := w.Header()
	hd.Set("Content-Type", "text/plain")
	hd.Set("Content-Length", "19")
	w.WriteHeader(http.StatusForbidden)
	_, _ = io.WriteString(w, rbacDeniedBody)
	return false
}

func requestPrincipal(j *authz.JWT) string {
	if j == nil {
		return ""
	}
	return j.Principal()
}

// allowTCP decides an inbound TCP connection; a denied one is logged and closed by the caller.
func (s *server) allowTCP(c *proxyConn) bool {
	ps := s.p.policy.Load()
	if s.dir != directionInbound || ps == nil || ps.authz == nil {
		return true
	}
	r := connAttrs(c.info)
	d := ps.authz.Evaluate(&r)
	if !d.Allowed {
		s.log.Info("rbac: connection denied", "details", "rbac_access_denied_matched_policy["+d.Policy+"]",
			"destination", c.info.dst.String(), "source", c.info.src.String(), "principal", c.info.peer)
	}
	return d.Allowed
}
