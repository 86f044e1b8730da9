// Package vagrant holds the Vagrant lab (Vagrantfile, machines.rb, hosts.rb, known-hosts.sh)
// and its tests: the Vagrantfile validates with Debian's Vagrant for both providers, and the
// hosts file hosts.rb writes loads with meshlab's inventory.
package vagrant

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/provision/inventory"
)

func need(t *testing.T, bin, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(bin); err != nil {
		t.Skipf("needs %s (apt-get install -y %s)", bin, pkg)
	}
}

// copyLab copies the lab's files to a temporary folder, so tests leave no .vagrant state here.
func copyLab(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"Vagrantfile", "machines.rb", "hosts.rb", "known-hosts.sh"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// operatorKey makes a key pair file set for MESHLAB_KEY (content is not checked by anyone).
func operatorKey(t *testing.T) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(key, []byte("private\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key+".pub", []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITEST operator@test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return key
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestRubySyntax(t *testing.T) {
	need(t, "ruby", "ruby")
	for _, f := range []string{"Vagrantfile", "machines.rb", "hosts.rb"} {
		run(t, ".", nil, "ruby", "-c", f)
	}
	need(t, "sh", "dash")
	run(t, ".", nil, "sh", "-n", "known-hosts.sh")
}

// TestVagrantValidate runs `vagrant validate` with Debian's Vagrant: in full with the libvirt
// provider (tools/install-deps.sh installs vagrant-libvirt, which is only a Recommends of
// vagrant), and without provider settings, which is as far as Vagrant goes for VirtualBox when
// VirtualBox is not installed (Debian 12 does not ship it: Vagrant then refuses the provider
// before validating).
func TestVagrantValidate(t *testing.T) {
	need(t, "vagrant", "vagrant")
	dir := copyLab(t)
	env := []string{"VAGRANT_HOME=" + t.TempDir(), "MESHLAB_KEY=" + operatorKey(t), "VAGRANT_CHECKPOINT_DISABLE=1"}
	for _, c := range []struct {
		name string
		env  []string
		args []string
	}{
		{"libvirt", []string{"VAGRANT_DEFAULT_PROVIDER=libvirt"}, nil},
		{"virtualbox", []string{"VAGRANT_DEFAULT_PROVIDER=virtualbox"}, []string{"--ignore-provider"}},
	} {
		if c.name == "virtualbox" {
			if _, err := exec.LookPath("VBoxManage"); err == nil {
				c.args = nil // VirtualBox is here: validate its settings too
			}
		}
		out := run(t, dir, append(env, c.env...), "vagrant", append([]string{"validate"}, c.args...)...)
		if !strings.Contains(out, "validated successfully") {
			t.Errorf("%s: %s", c.name, out)
		}
	}
}

// TestHostsFileLoads writes the hosts file as `make hosts` does and loads it with meshlab's
// inventory: one control plane and the workers, on the Vagrantfile's addresses.
func TestHostsFileLoads(t *testing.T) {
	need(t, "ruby", "ruby")
	key := operatorKey(t)
	for _, workers := range []int{2, 3} {
		dir := copyLab(t)
		out := run(t, dir, []string{"MESHLAB_KEY=" + key, "MESHLAB_WORKERS=" + string(rune('0'+workers))}, "ruby", "hosts.rb")
		path := filepath.Join(dir, "hosts.yaml")
		if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		lab, err := inventory.Load(path)
		if err != nil {
			t.Fatalf("hosts file from hosts.rb does not load:\n%v\n%s", err, out)
		}
		if len(lab.Hosts) != 1+workers || len(lab.ControlPlanes()) != 1 || len(lab.Workers()) != workers {
			t.Fatalf("%d workers: hosts %+v", workers, lab.Hosts)
		}
		cp := lab.Hosts[0]
		if cp.Name != "cp1" || cp.Address != "192.168.56.10" || cp.User != "vagrant" || cp.KeyPath != key || cp.UseAgent ||
			cp.Port != 22 || lab.SSH.KnownHosts != filepath.Join(dir, "known_hosts") || lab.Name != "vagrant" {
			t.Errorf("control plane %+v, known_hosts %q", cp, lab.SSH.KnownHosts)
		}
		if w := lab.Hosts[workers]; w.Address != "192.168.56."+string(rune('0'+1))+string(rune('0'+workers)) {
			t.Errorf("last worker %+v", w)
		}
	}
}

// TestEveryVMGetsItsOwnNATMAC: a box built with a fixed base MAC would give every VM's NAT
// interface the same MAC; base_mac = nil lets VirtualBox pick one per VM (vagrant validate above
// proves the setting is one Vagrant knows).
func TestEveryVMGetsItsOwnNATMAC(t *testing.T) {
	b, err := os.ReadFile("Vagrantfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\n  config.vm.base_mac = nil\n") {
		t.Error("the Vagrantfile does not set config.vm.base_mac = nil")
	}
}
