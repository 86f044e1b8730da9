package phases

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
)

func TestParseProbe(t *testing.T) {
	for out, want := range map[string]ProbeOutcome{
		"open\n":    ProbeOpen,
		"timeout\n": ProbeTimeout,
		"failed bash: line 1: connect: Connection refused\n":            ProbeRefused,
		"failed bash: line 1: /dev/tcp/10.0.0.1/6443: No route to host": ProbeBlocked,
		"failed bash: connect: Network is unreachable":                  ProbeBlocked,
		"failed bash: connect: Operation not permitted":                 ProbeBlocked,
		"error bash is missing":                                         ProbeError,
		"":                                                              ProbeError,
	} {
		if got, detail := ParseProbe(out); got != want || detail == "" && want != ProbeError {
			t.Errorf("%q: %s (%q), want %s", out, got, detail, want)
		}
	}
	w := FirewallWarnings("ufw is active\niptables -A INPUT -j REJECT --reject-with icmp-host-prohibited\n")
	if len(w) != 2 || !strings.Contains(w[0], "ufw allow 6443/tcp") || !strings.Contains(w[1], "-j REJECT --reject-with icmp-host-prohibited") {
		t.Errorf("warnings = %q", w)
	}
	if w := FirewallWarnings("\n"); len(w) != 0 {
		t.Errorf("no rules: %q", w)
	}
}

// TestNetworkCheckFailsFastNamingHostAndPort: a worker whose probe of the API server is rejected
// fails the phase with the error contract: the worker, the phase, a task naming the control
// plane and 6443, and a hint naming the port and the host to open it on.
func TestNetworkCheckFailsFastNamingHostAndPort(t *testing.T) {
	cp := newFake("cp1", answer{contains: "iptables -w 5 -S INPUT", stdout: "iptables -A INPUT -j REJECT --reject-with icmp-host-prohibited\n"})
	w1 := newFake("worker1", answer{contains: "/dev/tcp/", stdout: "open\n"})
	w2 := newFake("worker2", answer{contains: "/dev/tcp/", stdout: "failed bash: connect: No route to host\n"})
	r, log, p := threeHostRun(t, cp, w1, w2)
	err := (&NetworkCheck{plan: p}).Run(context.Background(), r)
	var te *engine.TaskError
	if !errors.As(err, &te) || te.Host != "worker2" || te.Phase != "network-check" ||
		te.Task != "Reach cp1's API server at 192.168.56.10:6443 (6443/tcp)" ||
		!strings.Contains(te.Err.Error(), "worker2 cannot reach cp1's API server at 192.168.56.10:6443 (6443/tcp): blocked (No route to host)") ||
		!strings.Contains(te.Hint, "open 6443/tcp on cp1") {
		t.Fatalf("err = %v (%#v)", err, te)
	}
	var warned, ports bool
	for _, e := range log.ev {
		warned = warned || e.Host == "cp1" && e.Kind == event.Log && strings.Contains(e.Line, "WARNING: iptables: `-A INPUT -j REJECT")
		ports = ports || e.Kind == event.Log && strings.Contains(e.Line, "8472/udp")
		if e.Kind == event.TaskDone {
			t.Errorf("a check reported a change: %+v", e)
		}
	}
	if !warned || !ports {
		t.Errorf("firewall warning %v, ports line %v", warned, ports)
	}
}

// TestVXLANProbeWaitsForTheTunnel: a dropped VXLAN probe right after the nodes are Ready is
// tried again (Flannel may not have programmed the tunnel yet) and passes once the other node
// answers; a probe that stays dropped fails with the error contract after vxlanSettle; a probe
// the API server's port drops fails at once.
func TestVXLANProbeWaitsForTheTunnel(t *testing.T) {
	r, log, _ := threeHostRun(t, newFake("cp1"), newFake("worker1"), newFake("worker2"))
	w1 := newFake("worker1", answer{contains: "/dev/tcp/", stdout: "timeout\n", once: true},
		answer{contains: "/dev/tcp/", stdout: "failed bash: connect: Connection refused\n"})
	h := &engine.Host{Name: "worker1", Address: "10.77.0.3", Transport: w1}
	tunnel := target{host: "cp1", what: "pod network", ip: netip.MustParseAddr("10.244.0.0"), port: 9, proto: "VXLAN 8472/udp",
		settle: time.Minute, settleWhy: "test"}
	reached := func(o ProbeOutcome) bool { return o == ProbeOpen || o == ProbeRefused }
	if err := probe(context.Background(), r, h, "pod-network-check", tunnel, reached); err != nil {
		t.Fatalf("a tunnel that answers on the second try: %v", err)
	}
	if n := strings.Count(strings.Join(w1.ran, "\n"), "/dev/tcp/"); n != 2 {
		t.Errorf("%d probes, want 2", n)
	}
	var retried bool
	for _, e := range log.ev {
		retried = retried || strings.Contains(e.Line, "no answer yet from cp1's pod network")
	}
	if !retried {
		t.Error("the retry was not logged")
	}

	dropped := newFake("worker1", answer{contains: "/dev/tcp/", stdout: "timeout\n"})
	h.Transport = dropped
	tunnel.settle = 3 * time.Second
	err := probe(context.Background(), r, h, "pod-network-check", tunnel, reached)
	var te *engine.TaskError
	if !errors.As(err, &te) || !strings.Contains(te.Err.Error(), "timeout") || !strings.Contains(te.Hint, "8472/udp") {
		t.Fatalf("a tunnel that stays dropped: %v", err)
	}
	if n := strings.Count(strings.Join(dropped.ran, "\n"), "/dev/tcp/"); n < 2 || n > 3 {
		t.Errorf("%d probes within a 3 s settle, want 2 or 3", n)
	}

	api := newFake("worker1", answer{contains: "/dev/tcp/", stdout: "timeout\n"})
	h.Transport = api
	if err := probe(context.Background(), r, h, "network-check", target{host: "cp1", what: "API server", ip: netip.MustParseAddr("10.77.0.2"), port: 6443},
		func(o ProbeOutcome) bool { return o == ProbeOpen }); err == nil {
		t.Fatal("a dropped API server port passed")
	}
	if n := strings.Count(strings.Join(api.ran, "\n"), "/dev/tcp/"); n != 1 {
		t.Errorf("the API server's port was probed %d times, want once", n)
	}
}

// TestProbeAgainstRealFirewalls runs the probe command with bash between two network namespaces:
// a listener, a closed port, an iptables REJECT like a cloud image's, and a DROP.
func TestProbeAgainstRealFirewalls(t *testing.T) {
	if testing.Short() || os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and iptables (and not -short)")
	}
	for _, tool := range []string{"ip", "iptables", "bash", "socat", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	a, b := fmt.Sprintf("meshlab-probe-a-%d", os.Getpid()), fmt.Sprintf("meshlab-probe-b-%d", os.Getpid())
	sh := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, ns := range []string{a, b} {
		sh("ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		sh("ip", "-n", ns, "link", "set", "lo", "up")
	}
	// Addresses from TEST-NET-2, only ever inside these two namespaces.
	sh("ip", "-n", a, "link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns", b)
	sh("ip", "-n", a, "addr", "add", "198.51.100.1/24", "dev", "veth0")
	sh("ip", "-n", b, "addr", "add", "198.51.100.2/24", "dev", "veth0")
	sh("ip", "-n", a, "link", "set", "veth0", "up")
	sh("ip", "-n", b, "link", "set", "veth0", "up")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listener := exec.CommandContext(ctx, "ip", "netns", "exec", b, "socat", "TCP-LISTEN:6443,bind=198.51.100.2,reuseaddr,fork", "SYSTEM:true")
	if err := listener.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = listener.Wait() })
	sh("ip", "netns", "exec", b, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "10250", "-j", "REJECT", "--reject-with", "icmp-host-prohibited")
	sh("ip", "netns", "exec", b, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "10251", "-j", "DROP")

	target := netip.MustParseAddr("198.51.100.2")
	probeFrom := func(port int) ProbeOutcome {
		deadline := time.Now().Add(5 * time.Second)
		for {
			out, _ := exec.Command("ip", "netns", "exec", a, "sh", "-c", probeCommand(target, port)).CombinedOutput()
			o, _ := ParseProbe(string(out))
			if o != ProbeRefused || port != 6443 || time.Now().After(deadline) { // socat may not listen yet
				return o
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for port, want := range map[int]ProbeOutcome{6443: ProbeOpen, 6444: ProbeRefused, 10250: ProbeBlocked, 10251: ProbeTimeout} {
		if got := probeFrom(port); got != want {
			t.Errorf("port %d: %s, want %s", port, got, want)
		}
	}
	out := sh("ip", "netns", "exec", b, "sh", "-c", firewallScript)
	if w := FirewallWarnings(out); len(w) != 2 {
		t.Errorf("firewall warnings from the real rules: %q (script said %q)", w, out)
	}
}
