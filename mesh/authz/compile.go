package authz

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
)

// DryRunAnnotation marks a policy that is evaluated and reported but never enforced (Istio's).
const DryRunAnnotation = "istio.io/dry-run"

// Workload is who the policies are compiled for.
type Workload struct {
	Namespace string
	Labels    map[string]string
}

// Applies reports whether policy p, in namespace ns with selector sel, selects workload w:
// policies in w's namespace and in the root namespace do, narrowed by the selector's labels.
func Applies(ns string, sel map[string]string, w Workload, rootNamespace string) bool {
	if ns != w.Namespace && ns != rootNamespace {
		return false
	}
	for k, v := range sel {
		if got, ok := w.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Select returns the policies that select w, in their given order.
func Select(policies []*securityv1.AuthorizationPolicy, w Workload, rootNamespace string) []*securityv1.AuthorizationPolicy {
	var out []*securityv1.AuthorizationPolicy
	for _, p := range policies {
		if Applies(p.Namespace, p.Spec.GetSelector().GetMatchLabels(), w, rootNamespace) {
			out = append(out, p)
		}
	}
	return out
}

// Compile builds the Engine for policies that were selected for one workload (Select). Policies
// must have passed Validate: a rule that still cannot compile is an error, never skipped, so a
// bad policy can never make a workload more open. No policy at all gives a nil Engine.
func Compile(policies []*securityv1.AuthorizationPolicy) (*Engine, error) {
	if len(policies) == 0 {
		return nil, nil
	}
	e := &Engine{}
	var dryHTTP, dryTCP rules
	dry := false
	for _, p := range policies {
		if errs := Validate(p); len(errs) > 0 {
			return nil, fmt.Errorf("AuthorizationPolicy %s/%s: %w", p.Namespace, p.Name, errs[0])
		}
		http, tcp := &e.http, &e.tcp
		if isDryRun(p) {
			http, tcp, dry = &dryHTTP, &dryTCP, true
		} else {
			e.Policies++
		}
		for _, forTCP := range []bool{false, true} {
			rs := http
			if forTCP {
				rs = tcp
			}
			if err := rs.add(p, forTCP); err != nil {
				return nil, fmt.Errorf("AuthorizationPolicy %s/%s: %w", p.Namespace, p.Name, err)
			}
		}
	}
	for _, rs := range []*rules{&e.http, &e.tcp, &dryHTTP, &dryTCP} {
		for _, list := range [][]rule{rs.deny, rs.allow, rs.audit} {
			slices.SortStableFunc(list, func(a, b rule) int { return strings.Compare(a.name, b.name) })
		}
	}
	if dry {
		e.dryHTTP, e.dryTCP = &dryHTTP, &dryTCP
	}
	return e, nil
}

func isDryRun(p *securityv1.AuthorizationPolicy) bool {
	v, _ := strconv.ParseBool(p.Annotations[DryRunAnnotation])
	return v
}

// RuleName is Envoy's name for rule i of a policy, as Istio writes it into RBAC filters and
// Envoy into response_code_details.
func RuleName(ns, name string, i int) string {
	return "ns[" + ns + "]-policy[" + name + "]-rule[" + strconv.Itoa(i) + "]"
}

func (rs *rules) add(p *securityv1.AuthorizationPolicy, forTCP bool) error {
	action := p.Spec.GetAction()
	var list *[]rule
	switch action {
	case v1beta1.AuthorizationPolicy_ALLOW:
		list = &rs.allow
		rs.hasAllow = true
	case v1beta1.AuthorizationPolicy_DENY:
		list = &rs.deny
	case v1beta1.AuthorizationPolicy_AUDIT:
		list = &rs.audit
	default:
		return fmt.Errorf("spec.action: %s is not supported", action)
	}
	if len(p.Spec.GetRules()) == 0 {
		// Istio renders an explicit never-matching policy: an ALLOW without rules denies all.
		*list = append(*list, rule{name: RuleName(p.Namespace, p.Name, 0)})
		return nil
	}
	for i, r := range p.Spec.GetRules() {
		ru, ok, err := compileRule(p.Namespace, r, forTCP, action)
		if err != nil {
			return fmt.Errorf("spec.rules[%d]: %w", i, err)
		}
		if !ok {
			continue // an ALLOW rule with HTTP-only fields, on TCP: Istio skips it
		}
		ru.name = RuleName(p.Namespace, p.Name, i)
		*list = append(*list, ru)
	}
	return nil
}

// errHTTPOnly marks a field that a TCP connection cannot be matched on.
var errHTTPOnly = fmt.Errorf("HTTP only")

// compileRule compiles one rule for HTTP or TCP. ok is false when the rule is dropped: an ALLOW
// rule that needs an HTTP field on TCP. For DENY and AUDIT such fields are left out instead,
// widening the rule, as Istio does.
func compileRule(policyNS string, r *v1beta1.Rule, forTCP bool, action v1beta1.AuthorizationPolicy_Action) (rule, bool, error) {
	b := condBuilder{forTCP: forTCP, allow: action == v1beta1.AuthorizationPolicy_ALLOW, policyNS: policyNS}
	// when conditions go into every principal or permission set, as Istio consolidates them.
	var basePrincipal, basePermission []cond
	for _, w := range r.GetWhen() {
		isPerm, err := b.when(w.GetKey(), w.GetValues(), w.GetNotValues())
		if err != nil {
			return rule{}, false, err
		}
		if isPerm {
			basePermission = append(basePermission, b.take()...)
		} else {
			basePrincipal = append(basePrincipal, b.take()...)
		}
	}
	var ru rule
	for _, f := range r.GetFrom() {
		s := f.GetSource()
		b.ips(attrSourceIP, s.GetIpBlocks(), s.GetNotIpBlocks())
		b.ips(attrRemoteIP, s.GetRemoteIpBlocks(), s.GetNotRemoteIpBlocks())
		b.namespaces(s.GetNamespaces(), s.GetNotNamespaces())
		b.trustDomains(s.GetTrustDomains(), s.GetNotTrustDomains())
		b.serviceAccounts(s.GetServiceAccounts(), s.GetNotServiceAccounts())
		b.requestPrincipals(s.GetRequestPrincipals(), s.GetNotRequestPrincipals())
		b.strs(attrPrincipal, "", false, false, s.GetPrincipals(), s.GetNotPrincipals())
		ru.principals = append(ru.principals, append(b.take(), basePrincipal...))
	}
	if len(r.GetFrom()) == 0 {
		ru.principals = [][]cond{basePrincipal}
	}
	for _, t := range r.GetTo() {
		o := t.GetOperation()
		b.ports(o.GetPorts(), o.GetNotPorts())
		b.paths(o.GetPaths(), o.GetNotPaths())
		b.strs(attrMethod, "", false, true, o.GetMethods(), o.GetNotMethods())
		b.strs(attrHost, "", true, true, o.GetHosts(), o.GetNotHosts())
		ru.permissions = append(ru.permissions, append(b.take(), basePermission...))
	}
	if len(r.GetTo()) == 0 {
		ru.permissions = [][]cond{basePermission}
	}
	if b.err != nil {
		if b.err == errHTTPOnly {
			return rule{}, false, nil
		}
		return rule{}, false, b.err
	}
	return ru, true, nil
}

// condBuilder collects the conditions of one source, operation or condition key.
type condBuilder struct {
	forTCP   bool
	allow    bool
	policyNS string
	conds    []cond
	err      error // the first error; errHTTPOnly drops the whole (ALLOW) rule
}

func (b *condBuilder) take() []cond {
	c := b.conds
	b.conds = nil
	return c
}

func (b *condBuilder) fail(err error) {
	if b.err == nil || b.err == errHTTPOnly {
		b.err = err
	}
}

// httpOnly handles a field TCP cannot evaluate; it reports whether the field is to be skipped.
func (b *condBuilder) httpOnly() bool {
	if !b.forTCP {
		return false
	}
	if b.allow && b.err == nil {
		b.err = errHTTPOnly
	}
	return true
}

// add appends the values condition and the negated notValues condition of one field.
func (b *condBuilder) add(c cond, n cond, hasValues, hasNot bool) {
	if hasValues {
		b.conds = append(b.conds, c)
	}
	if hasNot {
		n.not = true
		b.conds = append(b.conds, n)
	}
}

func (b *condBuilder) strs(a attr, prefix string, fold, httpOnly bool, values, notValues []string) {
	if len(values) == 0 && len(notValues) == 0 || httpOnly && b.httpOnly() {
		return
	}
	compile := func(vs []string) []strMatcher {
		out := make([]strMatcher, 0, len(vs))
		for _, v := range vs {
			out = append(out, newStrMatcher(v, prefix, fold))
		}
		return out
	}
	b.add(cond{attr: a, strs: compile(values)}, cond{attr: a, strs: compile(notValues)}, len(values) > 0, len(notValues) > 0)
}

func (b *condBuilder) ips(a attr, values, notValues []string) {
	if len(values) == 0 && len(notValues) == 0 {
		return
	}
	parse := func(vs []string) cond {
		c := cond{attr: a}
		for _, v := range vs {
			p, err := parseIPBlock(v)
			if err != nil {
				b.fail(err)
				continue
			}
			c.prefixes = append(c.prefixes, p)
		}
		return c
	}
	b.add(parse(values), parse(notValues), len(values) > 0, len(notValues) > 0)
}

func (b *condBuilder) ports(values, notValues []string) {
	if len(values) == 0 && len(notValues) == 0 {
		return
	}
	parse := func(vs []string) cond {
		c := cond{attr: attrDestPort}
		for _, v := range vs {
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				b.fail(fmt.Errorf("bad port %q", v))
				continue
			}
			c.ports = append(c.ports, uint16(n))
		}
		return c
	}
	b.add(parse(values), parse(notValues), len(values) > 0, len(notValues) > 0)
}

func (b *condBuilder) paths(values, notValues []string) {
	b.strs(attrPath, "", false, true, values, notValues)
}

// regexCond is a condition on the peer's full SPIFFE URI, for the forms Istio renders as
// regular expressions.
func regexCond(res []string) cond {
	c := cond{attr: attrPeerURI}
	for _, re := range res {
		c.strs = append(c.strs, strMatcher{kind: matchRegex, re: regexp.MustCompile("^(?:" + re + ")$")})
	}
	return c
}

// namespaces match ".*/ns/<ns>/.*" on the peer URI, '*' in a value standing for ".*" (Istio's).
// An exact namespace is the substring "/ns/<ns>/", which is the same test without a regexp.
func (b *condBuilder) namespaces(values, notValues []string) {
	if len(values) == 0 && len(notValues) == 0 {
		return
	}
	build := func(vs []string) cond {
		var res []string
		exact := cond{attr: attrPeerURI}
		for _, v := range vs {
			if !strings.Contains(v, "*") {
				exact.strs = append(exact.strs, strMatcher{kind: matchContains, s: "/ns/" + v + "/"})
				continue
			}
			parts := strings.Split(v, "*")
			for i, p := range parts {
				parts[i] = regexp.QuoteMeta(p)
			}
			res = append(res, ".*/ns/"+strings.Join(parts, ".*")+"/.*")
		}
		exact.strs = append(exact.strs, regexCond(res).strs...)
		return exact
	}
	b.add(build(values), build(notValues), len(values) > 0, len(notValues) > 0)
}

// serviceAccounts are "<sa>" (in the policy's namespace) or "<ns>/<sa>", matched on the peer URI
// with Istio's regular expression.
func (b *condBuilder) serviceAccounts(values, notValues []string) {
	if len(values) == 0 && len(notValues) == 0 {
		return
	}
	build := func(vs []string) cond {
		var res []string
		for _, v := range vs {
			ns, sa, ok := strings.Cut(v, "/")
			if !ok {
				ns, sa = b.policyNS, v
			}
			res = append(res, "spiffe://.+/ns/"+regexp.QuoteMeta(ns)+"/(.+/|)sa/"+regexp.QuoteMeta(sa)+"(/.+)?")
		}
		return regexCond(res)
	}
	b.add(build(values), build(notValues), len(values) > 0, len(notValues) > 0)
}

func (b *condBuilder) trustDomains(values, notValues []string) {
	if len(values) == 0 && len(notValues) == 0 {
		return
	}
	build := func(vs []string) cond {
		c := cond{attr: attrPeerURI}
		for _, v := range vs {
			switch {
			case v == "*":
				c.strs = append(c.strs, strMatcher{kind: matchPrefix, s: "spiffe://"})
			case !strings.Contains(v, "*"):
				c.strs = append(c.strs, strMatcher{kind: matchPrefix, s: "spiffe://" + v + "/"})
			default:
				pre, suf, _ := strings.Cut(v, "*")
				c.strs = append(c.strs, regexCond([]string{"spiffe://" + regexp.QuoteMeta(pre) + "[^/]*" + regexp.QuoteMeta(suf) + "/.*"}).strs...)
			}
		}
		return c
	}
	b.add(build(values), build(notValues), len(values) > 0, len(notValues) > 0)
}

// requestPrincipals are "<iss>/<sub>" split at the last '/', with Istio's wildcard forms.
func (b *condBuilder) requestPrincipals(values, notValues []string) {
	if len(values) == 0 && len(notValues) == 0 || b.httpOnly() {
		return
	}
	build := func(vs []string) cond {
		c := cond{attr: attrRequestPrincipal}
		for _, v := range vs {
			c.pairs = append(c.pairs, requestPrincipalPair(v))
		}
		return c
	}
	b.add(build(values), build(notValues), len(values) > 0, len(notValues) > 0)
}

func requestPrincipalPair(v string) issSub {
	anyNonEmpty := strMatcher{kind: matchPresent}
	exact := func(s string) strMatcher { return strMatcher{kind: matchExact, s: s} }
	idx := strings.LastIndex(v, "/")
	found := idx >= 0
	iss, sub := v, ""
	if found {
		iss, sub = v[:idx], v[idx+1:]
	}
	switch {
	case v == "*":
		return issSub{anyNonEmpty, anyNonEmpty}
	case strings.HasPrefix(v, "*"):
		if !found {
			return issSub{anyNonEmpty, strMatcher{kind: matchSuffix, s: v[1:]}}
		}
		if iss == "*" {
			return issSub{anyNonEmpty, exact(sub)}
		}
		return issSub{strMatcher{kind: matchSuffix, s: iss[1:]}, exact(sub)}
	case strings.HasSuffix(v, "*"):
		if !found {
			return issSub{strMatcher{kind: matchPrefix, s: v[:len(v)-1]}, anyNonEmpty}
		}
		if sub == "*" {
			return issSub{exact(iss), anyNonEmpty}
		}
		return issSub{exact(iss), strMatcher{kind: matchPrefix, s: sub[:len(sub)-1]}}
	}
	return issSub{exact(iss), exact(sub)}
}

// when compiles one condition; isPerm says whether Istio puts it with the permissions (the
// destination side) or the principals (the source side).
func (b *condBuilder) when(key string, values, notValues []string) (isPerm bool, err error) {
	switch {
	case key == "destination.ip":
		b.ips(attrDestIP, values, notValues)
		return true, nil
	case key == "destination.port":
		b.ports(values, notValues)
		return true, nil
	case key == "connection.sni":
		b.strs(attrSNI, "", false, false, values, notValues)
		return true, nil
	case key == "source.ip":
		b.ips(attrSourceIP, values, notValues)
	case key == "remote.ip":
		b.ips(attrRemoteIP, values, notValues)
	case key == "source.namespace":
		b.namespaces(values, notValues)
	case key == "source.trustDomain":
		b.trustDomains(values, notValues)
	case key == "source.serviceAccount":
		b.serviceAccounts(values, notValues)
	case key == "source.principal":
		b.strs(attrPrincipal, "", false, false, values, notValues)
	case key == "request.auth.principal":
		b.requestPrincipals(values, notValues)
	case key == "request.auth.audiences":
		b.claims([]string{"aud"}, values, notValues)
	case key == "request.auth.presenter":
		b.claims([]string{"azp"}, values, notValues)
	case strings.HasPrefix(key, "request.auth.claims"):
		path, err := claimPath(strings.TrimPrefix(key, "request.auth.claims"))
		if err != nil {
			return false, fmt.Errorf("when key %q: %w", key, err)
		}
		b.claims(path, values, notValues)
	case strings.HasPrefix(key, "request.headers"):
		name, err := nameInBrackets(strings.TrimPrefix(key, "request.headers"))
		if err != nil {
			return false, fmt.Errorf("when key %q: %w", key, err)
		}
		if len(values) == 0 && len(notValues) == 0 || b.httpOnly() {
			return false, nil
		}
		mk := func(vs []string) cond {
			c := cond{attr: attrHeader, key: http.CanonicalHeaderKey(name)}
			for _, v := range vs {
				c.strs = append(c.strs, newStrMatcher(v, "", false))
			}
			return c
		}
		b.add(mk(values), mk(notValues), len(values) > 0, len(notValues) > 0)
	default:
		return false, fmt.Errorf("unknown attribute %q", key)
	}
	return false, nil
}

func (b *condBuilder) claims(path []string, values, notValues []string) {
	if len(values) == 0 && len(notValues) == 0 || b.httpOnly() {
		return
	}
	mk := func(vs []string) cond {
		c := cond{attr: attrClaim, claim: path}
		for _, v := range vs {
			c.strs = append(c.strs, newStrMatcher(v, "", false))
		}
		return c
	}
	b.add(mk(values), mk(notValues), len(values) > 0, len(notValues) > 0)
}

func nameInBrackets(s string) (string, error) {
	if len(s) < 3 || s[0] != '[' || s[len(s)-1] != ']' {
		return "", fmt.Errorf("want the form [NAME], found %q", s)
	}
	return s[1 : len(s)-1], nil
}

// claimPath reads "[a]" or nested "[a][b]" (Istio's forms for nested claims).
func claimPath(s string) ([]string, error) {
	var path []string
	rest := s
	for rest != "" {
		if rest[0] != '[' {
			break
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 || strings.IndexByte(rest[1:end], '[') >= 0 {
			break
		}
		path = append(path, rest[1:end])
		rest = rest[end+1:]
	}
	if rest == "" && len(path) > 0 && !slices.Contains(path, "") {
		return path, nil
	}
	name, err := nameInBrackets(s)
	if err != nil {
		return nil, err
	}
	return []string{name}, nil
}

// HTTPOnlyFields lists the fields of rule r that a TCP connection cannot be matched on
// ("to[0].operation.methods", "when[1].key request.headers[x-user]"), for analysis.
func HTTPOnlyFields(r *v1beta1.Rule) []string {
	var out []string
	for i, f := range r.GetFrom() {
		s := f.GetSource()
		if len(s.GetRequestPrincipals()) > 0 {
			out = append(out, fmt.Sprintf("from[%d].source.requestPrincipals", i))
		}
		if len(s.GetNotRequestPrincipals()) > 0 {
			out = append(out, fmt.Sprintf("from[%d].source.notRequestPrincipals", i))
		}
	}
	for i, t := range r.GetTo() {
		o := t.GetOperation()
		for _, f := range []struct {
			name string
			n    int
		}{{"hosts", len(o.GetHosts())}, {"notHosts", len(o.GetNotHosts())}, {"methods", len(o.GetMethods())},
			{"notMethods", len(o.GetNotMethods())}, {"paths", len(o.GetPaths())}, {"notPaths", len(o.GetNotPaths())}} {
			if f.n > 0 {
				out = append(out, fmt.Sprintf("to[%d].operation.%s", i, f.name))
			}
		}
	}
	for i, w := range r.GetWhen() {
		if k := w.GetKey(); strings.HasPrefix(k, "request.") {
			out = append(out, fmt.Sprintf("when[%d].key %s", i, k))
		}
	}
	return out
}

// RulePorts is the destination ports rule r is limited to; nil when it names none (every port).
func RulePorts(r *v1beta1.Rule) []string {
	if len(r.GetTo()) == 0 {
		return nil
	}
	var ports []string
	for _, t := range r.GetTo() {
		p := t.GetOperation().GetPorts()
		if len(p) == 0 {
			return nil
		}
		ports = append(ports, p...)
	}
	return ports
}
