package capture

import (
	"net/netip"
	"strconv"
)

// Family is an address family; each gets its own rule set and its own iptables binary.
type Family int

// The two families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// command returns the base name of the family's iptables tool ("iptables" or "ip6tables").
func (f Family) command() string {
	if f == IPv6 {
		return "ip6tables"
	}
	return "iptables"
}

// loopback addresses with a meaning in the rules, per family.
func (f Family) passthroughSource() string { // the proxy binds here for inbound passthrough
	if f == IPv6 {
		return "::6/128"
	}
	return "127.0.0.6/32"
}

func (f Family) localhost() string {
	if f == IPv6 {
		return "::1/128"
	}
	return "127.0.0.1/32"
}

func (f Family) has(p netip.Prefix) bool { return p.Addr().Is4() == (f == IPv4) }

// TableNAT is the only table meshlab writes (REDIRECT mode needs nothing else).
const TableNAT = "nat"

// Rule is one appended rule: "-A Chain Args...".
type Rule struct {
	Chain string
	Args  []string
}

// Ruleset is everything installed for one family, in the order it must be applied.
type Ruleset struct {
	Family Family
	Table  string
	Chains []string // created (or, when present, flushed) before the rules
	Rules  []Rule
}

// multiportMax is the most ports one "-m multiport" match takes.
const multiportMax = 15

// Build turns a config into the rule sets to install: IPv4 always, IPv6 when asked. It is pure:
// no I/O, same input, same output. The order is the one istio-init emits (istio's
// tools/istio-iptables/pkg/capture/run.go); TestDefaultMatchesIstioInit pins it for the defaults.
func Build(c Config) []Ruleset {
	sets := []Ruleset{buildFamily(c, IPv4)}
	if c.IPv6 {
		sets = append(sets, buildFamily(c, IPv6))
	}
	return sets
}

func buildFamily(c Config, f Family) Ruleset {
	rs := Ruleset{Family: f, Table: TableNAT, Chains: Chains()}
	add := func(chain string, args ...string) { rs.Rules = append(rs.Rules, Rule{Chain: chain, Args: args}) }
	port := func(p uint16) string { return strconv.Itoa(int(p)) }

	if c.TunnelPort != 0 {
		add(ChainInbound, "-p", "tcp", "--dport", port(c.TunnelPort), "-j", "RETURN")
	}
	add(ChainRedirect, "-p", "tcp", "-j", "REDIRECT", "--to-ports", port(c.OutboundPort))
	add(ChainInRedirect, "-p", "tcp", "-j", "REDIRECT", "--to-ports", port(c.InboundPort))

	// Inbound: everything but the excluded ports, or only the listed ports.
	switch {
	case c.IncludeInboundPorts.All:
		add("PREROUTING", "-p", "tcp", "-j", ChainInbound)
		for _, p := range c.ExcludeInboundPorts {
			add(ChainInbound, "-p", "tcp", "--dport", port(p), "-j", "RETURN")
		}
		add(ChainInbound, "-p", "tcp", "-j", ChainInRedirect)
	case len(c.IncludeInboundPorts.Ports) > 0:
		add("PREROUTING", "-p", "tcp", "-j", ChainInbound)
		for _, p := range c.IncludeInboundPorts.Ports {
			add(ChainInbound, "-p", "tcp", "--dport", port(p), "-j", ChainInRedirect)
		}
	}

	// Outbound. No "-p tcp" on the jump, as in current istio-init: non-TCP packets walk the
	// chain too and fall out of it, since the REDIRECT chain only matches TCP.
	add("OUTPUT", "-j", ChainOutput)
	for _, group := range chunks(c.ExcludeOutboundPorts, multiportMax) {
		for _, proto := range []string{"tcp", "udp"} {
			if len(group) == 1 {
				add(ChainOutput, "-p", proto, "--dport", port(group[0]), "-j", "RETURN")
			} else {
				add(ChainOutput, "-p", proto, "-m", "multiport", "--dports", joinPorts(group), "-j", "RETURN")
			}
		}
	}
	// The proxy connects to the app from this source when it passes inbound traffic through,
	// so the app's view of the peer is not 127.0.0.1; such connections must not loop back.
	add(ChainOutput, "-o", "lo", "-s", f.passthroughSource(), "-j", "RETURN")
	notTunnel := []string{}
	if c.TunnelPort != 0 {
		notTunnel = []string{"!", "--dport", port(c.TunnelPort)}
	}
	owner := func(kind string, id uint32) {
		idStr := strconv.FormatUint(uint64(id), 10)
		// The proxy calling its own pod through a service VIP (app → proxy → proxy → app)
		// leaves on lo to a non-127.0.0.1 address: send it back through inbound capture.
		add(ChainOutput, append(append([]string{"-o", "lo", "!", "-d", f.localhost(), "-p", "tcp"}, notTunnel...),
			"-m", "owner", "--"+kind+"-owner", idStr, "-j", ChainInRedirect)...)
		// Other local traffic on lo (app to app in the pod) is not captured.
		add(ChainOutput, "-o", "lo", "-m", "owner", "!", "--"+kind+"-owner", idStr, "-j", "RETURN")
		// Everything else the proxy sends leaves as is: this is what prevents redirect loops.
		add(ChainOutput, "-m", "owner", "--"+kind+"-owner", idStr, "-j", "RETURN")
	}
	for _, uid := range c.ProxyUIDs {
		owner("uid", uid)
	}
	for _, gid := range c.ProxyGIDs {
		owner("gid", gid)
	}
	// Applications that know about the sidecar may talk to localhost directly.
	add(ChainOutput, "-d", f.localhost(), "-j", "RETURN")
	for _, p := range c.ExcludeOutbound {
		if f.has(p) {
			add(ChainOutput, "-d", p.String(), "-j", "RETURN")
		}
	}
	if c.IncludeOutbound.All {
		add(ChainOutput, "-j", ChainRedirect)
	} else {
		for _, p := range c.IncludeOutbound.Prefixes {
			if f.has(p) {
				add(ChainOutput, "-d", p.String(), "-j", ChainRedirect)
			}
		}
	}
	return rs
}

func chunks(ports []uint16, n int) [][]uint16 {
	var out [][]uint16
	for len(ports) > n {
		out = append(out, ports[:n])
		ports = ports[n:]
	}
	if len(ports) > 0 {
		out = append(out, ports)
	}
	return out
}
