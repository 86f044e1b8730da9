package phases

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// Which address a node uses inside the cluster is not the address the operator reaches it on:
// a Vagrant VM is reached on 127.0.0.1:2222 and has the same NAT address 10.0.2.15 (with the
// default route) as every other VM; a cloud VM is reached on a public IP that no interface has.
// kubeadm and Flannel pick the default route's interface when told nothing, which is wrong on
// both. So meshlab learns each node's address on the hosts themselves:
//
//   - The control plane's: its internalAddress from the hosts file; else the hosts file's address
//     when it is one of the host's own; else, among the host's addresses that no other host has
//     (a NAT address every VM shares is never a node's), the only one, or the one on the default
//     route's interface (kubeadm's own rule), or the only one on a subnet another host shares.
//   - Every other node's: its internalAddress; else the source address of its route towards the
//     control plane's (`ip -4 route get`), the address the kernel would use to talk to it. On the
//     control plane itself that route would be the loopback, hence the rule above.

// IfAddr is one IPv4 address of an interface.
type IfAddr struct {
	Iface  string
	Prefix netip.Prefix // address and its subnet
}

// NodeNet is where a node is on the network the nodes share.
type NodeNet struct {
	IP    netip.Addr // kubelet node-ip; the control plane's advertise address
	Iface string     // the interface that carries IP
	MAC   string     // that interface's MAC ("" when unknown)
	How   string     // how IP was chosen, for the log and for messages
}

// ignoredIface says whether an interface belongs to a container runtime or CNI, not to the host's
// own networks: its addresses are never a node's (docker0 is 172.17.0.1 on every Docker host).
func ignoredIface(name string) bool {
	for _, p := range []string{"docker", "br-", "cni", "flannel", "veth", "cali", "kube-", "virbr", "lxcbr", "lxdbr", "podman", "nerdctl", "vxlan"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// candidates are the host's addresses that could be its node address: on its own interfaces,
// outside the cluster's pod and service ranges, and not also an address of another host.
func candidates(host string, all map[string]HostFacts, cluster []netip.Prefix) []IfAddr {
	shared := map[netip.Addr]bool{}
	for name, f := range all {
		if name == host {
			continue
		}
		for _, a := range f.Addrs {
			shared[a.Prefix.Addr()] = true
		}
	}
	var out []IfAddr
	for _, a := range all[host].Addrs {
		ip := a.Prefix.Addr()
		if ignoredIface(a.Iface) || shared[ip] || inAny(ip, cluster) {
			continue
		}
		out = append(out, a)
	}
	return out
}

func inAny(ip netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.IsValid() && p.Contains(ip) {
			return true
		}
	}
	return false
}

// InitNodeNet decides the control plane's node address (see the rules above). sshAddress is the
// hosts file's address of the host, internal its internalAddress ("" when not set).
func InitNodeNet(host, sshAddress, internal string, all map[string]HostFacts, cluster []netip.Prefix) (NodeNet, error) {
	f := all[host]
	if internal != "" {
		ip, _ := netip.ParseAddr(internal)
		a, ok := f.addr(ip)
		if !ok {
			return NodeNet{}, fmt.Errorf("internalAddress %s is not an address of %s (it has %s)", internal, host, f.addrList())
		}
		return f.nodeNet(a, "internalAddress in the hosts file"), nil
	}
	if ip, err := netip.ParseAddr(sshAddress); err == nil && !ip.IsLoopback() {
		if a, ok := f.addr(ip); ok {
			return f.nodeNet(a, "the hosts file's address, one of the host's own"), nil
		}
	}
	cs := candidates(host, all, cluster)
	switch {
	case len(cs) == 0:
		return NodeNet{}, fmt.Errorf("%s has no address of its own to use in the cluster (it has %s; an address another host also has is not one): give it an address on a network the nodes share, or set internalAddress",
			host, f.addrList())
	case len(cs) == 1:
		return f.nodeNet(cs[0], "its only address that no other host has"), nil
	}
	for _, c := range cs {
		if c.Iface == f.DefaultIface {
			return f.nodeNet(c, "the address of its default route's interface "+c.Iface+" (kubeadm's choice)"), nil
		}
	}
	var shared []IfAddr
	for _, c := range cs {
		if sharesSubnet(host, c, all) {
			shared = append(shared, c)
		}
	}
	if len(shared) == 1 {
		return f.nodeNet(shared[0], "its only address on a subnet another host shares"), nil
	}
	return NodeNet{}, fmt.Errorf("%s has several addresses the nodes could use (%s): set internalAddress in the hosts file to the one on the network the nodes share",
		host, ifAddrList(cs))
}

// sharesSubnet says whether another host has an address in c's subnet.
func sharesSubnet(host string, c IfAddr, all map[string]HostFacts) bool {
	for name, f := range all {
		if name == host {
			continue
		}
		for _, a := range f.Addrs {
			if c.Prefix.Masked().Contains(a.Prefix.Addr()) {
				return true
			}
		}
	}
	return false
}

// RouteSource reads `ip -4 route get ADDR`: the interface and source address the kernel would use.
func RouteSource(out string) (iface string, src netip.Addr, ok bool) {
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "dev":
			iface = f[i+1]
		case "src":
			src, _ = netip.ParseAddr(f[i+1])
		}
	}
	return iface, src, iface != "" && src.IsValid()
}

// WorkerNodeNet decides a worker's node address from its route towards the control plane (or its
// internalAddress), refusing an address another host also has: the nodes would not be told apart.
func WorkerNodeNet(host, internal string, all map[string]HostFacts, cp NodeNet, route string) (NodeNet, error) {
	f := all[host]
	if internal != "" {
		ip, _ := netip.ParseAddr(internal)
		a, ok := f.addr(ip)
		if !ok {
			return NodeNet{}, fmt.Errorf("internalAddress %s is not an address of %s (it has %s)", internal, host, f.addrList())
		}
		return f.nodeNet(a, "internalAddress in the hosts file"), nil
	}
	iface, src, ok := RouteSource(route)
	if !ok {
		return NodeNet{}, fmt.Errorf("%s has no route to the control plane's %s (ip -4 route get said %q): it must reach the control plane, or set internalAddress",
			host, cp.IP, strings.TrimSpace(route))
	}
	a, own := f.addr(src)
	if !own {
		a = IfAddr{Iface: iface, Prefix: netip.PrefixFrom(src, src.BitLen())}
	}
	var others []string
	for name, g := range all {
		if _, has := g.addr(src); name != host && has {
			others = append(others, name)
		}
	}
	if len(others) > 0 {
		sort.Strings(others)
		return NodeNet{}, fmt.Errorf("%s reaches the control plane's %s from %s (%s), an address %s also have (a NAT address?): the nodes need a network on which each has its own address; set internalAddress to it",
			host, cp.IP, src, iface, strings.Join(others, ", "))
	}
	return f.nodeNet(a, "the source of its route to the control plane's "+cp.IP.String()), nil
}

// addr finds ip among the host's addresses.
func (f HostFacts) addr(ip netip.Addr) (IfAddr, bool) {
	for _, a := range f.Addrs {
		if a.Prefix.Addr() == ip.Unmap() {
			return a, true
		}
	}
	return IfAddr{}, false
}

func (f HostFacts) nodeNet(a IfAddr, how string) NodeNet {
	return NodeNet{IP: a.Prefix.Addr(), Iface: a.Iface, MAC: f.MACs[a.Iface], How: how}
}

func (f HostFacts) addrList() string {
	if len(f.Addrs) == 0 {
		return "no IPv4 address"
	}
	return ifAddrList(f.Addrs)
}

func ifAddrList(as []IfAddr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.Prefix.Addr().String() + " (" + a.Iface + ")"
	}
	return strings.Join(slices.Compact(s), ", ")
}
