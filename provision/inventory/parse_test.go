package inventory

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *Lab {
	t.Helper()
	lab, err := Parse([]byte(src), "/labs/demo.yaml")
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return lab
}

func TestShortForm(t *testing.T) {
	tests := []struct {
		line string
		want Host
	}{
		{"root@192.168.56.10 control-plane", Host{Name: "192.168.56.10", Address: "192.168.56.10", Port: 22, User: "root", Role: RoleControlPlane}},
		{"ubuntu@10.0.0.5:2222 worker", Host{Name: "10.0.0.5-2222", Address: "10.0.0.5", Port: 2222, User: "ubuntu", Role: RoleWorker}},
		{"node3.example.org", Host{Name: "node3.example.org", Address: "node3.example.org", Port: 22, User: "root", Role: RoleWorker}},
		{"admin@[fd00::5]:2200 worker", Host{Name: "fd00::5-2200", Address: "fd00::5", Port: 2200, User: "admin", Role: RoleWorker}},
		{"admin@fd00::6 worker", Host{Name: "fd00::6", Address: "fd00::6", Port: 22, User: "admin", Role: RoleWorker}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			lab := mustParse(t, "hosts:\n  - root@192.168.1.1 control-plane\n  - "+tt.line+"\n")
			h := lab.Hosts[1]
			tt.want.Sudo, tt.want.UseAgent, tt.want.Line = SudoAuto, true, 3
			if tt.line == "root@192.168.56.10 control-plane" {
				tt.want.Role = RoleControlPlane
			}
			if !reflect.DeepEqual(h, tt.want) {
				t.Errorf("got  %+v\nwant %+v", h, tt.want)
			}
		})
	}
}

func TestRolesWhenNoneGiven(t *testing.T) {
	lab := mustParse(t, "- root@10.0.0.1\n- root@10.0.0.2\n- root@10.0.0.3\n") // a bare list is the hosts list
	if got := []Role{lab.Hosts[0].Role, lab.Hosts[1].Role, lab.Hosts[2].Role}; !reflect.DeepEqual(got, []Role{RoleControlPlane, RoleWorker, RoleWorker}) {
		t.Errorf("roles = %v", got)
	}
	if len(lab.ControlPlanes()) != 1 || len(lab.Workers()) != 2 {
		t.Errorf("ControlPlanes/Workers = %v/%v", lab.ControlPlanes(), lab.Workers())
	}
	// Once one host names a role, the others are workers, never a surprise control plane.
	lab = mustParse(t, "hosts:\n  - root@10.0.0.1\n  - root@10.0.0.2 control-plane\n")
	if lab.Hosts[0].Role != RoleWorker || lab.Hosts[1].Role != RoleControlPlane {
		t.Errorf("roles = %v, %v", lab.Hosts[0].Role, lab.Hosts[1].Role)
	}
}

func TestDefaults(t *testing.T) {
	lab := mustParse(t, "hosts: [root@10.0.0.1]\n")
	if lab.Name != "demo" || lab.Source != "/labs/demo.yaml" {
		t.Errorf("name %q source %q", lab.Name, lab.Source)
	}
	if lab.Network.PodCIDR != DefaultPodCIDR || lab.Network.ServiceCIDR != DefaultServiceCIDR ||
		lab.Network.PodPrefix.String() != DefaultPodCIDR || lab.Network.ServicePrefix.String() != DefaultServiceCIDR ||
		!lab.Network.PodMasquerade {
		t.Errorf("network = %+v", lab.Network)
	}
	c := lab.Components
	if !c.Mesh || !c.Bookinfo || !reflect.DeepEqual(c.Addons, DefaultAddons()) || !reflect.DeepEqual(c.NodePorts, DefaultNodePorts()) {
		t.Errorf("components = %+v", c)
	}
	if c.NodePorts["zipkin"] != 30001 || c.NodePorts["grafana"] != 30002 || c.NodePorts["prometheus"] != 30003 || c.NodePorts["gateway"] != 30080 {
		t.Errorf("node ports = %v", c.NodePorts)
	}
	h := lab.Hosts[0]
	if h.Port != 22 || h.User != "root" || h.Sudo != SudoAuto || !h.UseAgent || h.KeyPath != "" || h.Password.IsSet() {
		t.Errorf("host = %+v", h)
	}
	if h.String() != "10.0.0.1" {
		t.Errorf("String() = %q", h.String())
	}
}

func TestSSHDefaultsAreInherited(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "lab_key")
	must(t, os.WriteFile(key, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 0o600))
	src := `
ssh:
  user: vagrant
  port: 2222
  keyPath: lab_key
  agent: false
  sudo: sudo
  sudoPassword: {env: LAB_SUDO}
  bastion: jump@127.0.0.1:2200
hosts:
  - address: 10.0.0.1
    role: control-plane
  - address: 10.0.0.2
    user: ubuntu
    port: 22
    sudo: none
    agent: yes
    bastion: {address: 127.0.0.2}
    labels: {tier: edge, example.com/rack: r1}
`
	lab, err := Parse([]byte(src), filepath.Join(dir, "hosts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := lab.Hosts[0], lab.Hosts[1]
	wantA := Host{Name: "10.0.0.1-2222", Address: "10.0.0.1", Port: 2222, User: "vagrant", KeyPath: key, Sudo: SudoAlways,
		SudoPassword: SecretRef{Env: "LAB_SUDO"}, Bastion: &Bastion{Address: "127.0.0.1", Port: 2200, User: "jump", KeyPath: key},
		Role: RoleControlPlane, Line: 11}
	if !reflect.DeepEqual(a, wantA) {
		t.Errorf("host 0:\ngot  %+v\nwant %+v", a, wantA)
	}
	wantB := Host{Name: "10.0.0.2", Address: "10.0.0.2", Port: 22, User: "ubuntu", KeyPath: key, UseAgent: true, Sudo: SudoNone,
		SudoPassword: SecretRef{Env: "LAB_SUDO"}, Bastion: &Bastion{Address: "127.0.0.2", Port: 22, User: "vagrant", KeyPath: key},
		Role: RoleWorker, Labels: map[string]string{"tier": "edge", "example.com/rack": "r1"}, Line: 13}
	if !reflect.DeepEqual(b, wantB) {
		t.Errorf("host 1:\ngot  %+v\nwant %+v", b, wantB)
	}
	if a.Bastion == lab.SSH.Bastion {
		t.Error("hosts share the lab's Bastion pointer; a change to one would change all")
	}
}

func TestSecretFilesAreRelativeToTheHostsFile(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "sudo-pw"), []byte("pw\n"), 0o600))
	src := "ssh:\n  sudoPassword: {file: sudo-pw}\nhosts:\n  - root@10.0.0.1\n  - {address: 10.0.0.2, password: {file: sudo-pw}}\n"
	lab, err := Parse([]byte(src), filepath.Join(dir, "hosts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "sudo-pw")
	if lab.SSH.SudoPassword.File != want || lab.Hosts[0].SudoPassword.File != want || lab.Hosts[1].Password.File != want {
		t.Errorf("secret files not resolved against %s: %+v %+v", dir, lab.SSH, lab.Hosts)
	}
}

func TestMergeKeysAndAnchors(t *testing.T) {
	lab := mustParse(t, `
x-common: &common {user: ubuntu, port: 2022}
hosts:
  - {<<: *common, address: 10.0.0.1, role: control-plane}
  - {<<: *common, address: 10.0.0.2, port: 22}
`[1:])
	if lab.Hosts[0].User != "ubuntu" || lab.Hosts[0].Port != 2022 || lab.Hosts[1].Port != 22 {
		t.Errorf("hosts = %+v", lab.Hosts)
	}
}

func TestVersionsOverride(t *testing.T) {
	lab := mustParse(t, "versions:\n  kubernetes: {version: v1.33.5}\n  bookinfo: {tag: 1.20.2}\nhosts: [root@10.0.0.1]\n")
	k := lab.Versions.Kubernetes
	if k.Version != "v1.33.5" || k.Package != "1.33.5-1.1" || k.Repo != "v1.33" {
		t.Errorf("kubernetes = %+v, want package and repo derived from the version", k)
	}
	if lab.Versions.Bookinfo.Tag != "1.20.2" || lab.Versions.Bookinfo.Registry != "docker.io/istio" {
		t.Errorf("bookinfo = %+v, want only the tag overridden", lab.Versions.Bookinfo)
	}
	if lab.Versions.Images.Pause != "registry.k8s.io/pause:3.10.1" {
		t.Errorf("untouched fields changed: %+v", lab.Versions.Images)
	}
}

func TestComponentsOverride(t *testing.T) {
	lab := mustParse(t, "components:\n  mesh: false\n  addons: []\n  nodePorts: {gateway: 31080}\nhosts: [root@10.0.0.1]\n")
	c := lab.Components
	if c.Mesh || !c.Bookinfo || len(c.Addons) != 0 || c.NodePorts["gateway"] != 31080 || c.NodePorts["zipkin"] != 30001 {
		t.Errorf("components = %+v", c)
	}
}

func TestSecretResolve(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	must(t, os.WriteFile(file, []byte("s3cret\n"), 0o600))
	t.Setenv("MESHLAB_TEST_PW", "from-env")
	for _, tc := range []struct {
		ref  SecretRef
		want string
	}{{SecretRef{Env: "MESHLAB_TEST_PW"}, "from-env"}, {SecretRef{File: file}, "s3cret"}} {
		got, err := tc.ref.Resolve()
		if err != nil || got != tc.want {
			t.Errorf("%v.Resolve() = %q, %v", tc.ref, got, err)
		}
	}
	for _, ref := range []SecretRef{{}, {Env: "MESHLAB_TEST_UNSET_VARIABLE"}, {File: filepath.Join(dir, "missing")}} {
		if _, err := ref.Resolve(); err == nil {
			t.Errorf("%v.Resolve() succeeded", ref)
		}
	}
	must(t, os.WriteFile(file, []byte("s3cret\n"), 0o600))
	_, err := SecretRef{Env: "MESHLAB_TEST_PW_EMPTY"}.Resolve()
	if err == nil {
		t.Error("unset variable resolved")
	}
	// A secret's value never shows in its description.
	if s := (SecretRef{File: file}).String(); s != "file "+file {
		t.Errorf("String() = %q", s)
	}
}

func TestParseWithoutFileName(t *testing.T) {
	lab, err := Parse([]byte("hosts: [root@10.0.0.1]\n"), "")
	if err != nil || lab.Name != DefaultLabName {
		t.Errorf("Parse without a name: %v, %+v", err, lab)
	}
	_, err = Parse([]byte("hosts: []\n"), "")
	if err == nil || !strings.HasPrefix(err.Error(), "<hosts>:1:1: ") {
		t.Errorf("problem position without a file name: %v", err)
	}
}

func TestProblemFormat(t *testing.T) {
	p := Problem{File: "h.yaml", Line: 3, Column: 7, Field: "hosts[0].port", Message: "0 is not a TCP port", Hint: "use 22"}
	if got := p.Error(); got != "h.yaml:3:7: hosts[0].port: 0 is not a TCP port (use 22)" {
		t.Errorf("Error() = %q", got)
	}
	p = Problem{File: "h.yaml", Line: 2, Message: "YAML syntax: x"}
	if got := p.Error(); got != "h.yaml:2: YAML syntax: x" {
		t.Errorf("Error() = %q", got)
	}
}

// TestPodMasquerade: on unless the file turns it off (a local lab's does); not a bool is an error.
func TestPodMasquerade(t *testing.T) {
	if lab := mustParse(t, "network: {podMasquerade: false}\nhosts: [root@10.0.0.1]\n"); lab.Network.PodMasquerade {
		t.Error("podMasquerade: false was not kept")
	}
	if _, err := Parse([]byte("network: {podMasquerade: maybe}\nhosts: [root@10.0.0.1]\n"), "/labs/demo.yaml"); err == nil ||
		!strings.Contains(err.Error(), "network.podMasquerade") {
		t.Errorf("podMasquerade: maybe: %v", err)
	}
}
