// Package capture builds and installs the iptables rules that send a pod's TCP traffic through
// its sidecar: inbound connections to the proxy's inbound port (15006), outbound connections to
// its outbound port (15001), with the proxy's own traffic (UID/GID 1337) let through. The chain
// layout and rule order follow istio-init (istio-iptables in REDIRECT mode), so that rule sets
// can be diffed against Istio's and a user's knowledge of istio-init carries over; only the
// chain prefix differs (MESHLAB_ instead of ISTIO_) so that meshlab's clean-up can never delete
// an Istio installation's chains on the same node, and the other way round.
//
// The package has three layers: a pure rule builder (Config → Ruleset), renderers (restore
// text, argv lists), and an Installer that reads the current tables and applies one atomic
// iptables-restore --noflush per address family through a one-method Executor.
package capture

import (
	"errors"
	"fmt"
	"net/netip"
)

// Chain names. Every rule meshlab installs lives in one of these, apart from the two jumps
// from the built-in PREROUTING and OUTPUT chains; clean-up relies on that.
const (
	ChainInbound    = "MESHLAB_INBOUND"     // PREROUTING → here: decides which inbound ports are captured
	ChainInRedirect = "MESHLAB_IN_REDIRECT" // REDIRECT to the proxy's inbound port
	ChainOutput     = "MESHLAB_OUTPUT"      // OUTPUT → here: bypasses, loopback handling, IP ranges
	ChainRedirect   = "MESHLAB_REDIRECT"    // REDIRECT to the proxy's outbound port
)

// Chains returns meshlab's chains in the order they are declared.
func Chains() []string { return []string{ChainInbound, ChainRedirect, ChainInRedirect, ChainOutput} }

// Defaults, as istio-init receives them from Istio's injection template.
const (
	DefaultOutboundPort = 15001
	DefaultInboundPort  = 15006
	DefaultProxyID      = 1337
	// DefaultTunnelPort is Istio's HBONE port. meshlab has no HBONE listener, but keeping the
	// port out of capture keeps the rule set identical to istio-init's and leaves the port free
	// for such a feature.
	DefaultTunnelPort = 15008
)

// DefaultExcludeInboundPorts are the proxy's own ports that must reach it directly: metrics
// (15090), health (15021) and the agent's status/merged-metrics port (15020).
var DefaultExcludeInboundPorts = []uint16{15090, 15021, 15020}

// ModeRedirect is the only interception mode: nat-table REDIRECT. Istio's TPROXY mode (mangle
// table, policy routing) is not implemented.
const ModeRedirect = "REDIRECT"

// Config says what to capture. The zero value is not useful; start from Default.
type Config struct {
	OutboundPort uint16   // -p: where captured outbound connections go
	InboundPort  uint16   // -z: where captured inbound connections go
	ProxyUIDs    []uint32 // -u: traffic from these users is never captured (the proxy itself)
	ProxyGIDs    []uint32 // -g: the same for groups; Default sets it equal to the UIDs
	Mode         string   // -m: only ModeRedirect

	IncludeOutbound IPRanges       // -i: destinations whose outbound traffic is captured
	ExcludeOutbound []netip.Prefix // -x: destinations never captured (checked before -i)

	IncludeInboundPorts PortSet  // -b: inbound ports captured
	ExcludeInboundPorts []uint16 // -d: inbound ports not captured (only when -b is "*")

	ExcludeOutboundPorts []uint16 // -o: outbound destination ports never captured (tcp and udp)

	// TunnelPort is never captured in either direction; 0 leaves out the rules that name it.
	TunnelPort uint16

	IPv6 bool // also install the rules with ip6tables
}

// IPRanges is either every address ("*") or a list of prefixes.
type IPRanges struct {
	All      bool
	Prefixes []netip.Prefix
}

// PortSet is either every port ("*") or a list of ports; an empty, non-All set captures nothing.
type PortSet struct {
	All   bool
	Ports []uint16
}

// Default returns istio-init's defaults: -p 15001 -z 15006 -u 1337 -g 1337 -m REDIRECT -i '*'
// -x "" -b '*' -d 15090,15021,15020.
func Default() Config {
	return Config{
		OutboundPort:        DefaultOutboundPort,
		InboundPort:         DefaultInboundPort,
		ProxyUIDs:           []uint32{DefaultProxyID},
		ProxyGIDs:           []uint32{DefaultProxyID},
		Mode:                ModeRedirect,
		IncludeOutbound:     IPRanges{All: true},
		IncludeInboundPorts: PortSet{All: true},
		ExcludeInboundPorts: append([]uint16(nil), DefaultExcludeInboundPorts...),
		TunnelPort:          DefaultTunnelPort,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.OutboundPort == 0 {
		errs = append(errs, errors.New("outbound port (-p) must be 1-65535"))
	}
	if c.InboundPort == 0 {
		errs = append(errs, errors.New("inbound port (-z) must be 1-65535"))
	}
	if c.OutboundPort != 0 && c.OutboundPort == c.InboundPort {
		errs = append(errs, fmt.Errorf("inbound and outbound ports are both %d", c.InboundPort))
	}
	if len(c.ProxyUIDs) == 0 && len(c.ProxyGIDs) == 0 {
		// Without a bypass the proxy's own connections would be redirected to itself forever.
		errs = append(errs, errors.New("proxy UID (-u) or GID (-g) is required, or the proxy would capture itself"))
	}
	if c.Mode != ModeRedirect {
		errs = append(errs, fmt.Errorf("interception mode (-m) %q is not supported: only %s", c.Mode, ModeRedirect))
	}
	for _, p := range c.IncludeOutbound.Prefixes {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("include IP range (-i) %v is not a valid CIDR", p))
		}
	}
	for _, p := range c.ExcludeOutbound {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("exclude IP range (-x) %v is not a valid CIDR", p))
		}
	}
	for _, set := range []struct {
		flag  string
		ports []uint16
	}{{"-b", c.IncludeInboundPorts.Ports}, {"-d", c.ExcludeInboundPorts}, {"-o", c.ExcludeOutboundPorts}} {
		for _, p := range set.ports {
			if p == 0 {
				errs = append(errs, fmt.Errorf("port 0 in %s is not a port", set.flag))
			}
		}
	}
	return errors.Join(errs...)
}
