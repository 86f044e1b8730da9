package locallab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Network safety. A lab's machines reach each other and the host's bridge address, nothing else.
//   - Inside each machine, a policy rule makes every destination outside the lab subnet and the
//     cluster's pod and service CIDRs unreachable: a connect off the lab fails at once with
//     ENETUNREACH and no packet leaves the machine. The machine still has a default route via the
//     bridge address, because kubeadm, kubelet and flannel pick their address and interface from
//     the default route, as on a real host.
//   - On the host, forwarding stays off (nothing entering from the bridge is routed anywhere), a
//     policy rule makes everything from the bridge unreachable except the host's own addresses,
//     and iptables FORWARD rules (first in the chain) reject anything from the bridge to another
//     interface and drop anything from elsewhere into it: walls that still stand should someone
//     switch forwarding on for the whole host.
//   - The host's own services are not the lab's: iptables INPUT rules (first in the chain) let in
//     from the bridge only the replies to connections the host opened (meshlab's SSH, the API
//     server, NodePorts) and reject everything else, whichever host address it is sent to. `up`
//     needs no connection from a machine to the host: every connection goes host to lab.
//   - No NAT or masquerade anywhere; IPv6 is off on the bridge and the host veths.

// rulePref is the priority of the lab's policy-routing rule, ahead of the main table (32766).
const rulePref = 9213

// forwardRules are the lab's iptables FORWARD rules, in chain order.
func forwardRules(n names) [][]string {
	c := []string{"-m", "comment", "--comment", n.comment()}
	br := n.bridge()
	return [][]string{
		append([]string{"-i", br, "-o", br}, append(c, "-j", "ACCEPT")...), // machine to machine (bridge netfilter)
		append([]string{"-i", br}, append(c, "-j", "REJECT", "--reject-with", "icmp-net-unreachable")...),
		append([]string{"-o", br}, append(c, "-j", "DROP")...),
	}
}

// inputRules are the lab's iptables INPUT rules, in chain order: what a machine may send to the
// host itself.
func inputRules(n names) [][]string {
	c := []string{"-m", "comment", "--comment", n.comment()}
	br := n.bridge()
	return [][]string{
		append([]string{"-i", br, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED"}, append(c, "-j", "ACCEPT")...),
		append([]string{"-i", br}, append(c, "-j", "REJECT", "--reject-with", "icmp-admin-prohibited")...),
	}
}

// chainRules inserts rules at the top of an iptables chain in the order given, each unless
// already there.
func chainRules(ctx context.Context, r runner, chain string, rules [][]string) error {
	for i := len(rules) - 1; i >= 0; i-- { // insert at the top in reverse: the chain reads in order
		check := append([]string{"-w", "-C", chain}, rules[i]...)
		if r.run(ctx, "iptables", check...) == nil {
			continue
		}
		if err := r.run(ctx, "iptables", append([]string{"-w", "-I", chain, "1"}, rules[i]...)...); err != nil {
			return fmt.Errorf("add %s rule: %w", chain, err)
		}
	}
	return nil
}

// ensureLabNetwork creates the bridge, its address, the walls and then forwarding. Every step
// checks first, so it also repairs a lab after a host reboot.
func ensureLabNetwork(ctx context.Context, r runner, n names, subnet netip.Prefix) error {
	br := n.bridge()
	if !linkExists(br) {
		if err := r.run(ctx, "ip", "link", "add", br, "type", "bridge"); err != nil {
			return fmt.Errorf("create bridge %s: %w", br, err)
		}
	}
	if err := writeSysctl("net/ipv6/conf/"+br+"/disable_ipv6", "1"); err != nil {
		return err
	}
	gw := netip.PrefixFrom(hostAddress(subnet, 1), subnet.Bits()).String()
	if err := r.run(ctx, "ip", "addr", "replace", gw, "dev", br); err != nil {
		return fmt.Errorf("address bridge %s: %w", br, err)
	}
	if err := chainRules(ctx, r, "FORWARD", forwardRules(n)); err != nil {
		return fmt.Errorf("walls of %s: %w", br, err)
	}
	if err := chainRules(ctx, r, "INPUT", inputRules(n)); err != nil {
		return fmt.Errorf("walls of %s: %w", br, err)
	}
	out, err := r.output(ctx, "ip", "rule", "show", "iif", br)
	if err != nil {
		return fmt.Errorf("list routing rules: %w", err)
	}
	if !strings.Contains(string(out), "unreachable") {
		if err := r.run(ctx, "ip", "rule", "add", "iif", br, "unreachable", "pref", strconv.Itoa(rulePref)); err != nil {
			return fmt.Errorf("routing rule for %s: %w", br, err)
		}
	}
	if err := r.run(ctx, "ip", "link", "set", br, "up"); err != nil {
		return fmt.Errorf("bring up %s: %w", br, err)
	}
	return nil
}

// ensureMachineNetwork gives a machine its network namespace and a veth to the bridge, with its
// address, a default route via the bridge address, and the rules that confine it to the lab
// subnet and the allowed (cluster) prefixes. In the VirtualBox topology the veth is eth1 and
// the default route goes through the dead-end NAT eth0 instead (realism.go).
func ensureMachineNetwork(ctx context.Context, r runner, n names, node Node, subnet netip.Prefix, allowed []netip.Prefix, topology string) error {
	ns := n.machineID(node.Name)
	if _, err := os.Stat(netnsPath(ns)); err != nil {
		if err := r.run(ctx, "ip", "netns", "add", ns); err != nil {
			return fmt.Errorf("create netns %s: %w", ns, err)
		}
	}
	veth, inside := n.hostVeth(node.Index), "eth0"
	if topology == TopologyVirtualBox {
		inside = "eth1"
	}
	if !linkExists(veth) {
		if err := r.run(ctx, "ip", "link", "add", veth, "type", "veth", "peer", "name", inside, "netns", ns); err != nil {
			return fmt.Errorf("create veth %s for %s: %w", veth, node.Name, err)
		}
	}
	if err := writeSysctl("net/ipv6/conf/"+veth+"/disable_ipv6", "1"); err != nil {
		return err
	}
	if err := r.run(ctx, "ip", "link", "set", veth, "master", n.bridge(), "up"); err != nil {
		return fmt.Errorf("attach %s to %s: %w", veth, n.bridge(), err)
	}
	addr := netip.PrefixFrom(netip.MustParseAddr(node.Address), subnet.Bits()).String()
	steps := [][]string{
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "addr", "replace", addr, "dev", inside},
		{"-n", ns, "link", "set", inside, "up"},
	}
	if topology != TopologyVirtualBox {
		steps = append(steps, []string{"-n", ns, "route", "replace", "default", "via", hostAddress(subnet, 1).String(), "dev", inside})
	}
	for _, s := range steps {
		if err := r.run(ctx, "ip", s...); err != nil {
			return fmt.Errorf("network of %s: %w", node.Name, err)
		}
	}
	if topology == TopologyVirtualBox {
		if err := ensureNATInterface(ctx, r, n, ns, node); err != nil {
			return err
		}
	}
	return ensureMachineRules(ctx, r, ns, append([]netip.Prefix{subnet}, allowed...))
}

// removeMachineNetwork deletes a machine's namespace and host veth; absent ones are fine.
func removeMachineNetwork(ctx context.Context, r runner, ns, veth string) error {
	if ns != "" {
		if _, err := os.Stat(netnsPath(ns)); err == nil {
			if err := r.run(ctx, "ip", "netns", "delete", ns); err != nil {
				return fmt.Errorf("delete netns %s: %w", ns, err)
			}
		}
	}
	if veth != "" && linkExists(veth) {
		if err := r.run(ctx, "ip", "link", "delete", veth); err != nil && linkExists(veth) {
			return fmt.Errorf("delete veth %s: %w", veth, err)
		}
	}
	return nil
}

// Priorities of the policy rules inside a machine: the allowed destinations, then the wall.
const (
	machineAllowPref = 100
	machineWallPref  = 200
)

// machineRules are the `ip rule` arguments that confine a machine to its lab: lookups in the main
// table for the allowed prefixes, then "unreachable" for everything else.
func machineRules(allowed []netip.Prefix) [][]string {
	var out [][]string
	for i, p := range allowed {
		out = append(out, []string{"to", p.String(), "lookup", "main", "pref", strconv.Itoa(machineAllowPref + i)})
	}
	return append(out, []string{"unreachable", "pref", strconv.Itoa(machineWallPref)})
}

// ensureMachineRules replaces the machine's confinement rules (delete by priority, then add), so a
// re-run with other CIDRs leaves no stale rule behind.
func ensureMachineRules(ctx context.Context, r runner, ns string, allowed []netip.Prefix) error {
	for pref := machineAllowPref; pref <= machineWallPref; pref++ {
		out, err := r.output(ctx, "ip", "-n", ns, "rule", "show", "pref", strconv.Itoa(pref))
		if err != nil {
			return fmt.Errorf("rules of %s: %w", ns, err)
		}
		for i := 0; i < strings.Count(string(out), "\n"); i++ {
			if err := r.run(ctx, "ip", "-n", ns, "rule", "del", "pref", strconv.Itoa(pref)); err != nil {
				return fmt.Errorf("rules of %s: %w", ns, err)
			}
		}
	}
	for _, rule := range machineRules(allowed) {
		if err := r.run(ctx, "ip", append([]string{"-n", ns, "rule", "add"}, rule...)...); err != nil {
			return fmt.Errorf("confine %s: %w", ns, err)
		}
	}
	return nil
}

// removeLabNetwork takes down the routing rule, the FORWARD and INPUT rules and the bridge, in
// the reverse order of ensureLabNetwork. Missing pieces are fine.
func removeLabNetwork(ctx context.Context, r runner, n names) error {
	br := n.bridge()
	if linkExists(br) {
		if err := r.run(ctx, "ip", "link", "delete", br); err != nil && linkExists(br) {
			return fmt.Errorf("delete bridge %s: %w", br, err)
		}
	}
	for i := 0; i < 10; i++ { // a rule added twice by a racing create is removed too
		if r.run(ctx, "ip", "rule", "del", "iif", br, "unreachable", "pref", strconv.Itoa(rulePref)) != nil {
			break
		}
	}
	for chain, rules := range map[string][][]string{"FORWARD": forwardRules(n), "INPUT": inputRules(n)} {
		for _, rule := range rules {
			for i := 0; i < 10; i++ {
				if r.run(ctx, "iptables", append([]string{"-w", "-D", chain}, rule...)...) != nil {
					break
				}
			}
		}
	}
	return nil
}

// labNamespaces lists the network namespaces of a lab by their names.
func labNamespaces(n names) ([]string, error) {
	entries, err := os.ReadDir("/run/netns")
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list network namespaces: %w", err)
	}
	var out []string
	for _, e := range entries {
		if _, ok := n.nodeFromID(e.Name()); ok {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// labHostVeths lists the host veths of a lab.
func labHostVeths(n names) []string {
	entries, _ := os.ReadDir("/sys/class/net")
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), n.hostVethPrefix()) {
			out = append(out, e.Name())
		}
	}
	return out
}

func netnsPath(ns string) string { return filepath.Join("/run/netns", ns) }

func linkExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}

func writeSysctl(key, value string) error {
	p := filepath.Join("/proc/sys", key)
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(key, "/", "."), value, err)
	}
	return nil
}
