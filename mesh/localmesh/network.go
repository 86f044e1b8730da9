package localmesh

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/meshlab/meshlab/internal/hostnet"
)

// network owns the host-side objects of one local mesh: the bridge, one namespace and veth pair
// per pod, the FORWARD guard rules and the blackhole route for the service range.
type network struct {
	name string // short lab name used in every object name
	plan addressPlan
}

func (n network) bridge() string            { return "mlm-" + n.name }
func (n network) netns(pod string) string   { return "mlm-" + n.name + "-" + pod }
func (n network) hostVeth(index int) string { return fmt.Sprintf("mlm%s%d", n.name, index) }
func (n network) forwardRules() [][]string {
	br := n.bridge()
	comment := []string{"-m", "comment", "--comment", "meshlab local mesh " + n.name}
	return [][]string{
		// Pods talk to each other across the bridge...
		append([]string{"FORWARD", "-i", br, "-o", br}, append(comment, "-j", "ACCEPT")...),
		// ...and nothing from the bridge is ever forwarded anywhere else (network safety rule).
		append([]string{"FORWARD", "-i", br, "!", "-o", br}, append(comment, "-j", "DROP")...),
	}
}

// run executes one host command and names it in the error with its output.
func run(ctx context.Context, argv ...string) error {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// output runs one host command and returns its standard output, naming it in the error with its
// standard error.
func output(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(stderr)))
	}
	return out, nil
}

// up creates everything. It first removes leftovers of an earlier run with the same name, so a
// crashed run never needs a manual clean-up.
func (n network) up(ctx context.Context, pods []Pod, hosts map[string]string) error {
	n.down(ctx, pods)
	used, err := hostnet.UsedPrefixes(ctx, output)
	if err != nil {
		return fmt.Errorf("local mesh network: %w", err)
	}
	for _, p := range []netip.Prefix{n.plan.PodNet, n.plan.SvcNet} {
		if u, ok := hostnet.Overlapping(used, p); ok {
			return fmt.Errorf("local mesh network: %s overlaps %s, routed or assigned on this machine: choose other pod/service networks", p, u)
		}
	}
	br := n.bridge()
	steps := [][]string{
		{"ip", "link", "add", br, "type", "bridge"},
		{"ip", "addr", "add", n.plan.Gateway.String(), "dev", br},
		{"ip", "link", "set", br, "up"},
		{"ip", "route", "add", "blackhole", n.plan.SvcNet.String()},
	}
	for _, r := range n.forwardRules() {
		steps = append(steps, append([]string{"iptables", "-w", "-I"}, r...))
	}
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			return fmt.Errorf("local mesh network: %w", err)
		}
	}
	for i, p := range pods {
		if err := n.addPod(ctx, i, p, hosts[p.Name]); err != nil {
			return fmt.Errorf("local mesh network: pod %s: %w", p.Name, err)
		}
	}
	return nil
}

func (n network) addPod(ctx context.Context, index int, p Pod, hostsFile string) error {
	ns, veth := n.netns(p.Name), n.hostVeth(index)
	addr := n.plan.Pods[p.Name]
	// /etc/netns/<ns>/ files replace /etc/hosts and /etc/resolv.conf for processes started with
	// `ip netns exec`: names resolve to virtual IPs, and DNS (for anything else) goes to the
	// pod's own loopback where nothing answers, so no query can leave the machine.
	etc := filepath.Join("/etc/netns", ns)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(etc, "hosts"), []byte(hostsFile), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), 0o644); err != nil {
		return err
	}
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "link", "set", veth, "master", n.bridge(), "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "addr", "add", addr.String(), "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "route", "add", "default", "via", n.plan.Gateway.Addr().String()},
	}
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			return err
		}
	}
	return nil
}

// down removes everything up created, ignoring what is already gone.
func (n network) down(ctx context.Context, pods []Pod) {
	for i, p := range pods {
		ns := n.netns(p.Name)
		// Deleting the namespace destroys the pair too, but asynchronously: delete the host end
		// explicitly so that an immediate re-create cannot find it still there.
		_ = run(ctx, "ip", "link", "del", n.hostVeth(i))
		_ = run(ctx, "ip", "netns", "del", ns)
		_ = os.RemoveAll(filepath.Join("/etc/netns", ns))
	}
	for _, r := range n.forwardRules() {
		for run(ctx, append([]string{"iptables", "-w", "-D"}, r...)...) == nil {
		}
	}
	_ = run(ctx, "ip", "route", "del", "blackhole", n.plan.SvcNet.String())
	_ = run(ctx, "ip", "link", "del", n.bridge())
}
