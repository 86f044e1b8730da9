package locallab

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/internal/golden"
	"github.com/meshlab/meshlab/provision/inventory"
)

// TestVirtualBoxHostsFile: a lab in the VirtualBox topology is written as Vagrant's ssh-config
// would give it: every machine on 127.0.0.1, each on its own port, and meshlab's inventory loads it.
func TestVirtualBoxHostsFile(t *testing.T) {
	nodes, _ := planNodes(3, 1)
	for i := range nodes {
		nodes[i].Address = hostAddress(netip.MustParsePrefix("10.213.7.0/24"), 10+i).String()
		nodes[i].SSHPort = 2201 + i
	}
	st := &State{Name: "vb", Subnet: "10.213.7.0/24", PodCIDR: DefaultPodCIDR, ServiceCIDR: DefaultServiceCIDR,
		Nodes: nodes, Topology: TopologyVirtualBox}
	b, err := renderHostsFile(st, "/labs/vb/locallab/ssh/id_ed25519", "/labs/vb/locallab/ssh/known_hosts")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "hosts-virtualbox.yaml"), b)
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(key, []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	lab, err := inventory.Parse([]byte(strings.ReplaceAll(string(b), "/labs/vb/locallab/ssh/id_ed25519", key)), filepath.Join(dir, "hosts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range lab.Hosts {
		if h.Address != "127.0.0.1" || h.Port != 2201+i || h.Name != nodes[i].Name || h.InternalAddress != "" {
			t.Errorf("host %d = %+v", i, h)
		}
	}
}

func TestRealismUnits(t *testing.T) {
	root := t.TempDir()
	if err := writeRealism(root, 90*time.Second, true); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, u := range []string{dpkgLockUnit, firewallUnit} {
		text, err := os.ReadFile(filepath.Join(root, "etc/systemd/system", u))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("# " + u + "\n" + string(text))
		if target, err := os.Readlink(filepath.Join(root, "etc/systemd/system/multi-user.target.wants", u)); err != nil || target != "/etc/systemd/system/"+u {
			t.Errorf("%s is not enabled: %q %v", u, target, err)
		}
	}
	golden.Check(t, filepath.Join("testdata", "realism-units.txt"), []byte(b.String()))
	if s, err := os.ReadFile(filepath.Join(root, "usr/local/lib/meshlab-lab/dpkg-lock.pl")); err != nil || !strings.Contains(string(s), "F_SETLKW") {
		t.Errorf("lock script: %v", err)
	}
	empty := t.TempDir()
	if err := writeRealism(empty, 0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(empty, "etc/systemd/system")); !os.IsNotExist(err) {
		t.Error("a plain machine got units")
	}
}

func TestRealismOptionsChecked(t *testing.T) {
	nodes, _ := planNodes(2, 1)
	if err := markRejectInput(nodes, []string{"worker1"}); err != nil || !nodes[1].RejectInput || nodes[0].RejectInput {
		t.Errorf("mark worker1: %v %+v", err, nodes)
	}
	if err := markRejectInput(nodes, []string{"worker9"}); err == nil {
		t.Error("a machine the lab does not have must be refused")
	}
	if ValidateTopology("virtualbox") != nil || ValidateTopology("") != nil || ValidateTopology("vmware") == nil {
		t.Error("topology validation")
	}
}
