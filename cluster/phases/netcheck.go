package phases

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshlab/meshlab/provision/engine"
)

// Nodes that cannot reach each other fail late and quietly: a firewall on the control plane makes
// `kubeadm join` retry for minutes, one on a worker drops VXLAN or the kubelet port, and the
// cluster looks Ready while cross-node traffic and `kubectl logs` do not work. Two phases probe
// the paths a lab needs from the hosts themselves, each in seconds, and fail naming the two
// hosts, the port and what answered:
//
//   - network-check, after kubeadm init: every host's firewall rules (warnings), the ports a lab
//     needs, and the API server (6443/tcp) from every other node.
//   - pod-network-check, once the nodes are Ready: every kubelet (10250/tcp, used by kubectl
//     logs and exec) from the control plane, and the pod network between every two nodes: a TCP
//     connection to the other node's Flannel address travels inside VXLAN (8472/udp), so a
//     refusal from that address proves the tunnel works both ways.
//
// The probes use bash's /dev/tcp and coreutils' timeout, present on every supported host.

// ProbeWait bounds one connection attempt: a firewall that drops instead of rejecting
// shows as this timeout.
const ProbeWait = 5 * time.Second

// labPorts are the ports a lab needs, as the log states them.
const labPorts = "6443/tcp (the API server, on the control plane, from every node and from this machine unless reached through SSH), " +
	"10250/tcp (every kubelet, from the control plane: kubectl logs and exec), " +
	"8472/udp (Flannel's VXLAN, between every two nodes), " +
	"30000-32767/tcp (NodePorts: the gateway and the addons' UIs, from this machine); " +
	"the control plane also uses 2379-2380/tcp (etcd), 10257/tcp and 10259/tcp on itself"

// ProbeOutcome is what a TCP connection attempt met.
type ProbeOutcome string

// The outcomes.
const (
	ProbeOpen    ProbeOutcome = "open"    // connected: something listens
	ProbeRefused ProbeOutcome = "refused" // the host answered that nothing listens (or a REJECT with port-unreachable)
	ProbeBlocked ProbeOutcome = "blocked" // an ICMP error: no route, host or admin prohibited (a REJECT)
	ProbeTimeout ProbeOutcome = "timeout" // no answer: dropped on the way
	ProbeError   ProbeOutcome = "error"   // the probe could not run
)

// probeCommand connects to ip:port and prints the outcome and the error text, if any.
func probeCommand(ip netip.Addr, port int) string {
	secs := strconv.Itoa(int(ProbeWait / time.Second))
	return "if ! command -v bash >/dev/null 2>&1; then echo 'error bash is missing'; exit 0; fi\n" +
		"if out=$(timeout " + secs + " bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' " + ip.String() + " " + strconv.Itoa(port) + " 2>&1); then echo open; " +
		"elif [ $? -eq 124 ]; then echo timeout; else echo \"failed $(printf '%s\\n' \"$out\" | tail -n 1)\"; fi\n"
}

// ParseProbe classifies probeCommand's output.
func ParseProbe(out string) (ProbeOutcome, string) {
	out = strings.TrimSpace(out)
	word, rest, _ := strings.Cut(out, " ")
	// bash says "bash: connect: Connection refused" then "...: /dev/tcp/H/P: Connection refused".
	if i := strings.LastIndex(rest, ": "); i >= 0 {
		rest = rest[i+2:]
	}
	switch word {
	case "open":
		return ProbeOpen, "connected"
	case "timeout":
		return ProbeTimeout, fmt.Sprintf("no answer within %s (dropped)", ProbeWait)
	case "failed":
		l := strings.ToLower(rest)
		switch {
		case strings.Contains(l, "refused"):
			return ProbeRefused, rest
		case strings.Contains(l, "no route"), strings.Contains(l, "unreachable"), strings.Contains(l, "prohibited"),
			strings.Contains(l, "permission denied"), strings.Contains(l, "not permitted"):
			return ProbeBlocked, rest
		}
		return ProbeError, rest
	}
	return ProbeError, out
}

// firewallScript prints what on a host would block a lab's traffic: an active ufw, and the
// INPUT chain's policy and REJECT/DROP rules.
const firewallScript = `if command -v ufw >/dev/null 2>&1 && ufw status 2>/dev/null | grep -q '^Status: active'; then echo "ufw is active"; fi
if command -v iptables >/dev/null 2>&1; then
  iptables -w 5 -S INPUT 2>/dev/null | grep -E -- '^-P INPUT (DROP|REJECT)|^-A INPUT .*-j (REJECT|DROP)' | sed 's/^/iptables /'
fi
true
`

// FirewallWarnings turns firewallScript's output into warnings.
func FirewallWarnings(out string) []string {
	var w []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case l == "ufw is active":
			w = append(w, "ufw is active: allow the lab's ports (ufw allow 6443/tcp, 10250/tcp, 8472/udp, 30000:32767/tcp)")
		case strings.HasPrefix(l, "iptables "):
			w = append(w, "iptables: `"+strings.TrimPrefix(l, "iptables ")+"` may block the lab's ports")
		}
	}
	return w
}

// NetworkCheck runs after kubeadm init: firewall warnings, the ports a lab needs, and the API
// server from every other node. It changes nothing; passing probes are log lines.
type NetworkCheck struct{ plan *plan }

var _ engine.DryRunner = (*NetworkCheck)(nil)

func (*NetworkCheck) Title() string {
	return "Check the network between the nodes (firewalls, the API server from every node)"
}
func (*NetworkCheck) Name() string { return "network-check" }

func (c *NetworkCheck) DryRun(_ context.Context, r *engine.Run) error {
	r.Logf(nil, "network-check", "would probe the API server (6443/tcp) from every node; the lab needs %s", labPorts)
	return nil
}

func (c *NetworkCheck) Run(ctx context.Context, r *engine.Run) error {
	nets, err := c.plan.nodeNets(ctx, r)
	if err != nil {
		return newTask(r, nil, "network-check", "Find the node addresses").Fail("", "see the facts phase's lines for each host's addresses; set internalAddress in the hosts file", err)
	}
	r.Logf(nil, "network-check", "ports the lab needs: %s", labPorts)
	cpName := c.plan.initHost.Name
	cp := nets[cpName]
	return r.ForEachHost(ctx, r.Hosts, func(ctx context.Context, h *engine.Host) error {
		t := newTask(r, h, "network-check", "Look for firewall rules")
		res, err := t.read(ctx, firewallScript, time.Minute)
		if err != nil {
			return t.Fail(firewallScript, "", err)
		}
		for _, w := range FirewallWarnings(res.Stdout) {
			r.Logf(h, "network-check", "WARNING: %s", w)
		}
		if h.Name == cpName {
			return nil
		}
		return probe(ctx, r, h, "network-check", target{host: cpName, what: "API server", ip: cp.IP, port: 6443},
			func(o ProbeOutcome) bool { return o == ProbeOpen })
	})
}

// target is one thing a probe connects to.
type target struct {
	host, what string
	ip         netip.Addr
	port       int
	proto      string // "tcp" unless it is a path that stands for another (VXLAN)
	hint       string // what to open, when it is not "port/tcp on host"
	// settle is how long a dropped probe is tried again (0: once), and settleWhy why the path
	// may not be there yet.
	settle    time.Duration
	settleWhy string
}

// vxlanSettle is how long the pod network between two nodes may take to appear after the nodes
// are Ready: a node's flanneld publishes its VTEP address (a node annotation) when it starts,
// and the other nodes program their forwarding entries for it only then, seconds after Ready
// (which needs only the CNI config its init container writes). A firewall that drops VXLAN
// still fails the check, half a minute later.
const vxlanSettle = 30 * time.Second

// probeRetryEvery is the pause between two attempts of a settling probe.
const probeRetryEvery = 2 * time.Second

func (t target) addr() string { return net.JoinHostPort(t.ip.String(), strconv.Itoa(t.port)) }

// probe connects from h to t and fails with the error contract unless ok(outcome).
func probe(ctx context.Context, r *engine.Run, h *engine.Host, phase string, t target, ok func(ProbeOutcome) bool) error {
	port := strconv.Itoa(t.port) + "/tcp"
	if t.proto != "" {
		port = t.proto
	}
	step := newTask(r, h, phase, fmt.Sprintf("Reach %s's %s at %s (%s)", t.host, t.what, t.addr(), port))
	cmd := probeCommand(t.ip, t.port)
	settled := time.Now().Add(t.settle)
	var outcome ProbeOutcome
	var detail string
	for {
		res, err := step.read(ctx, cmd, ProbeWait+30*time.Second)
		if err != nil {
			return step.Fail(cmd, "", err)
		}
		outcome, detail = ParseProbe(res.Stdout)
		if ok(outcome) {
			r.Logf(h, phase, "%s reaches %s's %s at %s: %s", h.Name, t.host, t.what, t.addr(), detail)
			return nil
		}
		if outcome != ProbeTimeout || !time.Now().Before(settled) {
			break
		}
		r.Logf(h, phase, "%s: no answer yet from %s's %s at %s; trying again until %s (%s)", h.Name, t.host, t.what, t.addr(),
			settled.UTC().Format(time.TimeOnly), t.settleWhy)
		select {
		case <-ctx.Done():
			return step.Fail(cmd, "", ctx.Err())
		case <-time.After(probeRetryEvery):
		}
	}
	hint := t.hint
	if hint == "" {
		hint = fmt.Sprintf("open %s on %s to the other nodes (its iptables/nftables or ufw rules, a cloud security group)", port, t.host)
	}
	return step.Fail(cmd, hint+"; a lab needs "+labPorts,
		fmt.Errorf("%s cannot reach %s's %s at %s (%s): %s (%s)", h.Name, t.host, t.what, t.addr(), port, outcome, detail))
}

// PodNetworkCheck runs once the nodes are Ready: the kubelets from the control plane, and the
// pod network (VXLAN) between every two nodes. It changes nothing; passing probes are log lines.
type PodNetworkCheck struct{ plan *plan }

var (
	_ engine.DryRunner = (*PodNetworkCheck)(nil)
	_ engine.Guard     = (*PodNetworkCheck)(nil)
)

func (*PodNetworkCheck) Title() string {
	return "Check the kubelets and the pod network between the nodes (10250/tcp, VXLAN 8472/udp)"
}
func (*PodNetworkCheck) Name() string { return "pod-network-check" }

// ShouldRun: a lab of one machine has nothing to reach.
func (c *PodNetworkCheck) ShouldRun(r *engine.Run) bool { return len(r.Hosts) > 1 }

func (c *PodNetworkCheck) DryRun(_ context.Context, r *engine.Run) error {
	r.Logf(nil, "pod-network-check", "would probe every kubelet (10250/tcp) from the control plane and the pod network (VXLAN) between every two nodes")
	return nil
}

func (c *PodNetworkCheck) Run(ctx context.Context, r *engine.Run) error {
	nets, err := c.plan.nodeNets(ctx, r)
	if err != nil {
		return newTask(r, nil, "pod-network-check", "Find the node addresses").Fail("", "", err)
	}
	tunnels, err := c.plan.flannelAddresses(ctx)
	if err != nil {
		return newTask(r, nil, "pod-network-check", "Read the nodes' pod networks").Fail("", "check the API server is reachable with the lab's kubeconfig", err)
	}
	cpName := c.plan.initHost.Name
	return r.ForEachHost(ctx, r.Hosts, func(ctx context.Context, h *engine.Host) error {
		for _, other := range r.Hosts {
			if other.Name == h.Name {
				continue
			}
			if h.Name == cpName {
				kubelet := target{host: other.Name, what: "kubelet", ip: nets[other.Name].IP, port: 10250}
				if err := probe(ctx, r, h, "pod-network-check", kubelet, func(o ProbeOutcome) bool { return o == ProbeOpen }); err != nil {
					return err
				}
			}
			// Any answer from the other node's Flannel address came back through the tunnel; a
			// refusal is the usual one (nothing listens there).
			ip, ok := tunnels[other.Name]
			if !ok {
				continue
			}
			vxlan := target{host: other.Name, what: "pod network (Flannel " + ip.String() + ")", ip: ip, port: 9, proto: "VXLAN 8472/udp",
				hint:   fmt.Sprintf("open 8472/udp between %s and %s (VXLAN; their iptables/nftables or ufw rules, a cloud security group)", h.Name, other.Name),
				settle: vxlanSettle, settleWhy: "Flannel programs a node's tunnel once that node's flanneld has started"}
			if err := probe(ctx, r, h, "pod-network-check", vxlan, func(o ProbeOutcome) bool { return o == ProbeOpen || o == ProbeRefused }); err != nil {
				return err
			}
		}
		return nil
	})
}

// flannelAddresses are the nodes' Flannel addresses: the first address of each node's pod subnet
// (Flannel's VXLAN device holds it), by node name.
func (p *plan) flannelAddresses(ctx context.Context) (map[string]netip.Addr, error) {
	cs, err := p.kubeClient()
	if err != nil {
		return nil, err
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	out := map[string]netip.Addr{}
	for _, n := range nodes.Items {
		if pfx, err := netip.ParsePrefix(n.Spec.PodCIDR); err == nil {
			out[n.Name] = pfx.Masked().Addr()
		}
	}
	return out, nil
}
