package authz

import (
	"net/http"
	"net/netip"
	"strings"
)

// Request is what a policy can look at: the connection, and for HTTP the request and the
// verified JWT. The proxy fills one per request on its stack; Evaluate keeps no reference to it.
type Request struct {
	SourceIP netip.Addr // the downstream peer's address (source.ip, ipBlocks)
	RemoteIP netip.Addr // the original client (remote.ip, remoteIpBlocks); SourceIP when invalid
	DestIP   netip.Addr // the original destination (destination.ip)
	DestPort uint16     // the original destination's port (ports, destination.port)
	// PeerURI is the authenticated peer's SPIFFE ID ("spiffe://cluster.local/ns/default/sa/x");
	// empty without mutual TLS.
	PeerURI string
	SNI     string // connection.sni; empty without TLS
	// HTTP is nil for a TCP connection.
	HTTP *HTTP
}

// HTTP is one request's HTTP attributes.
type HTTP struct {
	Method string
	Host   string // the :authority, as sent (with a port when the client sent one)
	Path   string // the path without the query, normalized (NormalizePath)
	Header http.Header
	JWT    *JWT // the request's verified token; nil without one
}

// JWT is a verified token's payload, as RequestAuthentication produced it.
type JWT struct {
	Issuer, Subject string
	Claims          map[string]any
}

// Principal is Istio's request principal, <iss>/<sub>.
func (j *JWT) Principal() string { return j.Issuer + "/" + j.Subject }

// Decision is the outcome for one request or connection.
type Decision struct {
	Allowed bool
	// Policy names what decided, Envoy's way ("ns[default]-policy[deny-get]-rule[0]"): the
	// matching DENY rule, or the matching ALLOW rule; "none" when ALLOW policies exist and none
	// matched; empty when no policy applies.
	Policy string
	// Audit is the matching AUDIT rule's name, empty when none matched.
	Audit string
	// DryRun is what the dry-run policies (annotation istio.io/dry-run) would have decided; zero
	// when there are none. It never changes Allowed.
	DryRun *DryRun
}

// DryRun is the shadow decision of the dry-run policies.
type DryRun struct {
	Allowed bool
	Policy  string
}

// Engine is the compiled set of policies of one workload. A nil Engine allows everything.
type Engine struct {
	http, tcp rules
	// dryHTTP and dryTCP are the dry-run policies' rules; nil without any.
	dryHTTP, dryTCP *rules
	// Policies counts the enforced policies, for logs and status.
	Policies int
}

// rules are one protocol's compiled rules by action, each sorted by name (Envoy evaluates its
// RBAC policy map in name order, so the reported deciding rule is the first name that matches).
type rules struct {
	deny, allow, audit []rule
	hasAllow           bool // an ALLOW policy exists (even if none of its rules survived for TCP)
}

// Evaluate decides r. It never allocates for exact, prefix, suffix and presence matches.
func (e *Engine) Evaluate(r *Request) Decision {
	if e == nil {
		return Decision{Allowed: true}
	}
	rs, dry := &e.tcp, e.dryTCP
	if r.HTTP != nil {
		rs, dry = &e.http, e.dryHTTP
	}
	d := rs.decide(r)
	if dry != nil {
		dd := dry.decide(r)
		d.DryRun = &DryRun{Allowed: dd.Allowed, Policy: dd.Policy}
	}
	return d
}

func (rs *rules) decide(r *Request) Decision {
	var d Decision
	for i := range rs.audit {
		if rs.audit[i].match(r) {
			d.Audit = rs.audit[i].name
			break
		}
	}
	for i := range rs.deny {
		if rs.deny[i].match(r) {
			d.Policy = rs.deny[i].name
			return d
		}
	}
	if !rs.hasAllow {
		d.Allowed = true
		return d
	}
	for i := range rs.allow {
		if rs.allow[i].match(r) {
			d.Allowed, d.Policy = true, rs.allow[i].name
			return d
		}
	}
	d.Policy = "none"
	return d
}

// rule is one policy rule: it matches when one principal set and one permission set match.
type rule struct {
	name        string // ns[NS]-policy[NAME]-rule[I]
	principals  [][]cond
	permissions [][]cond
}

func (ru *rule) match(r *Request) bool {
	return anyAll(ru.permissions, r) && anyAll(ru.principals, r)
}

func anyAll(sets [][]cond, r *Request) bool {
	for _, set := range sets {
		if allConds(set, r) {
			return true
		}
	}
	return false
}

func allConds(set []cond, r *Request) bool {
	for i := range set {
		if set[i].match(r) != !set[i].not {
			return false
		}
	}
	return true
}

// attr is the attribute a condition looks at.
type attr uint8

const (
	attrPrincipal        attr = iota // peer principal (without spiffe://)
	attrPeerURI                      // the full SPIFFE URI, for regex forms (namespaces, service accounts, trust domains)
	attrSourceIP                     // prefixes
	attrRemoteIP                     // prefixes
	attrDestIP                       // prefixes
	attrDestPort                     // ports
	attrSNI                          // strings
	attrHost                         // strings, case-insensitive
	attrMethod                       // strings
	attrPath                         // strings
	attrHeader                       // strings on header key
	attrRequestPrincipal             // pairs on the JWT's iss and sub
	attrClaim                        // strings on the JWT claim at claim (a string, or a list holding one)
)

// cond is one field of a source, operation or condition: true when any of its values matches;
// not negates it (the notX forms, notValues).
type cond struct {
	attr     attr
	not      bool
	strs     []strMatcher
	prefixes []netip.Prefix
	ports    []uint16
	pairs    []issSub
	key      string   // canonical header name (attrHeader)
	claim    []string // claim path (attrClaim)
}

// issSub is one request-principal value: matchers on the token's issuer and subject.
type issSub struct{ iss, sub strMatcher }

func (c *cond) match(r *Request) bool {
	switch c.attr {
	case attrPrincipal:
		const scheme = "spiffe://"
		if len(r.PeerURI) <= len(scheme) || r.PeerURI[:len(scheme)] != scheme {
			// Istio's presence match is the regex .+ on whatever URI the peer has; every other
			// form is anchored on spiffe://.
			return r.PeerURI != "" && hasPresence(c.strs)
		}
		return anyString(c.strs, r.PeerURI[len(scheme):])
	case attrPeerURI:
		return r.PeerURI != "" && anyString(c.strs, r.PeerURI)
	case attrSourceIP:
		return anyPrefix(c.prefixes, r.SourceIP)
	case attrRemoteIP:
		if r.RemoteIP.IsValid() {
			return anyPrefix(c.prefixes, r.RemoteIP)
		}
		return anyPrefix(c.prefixes, r.SourceIP)
	case attrDestIP:
		return anyPrefix(c.prefixes, r.DestIP)
	case attrDestPort:
		for _, p := range c.ports {
			if p == r.DestPort {
				return true
			}
		}
		return false
	case attrSNI:
		return anyString(c.strs, r.SNI)
	}
	h := r.HTTP
	if h == nil {
		return false // HTTP fields are compiled out of TCP rules; never reached
	}
	switch c.attr {
	case attrHost:
		return anyString(c.strs, h.Host)
	case attrMethod:
		return anyString(c.strs, h.Method)
	case attrPath:
		return anyString(c.strs, h.Path)
	case attrHeader:
		vv, ok := h.Header[c.key]
		if c.key == "Host" {
			vv, ok = []string{h.Host}, true
		}
		if !ok {
			return false
		}
		if hasPresence(c.strs) {
			return true // Envoy's present_match: the header exists, even empty
		}
		v := ""
		switch len(vv) {
		case 0:
		case 1:
			v = vv[0]
		default:
			v = strings.Join(vv, ",") // Envoy matches repeated headers joined by commas
		}
		return anyString(c.strs, v)
	case attrRequestPrincipal:
		if h.JWT == nil {
			return false
		}
		for i := range c.pairs {
			if c.pairs[i].iss.match(h.JWT.Issuer) && c.pairs[i].sub.match(h.JWT.Subject) {
				return true
			}
		}
		return false
	case attrClaim:
		if h.JWT == nil {
			return false
		}
		return matchClaim(c.strs, lookupClaim(h.JWT.Claims, c.claim))
	}
	return false
}

func hasPresence(ms []strMatcher) bool {
	for i := range ms {
		if ms[i].kind == matchPresent {
			return true
		}
	}
	return false
}

func lookupClaim(claims map[string]any, path []string) any {
	var v any = claims
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// matchClaim is Istio's claim matcher: a string claim matching a value, or a list claim with a
// string element matching one.
func matchClaim(ms []strMatcher, v any) bool {
	switch t := v.(type) {
	case string:
		return anyString(ms, t)
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok && anyString(ms, s) {
				return true
			}
		}
	case []string:
		for _, s := range t {
			if anyString(ms, s) {
				return true
			}
		}
	}
	return false
}
