package capture

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Flags holds the options as istio-iptables takes them on its command line: comma-separated
// strings, "*" for everything. Parse turns them into a Config.
type Flags struct {
	OutboundPort         string // -p
	InboundPort          string // -z
	ProxyUID             string // -u, comma-separated
	ProxyGID             string // -g, comma-separated; empty means "same as -u"
	Mode                 string // -m
	IncludeIPRanges      string // -i: "*" or CIDRs
	ExcludeIPRanges      string // -x: CIDRs
	IncludeInboundPorts  string // -b: "*" or ports
	ExcludeInboundPorts  string // -d: ports
	ExcludeOutboundPorts string // -o: ports
	IPv6                 bool
}

// DefaultFlags returns the flag values that Parse turns into Default().
func DefaultFlags() Flags {
	return Flags{
		OutboundPort:        strconv.Itoa(DefaultOutboundPort),
		InboundPort:         strconv.Itoa(DefaultInboundPort),
		ProxyUID:            strconv.Itoa(DefaultProxyID),
		Mode:                ModeRedirect,
		IncludeIPRanges:     "*",
		IncludeInboundPorts: "*",
		ExcludeInboundPorts: joinPorts(DefaultExcludeInboundPorts),
	}
}

// Parse checks every flag and returns all problems at once, each naming its flag.
func (f Flags) Parse() (Config, error) {
	c := Default()
	var errs []error
	note := func(flag string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", flag, err))
		}
	}
	var err error
	c.OutboundPort, err = parsePort(f.OutboundPort)
	note("--outbound-port (-p)", err)
	c.InboundPort, err = parsePort(f.InboundPort)
	note("--inbound-port (-z)", err)
	c.ProxyUIDs, err = parseIDs(f.ProxyUID)
	note("--proxy-uid (-u)", err)
	c.ProxyGIDs = c.ProxyUIDs
	if strings.TrimSpace(f.ProxyGID) != "" {
		c.ProxyGIDs, err = parseIDs(f.ProxyGID)
		note("--proxy-gid (-g)", err)
	}
	c.Mode = strings.ToUpper(strings.TrimSpace(f.Mode))
	c.IncludeOutbound, err = parseIPRanges(f.IncludeIPRanges)
	note("--include-ip-ranges (-i)", err)
	var excl IPRanges
	excl, err = parseIPRanges(f.ExcludeIPRanges)
	if err == nil && excl.All {
		err = errors.New(`"*" would exclude everything; leave --include-ip-ranges empty instead`)
	}
	note("--exclude-ip-ranges (-x)", err)
	c.ExcludeOutbound = excl.Prefixes
	c.IncludeInboundPorts, err = parsePortSet(f.IncludeInboundPorts)
	note("--include-inbound-ports (-b)", err)
	c.ExcludeInboundPorts, err = parsePorts(f.ExcludeInboundPorts)
	note("--exclude-inbound-ports (-d)", err)
	c.ExcludeOutboundPorts, err = parsePorts(f.ExcludeOutboundPorts)
	note("--exclude-outbound-ports (-o)", err)
	c.IPv6 = f.IPv6
	if len(errs) == 0 {
		errs = append(errs, c.Validate())
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return uint16(n), nil
}

func parsePorts(s string) ([]uint16, error) {
	var ports []uint16
	var errs []error
	for _, part := range splitList(s) {
		p, err := parsePort(part)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ports = append(ports, p)
	}
	return ports, errors.Join(errs...)
}

func parsePortSet(s string) (PortSet, error) {
	if strings.TrimSpace(s) == "*" {
		return PortSet{All: true}, nil
	}
	ports, err := parsePorts(s)
	return PortSet{Ports: ports}, err
}

func parseIDs(s string) ([]uint32, error) {
	var ids []uint32
	var errs []error
	for _, part := range splitList(s) {
		n, err := strconv.ParseUint(part, 10, 32)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q is not a numeric user or group id", part))
			continue
		}
		ids = append(ids, uint32(n))
	}
	return ids, errors.Join(errs...)
}

// parseIPRanges accepts "*", or CIDRs; a bare address means just that address (/32 or /128).
func parseIPRanges(s string) (IPRanges, error) {
	if strings.TrimSpace(s) == "*" {
		return IPRanges{All: true}, nil
	}
	var r IPRanges
	var errs []error
	for _, part := range splitList(s) {
		if p, err := netip.ParsePrefix(part); err == nil {
			r.Prefixes = append(r.Prefixes, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(part); err == nil {
			r.Prefixes = append(r.Prefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		errs = append(errs, fmt.Errorf("%q is not a CIDR or an address", part))
	}
	return r, errors.Join(errs...)
}

func joinPorts(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}
