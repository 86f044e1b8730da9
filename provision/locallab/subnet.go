package locallab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// subnetPool is where lab subnets come from: 10.213.N.0/24. It stays clear of the Kubernetes
// defaults the machines will use inside (pods 10.244.0.0/16, services 10.96.0.0/12) and of
// Docker's 172.17-31 and 192.168 pools.
var subnetPool = netip.MustParsePrefix("10.213.0.0/16")

// pickSubnet returns the first /24 of the pool that overlaps none of the used prefixes.
func pickSubnet(used []netip.Prefix) (netip.Prefix, error) {
	base := subnetPool.Addr().As4()
	for n := 0; n < 256; n++ {
		cand := netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1], byte(n), 0}), 24)
		free := true
		for _, u := range used {
			if u.Overlaps(cand) {
				free = false
				break
			}
		}
		if free {
			return cand, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 left in %s: every one collides with a route or address on this machine", subnetPool)
}

// hostAddress returns the n-th address of a /24 (1 = the bridge, 10+i = machine i).
func hostAddress(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr().As4()
	a[3] = byte(n)
	return netip.AddrFrom4(a)
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

// parseUsedPrefixes turns `ip -j -4 route show table all` and `ip -j -4 addr` output into the
// prefixes a new lab subnet must not overlap. Default routes are skipped: they overlap
// everything and say nothing about which subnets are taken.
func parseUsedPrefixes(routesJSON, addrsJSON []byte) ([]netip.Prefix, error) {
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
			continue // IPv6 or an odd entry: it cannot collide with an IPv4 /24
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

// usedPrefixes asks the kernel which IPv4 prefixes are routed or assigned on this machine.
func usedPrefixes(ctx context.Context, r runner) ([]netip.Prefix, error) {
	routes, err := r.output(ctx, "ip", "-j", "-4", "route", "show", "table", "all")
	if err != nil {
		return nil, err
	}
	addrs, err := r.output(ctx, "ip", "-j", "-4", "addr")
	if err != nil {
		return nil, err
	}
	return parseUsedPrefixes(routes, addrs)
}
