package locallab

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/internal/golden"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"lab", true}, {"a", true}, {"ci-3", true}, {"a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4", true},
		{"", false}, {"-a", false}, {"a-", false}, {"Lab", false}, {"a.b", false}, {"a/b", false},
		{"a b", false}, {"a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4x", false},
	} {
		if err := ValidateName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestPlanNodes(t *testing.T) {
	got, err := planNodes(3, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []Node{
		{Name: "cp1", Role: RoleControlPlane, Index: 0},
		{Name: "worker1", Role: RoleWorker, Index: 1},
		{Name: "worker2", Role: RoleWorker, Index: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("planNodes(3,1) = %+v", got)
	}
	for _, bad := range [][2]int{{0, 0}, {1, 0}, {1, 2}, {maxNodes + 1, 1}} {
		if _, err := planNodes(bad[0], bad[1]); err == nil {
			t.Errorf("planNodes(%d,%d) accepted", bad[0], bad[1])
		}
	}
}

func TestNames(t *testing.T) {
	n := namesFor("ci-lab")
	for _, s := range []string{n.bridge(), n.hostVeth(49)} {
		if len(s) > 15 {
			t.Errorf("interface name %q longer than 15 bytes", s)
		}
	}
	// A lab whose name extends another's must not claim its machines.
	if _, ok := namesFor("ci").nodeFromID("meshlab-ci-lab-cp1"); ok {
		t.Error(`lab "ci" claimed a machine of lab "ci-lab"`)
	}
	if node, ok := n.nodeFromID(n.machineID("worker2")); !ok || node != "worker2" {
		t.Errorf("nodeFromID round trip = %q, %v", node, ok)
	}
}

func TestPickSubnet(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		name string
		used []netip.Prefix
		want string
	}{
		{"empty host", nil, "10.213.0.0/24"},
		{"first taken", []netip.Prefix{p("10.213.0.0/24")}, "10.213.1.0/24"},
		{"wide route covers the start", []netip.Prefix{p("10.213.0.0/23"), p("10.213.2.7/32")}, "10.213.3.0/24"},
		{"unrelated routes", []netip.Prefix{p("192.0.2.0/24"), p("127.0.0.0/8")}, "10.213.0.0/24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pickSubnet(tc.used)
			if err != nil || got.String() != tc.want {
				t.Errorf("pickSubnet = %v, %v; want %s", got, err, tc.want)
			}
		})
	}
	if _, err := pickSubnet([]netip.Prefix{p("10.0.0.0/8")}); err == nil {
		t.Error("pickSubnet found a subnet inside a route covering the whole pool")
	}
}

func TestParseMountInfo(t *testing.T) {
	in := "22 1 8:1 / / rw,relatime - ext4 /dev/vda rw\n" +
		"90 22 0:50 / /root/my\\040labs/x/rootfs rw - overlay overlay rw,lowerdir=/a\n" +
		"short line\n"
	got := parseMountInfo([]byte(in))
	want := []string{"/", "/root/my labs/x/rootfs"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseMountInfo = %q, want %q", got, want)
	}
}

func TestMirrorFromSources(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"one-line", "# comment\ndeb http://deb.debian.org/debian bookworm main\n", "http://deb.debian.org/debian"},
		{"one-line with options", "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n", "http://m.example/debian"},
		{"deb822", "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n", "http://deb.debian.org/debian"},
		{"deb822 skips other suites and deb-src", "Types: deb-src\nURIs: http://src/\nSuites: bookworm\n\nTypes: deb\nURIs: http://sec/\nSuites: bookworm-security\n\nTypes: deb\nURIs: http://main/\nSuites: bookworm\n", "http://main/"},
		{"none", "deb https://packages.example/apt cloud-sdk main\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mirrorFromSources(tc.text, "bookworm"); got != tc.want {
				t.Errorf("mirrorFromSources = %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzMirrorFromSources(f *testing.F) {
	f.Add("deb [a=b http://x bookworm main\nTypes: deb\nURIs:\nSuites: bookworm\n")
	f.Fuzz(func(t *testing.T, s string) { _ = mirrorFromSources(s, "bookworm") })
}

func FuzzParseMountInfo(f *testing.F) {
	f.Add("1 2 3 4 /a\\04 x\n")
	f.Fuzz(func(t *testing.T, s string) { _ = parseMountInfo([]byte(s)) })
}

func TestRootfsKeyStable(t *testing.T) {
	if a, b := rootfsKey(), rootfsKey(); a != b || !strings.HasPrefix(a, suite+"-") {
		t.Errorf("rootfsKey = %q, %q", a, b)
	}
}

func TestSpecGolden(t *testing.T) {
	n := namesFor("ci")
	s := buildSpec(machineSpec{
		Hostname:      "cp1",
		NetnsPath:     netnsPath(n.machineID("cp1")),
		CgroupsPath:   n.cgroupsPath("cp1"),
		ContainerdDir: "/labs/ci/locallab/machines/cp1/containerd",
		CapBounding:   0x000001fffeffffff, // this host: everything but CAP_SYS_RESOURCE
	})
	for _, c := range s.Process.Capabilities.Bounding {
		if c == "CAP_SYS_RESOURCE" {
			t.Error("granted a capability outside the bounding set")
		}
		if machineCapabilities[c] == "" {
			t.Errorf("granted %s, which machineCapabilities does not give a reason for", c)
		}
	}
	for _, c := range []string{"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_DAC_READ_SEARCH", "CAP_SYS_BOOT", "CAP_SYS_TIME"} {
		if slices.Contains(s.Process.Capabilities.Bounding, c) {
			t.Errorf("a machine holds %s", c)
		}
	}
	if d := s.Linux.Resources.Devices; len(d) == 0 || d[0].Allow || d[0].Type != "" {
		t.Errorf("the device cgroup does not start by denying everything: %+v", d)
	}
	for _, d := range s.Linux.Resources.Devices {
		if d.Allow && d.Type == "b" && d.Access != "m" {
			t.Errorf("a block device may be opened: %+v", d)
		}
	}
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sysrq-trigger") {
		t.Error("runc's default masked and read-only paths are missing")
	}
	b, err := marshalSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/config.json", b)
}

func TestHostsFileGolden(t *testing.T) {
	nodes, _ := planNodes(3, 1)
	for i := range nodes {
		nodes[i].Address = hostAddress(netip.MustParsePrefix("10.213.7.0/24"), 10+i).String()
	}
	st := &State{Name: "ci", Subnet: "10.213.7.0/24", PodCIDR: DefaultPodCIDR, ServiceCIDR: DefaultServiceCIDR, Nodes: nodes}
	b, err := renderHostsFile(st, "/labs/ci/locallab/ssh/id_ed25519", "/labs/ci/locallab/ssh/known_hosts")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/hosts.yaml", b)
	golden.Check(t, "testdata/etc-hosts", etcHosts(nodes))
}

func TestNetworkRulesGolden(t *testing.T) {
	n := namesFor("ci")
	var b strings.Builder
	b.WriteString("# host: iptables FORWARD rules, in chain order\n")
	for _, r := range forwardRules(n) {
		b.WriteString("-A FORWARD " + strings.Join(r, " ") + "\n")
	}
	b.WriteString("# host: iptables INPUT rules, in chain order\n")
	for _, r := range inputRules(n) {
		b.WriteString("-A INPUT " + strings.Join(r, " ") + "\n")
	}
	b.WriteString("# machine: ip rule\n")
	allowed := []netip.Prefix{netip.MustParsePrefix("10.213.7.0/24"), netip.MustParsePrefix(DefaultPodCIDR), netip.MustParsePrefix(DefaultServiceCIDR)}
	for _, r := range machineRules(allowed) {
		b.WriteString("ip rule add " + strings.Join(r, " ") + "\n")
	}
	golden.Check(t, "testdata/network-rules.txt", []byte(b.String()))
}
