package phases

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/playbooks"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/playbook"
	"github.com/meshlab/meshlab/provision/versions"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func testLab() *inventory.Lab {
	return &inventory.Lab{Name: "demo", Versions: versions.Default(),
		Network: inventory.Network{PodCIDR: "10.244.0.0/16", ServiceCIDR: "10.96.0.0/12"},
		Hosts: []inventory.Host{
			{Name: "cp1", Address: "10.77.0.2", Port: 22, User: "root", Role: inventory.RoleControlPlane},
			{Name: "worker1", Address: "10.77.0.3", Port: 22, User: "root", Role: inventory.RoleWorker},
		}}
}

func testPlan(offline bool) *plan {
	p := &plan{Options: Options{Lab: testLab(), Kubeconfig: "/nonexistent/kubeconfig"}, initHost: testLab().Hosts[0]}
	if offline {
		p.manifest = &bundle.Manifest{Schema: bundle.Schema, Images: map[string]string{
			"registry.k8s.io/pause:3.10.1":            "images/registry.k8s.io_pause_3.10.1.tar",
			"registry.k8s.io/etcd:3.6.5-0":            "images/registry.k8s.io_etcd_3.6.5-0.tar",
			"registry.k8s.io/coredns/coredns:v1.12.1": "images/registry.k8s.io_coredns_coredns_v1.12.1.tar",
		}}
	}
	return p
}

// renderAll renders every task of the kubernetes playbook (up and reset) for every host of the
// test lab, as the engine would, and returns one document plus the scripts by file name.
func renderAll(t *testing.T, p *plan, conflicts map[string][]string) (string, map[string]string) {
	t.Helper()
	pb, err := playbook.Load(playbooks.FS, Playbook)
	if err != nil {
		t.Fatal(err)
	}
	vars := p.vars().Map()
	vars["conflicts"] = conflicts
	var doc strings.Builder
	scripts := map[string]string{}
	for _, ih := range p.Lab.Hosts {
		h := &engine.Host{Name: ih.Name, Address: ih.Address, Port: ih.Port, User: ih.User, Role: string(ih.Role)}
		d := playbook.Data{Lab: p.Lab, Host: h, Versions: p.Lab.Versions, Vars: vars}
		for _, ph := range append(append([]playbook.Phase{}, pb.Phases...), pb.Reset...) {
			if !playbook.AppliesTo(ph.Roles, h.Role) {
				continue
			}
			for _, task := range ph.Tasks {
				if !playbook.AppliesTo(task.Roles, h.Role) {
					continue
				}
				r, err := pb.Render(ph.Name, task, d)
				if err != nil {
					t.Fatalf("render: %v", err)
				}
				if r.Skip {
					fmt.Fprintf(&doc, "### %s › %s › %s: skipped (when)\n\n", h.Name, ph.Name, task.Name)
					continue
				}
				fmt.Fprintf(&doc, "### %s › %s › %s (become=%t)\n", h.Name, ph.Name, task.Name, r.Become)
				if r.Check != "" {
					fmt.Fprintf(&doc, "# guard:\n%s\n", strings.TrimRight(r.Check, "\n"))
				}
				fmt.Fprintf(&doc, "# run:\n%s\n\n", strings.TrimRight(r.Script, "\n"))
				base := strings.NewReplacer(" ", "_", "/", "_", ",", "").Replace(h.Name + "-" + ph.Name + "-" + task.Name)
				scripts[base+"-run.sh"] = r.Script
				if r.Check != "" {
					scripts[base+"-guard.sh"] = r.Check
				}
			}
		}
	}
	return doc.String(), scripts
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the render (go test ./cluster/phases -run %s -update refreshes it)", p, t.Name())
	}
}

// TestPlaybookRenders: the online render (Ubuntu 22.04/24.04 and Debian 12 hosts; the OS is
// picked on the host) carries every pinned version string, the offline render installs from
// the bundle only, and both match their golden files.
func TestPlaybookRenders(t *testing.T) {
	s := versions.Default()
	cases := []struct {
		name    string
		offline bool
		want    []string
		notWant []string
	}{
		{"kubernetes-online.golden", false, []string{
			(s.Docker.ForUbuntu("22.04", "jammy")).Engine, (s.Docker.ForUbuntu("22.04", "jammy")).Containerd,
			(s.Docker.ForUbuntu("24.04", "noble")).Engine, (s.Docker.ForUbuntu("24.04", "noble")).CLI,
			"kubeadm=" + s.Kubernetes.Package, "core:/stable:/" + s.Kubernetes.Repo + "/deb/",
			"apt-mark hold kubelet kubeadm kubectl", "/etc/apt/keyrings/docker.asc", "docker.io=" + s.DebianRuntime.DockerIO,
			`sandbox_image = "` + s.Images.Pause + `"`, "SystemdCgroup = true", "kubeadm init --config " + RemoteInitConfig,
			// A first-boot apt run's lock is waited for; containerd's replaced config.toml stays
			// without a dpkg prompt; nothing unpinned comes along.
			"apt-get -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold",
			"apt_get install -y --no-install-recommends --allow-downgrades $pkgs",
			// Keys are downloaded, checked, then installed or dearmored.
			`curl -fsSL --retry 3 https://pkgs.k8s.io/core:/stable:/` + s.Kubernetes.Repo + `/deb/Release.key -o "$key"`,
			`gpg --dearmor --yes -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg "$key"`,
		}, []string{RemoteBundleDir, "| gpg", "|\n            gpg", "apt-get install", "apt-get update"}},
		{"kubernetes-offline.golden", true, []string{
			"dpkg -i --force-confdef --force-confold " + RemoteBundleDir + "/debs/*.deb", "ctr -n k8s.io images import --all-platforms",
			"apt-get -q -o DPkg::Lock::Timeout=600 check",
			"registry.k8s.io/etcd:3.6.5-0", "10-kubeadm.conf",
		}, []string{"download.docker.com", "https://pkgs.k8s.io"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc, _ := renderAll(t, testPlan(c.offline), map[string][]string{})
			golden(t, c.name, doc)
			for _, w := range c.want {
				if !strings.Contains(doc, w) {
					t.Errorf("render lacks %q", w)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(doc, w) {
					t.Errorf("render must not contain %q", w)
				}
			}
		})
	}
}

// TestImagePrePullOnlyOnTheInitHost: the control plane's images are pulled where kubeadm init
// runs, not on every worker.
func TestImagePrePullOnlyOnTheInitHost(t *testing.T) {
	_, scripts := renderAll(t, testPlan(false), map[string][]string{})
	var on []string
	for name, src := range scripts {
		if strings.Contains(src, "kubeadm config images pull") {
			on = append(on, name)
		}
	}
	if len(on) != 1 || !strings.HasPrefix(on[0], "cp1") {
		t.Errorf("images pre-pulled by %v, want by cp1 only", on)
	}
}

func TestPreflightCarriesCrossHostConflicts(t *testing.T) {
	doc, _ := renderAll(t, testPlan(false), map[string][]string{"worker1": {"MAC address 02:00:00:00:00:01 is also used by cp1"}})
	if !strings.Contains(doc, "problem 'MAC address 02:00:00:00:00:01 is also used by cp1'") {
		t.Error("the worker's preflight does not report its conflict")
	}
}

// TestRenderedScriptsPassShellcheck runs `shellcheck -s sh` on every rendered script and guard,
// online and offline, for both roles.
func TestRenderedScriptsPassShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck is not installed (apt-get install shellcheck)")
	}
	dir := t.TempDir()
	var files []string
	for _, offline := range []bool{false, true} {
		_, scripts := renderAll(t, testPlan(offline), map[string][]string{"cp1": {"it's a clash"}})
		for name, src := range scripts {
			f := filepath.Join(dir, fmt.Sprintf("%t-%s", offline, name))
			// The engine runs scripts as `set -e` + script through sh -c; check them the same way.
			if err := os.WriteFile(f, []byte("set -e\n"+src), 0o600); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	out, err := exec.Command(sc, append([]string{"-s", "sh", "-f", "gcc"}, files...)...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck:\n%s", out)
	}
}
