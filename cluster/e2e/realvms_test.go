package e2e

// What breaks `meshlab up` on fresh Ubuntu/Vagrant machines (issue 19), reproduced on local labs
// whose machines look like real ones (provision/locallab's realism options): the VirtualBox
// topology (a NAT eth0 with the same address, MAC and default route everywhere, the lab network
// on eth1, SSH on forwarded ports of 127.0.0.1), a first-boot dpkg lock, a one-machine lab, cloud
// images' firewalls, and a host name that does not resolve. TestUpWholeLab (stack_test.go) runs
// on the VirtualBox topology with the dpkg lock and checks it with checkVirtualBoxLab below.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/locallab"
)

// realDpkgLock is how long the realistic labs hold the dpkg locks after boot: longer than a
// create takes from the first machine's boot to `up` reaching the first-boot phase, so up has to wait.
const realDpkgLock = 2 * time.Minute

// checkFirstBootWaited: up said it waited for the dpkg lock on every host, then went on.
func checkFirstBootWaited(t *testing.T, events []event.Event, hosts int) {
	t.Helper()
	waited, done := map[string]bool{}, map[string]bool{}
	for _, e := range events {
		if e.Phase != "first-boot" {
			continue
		}
		if e.Kind == event.Waiting && strings.Contains(e.Line, "/var/lib/dpkg/lock") && strings.Contains(e.Line, "held by process") {
			waited[e.Host] = true
		}
		if e.Kind == event.TaskDone {
			done[e.Host] = true
		}
	}
	if len(waited) != hosts || len(done) != hosts {
		t.Errorf("first-boot: waited for the dpkg lock on %v, done on %v; want all %d hosts", waited, done, hosts)
	}
}

// checkVirtualBoxLab: every node registered with its eth1 address (not the NAT 10.0.2.15 they all
// share), pods on different nodes reach each other, and `kubectl logs` of a pod on a worker works
// (the API server reaches that worker's kubelet at its node IP).
func checkVirtualBoxLab(t *testing.T, ctx context.Context, c *cli) {
	t.Helper()
	cs := c.client(t)
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	var workers []string
	for _, m := range c.lab.Machines {
		want[m.Name] = m.Address
		if m.Role == locallab.RoleWorker {
			workers = append(workers, m.Name)
		}
	}
	for _, n := range nodes.Items {
		var ip string
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ip = a.Address
			}
		}
		if ip != want[n.Name] {
			t.Errorf("node %s has InternalIP %q, want its eth1 address %s", n.Name, ip, want[n.Name])
		}
	}
	loadProbeImage(t, ctx, c)
	checkPodToPod(t, ctx, cs, workers)
	logs, err := cs.CoreV1().Pods(probeNS).GetLogs("client-"+workers[0], &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil || !strings.Contains(string(logs), "hello from server-"+workers[1]) {
		t.Errorf("kubectl logs of a pod on %s: %q, %v", workers[0], logs, err)
	}
}

// TestUpOneMachine: a lab of one VirtualBox-like machine comes up whole and passes verify. Its
// only workload node is the control plane (untainted), its node address is the NAT one (kubeadm's
// rule for a single machine), and this machine reaches the API server and the NodePorts only
// through the SSH connection (the forwarded SSH port says nothing about 6443).
func TestUpOneMachine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	start := time.Now()
	c := setupLab(t, ctx, locallab.Spec{Name: "e2e1", Nodes: 1, Topology: locallab.TopologyVirtualBox})
	created := time.Since(start)
	events, took, err := c.run(ctx, nil, c.stackArgs("full")...)
	if err != nil {
		t.Fatalf("up: %v\n%s", err, verifyRows(events))
	}
	t.Logf("MEASURE one machine: lab create %s + up (cluster, mesh, addons, Bookinfo, full verify) %s",
		created.Round(time.Second), took.Round(time.Second))
	checkVerified(t, events)
	var untainted, tunnel bool
	for _, e := range events {
		untainted = untainted || e.Phase == "untaint" && e.Kind == event.TaskDone
		tunnel = tunnel || e.Phase == "kubeconfig" && e.Kind == event.Log && strings.Contains(e.Line, "SSH connection")
	}
	if !untainted || !tunnel {
		t.Errorf("control plane untainted: %v; API server reached through SSH: %v", untainted, tunnel)
	}
	t.Logf("summary:\n%s", summaryLines(events))
}

// TestUpFirewallFailsFast: cloud images' firewalls (INPUT rejects all but SSH). On the control
// plane, every worker's probe of the API server is rejected: up fails in the network check, in
// seconds rather than at a join that retries for minutes, with the error contract naming the
// worker, cp1 and 6443/tcp. Moved to the worker, the join works but the control plane cannot
// reach the worker's kubelet (kubectl logs and exec would fail): up fails once the nodes are
// Ready, naming worker1 and 10250/tcp.
func TestUpFirewallFailsFast(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	c := setupLab(t, ctx, locallab.Spec{Name: "e2efw", Nodes: 2, RejectInput: []string{"cp1"}})

	events, took, err := c.up(ctx, nil)
	if err == nil {
		t.Fatal("up succeeded although cp1's firewall rejects 6443")
	}
	fail := failureOf(events, "worker1")
	if fail == nil {
		t.Fatalf("no task.fail event names worker1; error: %v", err)
	}
	t.Logf("MEASURE cp1 rejects 6443: up failed after %s (network-check took %s)\nfailure: host=%s phase=%s task=%q\n  message=%q\n  hint=%q\n  log=%s",
		took.Round(time.Second), phaseTime(events, "network-check"), fail.Host, fail.Phase, fail.Task, fail.Error.Message, fail.Error.Hint, fail.Error.LogPath)
	if fail.Phase != "network-check" || !strings.Contains(fail.Task, "cp1") || !strings.Contains(fail.Task, "6443") ||
		!strings.Contains(fail.Error.Message, "6443") || !strings.Contains(fail.Error.Hint, "6443/tcp on cp1") || fail.Error.LogPath == "" {
		t.Errorf("the failure does not name the network check, worker1, cp1 and 6443 with a hint and a log: %+v %+v", fail, fail.Error)
	}
	if !warned(events, "cp1", "REJECT") {
		t.Error("no warning about cp1's REJECT rule")
	}

	if err := c.mgr.SetRejectInput(ctx, c.lab.Name, "cp1", false); err != nil {
		t.Fatal(err)
	}
	if err := c.mgr.SetRejectInput(ctx, c.lab.Name, "worker1", true); err != nil {
		t.Fatal(err)
	}
	events, took, err = c.up(ctx, nil)
	if err == nil {
		t.Fatal("up succeeded although worker1's firewall rejects the kubelet's port")
	}
	fail = failureOf(events, "cp1")
	if fail == nil {
		t.Fatalf("no task.fail event names cp1 (the host that cannot reach worker1); error: %v", err)
	}
	t.Logf("MEASURE worker1 rejects all but SSH: up failed after %s (pod-network-check took %s)\nfailure: host=%s phase=%s task=%q\n  message=%q\n  hint=%q",
		took.Round(time.Second), phaseTime(events, "pod-network-check"), fail.Host, fail.Phase, fail.Task, fail.Error.Message, fail.Error.Hint)
	if fail.Phase != "pod-network-check" || !strings.Contains(fail.Error.Message, "worker1") || !strings.Contains(fail.Error.Message, "10250") {
		t.Errorf("the failure does not name the pod network check, worker1 and 10250: %+v", fail.Error)
	}
}

func warned(events []event.Event, host, what string) bool {
	for _, e := range events {
		if e.Host == host && e.Kind == event.Log && strings.Contains(e.Line, "WARNING") && strings.Contains(e.Line, what) {
			return true
		}
	}
	return false
}

func phaseTime(events []event.Event, phase string) time.Duration {
	for _, e := range events {
		if e.Kind == event.PhaseDone && e.Phase == phase {
			return e.Duration.Round(100 * time.Millisecond)
		}
	}
	return 0
}

// TestHostNameMustResolve: a host name that does not resolve is refused when the hosts file is
// checked, with its file and line, before anything connects. meshlab runs in a network namespace
// of its own whose resolver is its loopback, where nothing answers: no lookup leaves this machine.
func TestHostNameMustResolve(t *testing.T) {
	if testing.Short() {
		t.Skip("builds meshlab: skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (a network namespace with its own resolv.conf): run as root or via .ci/run")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
	dir := t.TempDir()
	bin := buildStatic(t, "./cmd/meshlab", filepath.Join(dir, "meshlab"))
	ns := fmt.Sprintf("meshlab-dns-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	_ = exec.Command("ip", "-n", ns, "link", "set", "lo", "up").Run()
	// `ip netns exec` mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf for the command.
	etc := filepath.Join("/etc/netns", ns)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(etc) })
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(key, []byte("not used"), 0o600); err != nil {
		t.Fatal(err)
	}
	hosts := filepath.Join(dir, "hosts.yaml")
	if err := os.WriteFile(hosts, []byte("name: dns\nssh:\n  keyPath: "+key+"\nhosts:\n"+
		"  - {name: cp1, address: cp1.meshlab-e2e.invalid, role: control-plane}\n"+
		"  - {name: worker1, address: 127.0.0.1, port: 2299}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, bin, "--log-dir", dir, "up", "--hosts", hosts, "--stack=false")
	out, err := cmd.CombinedOutput()
	t.Logf("MEASURE refused in %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("exit = %v, want 2 (bad input)", err)
	}
	if want := hosts + ":5: hosts[0].address: \"cp1.meshlab-e2e.invalid\" does not resolve"; !strings.Contains(string(out), want) {
		t.Errorf("output lacks %q", want)
	}
	if strings.Contains(string(out), "connect") && strings.Contains(string(out), "2299") {
		t.Error("meshlab connected to a host before refusing the hosts file")
	}
}
