package inventory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// problemsOf parses src and returns its problems; a file without problems fails the test.
func problemsOf(t *testing.T, src string) []Problem {
	t.Helper()
	lab, err := Parse([]byte(src), "t.yaml")
	if err == nil {
		t.Fatalf("no problems reported; lab = %+v", lab)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error is %T, not *ValidationError: %v", err, err)
	}
	return ve.Problems
}

// want is one expected problem: its position, field and a piece of its message.
type want struct {
	line, col int
	field     string
	msg       string
}

func TestEachMistakeIsReportedWithItsPosition(t *testing.T) {
	const cp = "  - root@10.0.0.1 control-plane\n"
	tests := []struct {
		name string
		src  string
		want []want
	}{
		{"yaml syntax", "hosts:\n  - a\n b: c\n", []want{{2, 0, "", "YAML syntax"}}},
		{"tab indentation", "hosts:\n\t- root@10.0.0.1\n", []want{{2, 0, "", "YAML syntax"}}},
		{"empty file", "# nothing\n", []want{{0, 0, "", "empty"}}},
		{"two documents", "hosts: [root@10.0.0.1]\n---\nhosts: []\n", []want{{2, 1, "", "more than one YAML document"}}},
		{"wrong apiVersion", "apiVersion: v1\nhosts:\n" + cp, []want{{1, 13, "apiVersion", `meshlab reads "meshlab.dev/v1alpha1"`}}},
		{"wrong kind", "kind: Cluster\nhosts:\n" + cp, []want{{1, 7, "kind", `is "Cluster"`}}},
		{"unknown top field", "hots:\n" + cp, []want{{1, 1, "hots", "did you mean hosts?"}, {1, 1, "hosts", "no hosts"}}},
		{"unknown host field", "hosts:\n  - address: 10.0.0.1\n    prot: 22\n", []want{{3, 5, "hosts[0].prot", "did you mean port?"}}},
		{"k0sctl nesting", "hosts:\n  - role: control-plane\n    ssh: {address: 10.0.0.1}\n",
			[]want{{3, 5, "hosts[0].ssh", "directly on the host"}}},
		{"other installer's field", "hosts:\n  - ip: 10.0.0.1\n", []want{{2, 5, "hosts[0].ip", "did you mean address?"}}},
		{"duplicate key", "hosts:\n  - address: 10.0.0.1\n    address: 10.0.0.2\n", []want{{3, 5, "hosts[0].address", "set twice (first at line 2)"}}},
		{"empty hosts", "hosts: []\n", []want{{1, 1, "hosts", "no hosts are listed"}}},
		{"hosts not a list", "hosts: root@10.0.0.1\n", []want{{1, 8, "hosts", "must be a list"}, {1, 1, "hosts", "no hosts"}}},
		{"no control plane", "hosts:\n  - root@10.0.0.1 worker\n  - root@10.0.0.2\n", []want{{1, 1, "hosts", "no host has the role control-plane"}}},
		{"bad role", "hosts:\n  - address: 10.0.0.1\n    role: master\n", []want{{3, 11, "hosts[0].role", "meshlab calls it control-plane"}}},
		{"role list", "hosts:\n  - address: 10.0.0.1\n    role: [control-plane]\n", []want{{3, 11, "hosts[0].role", "one role"}}},
		{"duplicate address", "hosts:\n" + cp + "  - address: 10.0.0.1\n    port: 22\n",
			[]want{{3, 14, "hosts[1].address", "already the host on line 2"}}},
		{"same address other port is fine, same name is not", "hosts:\n" + cp + "  - {name: 10.0.0.1, address: 10.0.0.1, port: 2222}\n",
			[]want{{3, 12, "hosts[1].name", "already the name of the host on line 2"}}},
		{"duplicate name", "hosts:\n  - {name: a, address: 10.0.0.1, role: control-plane}\n  - {name: a, address: 10.0.0.2}\n",
			[]want{{3, 12, "hosts[1].name", "already the name of the host on line 2"}}},
		{"port zero", "hosts:\n  - {address: 10.0.0.1, port: 0}\n", []want{{2, 31, "hosts[0].port", "not a TCP port"}}},
		{"port too big", "ssh:\n  port: 65536\nhosts:\n" + cp, []want{{2, 9, "ssh.port", "not a TCP port"}}},
		{"port not a number", "hosts:\n  - {address: 10.0.0.1, port: ssh}\n", []want{{2, 31, "hosts[0].port", "not a whole number"}}},
		{"short form bad port", "hosts:\n  - root@10.0.0.1:99999\n", []want{{2, 5, "hosts[0].port", "not a port number"}}},
		{"short form too many words", "hosts:\n  - root@10.0.0.1 control-plane extra\n", []want{{2, 5, "hosts[0]", "is not user@address"}}},
		{"bad IPv4", "hosts:\n  - root@10.0.0.256\n", []want{{2, 5, "hosts[0].address", "not an IP address or host name"}}},
		{"user in address", "hosts:\n  - address: root@10.0.0.1\n", []want{{2, 14, "hosts[0].address", "put the user in user:"}}},
		{"port in address", "hosts:\n  - address: host.example:22\n", []want{{2, 14, "hosts[0].address", "put the port in port:"}}},
		{"missing address", "hosts:\n  - name: a\n", []want{{2, 5, "hosts[0].address", "is missing"}}},
		{"inline password", "hosts:\n  - address: 10.0.0.1\n    password: hunter2\n", []want{{3, 15, "hosts[0].password", "must not hold the secret itself"}}},
		{"inline sudo password value", "ssh:\n  sudoPassword: {value: x}\nhosts:\n" + cp, []want{{2, 18, "ssh.sudoPassword.value", "must not hold the secret"}}},
		{"secret with both sources", "ssh:\n  sudoPassword: {env: A, file: /x}\nhosts:\n" + cp, []want{{2, 17, "ssh.sudoPassword", "both env and file"}}},
		{"bad env name", "ssh:\n  sudoPassword: {env: 1X}\nhosts:\n" + cp, []want{{2, 23, "ssh.sudoPassword.env", "not an environment variable name"}}},
		{"missing secret file", "ssh:\n  sudoPassword: {file: /nonexistent/meshlab/pw}\nhosts:\n" + cp,
			[]want{{2, 24, "ssh.sudoPassword.file", "no such file"}}},
		{"missing key file", "hosts:\n  - address: 10.0.0.1\n    keyPath: /nonexistent/meshlab/key\n",
			[]want{{3, 14, "hosts[0].keyPath", "does not exist"}}},
		{"bad pod CIDR", "network:\n  podCIDR: 10.244.0.0/33\nhosts:\n" + cp, []want{{2, 12, "network.podCIDR", "not a CIDR range"}}},
		{"CIDR with host bits", "network:\n  serviceCIDR: 10.96.0.1/12\nhosts:\n" + cp, []want{{2, 16, "network.serviceCIDR", "did you mean 10.96.0.0/12?"}}},
		{"overlapping CIDRs", "network:\n  podCIDR: 10.0.0.0/8\n  serviceCIDR: 10.96.0.0/12\nhosts:\n  - root@192.168.1.1\n",
			[]want{{3, 16, "network.serviceCIDR", "overlaps network.podCIDR"}}},
		{"service CIDR too large", "network:\n  serviceCIDR: 172.0.0.0/11\nhosts:\n" + cp, []want{{2, 16, "network.serviceCIDR", "too large"}}},
		{"pod CIDR too small", "network:\n  podCIDR: 10.244.0.0/24\nhosts:\n" + cp, []want{{2, 12, "network.podCIDR", "too small"}}},
		{"mixed families", "network:\n  serviceCIDR: fd00::/112\nhosts:\n" + cp, []want{{2, 16, "network.serviceCIDR", "same IP family"}}},
		{"host inside pod CIDR", "hosts:\n  - root@10.244.3.4\n", []want{{2, 5, "hosts[0].address", "inside network.podCIDR"}}},
		{"malformed version", "versions:\n  kubernetes:\n    version: 1.34\nhosts:\n" + cp,
			[]want{{3, 14, "versions.kubernetes.version", "not a Kubernetes version"}}},
		{"inconsistent package", "versions:\n  kubernetes: {version: v1.33.1, package: 1.34.2-1.1}\nhosts:\n" + cp,
			[]want{{2, 43, "versions.kubernetes.package", "does not match"}}},
		{"unknown versions field", "versions:\n  kubernets: {version: v1.34.2}\nhosts:\n" + cp, []want{{2, 3, "versions.kubernets", "did you mean kubernetes?"}}},
		{"latest image", "versions:\n  addons: {grafana: grafana/grafana:latest}\nhosts:\n" + cp, []want{{2, 21, "versions.addons.grafana", "latest"}}},
		{"bad label key", "hosts:\n  - address: 10.0.0.1\n    labels: {\"a b\": x}\n", []want{{3, 14, "hosts[0].labels.a b", "not a valid label name"}}},
		{"bad label prefix", "hosts:\n  - address: 10.0.0.1\n    labels: {Example.COM/x: y}\n", []want{{3, 14, "hosts[0].labels.Example.COM/x", "not a DNS subdomain"}}},
		{"bad label value", "hosts:\n  - address: 10.0.0.1\n    labels: {tier: \"a b\"}\n", []want{{3, 20, "hosts[0].labels.tier", "not a valid label value"}}},
		{"bad bastion", "hosts:\n  - address: 10.0.0.1\n    bastion: {address: 'jump:22', port: 0}\n",
			[]want{{3, 24, "hosts[0].bastion.address", "put the port in port:"}, {3, 41, "hosts[0].bastion.port", "not a TCP port"}}},
		{"bastion short form", "ssh:\n  bastion: \"@jump\"\nhosts:\n" + cp, []want{{2, 12, "ssh.bastion", "user before @ is empty"}}},
		{"bad sudo mode", "ssh:\n  sudo: always\nhosts:\n" + cp, []want{{2, 9, "ssh.sudo", "not a sudo mode"}}},
		{"bad bool", "ssh:\n  agent: maybe\nhosts:\n" + cp, []want{{2, 10, "ssh.agent", "not true or false"}}},
		{"bad user", "hosts:\n  - address: 10.0.0.1\n    user: \"a b\"\n", []want{{3, 11, "hosts[0].user", "not a user name"}}},
		{"bad lab name", "name: My_Lab\nhosts:\n" + cp, []want{{1, 7, "name", "not a valid lab name"}}},
		{"unknown addon", "components:\n  addons: [zipkn]\nhosts:\n" + cp, []want{{2, 12, "components.addons[0]", "did you mean zipkin?"}}},
		{"zipkin and jaeger", "components:\n  addons: [zipkin, jaeger]\nhosts:\n" + cp, []want{{2, 11, "components.addons", "both serve"}}},
		{"nodeport out of range", "components:\n  nodePorts: {grafana: 3000}\nhosts:\n" + cp, []want{{2, 24, "components.nodePorts.grafana", "outside the NodePort range"}}},
		{"nodeport clash", "components:\n  nodePorts: {grafana: 30001}\nhosts:\n" + cp, []want{{2, 24, "components.nodePorts.grafana", "already the NodePort of"}}},
		{"unknown nodeport", "components:\n  nodePorts: {kiali: 30005}\nhosts:\n" + cp, []want{{2, 15, "components.nodePorts.kiali", "unknown component"}}},
		{"addon service type", "components:\n  addonService: LoadBalancer\nhosts:\n" + cp, []want{{2, 17, "components.addonService", "not a Service type"}}},
		{"alias loop", "a: &a [*a]\nhosts:\n" + cp, []want{{1, 1, "a", "unknown field"}}},
		{"internal address that is a name", "hosts:\n  - {address: 10.0.0.1, internalAddress: cp1.lab, role: control-plane}\n",
			[]want{{2, 42, "hosts[0].internalAddress", "not an IP address"}}},
		{"internal address on loopback", "hosts:\n  - {address: 10.0.0.1, internalAddress: 127.0.0.1, role: control-plane}\n",
			[]want{{2, 42, "hosts[0].internalAddress", "cannot be a node's address"}}},
		{"internal address twice", "hosts:\n  - {address: 127.0.0.1, port: 2201, internalAddress: 10.0.1.5, role: control-plane}\n" +
			"  - {address: 127.0.0.1, port: 2202, internalAddress: 10.0.1.5}\n",
			[]want{{3, 55, "hosts[1].internalAddress", "already the internal address of the host on line 2"}}},
		{"internal address in the pod CIDR", "hosts:\n  - {address: 10.0.0.1, internalAddress: 10.244.0.9, role: control-plane}\n",
			[]want{{2, 42, "hosts[0].internalAddress", "inside network.podCIDR"}}},
		{"sudoPassword with sudo none", "hosts:\n  - {address: 10.0.0.1, sudo: none, sudoPassword: {env: X}}\n",
			[]want{{2, 51, "hosts[0].sudoPassword", "never uses it"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, tt.src)
			if len(got) != len(tt.want) {
				t.Fatalf("want %d problems, got %d:\n%s", len(tt.want), len(got), (&ValidationError{got}).Error())
			}
			for _, w := range tt.want {
				if !hasProblem(got, w) {
					t.Errorf("missing %d:%d %s: ...%s...\ngot:\n%s", w.line, w.col, w.field, w.msg, (&ValidationError{got}).Error())
				}
			}
			for _, p := range got {
				if p.File != "t.yaml" || (p.Line > 0 && p.Hint == "") {
					t.Errorf("problem without file or hint: %v", p)
				}
			}
		})
	}
}

func hasProblem(ps []Problem, w want) bool {
	for _, p := range ps {
		if p.Line == w.line && p.Column == w.col && p.Field == w.field && strings.Contains(p.Error(), w.msg) {
			return true
		}
	}
	return false
}

// TestAllProblemsAtOnce proves the parser keeps going after the first problem.
func TestAllProblemsAtOnce(t *testing.T) {
	src := "hosts:\n"
	for i := 0; i < 12; i++ {
		src += fmt.Sprintf("  - {address: 10.0.0.%d, port: %d, role: worker}\n", i+1, 70000+i)
	}
	got := problemsOf(t, src)
	if len(got) != 13 { // 12 bad ports + no control plane
		t.Fatalf("want 13 problems, got %d:\n%s", len(got), (&ValidationError{got}).Error())
	}
	if got[0].Line != 1 || !strings.Contains(got[0].Message, "no host has the role control-plane") {
		t.Errorf("first problem: %v", got[0])
	}
	for i := 1; i <= 12; i++ {
		if got[i].Line != i+1 || got[i].Field != fmt.Sprintf("hosts[%d].port", i-1) {
			t.Errorf("problem %d: %v, want line %d", i, got[i], i+1)
		}
	}
}

func TestKeyFileChecks(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "id_ed25519")
	pub := priv + ".pub"
	must(t, os.WriteFile(priv, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 0o600))
	must(t, os.WriteFile(pub, []byte("ssh-ed25519 AAAA test\n"), 0o644))
	hostsFile := filepath.Join(dir, "hosts.yaml")
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600)) // reading it would block forever

	// A relative keyPath is taken relative to the hosts file and must then exist.
	lab, err := Parse([]byte("hosts:\n  - {address: 10.0.0.1, keyPath: id_ed25519}\n"), hostsFile)
	if err != nil {
		t.Fatalf("relative key path: %v", err)
	}
	if lab.Hosts[0].KeyPath != priv {
		t.Errorf("KeyPath = %q, want %q", lab.Hosts[0].KeyPath, priv)
	}

	for _, tc := range []struct{ keyPath, msg string }{
		{"id_ed25519.pub", "is a public key"},
		{".", "is a folder"},
		{"missing", "does not exist"},
		{"fifo", "not a regular file"},
	} {
		_, err := Parse([]byte("hosts:\n  - {address: 10.0.0.1, keyPath: "+tc.keyPath+"}\n"), hostsFile)
		if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), hostsFile+":2:") {
			t.Errorf("keyPath %s: want %q at line 2, got %v", tc.keyPath, tc.msg, err)
		}
	}
	if os.Geteuid() != 0 { // root reads every file, so unreadable keys can only be shown as a user
		must(t, os.Chmod(priv, 0))
		_, err := Parse([]byte("hosts:\n  - {address: 10.0.0.1, keyPath: id_ed25519}\n"), hostsFile)
		if err == nil || !strings.Contains(err.Error(), "cannot be read") {
			t.Errorf("unreadable key: got %v", err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
