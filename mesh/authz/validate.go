package authz

import (
	"fmt"
	"strconv"
	"strings"

	"istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
)

// Validate returns every problem of p, each naming its field ("spec.rules[0].from[1].source.
// principals[0]: ..."). It applies Istio's own validation rules, and refuses what meshlab does
// not do rather than ignoring it: CUSTOM actions, targetRefs, path templates, experimental
// attributes.
func Validate(p *securityv1.AuthorizationPolicy) []error {
	v := &validator{}
	s := &p.Spec
	switch s.GetAction() {
	case v1beta1.AuthorizationPolicy_ALLOW, v1beta1.AuthorizationPolicy_DENY, v1beta1.AuthorizationPolicy_AUDIT:
		if s.GetProvider() != nil {
			v.bad("spec.provider", "only the CUSTOM action takes a provider, and meshlab does not support CUSTOM")
		}
	case v1beta1.AuthorizationPolicy_CUSTOM:
		v.bad("spec.action", "CUSTOM hands the decision to an external authorizer (an extension provider in the mesh config), which meshlab does not have; write the rules as ALLOW or DENY policies")
	default:
		v.bad("spec.action", "unknown action %s (want ALLOW, DENY or AUDIT)", s.GetAction())
	}
	if s.GetTargetRef() != nil || len(s.GetTargetRefs()) > 0 {
		v.bad("spec.targetRefs", "targetRefs (Gateway API gateways and waypoints) are not supported by meshlab; select workloads with spec.selector")
	}
	for k := range s.GetSelector().GetMatchLabels() {
		if k == "" {
			v.bad("spec.selector.matchLabels", "a label name must not be empty")
		}
	}
	if s.GetAction() == v1beta1.AuthorizationPolicy_DENY && s.Rules == nil {
		v.bad("spec.rules", "a DENY policy without rules never matches; add an empty rule {} to deny every request")
	}
	for i, r := range s.GetRules() {
		path := fmt.Sprintf("spec.rules[%d]", i)
		if r == nil {
			v.bad(path, "a rule must not be null")
			continue
		}
		v.rule(path, r)
	}
	return v.errs
}

type validator struct{ errs []error }

func (v *validator) bad(path, format string, a ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...)))
}

func (v *validator) rule(path string, r *v1beta1.Rule) {
	if r.From != nil && len(r.From) == 0 {
		v.bad(path+".from", "must not be empty when given")
	}
	for j, f := range r.From {
		p := fmt.Sprintf("%s.from[%d].source", path, j)
		if f.GetSource() == nil {
			v.bad(p, "required")
			continue
		}
		v.source(p, f.GetSource())
	}
	if r.To != nil && len(r.To) == 0 {
		v.bad(path+".to", "must not be empty when given")
	}
	for j, t := range r.To {
		p := fmt.Sprintf("%s.to[%d].operation", path, j)
		if t.GetOperation() == nil {
			v.bad(p, "required")
			continue
		}
		v.operation(p, t.GetOperation())
	}
	for j, w := range r.When {
		p := fmt.Sprintf("%s.when[%d]", path, j)
		if w == nil {
			v.bad(p, "must not be null")
			continue
		}
		v.condition(p, w)
	}
}

func (v *validator) source(p string, s *v1beta1.Source) {
	n := len(s.Principals) + len(s.NotPrincipals) + len(s.RequestPrincipals) + len(s.NotRequestPrincipals) +
		len(s.Namespaces) + len(s.NotNamespaces) + len(s.ServiceAccounts) + len(s.NotServiceAccounts) +
		len(s.IpBlocks) + len(s.NotIpBlocks) + len(s.RemoteIpBlocks) + len(s.NotRemoteIpBlocks) +
		len(s.TrustDomains) + len(s.NotTrustDomains)
	if n == 0 {
		v.bad(p, "a source must name at least one field")
	}
	if len(s.ServiceAccounts)+len(s.NotServiceAccounts) > 0 && len(s.Principals)+len(s.NotPrincipals)+len(s.Namespaces)+len(s.NotNamespaces) > 0 {
		v.bad(p+".serviceAccounts", "cannot be set with principals or namespaces")
	}
	v.identities(p+".principals", s.Principals, "a principal is TRUST-DOMAIN/ns/NAMESPACE/sa/SERVICE-ACCOUNT (e.g. cluster.local/ns/default/sa/bookinfo-productpage)")
	v.identities(p+".notPrincipals", s.NotPrincipals, "a principal is TRUST-DOMAIN/ns/NAMESPACE/sa/SERVICE-ACCOUNT (e.g. cluster.local/ns/default/sa/bookinfo-productpage)")
	v.identities(p+".requestPrincipals", s.RequestPrincipals, "a request principal is ISSUER/SUBJECT of a JWT (e.g. testing@secure.istio.io/testing@secure.istio.io)")
	v.identities(p+".notRequestPrincipals", s.NotRequestPrincipals, "a request principal is ISSUER/SUBJECT of a JWT (e.g. testing@secure.istio.io/testing@secure.istio.io)")
	v.nonEmpty(p+".namespaces", s.Namespaces)
	v.nonEmpty(p+".notNamespaces", s.NotNamespaces)
	v.serviceAccounts(p+".serviceAccounts", s.ServiceAccounts)
	v.serviceAccounts(p+".notServiceAccounts", s.NotServiceAccounts)
	v.trustDomains(p+".trustDomains", s.TrustDomains)
	v.trustDomains(p+".notTrustDomains", s.NotTrustDomains)
	v.ips(p+".ipBlocks", s.IpBlocks)
	v.ips(p+".notIpBlocks", s.NotIpBlocks)
	v.ips(p+".remoteIpBlocks", s.RemoteIpBlocks)
	v.ips(p+".notRemoteIpBlocks", s.NotRemoteIpBlocks)
}

func (v *validator) operation(p string, o *v1beta1.Operation) {
	if len(o.Hosts)+len(o.NotHosts)+len(o.Ports)+len(o.NotPorts)+len(o.Methods)+len(o.NotMethods)+len(o.Paths)+len(o.NotPaths) == 0 {
		v.bad(p, "an operation must name at least one field")
	}
	v.wildcards(p+".hosts", o.Hosts)
	v.wildcards(p+".notHosts", o.NotHosts)
	v.wildcards(p+".methods", o.Methods)
	v.wildcards(p+".notMethods", o.NotMethods)
	v.paths(p+".paths", o.Paths)
	v.paths(p+".notPaths", o.NotPaths)
	v.ports(p+".ports", o.Ports)
	v.ports(p+".notPorts", o.NotPorts)
}

func (v *validator) condition(p string, c *v1beta1.Condition) {
	key := c.GetKey()
	if key == "" {
		v.bad(p+".key", "required")
		return
	}
	if len(c.Values) == 0 && len(c.NotValues) == 0 {
		v.bad(p, "at least one of values or notValues is required for key %s", key)
		return
	}
	for _, f := range []struct {
		field  string
		values []string
	}{{"values", c.Values}, {"notValues", c.NotValues}} {
		fp := p + "." + f.field
		v.nonEmpty(fp, f.values)
		switch {
		case key == "source.ip", key == "remote.ip", key == "destination.ip":
			v.ips(fp, f.values)
		case key == "destination.port":
			v.ports(fp, f.values)
		case key == "source.principal":
			v.identities(fp, f.values, "a principal is TRUST-DOMAIN/ns/NAMESPACE/sa/SERVICE-ACCOUNT")
		case key == "request.auth.principal":
			v.identities(fp, f.values, "a request principal is ISSUER/SUBJECT")
		case key == "source.serviceAccount":
			v.serviceAccounts(fp, f.values)
		case key == "source.trustDomain":
			v.trustDomains(fp, f.values)
		case key == "source.namespace", key == "request.auth.audiences", key == "request.auth.presenter", key == "connection.sni":
		case strings.HasPrefix(key, "request.headers"):
			if _, err := nameInBrackets(strings.TrimPrefix(key, "request.headers")); err != nil {
				v.bad(p+".key", "%v", err)
				return
			}
		case strings.HasPrefix(key, "request.auth.claims"):
			if _, err := claimPath(strings.TrimPrefix(key, "request.auth.claims")); err != nil {
				v.bad(p+".key", "%v", err)
				return
			}
		case strings.HasPrefix(key, "experimental."):
			v.bad(p+".key", "experimental attributes (%s) read Envoy's filter metadata, which the meshlab proxy does not have", key)
			return
		case key == "destination.namespace":
			v.bad(p+".key", "%s is replaced by the policy's metadata.namespace", key)
			return
		case strings.HasPrefix(key, "destination.labels"):
			v.bad(p+".key", "%s is replaced by spec.selector", key)
			return
		default:
			v.bad(p+".key", "unknown attribute %q (see Istio's authorization policy conditions)", key)
			return
		}
	}
}

func (v *validator) nonEmpty(p string, vs []string) bool {
	ok := true
	for i, s := range vs {
		if s == "" {
			v.bad(fmt.Sprintf("%s[%d]", p, i), "must not be empty")
			ok = false
		}
	}
	return ok
}

// wildcards checks Istio's string forms: exact, "abc*", "*abc" or "*". A '*' anywhere else
// would be taken literally, which is never what a policy means.
func (v *validator) wildcards(p string, vs []string) bool {
	ok := v.nonEmpty(p, vs)
	for i, s := range vs {
		if s == "" {
			continue
		}
		inner := s
		if strings.HasPrefix(inner, "*") {
			inner = inner[1:]
		} else if strings.HasSuffix(inner, "*") {
			inner = inner[:len(inner)-1]
		}
		if strings.Contains(inner, "*") {
			v.bad(fmt.Sprintf("%s[%d]", p, i), "%q: '*' is allowed only as the whole value, at the start (suffix match) or at the end (prefix match)", s)
			ok = false
		}
	}
	return ok
}

// identities checks principals and request principals: the wildcard forms, and a '/' in every
// value that is not a wildcard (without one it can never equal a principal).
func (v *validator) identities(p string, vs []string, hint string) {
	if !v.wildcards(p, vs) {
		return
	}
	for i, s := range vs {
		if s != "" && !strings.Contains(s, "*") && !strings.Contains(s, "/") {
			v.bad(fmt.Sprintf("%s[%d]", p, i), "%q has no '/': %s", s, hint)
		}
	}
}

func (v *validator) paths(p string, vs []string) {
	for i, s := range vs {
		if strings.Contains(s, "{*}") || strings.Contains(s, "{**}") {
			v.bad(fmt.Sprintf("%s[%d]", p, i), "%q: path templates ({*}, {**}) are not supported by meshlab; use a prefix (\"/api/*\") or suffix (\"*.html\") match", s)
			return
		}
	}
	v.wildcards(p, vs)
}

func (v *validator) ports(p string, vs []string) {
	for i, s := range vs {
		if _, err := strconv.ParseUint(s, 10, 16); err != nil {
			v.bad(fmt.Sprintf("%s[%d]", p, i), "%q is not a port (0 to 65535)", s)
		}
	}
}

func (v *validator) ips(p string, vs []string) {
	for i, s := range vs {
		if _, err := parseIPBlock(s); err != nil {
			v.bad(fmt.Sprintf("%s[%d]", p, i), "%v", err)
		}
	}
}

func (v *validator) serviceAccounts(p string, vs []string) {
	if len(vs) > 16 {
		v.bad(p, "at most 16 service accounts")
	}
	for i, s := range vs {
		fp := fmt.Sprintf("%s[%d]", p, i)
		ns, sa, cut := strings.Cut(s, "/")
		switch {
		case s == "":
			v.bad(fp, "must not be empty")
		case strings.Contains(s, "*"):
			v.bad(fp, "%q: wildcards are not allowed in service accounts", s)
		case strings.Count(s, "/") > 1, cut && (ns == "" || sa == ""):
			v.bad(fp, "%q: want SERVICE-ACCOUNT or NAMESPACE/SERVICE-ACCOUNT", s)
		case len(s) > 320:
			v.bad(fp, "longer than 320 characters")
		}
	}
}

func (v *validator) trustDomains(p string, vs []string) {
	if !v.wildcards(p, vs) {
		return
	}
	for i, s := range vs {
		if strings.Contains(s, "/") {
			v.bad(fmt.Sprintf("%s[%d]", p, i), "%q: a trust domain has no '/'", s)
		}
	}
}
