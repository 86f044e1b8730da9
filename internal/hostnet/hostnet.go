// Package hostnet answers the question both local labs (provision/locallab's machines and
// mesh/localmesh's pods) ask this machine before they add a bridge and a subnet: which IPv4
// prefixes are already routed or assigned here, so that the new subnet shadows none of them.
package hostnet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// Output runs a command and returns its standard output; each lab passes its own (locallab's
// logs every command it runs).
type Output func(ctx context.Context, name string, args ...string) ([]byte, error)

// UsedPrefixes asks the kernel which IPv4 prefixes are routed (in any table) or assigned on this
// machine.
func UsedPrefixes(ctx context.Context, output Output) ([]netip.Prefix, error) {
	routes, err := output(ctx, "ip", "-j", "-4", "route", "show", "table", "all")
	if err != nil {
		return nil, err
	}
	addrs, err := output(ctx, "ip", "-j", "-4", "addr")
	if err != nil {
		return nil, err
	}
	return ParseUsedPrefixes(routes, addrs)
}

// Overlapping returns the first prefix of used that overlaps p.
func Overlapping(used []netip.Prefix, p netip.Prefix) (netip.Prefix, bool) {
	for _, u := range used {
		if u.Overlaps(p) {
			return u, true
		}
	}
	return netip.Prefix{}, false
}

// ipRoute is the part of `ip -j route` output this package reads.
type ipRoute struct {
	Dst string `json:"dst"`
}

// ipLink is the part of `ip -j addr` output this package reads.
type ipLink struct {
	AddrInfo []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
	} `json:"addr_info"`
}

// ParseUsedPrefixes turns `ip -j -4 route show table all` and `ip -j -4 addr` output into the
// prefixes a new lab subnet must not overlap. Default routes are skipped: they overlap
// everything and say nothing about which subnets are taken.
func ParseUsedPrefixes(routesJSON, addrsJSON []byte) ([]netip.Prefix, error) {
	var routes []ipRoute
	if err := json.Unmarshal(routesJSON, &routes); err != nil {
		return nil, fmt.Errorf("parse `ip -j route` output: %w", err)
	}
	var links []ipLink
	if err := json.Unmarshal(addrsJSON, &links); err != nil {
		return nil, fmt.Errorf("parse `ip -j addr` output: %w", err)
	}
	var used []netip.Prefix
	for _, r := range routes {
		if r.Dst == "" || r.Dst == "default" {
			continue
		}
		p, err := parsePrefixOrAddr(r.Dst)
		if err != nil {
			continue // IPv6 or an odd entry: it cannot collide with an IPv4 subnet
		}
		used = append(used, p)
	}
	for _, l := range links {
		for _, a := range l.AddrInfo {
			if a.Family != "inet" {
				continue
			}
			addr, err := netip.ParseAddr(a.Local)
			if err != nil {
				continue
			}
			used = append(used, netip.PrefixFrom(addr, a.PrefixLen).Masked())
		}
	}
	return used, nil
}

func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
