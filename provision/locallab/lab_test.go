package locallab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/sys/unix"

	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/state"
)

// needLabHost skips unless this host can run a lab: root, and the tools create needs.
func needLabHost(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("creates a lab (minutes, root): skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: run as root or via .ci/run")
	}
	// tool -> the Debian package that has it
	tools := map[string]string{"runc": "runc", "debootstrap": "debootstrap", "ip": "iproute2", "iptables": "iptables"}
	for tool, pkg := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: apt-get install -y %s", tool, pkg)
		}
	}
}

// TestLabLifecycle creates a real 3-machine lab, proves each machine is a systemd + sshd host
// reachable with the lab's key under strict host-key checking, that machines reach each other and
// nothing else, that sshd can be stopped and started, and that destroy leaves nothing behind.
// The machine image is cached (MESHLAB_CACHE or /var/cache/meshlab): the first run on a host
// includes debootstrap.
func TestLabLifecycle(t *testing.T) {
	needLabHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	name := "t" + strconv.Itoa(os.Getpid())
	base := t.TempDir()
	m, err := New(Options{BaseDir: base, Events: event.SinkFunc(func(e event.Event) { t.Logf("%s %s: %s", e.Kind, e.Host, e.Line) })})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // also on failure; runs before TempDir's removal
		if err := m.Destroy(context.Background(), name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	// What a create that died half-way leaves: a lab folder, a state file, the network. The next
	// create must clear it and succeed without any manual reset.
	leaveHalfCreatedLab(t, ctx, m, name)

	start := time.Now()
	lab, err := m.Create(ctx, Spec{Name: name, Nodes: 3, ControlPlanes: 1})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Logf("MEASURE create (3 machines): %v", time.Since(start))

	inv, err := inventory.Load(lab.HostsFile)
	if err != nil {
		t.Fatalf("the lab's hosts file does not load: %v", err)
	}
	if len(inv.Hosts) != 3 || len(inv.ControlPlanes()) != 1 || len(inv.Workers()) != 2 {
		t.Fatalf("hosts file: %d hosts, %d control planes, %d workers; want 3, 1, 2",
			len(inv.Hosts), len(inv.ControlPlanes()), len(inv.Workers()))
	}
	for _, path := range []string{lab.KeyPath, lab.KnownHosts} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, err %v; want 0600", path, fi.Mode().Perm(), err)
		}
	}

	for _, h := range inv.Hosts {
		out := sshRun(t, ctx, lab, "root", h.Address, "systemctl is-system-running; hostname; cat /etc/machine-id")
		f := strings.Fields(out)
		if len(f) != 3 || (f[0] != "running" && f[0] != "degraded") || f[1] != h.Name {
			t.Errorf("%s: is-system-running/hostname/machine-id = %q", h.Name, out)
		}
		if got := sshRun(t, ctx, lab, SudoUser, h.Address, "sudo -n id -u"); strings.TrimSpace(got) != "0" {
			t.Errorf("%s: sudo as %s gave %q", h.Name, SudoUser, got)
		}
	}
	ids := map[string]bool{}
	for _, mc := range lab.Machines {
		id, err := m.Exec(ctx, name, mc.Name, "cat", "/etc/machine-id")
		if err != nil {
			t.Fatal(err)
		}
		ids[string(id)] = true
	}
	if len(ids) != 3 {
		t.Errorf("machine-ids not unique: %v", ids)
	}

	// A service of the host on its bridge address: the lab must not reach it.
	subnet := netip.MustParsePrefix(lab.Subnet)
	hostSvc, err := net.Listen("tcp", net.JoinHostPort(hostAddress(subnet, 1).String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer hostSvc.Close()

	// Inside cp1's network namespace: the workers answer on 22, nothing off the lab is routed,
	// and the host's own service refuses.
	cp1 := lab.Machines[0]
	err = inNetns(netnsPath(cp1.ID), func() error {
		conn, err := net.DialTimeout("tcp", hostSvc.Addr().String(), 10*time.Second)
		if err == nil {
			conn.Close()
			return fmt.Errorf("cp1 reached the host's service at %s", hostSvc.Addr())
		}
		t.Logf("cp1 -> the host's service at %s: %v", hostSvc.Addr(), err)
		for _, w := range lab.Machines[1:] {
			if err := sshBanner(ctx, net.JoinHostPort(w.Address, "22")); err != nil {
				return fmt.Errorf("cp1 -> %s: %w", w.Name, err)
			}
		}
		// TEST-NET-3: reserved for documentation, never a real host. Must fail before sending.
		conn, err = net.DialTimeout("tcp", "203.0.113.1:80", 10*time.Second)
		if err == nil {
			conn.Close()
			return errors.New("cp1 reached 203.0.113.1:80: the lab is not confined")
		}
		if !errors.Is(err, syscall.ENETUNREACH) {
			return fmt.Errorf("dial 203.0.113.1:80 from cp1: %w; want network unreachable", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// sshd off and on again on a worker, as the cluster tests do mid-run.
	w1 := lab.Machines[1]
	if err := m.StopSSH(ctx, name, w1.Name); err != nil {
		t.Fatal(err)
	}
	if err := sshBanner(ctx, net.JoinHostPort(w1.Address, "22")); err == nil {
		t.Errorf("sshd on %s still answers after StopSSH", w1.Name)
	}
	if err := m.StartSSH(ctx, name, w1.Name); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, ctx, "sshd on "+w1.Name+" answers again", func() error {
		return sshBanner(ctx, net.JoinHostPort(w1.Address, "22"))
	})

	// A stopped machine is started by the next create; running ones are left alone.
	if err := m.r.run(ctx, "runc", "--root", runcRoot(name), "kill", w1.ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, ctx, w1.Name+" stopped", func() error {
		if st, _ := containerStatus(ctx, m.r, name, w1.ID); st != "stopped" {
			return fmt.Errorf("status %q", st)
		}
		return nil
	})
	start = time.Now()
	again, err := m.Create(ctx, Spec{Name: name, Nodes: 3, ControlPlanes: 1})
	if err != nil {
		t.Fatalf("create on an existing lab: %v", err)
	}
	t.Logf("MEASURE create on the existing lab, one machine stopped: %v", time.Since(start))
	if !again.Existed {
		t.Error("second create did not report the lab as existing")
	}
	for _, mc := range again.Machines {
		if mc.Status != "running" {
			t.Errorf("%s: %s after the second create", mc.Name, mc.Status)
		}
	}
	sshRun(t, ctx, again, "root", w1.Address, "true") // same host key after the restart

	pids := machinePIDs(t, m.paths(name), lab.Machines)
	start = time.Now()
	if err := m.Destroy(ctx, name); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	t.Logf("MEASURE destroy: %v", time.Since(start))
	assertNoTrace(t, m, name, pids)
	if err := m.Destroy(ctx, name); err != nil {
		t.Errorf("second destroy: %v", err)
	}
}

// TestDestroyHalfCreated leaves the pieces an interrupted create would (network, namespaces, a
// state file, no machines) and checks that destroy clears them. Needs root and ip/iptables only.
func TestDestroyHalfCreated(t *testing.T) {
	if testing.Short() {
		t.Skip("makes network namespaces and iptables rules: skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: run as root or via .ci/run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := "h" + strconv.Itoa(os.Getpid())
	m, err := New(Options{BaseDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Destroy(context.Background(), name) })
	leaveHalfCreatedLab(t, ctx, m, name)
	// What `meshlab up` recorded about these machines, and a run log that must stay.
	labDir := filepath.Dir(m.paths(name).dir)
	for _, f := range []string{state.FileName, "kubeconfig", "meshlab-image-0123.tar", "logs/meshlab.log"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(labDir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(labDir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Destroy(ctx, name); err != nil {
		t.Fatalf("destroy a half-created lab: %v", err)
	}
	assertNoTrace(t, m, name, nil)
	for _, f := range []string{state.FileName, "kubeconfig", "meshlab-image-0123.tar"} {
		if _, err := os.Stat(filepath.Join(labDir, f)); !os.IsNotExist(err) {
			t.Errorf("%s survived destroy: a lab created again would skip its set-up as recorded", f)
		}
	}
	if _, err := os.Stat(filepath.Join(labDir, "logs", "meshlab.log")); err != nil {
		t.Errorf("destroy removed the run logs: %v", err)
	}
}

// leaveHalfCreatedLab makes the pieces an interrupted create leaves: the lab folder with an
// incomplete state, the bridge and its walls, one machine's namespace and veth.
func leaveHalfCreatedLab(t *testing.T, ctx context.Context, m *Manager, name string) {
	t.Helper()
	n := namesFor(name)
	st := &State{Name: name, Bridge: n.bridge(), PodCIDR: DefaultPodCIDR, ServiceCIDR: DefaultServiceCIDR}
	st.Nodes, _ = planNodes(2, 1)
	if err := os.MkdirAll(m.paths(name).dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.allocateNetwork(ctx, n, st, m.paths(name)); err != nil {
		t.Fatal(err)
	}
	subnet, err := netip.ParsePrefix(st.Subnet)
	if err != nil {
		t.Fatal(err)
	}
	allowed, _ := st.clusterPrefixes()
	if err := ensureMachineNetwork(ctx, m.r, n, st.Nodes[0], subnet, allowed, TopologyBridge); err != nil {
		t.Fatal(err)
	}
}

func sshRun(t *testing.T, ctx context.Context, lab *Lab, user, address, command string) string {
	t.Helper()
	key, err := os.ReadFile(lab.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	hostKeys, err := knownhosts.New(lab.KnownHosts) // strict: no trust on first use
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys, Timeout: 10 * time.Second}
	client, err := ssh.Dial("tcp", net.JoinHostPort(address, "22"), cfg)
	if err != nil {
		t.Fatalf("ssh %s@%s: %v", user, address, err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			client.Close()
		case <-done:
		}
	}()
	out, err := sess.CombinedOutput(command)
	if err != nil {
		t.Fatalf("ssh %s@%s %q: %v: %s", user, address, command, err, out)
	}
	return string(out)
}

// inNetns runs f on an OS thread switched into the network namespace at path. The thread is never
// switched back: it ends with the goroutine, so no other goroutine can inherit the namespace.
func inNetns(path string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", path, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", path, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

func pollUntil(t *testing.T, ctx context.Context, what string, f func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return
		}
		if sleepCtx(ctx, pollInterval) != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
}

func machinePIDs(t *testing.T, p labPaths, machines []Machine) []int {
	var pids []int
	for _, mc := range machines {
		b, err := os.ReadFile(p.pidFile(mc.Name))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// assertNoTrace checks that nothing of the lab is left on the host.
func assertNoTrace(t *testing.T, m *Manager, name string, pids []int) {
	t.Helper()
	n := namesFor(name)
	if nss, _ := labNamespaces(n); len(nss) > 0 {
		t.Errorf("network namespaces left: %v", nss)
	}
	if linkExists(n.bridge()) {
		t.Errorf("bridge %s left", n.bridge())
	}
	if v := labHostVeths(n); len(v) > 0 {
		t.Errorf("veths left: %v", v)
	}
	if mounts, _ := mountsUnder(m.labDir(name)); len(mounts) > 0 {
		t.Errorf("mounts left: %v", mounts)
	}
	if _, err := os.Stat(m.labDir(name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lab folder %s left (%v)", m.labDir(name), err)
	}
	if _, err := os.Stat(runcRoot(name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runc state %s left (%v)", runcRoot(name), err)
	}
	for _, pid := range pids {
		// Killed machines are reaped by this host's init, a moment after destroy returns.
		pollUntil(t, context.Background(), fmt.Sprintf("machine init pid %d to be gone", pid), func() error {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			if f := strings.Fields(string(b)); len(f) > 2 && f[2] == "Z" {
				return nil // dead, waiting to be reaped
			}
			return fmt.Errorf("pid %d still runs", pid)
		})
	}
	if out, err := exec.Command("iptables", "-w", "-S", "FORWARD").Output(); err != nil {
		t.Errorf("iptables -S: %v", err)
	} else if strings.Contains(string(out), n.comment()+`"`) {
		t.Errorf("FORWARD rules left:\n%s", out)
	}
	if out, err := exec.Command("iptables", "-w", "-S", "INPUT").Output(); err != nil {
		t.Errorf("iptables -S: %v", err)
	} else if strings.Contains(string(out), n.comment()+`"`) {
		t.Errorf("INPUT rules left:\n%s", out)
	}
	if out, err := exec.Command("ip", "rule").Output(); err != nil || strings.Contains(string(out), n.bridge()) {
		t.Errorf("routing rule left (%v):\n%s", err, out)
	}
	if dirs, _ := filepath.Glob("/sys/fs/cgroup/*/meshlab/" + name); len(dirs) > 0 {
		t.Errorf("cgroups left: %v", dirs)
	}
}
