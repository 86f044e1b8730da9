package phases

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/cluster/cni"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/versions"
)

// TestVars: what the playbook's templates get, online and from a bundle. (The order of the
// phases is the lab's list: lab/phases_test.go.)
func TestVars(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	s, err := New(Options{Lab: testLab(), Kubeconfig: kc})
	if err != nil {
		t.Fatal(err)
	}
	if v := s.Vars().Map(); v["bundle"] != "" || v["initHost"] != "cp1" || s.Offline() {
		t.Errorf("vars = %v, offline %v", v, s.Offline())
	}
	dir := t.TempDir()
	m := &bundle.Manifest{Schema: bundle.Schema, Images: map[string]string{"registry.k8s.io/pause:3.10.1": "images/p.tar"},
		Files: []bundle.File{{Path: "images/p.tar"}}}
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	if s, err = New(Options{Lab: testLab(), Kubeconfig: kc, BundleDir: dir}); err != nil {
		t.Fatal(err)
	}
	if v := s.Vars().Map(); v["bundle"] != RemoteBundleDir || len(v["bundleImages"].([]BundleImage)) != 1 || !s.Offline() {
		t.Errorf("offline vars = %v", v)
	}
}

func TestNewRefusesWhatItCannotBuild(t *testing.T) {
	two := testLab()
	two.Hosts[1].Role = inventory.RoleControlPlane
	none := testLab()
	none.Hosts[0].Role = inventory.RoleWorker
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	for name, o := range map[string]Options{
		"two control planes": {Lab: two, Kubeconfig: kc},
		"no control plane":   {Lab: none, Kubeconfig: kc},
		"missing bundle":     {Lab: testLab(), Kubeconfig: kc, BundleDir: filepath.Join(t.TempDir(), "nope")},
		"no kubeconfig path": {Lab: testLab()},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestFactsAndConflicts(t *testing.T) {
	f := ParseFacts("hostname cp1\nmac eth0 02:AA:00:00:00:01\nmac tunl0 00:00:00:00:00:00\nuuid ABC\n" +
		"addr eth0 10.0.2.15/24\naddr eth1@if7 192.168.56.10/24\naddr eth2 fd00::1/64\ndefault eth0\n")
	want := HostFacts{Hostname: "cp1", MACs: map[string]string{"eth0": "02:aa:00:00:00:01"}, ProductUUID: "abc",
		Addrs:        []IfAddr{{"eth0", netip.MustParsePrefix("10.0.2.15/24")}, {"eth1", netip.MustParsePrefix("192.168.56.10/24")}},
		DefaultIface: "eth0"}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("facts = %+v\nwant %+v", f, want)
	}
	nat := "08:00:27:9c:1d:5e" // the same NAT MAC on every VM: not a clash, Kubernetes never sees it
	facts := map[string]HostFacts{
		"cp1":     {Hostname: "node", MACs: map[string]string{"eth0": nat, "eth1": "02:aa"}},
		"worker1": {Hostname: "node", MACs: map[string]string{"eth0": nat, "eth1": "02:bb"}},
		"worker2": {Hostname: "worker2", MACs: map[string]string{"eth0": nat, "eth1": "02:bb"}},
		"worker3": {Hostname: "worker3", MACs: map[string]string{"eth0": nat}}, // no product_uuid anywhere: not a clash
	}
	nets := map[string]NodeNet{}
	for i, h := range []string{"cp1", "worker1", "worker2", "worker3"} {
		iface := "eth1"
		if h == "worker3" {
			iface = "eth0"
		}
		nets[h] = NodeNet{IP: netip.AddrFrom4([4]byte{192, 168, 56, byte(10 + i)}), Iface: iface, MAC: facts[h].MACs[iface]}
	}
	c := Conflicts(facts, nets)
	wantC := map[string][]string{
		"cp1":     {"hostname node is also used by worker1: every node needs its own"},
		"worker1": {"MAC address 02:bb (of eth1, the interface of its node address 192.168.56.11) is also used by worker2: every node needs its own", "hostname node is also used by cp1: every node needs its own"},
		"worker2": {"MAC address 02:bb (of eth1, the interface of its node address 192.168.56.12) is also used by worker1: every node needs its own"},
	}
	if !reflect.DeepEqual(c, wantC) {
		t.Errorf("conflicts = %q\nwant %q", c, wantC)
	}
}

func TestStripForward(t *testing.T) {
	in := `.:53 {
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    reload
}
`
	out, changed := StripForward(in)
	if !changed || strings.Contains(out, "forward") || strings.Contains(out, "max_concurrent") ||
		!strings.Contains(out, "cache 30") || !strings.Contains(out, "fallthrough") {
		t.Errorf("changed=%v out=\n%s", changed, out)
	}
	if again, changed := StripForward(out); changed || again != out {
		t.Error("a second strip must change nothing")
	}
}

func TestCNIObjectsOffline(t *testing.T) {
	p := testPlan(true)
	p.manifest.Versions = map[string]string{"image-flannel": "ghcr.io/flannel-io/flannel:v0.28.10"}
	p.Lab.Network.PodCIDR = "10.60.0.0/16"
	objs, err := (&CNI{plan: p}).Objects(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(objs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ghcr.io/flannel-io/flannel:v0.28.10", `"imagePullPolicy":"Never"`, "10.60.0.0/16",
		"/opt/bin/install-conf", cni.ConfigHashAnnotation, `\"cniVersion\": \"0.3.1\"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("offline flannel objects lack %s", want)
		}
	}
	if strings.Contains(string(b), "--ip-masq") || strings.Contains(string(b), "install-cni-plugin") {
		t.Error("offline flannel must not masquerade or pull the CNI plugin image")
	}
}

// TestCNIObjectsOnlineBundle: an online bundle carries upstream's Flannel images, so the
// manifest is upstream's shape (the CNI plugin image installs the binary, cp copies the config),
// never pulled, and nothing is masqueraded.
func TestCNIObjectsOnlineBundle(t *testing.T) {
	p := testPlan(true)
	p.manifest.Source = bundle.SourceOnline
	objs, err := (&CNI{plan: p}).Objects(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(objs)
	if err != nil {
		t.Fatal(err)
	}
	s := versions.Default()
	for _, want := range []string{s.Flannel.Image, s.Flannel.CNIPlugin, `"install-cni-plugin"`, `"imagePullPolicy":"Never"`, `"cp","-f"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("online-bundle flannel objects lack %s", want)
		}
	}
	if strings.Contains(string(b), "--ip-masq") || strings.Contains(string(b), "install-conf") {
		t.Error("online-bundle flannel must not masquerade nor run the source bundle's install-conf")
	}
}

// TestNoNameserver: CoreDNS keeps its forward plugin as long as one host has a DNS server.
func TestNoNameserver(t *testing.T) {
	const check = "grep -qs '^[[:space:]]*nameserver"
	for _, tt := range []struct {
		name   string
		exits  []int // of the check, per host
		want   bool
		checks int
	}{
		{"no host has one", []int{1, 1, 1}, true, 3},
		{"the second has one", []int{1, 0, 1}, false, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hosts := make([]*fakeHost, 3)
			for i, e := range tt.exits {
				hosts[i] = newFake(fmt.Sprint("h", i), answer{prefix: check, exit: e})
			}
			r, _, _ := threeHostRun(t, hosts[0], hosts[1], hosts[2])
			got, err := noNameserver(context.Background(), r)
			if err != nil || got != tt.want {
				t.Fatalf("noNameserver = %v, %v; want %v", got, err, tt.want)
			}
			n := 0
			for _, h := range hosts {
				n += countPrefix(h.commands(), check)
			}
			if n != tt.checks {
				t.Errorf("%d hosts asked, want %d", n, tt.checks)
			}
		})
	}
}

// TestMirrorVars: registries become hosts.toml files whose only host is the mirror, and each apt
// key travels with the extension apt reads it by.
func TestMirrorVars(t *testing.T) {
	p := mirroredPlan(t)
	if len(p.registryMirrors) != 3 || p.registryMirrors[2].Dir != "registry.k8s.io" {
		t.Fatalf("registry mirrors = %+v", p.registryMirrors)
	}
	toml := p.registryMirrors[2].HostsTOML
	for _, want := range []string{`server = "http://10.77.0.1:5000/v2/registry.k8s.io"`, `[host."http://10.77.0.1:5000/v2/registry.k8s.io"]`, `capabilities = ["pull", "resolve"]`} {
		if !strings.Contains(toml, want) {
			t.Errorf("hosts.toml lacks %s:\n%s", want, toml)
		}
	}
	if strings.Count(toml, "override_path = true") != 2 {
		t.Errorf("a mirror URL with a path must set override_path for the server and the host:\n%s", toml)
	}
	plain := HostsTOML(inventory.RegistryMirror{Upstream: "docker.io", URL: "https://mirror.example:5000"})
	if strings.Contains(plain, "override_path") || !strings.Contains(plain, `server = "https://mirror.example:5000"`) {
		t.Errorf("a mirror URL without a path is a registry of its own:\n%s", plain)
	}
	if k := p.aptMirrors["kubernetes"]; k == nil || k.KeyFile != "/etc/apt/keyrings/meshlab-kubernetes.gpg" {
		t.Errorf("binary key: %+v", k)
	}
	if d := p.aptMirrors["debian"]; d == nil || d.KeyFile != "/etc/apt/keyrings/meshlab-debian.asc" || d.Suites != "" {
		t.Errorf("armored key: %+v", d)
	}
	bad := p.Lab.Mirrors
	bad.Docker = &inventory.AptMirror{URL: "http://x", Key: "testdata/keys/missing.asc"}
	if _, _, err := mirrorVars(bad); err == nil || !strings.Contains(err.Error(), "mirrors.apt.docker.key") {
		t.Errorf("a key gone since the hosts file was checked: %v", err)
	}
}
