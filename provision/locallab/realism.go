package locallab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// A lab's machines can be made to look like the machines meshlab meets in the wild, so what
// breaks there breaks here first:
//
//   - TopologyVirtualBox is what Vagrant makes with VirtualBox: every machine has a "NAT" eth0
//     with the same address (10.0.2.15), the same MAC and the default route, and the lab network
//     on eth1; SSH is reached on a port of 127.0.0.1 forwarded into the machine (forward.go).
//     Here eth0 is a dead end: a veth whose other end sits, without an address, in a namespace of
//     the lab's that has no other interface, no route and no forwarding, so nothing sent there
//     goes anywhere, least of all off this machine.
//   - DpkgLock: for a while after each boot the dpkg locks are held, as cloud-init and
//     unattended-upgrades hold them on a fresh cloud image.
//   - RejectInput: a machine's firewall rejects every incoming connection but SSH, ICMP and
//     replies, as some cloud images ship it (Oracle Cloud's Ubuntu images, for one).

// Topologies.
const (
	TopologyBridge     = "bridge"     // one interface on the lab bridge; SSH on its address
	TopologyVirtualBox = "virtualbox" // NAT eth0 (a dead end), lab network on eth1, SSH on 127.0.0.1:port
)

// The "NAT" interface every VirtualBox machine has: VirtualBox's default NAT network, and a MAC in
// Oracle's range as a box built with a fixed base MAC gives every VM.
const (
	natAddress = "10.0.2.15/24"
	natGateway = "10.0.2.2"
	natMAC     = "08:00:27:9c:1d:5e"
)

// ValidateTopology reports an unknown topology.
func ValidateTopology(t string) error {
	switch t {
	case "", TopologyBridge, TopologyVirtualBox:
		return nil
	}
	return fmt.Errorf("topology %q: want %s or %s", t, TopologyBridge, TopologyVirtualBox)
}

// natNamespace is the lab's dead-end namespace: the other ends of the machines' NAT interfaces.
func (n names) natNamespace() string { return "mlnat-" + n.hash }

// natPeer is a machine's NAT peer in that namespace.
func natPeer(index int) string { return "nat" + strconv.Itoa(index) }

// ensureNATInterface gives the machine in namespace ns its VirtualBox-like eth0 and the default
// route through it (kubeadm, the kubelet and Flannel pick their address from it when told
// nothing, as they do on VirtualBox).
func ensureNATInterface(ctx context.Context, r runner, n names, ns string, node Node) error {
	dead := n.natNamespace()
	if _, err := os.Stat(netnsPath(dead)); err != nil {
		if err := r.run(ctx, "ip", "netns", "add", dead); err != nil {
			return fmt.Errorf("create the lab's dead-end namespace %s: %w", dead, err)
		}
	}
	if !linkExistsIn(ctx, r, ns, "eth0") {
		if err := r.run(ctx, "ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", natPeer(node.Index), "netns", dead); err != nil {
			return fmt.Errorf("NAT interface of %s: %w", node.Name, err)
		}
	}
	steps := [][]string{
		{"-n", dead, "link", "set", natPeer(node.Index), "up"},
		{"-n", ns, "link", "set", "eth0", "address", natMAC},
		{"-n", ns, "addr", "replace", natAddress, "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
		{"-n", ns, "route", "replace", "default", "via", natGateway, "dev", "eth0"},
	}
	for _, s := range steps {
		if err := r.run(ctx, "ip", s...); err != nil {
			return fmt.Errorf("NAT interface of %s: %w", node.Name, err)
		}
	}
	return nil
}

// linkExistsIn says whether a link of that name is in namespace ns.
func linkExistsIn(ctx context.Context, r runner, ns, link string) bool {
	return r.run(ctx, "ip", "-n", ns, "link", "show", link) == nil
}

// Units written into a machine before its first boot.
const (
	dpkgLockUnit = "meshlab-lab-dpkg-lock.service"
	firewallUnit = "meshlab-lab-firewall.service"
)

// dpkgLockScript holds dpkg's locks (fcntl write locks on lock-frontend and lock, as dpkg and
// apt take them) for the given seconds: struct flock on x86-64 is two shorts, two 64-bit offsets
// and a pid, padded to 32 bytes.
const dpkgLockScript = `use Fcntl;
my $secs = shift;
my @held;
for my $f ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock") {
  open(my $fh, ">>", $f) or die "open $f: $!";
  my $lock = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0); # fcntl writes into it: a variable
  fcntl($fh, F_SETLKW, $lock) or die "lock $f: $!";
  push @held, $fh;
}
print "holding the dpkg locks for $secs s\n";
sleep $secs;
`

// dpkgLockUnitText is the unit that holds the locks after boot. It does not delay the boot
// (Type=simple), as cloud-init's package runs do not keep sshd from answering.
func dpkgLockUnitText(hold time.Duration) string {
	return "[Unit]\n" +
		"Description=meshlab local lab: hold the dpkg locks for " + hold.String() + " after boot, as cloud-init does on a fresh cloud image\n" +
		"[Service]\nType=simple\n" +
		"ExecStart=/usr/bin/perl /usr/local/lib/meshlab-lab/dpkg-lock.pl " + strconv.Itoa(int(hold.Seconds())) + "\n" +
		"[Install]\nWantedBy=multi-user.target\n"
}

// firewallRules are the INPUT rules of a machine that rejects what it was not told to accept.
var firewallRules = [][]string{
	{"-A", "INPUT", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
	{"-A", "INPUT", "-p", "icmp", "-j", "ACCEPT"},
	{"-A", "INPUT", "-i", "lo", "-j", "ACCEPT"},
	{"-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"},
	{"-A", "INPUT", "-j", "REJECT", "--reject-with", "icmp-host-prohibited"},
}

// firewallUnitText applies firewallRules at boot, as iptables-persistent does on such images.
func firewallUnitText() string {
	s := "[Unit]\nDescription=meshlab local lab: a cloud image's firewall (INPUT rejects all but SSH)\n" +
		"Before=ssh.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
	for _, rule := range firewallRules {
		s += "ExecStart=/usr/sbin/iptables -w"
		for _, a := range rule {
			s += " " + a
		}
		s += "\n"
	}
	return s + "[Install]\nWantedBy=multi-user.target\n"
}

// writeRealism writes the units a machine's spec asks for into its root before the first boot,
// enabled the way systemctl enable would.
func writeRealism(root string, dpkgLock time.Duration, rejectInput bool) error {
	type unit struct{ name, text string }
	var units []unit
	if dpkgLock > 0 {
		if err := writeFileAtomic(filepath.Join(root, "usr/local/lib/meshlab-lab/dpkg-lock.pl"), []byte(dpkgLockScript), 0o644); err != nil {
			return err
		}
		units = append(units, unit{dpkgLockUnit, dpkgLockUnitText(dpkgLock)})
	}
	if rejectInput {
		units = append(units, unit{firewallUnit, firewallUnitText()})
	}
	for _, u := range units {
		if err := writeFileAtomic(filepath.Join(root, "etc/systemd/system", u.name), []byte(u.text), 0o644); err != nil {
			return err
		}
		wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants")
		if err := os.MkdirAll(wants, 0o755); err != nil {
			return err
		}
		link := filepath.Join(wants, u.name)
		_ = os.Remove(link)
		if err := os.Symlink("/etc/systemd/system/"+u.name, link); err != nil {
			return fmt.Errorf("enable %s: %w", u.name, err)
		}
	}
	return nil
}

// SetRejectInput turns a running machine's cloud-image firewall on or off (what RejectInput
// sets up at boot), for tests that move the firewall from one machine to another.
func (m *Manager) SetRejectInput(ctx context.Context, lab, node string, on bool) error {
	if err := ValidateName(lab); err != nil {
		return err
	}
	if !nodeNamePattern.MatchString(node) {
		return fmt.Errorf("lab %s: %q is not a machine name (cp1, worker1, ...)", lab, node)
	}
	for _, rule := range firewallRules {
		check := append([]string{"iptables", "-w", "-C"}, rule[1:]...)
		_, err := m.Exec(ctx, lab, node, check...)
		present := err == nil
		switch {
		case on && !present:
			_, err = m.Exec(ctx, lab, node, append([]string{"iptables", "-w"}, rule...)...)
		case !on && present:
			_, err = m.Exec(ctx, lab, node, append([]string{"iptables", "-w", "-D"}, rule[1:]...)...)
		default:
			err = nil
		}
		if err != nil {
			return fmt.Errorf("lab %s: firewall of %s: %w", lab, node, err)
		}
	}
	return nil
}
