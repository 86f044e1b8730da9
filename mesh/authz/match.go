package authz

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// matchKind is how a strMatcher compares.
type matchKind uint8

const (
	matchExact matchKind = iota
	matchPrefix
	matchSuffix
	matchPresent // non-empty (Istio's "*", which Envoy renders as the regex .+)
	matchRegex
	matchContains // a substring; what Istio's ".*/ns/NS/.*" comes to for an exact namespace
)

// strMatcher is one value of a policy field, compiled. It never allocates.
type strMatcher struct {
	kind matchKind
	s    string
	fold bool // case-insensitive (hosts)
	re   *regexp.Regexp
}

// newStrMatcher compiles Istio's string form: "*" presence, "*abc" suffix, "abc*" prefix, else
// exact; prefix is put in front of the non-wildcard part, as Envoy's matchers see it.
func newStrMatcher(v, prefix string, fold bool) strMatcher {
	switch {
	case v == "*":
		return strMatcher{kind: matchPresent}
	case strings.HasPrefix(v, "*"):
		if prefix != "" {
			return strMatcher{kind: matchRegex, re: regexp.MustCompile("^" + regexp.QuoteMeta(prefix) + ".*" + regexp.QuoteMeta(v[1:]) + "$")}
		}
		return strMatcher{kind: matchSuffix, s: v[1:], fold: fold}
	case strings.HasSuffix(v, "*"):
		return strMatcher{kind: matchPrefix, s: prefix + v[:len(v)-1], fold: fold}
	}
	return strMatcher{kind: matchExact, s: prefix + v, fold: fold}
}

func (m *strMatcher) match(v string) bool {
	switch m.kind {
	case matchExact:
		if m.fold {
			return strings.EqualFold(v, m.s)
		}
		return v == m.s
	case matchPrefix:
		if len(v) < len(m.s) {
			return false
		}
		if m.fold {
			return strings.EqualFold(v[:len(m.s)], m.s)
		}
		return v[:len(m.s)] == m.s
	case matchSuffix:
		if len(v) < len(m.s) {
			return false
		}
		if m.fold {
			return strings.EqualFold(v[len(v)-len(m.s):], m.s)
		}
		return v[len(v)-len(m.s):] == m.s
	case matchPresent:
		return v != ""
	case matchRegex:
		// A copy: the regexp keeps its input, which would make every request's attributes
		// escape to the heap; only the regular-expression forms (wildcard namespaces, service
		// accounts, trust domains) pay for it.
		return m.re.MatchString(strings.Clone(v))
	case matchContains:
		return strings.Contains(v, m.s)
	}
	return false
}

func (m *strMatcher) String() string {
	switch m.kind {
	case matchPrefix:
		return "prefix " + m.s
	case matchSuffix:
		return "suffix " + m.s
	case matchPresent:
		return "present"
	case matchRegex:
		return "regex " + m.re.String()
	case matchContains:
		return "contains " + m.s
	}
	return "exact " + m.s
}

func anyString(ms []strMatcher, v string) bool {
	for i := range ms {
		if ms[i].match(v) {
			return true
		}
	}
	return false
}

// parseIPBlock reads a single address or a CIDR, as Istio's ipBlocks take them.
func parseIPBlock(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad CIDR range %q: %w", v, err)
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())).Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad IP address %q", v)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// unmapBits is how many prefix bits an IPv4-mapped IPv6 address spends on the mapping.
func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

func anyPrefix(ps []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
