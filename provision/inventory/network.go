package inventory

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Limits Kubernetes and Flannel put on the two ranges. The apiserver refuses an IPv4 service
// range larger than /12 (IPv6: /108); Flannel gives each node a /24 (IPv6: /64) of the pod range,
// so the pod range must be larger than one node's share.
const (
	maxServicePrefixV4 = 12
	maxServicePrefixV6 = 108
	nodePodPrefixV4    = 24
	nodePodPrefixV6    = 64
)

// checkNetwork parses and checks the pod and service ranges, filling the parsed forms.
func (d *decoder) checkNetwork(n *Network) {
	pod, podOK := d.cidr(n.PodCIDR, "network.podCIDR")
	svc, svcOK := d.cidr(n.ServiceCIDR, "network.serviceCIDR")
	if podOK {
		n.PodPrefix = pod
		node := nodePodPrefixV4
		if pod.Addr().Is6() {
			node = nodePodPrefixV6
		}
		if pod.Bits() >= node {
			d.problem(d.at("network.podCIDR"), "network.podCIDR", fmt.Sprintf("%s is too small: each node takes a /%d of it", pod, node),
				"use a larger range such as "+DefaultPodCIDR)
		}
	}
	if svcOK {
		n.ServicePrefix = svc
		limit := maxServicePrefixV4
		if svc.Addr().Is6() {
			limit = maxServicePrefixV6
		}
		if svc.Bits() < limit {
			d.problem(d.at("network.serviceCIDR"), "network.serviceCIDR", fmt.Sprintf("%s is too large for Kubernetes (at most /%d)", svc, limit),
				"use a smaller range such as "+DefaultServiceCIDR)
		}
	}
	if !podOK || !svcOK {
		return
	}
	switch {
	case pod.Addr().Is4() != svc.Addr().Is4():
		d.problem(d.at("network.serviceCIDR"), "network.serviceCIDR", "is not of the same IP family as network.podCIDR",
			"use IPv4 ranges for both, e.g. "+DefaultPodCIDR+" and "+DefaultServiceCIDR)
	case pod.Overlaps(svc):
		d.problem(d.at("network.serviceCIDR"), "network.serviceCIDR", fmt.Sprintf("%s overlaps network.podCIDR %s", svc, pod),
			"pick ranges that do not overlap, e.g. "+DefaultPodCIDR+" and "+DefaultServiceCIDR)
	}
}

// cidr parses a range, pointing out host bits (10.244.1.0/16) since they usually mean a typo.
func (d *decoder) cidr(s, field string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		d.problem(d.at(field), field, fmt.Sprintf("%q is not a CIDR range", truncate(s, 60)), "write address/bits, e.g. 10.244.0.0/16")
		return netip.Prefix{}, false
	}
	if p.Masked() != p {
		d.problem(d.at(field), field, fmt.Sprintf("%s has bits set after the /%d", s, p.Bits()), "did you mean "+p.Masked().String()+"?")
		return netip.Prefix{}, false
	}
	return p, true
}

// hostnameLabelRE is one DNS label (RFC 1123).
var hostnameLabelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// checkAddress reports an address that is neither an IP address nor a DNS name, with a hint for
// the usual slips (a user, port or scheme pasted into it).
func (d *decoder) checkAddress(addr, field string) (netip.Addr, bool) {
	at := d.at(field)
	bad := func(hint string) (netip.Addr, bool) {
		d.problem(at, field, fmt.Sprintf("%q is not an IP address or host name", truncate(addr, 60)), hint)
		return netip.Addr{}, false
	}
	switch {
	case addr == "":
		d.problem(at, field, "is missing", "give the machine's IP address or DNS name")
		return netip.Addr{}, false
	case strings.Contains(addr, "://"):
		return bad("leave out the scheme: write the address only")
	case strings.Contains(addr, "@"):
		return bad("put the user in user: and the address here")
	}
	if ip, err := netip.ParseAddr(addr); err == nil {
		if ip.IsUnspecified() || ip.IsMulticast() {
			d.problem(at, field, fmt.Sprintf("%s cannot be connected to", ip), "give the machine's own address")
			return netip.Addr{}, false
		}
		return ip, true
	}
	if strings.Count(addr, ":") == 1 {
		return bad("put the port in port:")
	}
	if len(addr) > 253 {
		return bad("a host name has at most 253 characters")
	}
	labels := strings.Split(strings.TrimSuffix(addr, "."), ".")
	allNumeric := true
	for _, l := range labels {
		if !hostnameLabelRE.MatchString(l) {
			return bad("a host name has letters, digits, - and . only")
		}
		if strings.Trim(l, "0123456789") != "" {
			allNumeric = false
		}
	}
	if allNumeric {
		return bad("each part of an IPv4 address is 0-255, and there are four")
	}
	return netip.Addr{}, true
}
