package phases

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// hostsOf parses factsScript-like output per host.
func hostsOf(out map[string]string) map[string]HostFacts {
	all := map[string]HostFacts{}
	for h, o := range out {
		all[h] = ParseFacts(o)
	}
	return all
}

var clusterCIDRs = []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("10.96.0.0/12")}

// vbox is a VirtualBox VM as Vagrant makes it: NAT eth0 10.0.2.15 with the default route and the
// same MAC on every VM (a box with a fixed base MAC), the private network on eth1.
func vbox(last int) string {
	return fmt.Sprintf("mac eth0 08:00:27:9c:1d:5e\nmac eth1 08:00:27:00:00:%02d\naddr eth0 10.0.2.15/24\naddr eth1 192.168.56.%d/24\ndefault eth0\n", last, last)
}

func TestInitNodeNet(t *testing.T) {
	three := hostsOf(map[string]string{"cp1": vbox(10), "worker1": vbox(11), "worker2": vbox(12)})
	cases := []struct {
		name, ssh, internal string
		all                 map[string]HostFacts
		want, wantIface     string
		err                 string
	}{
		{name: "vagrant hosts file: the private address", ssh: "192.168.56.10", all: three, want: "192.168.56.10", wantIface: "eth1"},
		{name: "forwarded SSH port: the shared NAT address is never taken", ssh: "127.0.0.1", all: three, want: "192.168.56.10", wantIface: "eth1"},
		{name: "a DNS name", ssh: "cp1.lab.example", all: three, want: "192.168.56.10", wantIface: "eth1"},
		{name: "cloud public IP on no NIC; docker0 and cni0 are not the host's", ssh: "203.0.113.7", all: hostsOf(map[string]string{
			"cp1":     "addr ens5 10.0.0.5/24\naddr docker0 172.17.0.1/16\naddr cni0 10.244.0.1/24\ndefault ens5\n",
			"worker1": "addr ens5 10.0.0.6/24\ndefault ens5\n"}), want: "10.0.0.5", wantIface: "ens5"},
		{name: "one machine: kubeadm's rule, the default route's interface", ssh: "127.0.0.1",
			all: hostsOf(map[string]string{"cp1": vbox(10)}), want: "10.0.2.15", wantIface: "eth0"},
		{name: "several private networks, one shared with the workers", ssh: "127.0.0.1", all: hostsOf(map[string]string{
			"cp1":     "addr eth0 10.0.2.15/24\naddr eth1 192.168.56.10/24\naddr eth2 172.30.0.10/24\ndefault eth0\n",
			"worker1": "addr eth0 10.0.2.15/24\naddr eth1 192.168.56.11/24\ndefault eth0\n"}), want: "192.168.56.10", wantIface: "eth1"},
		{name: "ambiguous", ssh: "127.0.0.1", all: hostsOf(map[string]string{
			"cp1":     "addr eth0 10.0.2.15/24\naddr eth1 192.168.56.10/24\naddr eth2 172.30.0.10/24\ndefault eth0\n",
			"worker1": "addr eth0 10.0.2.15/24\naddr eth1 192.168.56.11/24\naddr eth2 172.30.0.11/24\ndefault eth0\n"}),
			err: "set internalAddress"},
		{name: "internalAddress wins", ssh: "127.0.0.1", internal: "192.168.56.10", all: three, want: "192.168.56.10", wantIface: "eth1"},
		{name: "internalAddress not on the host", ssh: "127.0.0.1", internal: "192.168.56.99", all: three, err: "is not an address of cp1"},
		{name: "no ip command", ssh: "127.0.0.1", all: hostsOf(map[string]string{"cp1": "noip\n"}), err: "no address of its own"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := InitNodeNet("cp1", c.ssh, c.internal, c.all, clusterCIDRs)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one saying %q", err, c.err)
				}
				return
			}
			if err != nil || n.IP.String() != c.want || n.Iface != c.wantIface || n.How == "" {
				t.Fatalf("node net = %+v, %v; want %s on %s", n, err, c.want, c.wantIface)
			}
			if n.MAC != c.all["cp1"].MACs[n.Iface] {
				t.Errorf("MAC %q is not the MAC of %s", n.MAC, n.Iface)
			}
		})
	}
}

func TestWorkerNodeNet(t *testing.T) {
	all := hostsOf(map[string]string{"cp1": vbox(10), "worker1": vbox(11), "worker2": vbox(12)})
	cp := NodeNet{IP: netip.MustParseAddr("192.168.56.10"), Iface: "eth1"}
	n, err := WorkerNodeNet("worker1", "", all, cp, "192.168.56.10 dev eth1 src 192.168.56.11 uid 0 \n    cache \n")
	if err != nil || n.IP.String() != "192.168.56.11" || n.Iface != "eth1" || n.MAC != "08:00:27:00:00:11" {
		t.Errorf("worker1 = %+v, %v", n, err)
	}
	// The control plane's address reached through the NAT gateway: every VM's 10.0.2.15 would be
	// the worker's node address, and every node would be the same.
	_, err = WorkerNodeNet("worker2", "", all, cp, "192.168.56.10 via 10.0.2.2 dev eth0 src 10.0.2.15 uid 0\n")
	if err == nil || !strings.Contains(err.Error(), "cp1, worker1 also have") {
		t.Errorf("a shared source address: err = %v", err)
	}
	_, err = WorkerNodeNet("worker2", "", all, cp, "RTNETLINK answers: Network is unreachable\n")
	if err == nil || !strings.Contains(err.Error(), "no route to the control plane's 192.168.56.10") {
		t.Errorf("no route: err = %v", err)
	}
	n, err = WorkerNodeNet("worker2", "192.168.56.12", all, cp, "")
	if err != nil || n.IP.String() != "192.168.56.12" || n.Iface != "eth1" {
		t.Errorf("internalAddress: %+v, %v", n, err)
	}
}

// TestFactsPhaseLearnsNodeAddresses runs the facts phase on three VirtualBox-like hosts reached on
// forwarded ports (127.0.0.1): each gets its private address, and the NAT MAC they share is no clash.
func TestFactsPhaseLearnsNodeAddresses(t *testing.T) {
	host := func(name string, last int) *fakeHost {
		return newFake(name,
			answer{prefix: `echo "hostname`, stdout: "hostname " + name + "\n" + vbox(last)},
			answer{prefix: "ip -4 route get 192.168.56.10", stdout: fmt.Sprintf("192.168.56.10 dev eth1 src 192.168.56.%d uid 0\n", last)})
	}
	cp, w1, w2 := host("cp1", 10), host("worker1", 11), host("worker2", 12)
	r, _, p := threeHostRun(t, cp, w1, w2)
	p.learned = nil
	for _, h := range r.Hosts {
		h.Address = "127.0.0.1"
	}
	p.initHost.Address = "127.0.0.1"
	if err := (&Facts{plan: p}).Run(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if c := r.Vars["conflicts"].(map[string][]string); len(c) != 0 {
		t.Errorf("conflicts = %v, want none (the NAT MAC is not a node's)", c)
	}
	nets, err := p.nodeNets(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"cp1": "192.168.56.10", "worker1": "192.168.56.11", "worker2": "192.168.56.12"} {
		if n := nets[name]; n.IP.String() != want || n.Iface != "eth1" {
			t.Errorf("%s: %+v, want %s on eth1", name, n, want)
		}
	}
	if countPrefix(cp.commands(), "ip -4 route get") != 0 {
		t.Error("the control plane's own route to itself was asked (it is the loopback)")
	}
}
