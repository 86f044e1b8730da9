package locallab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
)

// TestVirtualBoxLikeLab creates a 2-machine lab as Vagrant makes VirtualBox machines, with a
// cloud image's first-boot dpkg lock and, on the worker, a cloud image's firewall, and checks each
// of those on the real machines: SSH only through forwarded ports of 127.0.0.1 (strict host
// keys), the same NAT address, MAC and default route on every eth0, which goes nowhere, the lab
// network on eth1, the dpkg lock held after boot, and the worker rejecting all but SSH. Destroy
// leaves nothing, the forwarder and the dead-end namespace included.
func TestVirtualBoxLikeLab(t *testing.T) {
	needLabHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	name := "v" + strconv.Itoa(os.Getpid())
	m, err := New(Options{BaseDir: t.TempDir(), Events: event.SinkFunc(func(e event.Event) { t.Logf("%s %s: %s", e.Kind, e.Host, e.Line) })})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Destroy(context.Background(), name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	start := time.Now()
	lab, err := m.Create(ctx, Spec{Name: name, Nodes: 2, ControlPlanes: 1, Topology: TopologyVirtualBox,
		DpkgLock: 3 * time.Minute, RejectInput: []string{"worker1"}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Logf("MEASURE create (2 machines, virtualbox topology): %v", time.Since(start))
	inv, err := inventory.Load(lab.HostsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range inv.Hosts {
		if h.Address != "127.0.0.1" || h.Port == 22 {
			t.Errorf("%s: %s:%d, want a forwarded port on 127.0.0.1", h.Name, h.Address, h.Port)
		}
		// sshd sees the connection arrive at the NAT address, as under VirtualBox.
		out := sshRunAt(t, ctx, lab, net.JoinHostPort(h.Address, strconv.Itoa(h.Port)),
			"hostname; echo $SSH_CONNECTION | cut -d' ' -f3; cat /sys/class/net/eth0/address; ip -4 -o addr show eth0 | awk '{print $4}'; "+
				"ip -4 route show default; ip -4 -o addr show eth1 | awk '{print $4}'")
		f := strings.Split(strings.TrimSpace(out), "\n")
		if len(f) != 6 || f[0] != h.Name || f[1] != "10.0.2.15" || f[2] != natMAC || f[3] != natAddress ||
			!strings.HasPrefix(f[4], "default via 10.0.2.2 dev eth0") || !strings.HasPrefix(f[5], lab.Machines[indexOf(lab, h.Name)].Address+"/") {
			t.Errorf("%s:\n%s", h.Name, out)
		}
	}

	cp1, w1 := lab.Machines[0], lab.Machines[1]
	err = inNetns(netnsPath(cp1.ID), func() error {
		// The default route goes into the dead end: nothing answers there, and nothing off the
		// lab is even sent (TEST-NET-3 is never a real host).
		if c, err := net.DialTimeout("tcp", "203.0.113.1:80", 5*time.Second); err == nil || !errors.Is(err, syscall.ENETUNREACH) {
			if c != nil {
				c.Close()
			}
			return fmt.Errorf("cp1 -> 203.0.113.1:80: %v; want network unreachable", err)
		}
		if c, err := net.DialTimeout("tcp", "10.0.2.2:80", 3*time.Second); err == nil {
			c.Close()
			return errors.New("cp1 reached the NAT gateway 10.0.2.2: the NAT side must be a dead end")
		}
		// The worker's firewall: SSH answers, the kubelet's port is rejected as a cloud image does.
		if err := sshBanner(ctx, net.JoinHostPort(w1.Address, "22")); err != nil {
			return fmt.Errorf("cp1 -> worker1:22: %w", err)
		}
		_, err := net.DialTimeout("tcp", net.JoinHostPort(w1.Address, "10250"), 5*time.Second)
		if !errors.Is(err, syscall.EHOSTUNREACH) {
			return fmt.Errorf("cp1 -> worker1:10250: %v; want host unreachable (REJECT icmp-host-prohibited)", err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}

	// The dpkg lock, as apt sees it, and in /proc/locks under the lock file's inode (what
	// meshlab's first-boot check reads). The unit takes it a moment after the boot.
	var out []byte
	pollUntil(t, ctx, "the dpkg lock to be held", func() error {
		out, err = m.Exec(ctx, name, cp1.Name, "sh", "-c",
			`apt-get -q check 2>&1 || true; grep " [0-9a-f]*:[0-9a-f]*:$(stat -c %i /var/lib/dpkg/lock-frontend) " /proc/locks`)
		if err != nil || !strings.Contains(string(out), "Could not get lock /var/lib/dpkg/lock-frontend") {
			return fmt.Errorf("not held: %v\n%s", err, out)
		}
		return nil
	})

	forwarder := m.forwarderPID(name, m.paths(name))
	if forwarder == 0 {
		t.Fatal("no forwarder process")
	}
	if err := m.Destroy(ctx, name); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	assertNoTrace(t, m, name, nil)
	if _, err := os.Stat(netnsPath(namesFor(name).natNamespace())); !os.IsNotExist(err) {
		t.Errorf("the dead-end namespace survived destroy: %v", err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", forwarder)); err == nil {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", forwarder))
		if f := strings.Fields(string(b)); len(f) < 3 || f[2] != "Z" {
			t.Errorf("the forwarder (pid %d) survived destroy", forwarder)
		}
	}
}

func indexOf(lab *Lab, name string) int {
	for i, m := range lab.Machines {
		if m.Name == name {
			return i
		}
	}
	return -1
}

// sshRunAt runs command as root on the SSH server at addr, checking its key against the lab's
// known_hosts (no trust on first use).
func sshRunAt(t *testing.T, ctx context.Context, lab *Lab, addr, command string) string {
	t.Helper()
	key, err := os.ReadFile(lab.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	hostKeys, err := knownhosts.New(lab.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("ssh root@%s: %v", addr, err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(command)
	if err != nil {
		t.Fatalf("ssh %s %q: %v: %s", addr, command, err, out)
	}
	return string(out)
}
