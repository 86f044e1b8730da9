package phases

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/internal/golden"
	"github.com/meshlab/meshlab/playbooks"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/playbook"
	"github.com/meshlab/meshlab/provision/versions"
)

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

// mirroredPlan is an online plan whose hosts file names a mirror for every registry and apt
// repository (one registry serving the three upstreams under path prefixes).
func mirroredPlan(t *testing.T) *plan {
	t.Helper()
	p := testPlan(false)
	reg := func(up string) inventory.RegistryMirror {
		return inventory.RegistryMirror{Upstream: up, URL: "http://10.77.0.1:5000/v2/" + up}
	}
	p.Lab.Mirrors = inventory.Mirrors{
		Registries: []inventory.RegistryMirror{reg("docker.io"), reg("ghcr.io"), reg("registry.k8s.io")},
		Debian:     &inventory.AptMirror{URL: "http://10.77.0.1:8080/debian", Key: "testdata/keys/mirror.asc"},
		Docker:     &inventory.AptMirror{URL: "http://10.77.0.1:8080/docker/linux/ubuntu", Key: "testdata/keys/mirror.asc"},
		Kubernetes: &inventory.AptMirror{URL: "http://10.77.0.1:8080/core:/stable:/v1.34/deb/", Key: "testdata/keys/mirror.gpg"},
	}
	var err error
	if p.registryMirrors, p.aptMirrors, err = mirrorVars(p.Lab.Mirrors); err != nil {
		t.Fatal(err)
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

// TestPlaybookRenders: the online render (Ubuntu 22.04/24.04 and Debian 12 hosts; the OS is
// picked on the host) carries every pinned version string, the offline render installs from
// the bundle only, and both match their golden files.
func TestPlaybookRenders(t *testing.T) {
	s := versions.Default()
	cases := []struct {
		name    string
		plan    *plan
		want    []string
		notWant []string
	}{
		{"kubernetes-online.golden", testPlan(false), []string{
			(s.Docker.ForUbuntu("22.04", "jammy")).Engine, (s.Docker.ForUbuntu("22.04", "jammy")).Containerd,
			(s.Docker.ForUbuntu("24.04", "noble")).Engine, (s.Docker.ForUbuntu("24.04", "noble")).CLI,
			"v=" + s.Kubernetes.Package, "core:/stable:/" + s.Kubernetes.Repo + "/deb/",
			"apt-mark hold kubelet kubeadm kubectl", "/etc/apt/keyrings/docker.asc", "containerd='" + s.DebianRuntime.Containerd + "'",
			"runc=" + s.DebianRuntime.Runc, `config_path = "$certs"`, "certs=/etc/containerd/certs.d",
			"pause=" + s.Images.Pause, `sandbox_image = "$pause"`, "SystemdCgroup = true", "kubeadm init --skip-token-print --config " + RemoteInitConfig,
			"backup /etc/containerd/config.toml", "backup /etc/apt/sources.list.d/kubernetes.list",
			// A first-boot apt run's lock is waited for; containerd's replaced config.toml stays
			// without a dpkg prompt; nothing unpinned comes along.
			"apt-get -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold",
			`apt_get install -y --no-install-recommends "$@"`,
			// Keys are downloaded, checked, then installed or dearmored.
			`curl -fsSL --retry 3 "$repo"Release.key -o "$dl"`,
			`gpg --dearmor --yes -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg "$dl"`,
		}, []string{RemoteBundleDir, "certs.d/registry.k8s.io", "--allow-downgrades", "| gpg", "|\n            gpg", "apt-get install", "apt-get update"}},
		{"kubernetes-mirrors.golden", mirroredPlan(t), []string{
			"/etc/containerd/certs.d/registry.k8s.io/hosts.toml", "override_path = true",
			"URIs: http://10.77.0.1:8080/debian", "/etc/apt/sources.list.d/meshlab-debian.sources",
			"/etc/apt/keyrings/meshlab-kubernetes.gpg] http://10.77.0.1:8080/core:/stable:/v1.34/deb/ /",
			"uri=http://10.77.0.1:8080/docker/linux/ubuntu", "v=" + s.Kubernetes.Package, "apt-mark hold kubelet kubeadm kubectl",
		}, []string{"https://pkgs.k8s.io", "curl", "download.docker.com"}},
		{"kubernetes-offline.golden", testPlan(true), []string{
			"dpkg -i --force-confdef --force-confold " + RemoteBundleDir + "/debs/*.deb", "ctr -n k8s.io images import --all-platforms",
			"apt-get -q -o DPkg::Lock::Timeout=600 check",
			"registry.k8s.io/etcd:3.6.5-0", "10-kubeadm.conf", "backup /etc/containerd/config.toml", "backup \"$f\"",
		}, []string{"download.docker.com", "https://pkgs.k8s.io", "--allow-downgrades"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc, _ := renderAll(t, c.plan, map[string][]string{})
			golden.Check(t, filepath.Join("testdata", c.name), []byte(doc))
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

// TestResetLeavesOtherHostsAlone: every reset task's guard treats a host whose ownership marker
// does not name the lab as done (nothing runs there) unless --force, and kubeadm init resets a
// half-done control plane only on the lab's own host.
func TestResetLeavesOtherHostsAlone(t *testing.T) {
	pb, err := playbook.Load(playbooks.FS, Playbook)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := pb.Vars["backupFn"].(string); !strings.Contains(v, RemoteBackupDir) || pb.Vars["backupDir"] != RemoteBackupDir ||
		pb.Vars["ownerMarker"] != RemoteOwnerMarker {
		t.Errorf("the playbook's paths differ from the Go side's: backupFn/backupDir %q, ownerMarker %v", RemoteBackupDir, pb.Vars["ownerMarker"])
	}
	check := "grep -qsxF lab=demo " + RemoteOwnerMarker + " || exit 0"
	for _, force := range []bool{false, true} {
		p := testPlan(true)
		p.Force = force
		doc, _ := renderAll(t, p, map[string][]string{})
		_, reset, _ := strings.Cut(doc, "› reset ›")
		// 5 reset tasks per host (the packages stay), two hosts.
		if n, want := strings.Count(reset, check), map[bool]int{false: 2 * 5, true: 0}[force]; n != want {
			t.Errorf("force=%v: %d reset guards check the marker, want %d", force, n, want)
		}
		if refuse := strings.Contains(doc, "refusing to reset a control plane that is not lab demo"); refuse == force {
			t.Errorf("force=%v: the re-init's own check present=%v", force, refuse)
		}
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
	for i, p := range []*plan{testPlan(false), testPlan(true), mirroredPlan(t)} {
		_, scripts := renderAll(t, p, map[string][]string{"cp1": {"it's a clash"}})
		for name, src := range scripts {
			f := filepath.Join(dir, fmt.Sprintf("%d-%s", i, name))
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

// TestEveryInterpolationIsQuoted: each value the playbook puts into shell text goes through
// quote (control actions, the backup function's text and when: conditions aside), so a value
// holding $(…), backquotes or quotes stays one word of data.
func TestEveryInterpolationIsQuoted(t *testing.T) {
	src, err := playbooks.FS.ReadFile(Playbook + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	action := regexp.MustCompile(`\{\{-?\s*(.*?)\s*-?\}\}`)
	for i, line := range strings.Split(string(src), "\n") {
		if strings.Contains(line, "when: '") {
			continue
		}
		for _, m := range action.FindAllStringSubmatch(line, -1) {
			a := m[1]
			switch {
			case strings.HasPrefix(a, "quote "), a == "end", a == "else", strings.HasPrefix(a, "if "),
				strings.HasPrefix(a, "range "), strings.HasPrefix(a, "with "), a == ".Vars.backupFn",
				strings.HasPrefix(a, "$") && strings.Contains(a, ":="): // control actions and assignments print nothing
			default:
				t.Errorf("%s.yaml:%d: {{ %s }} goes into the script unquoted", Playbook, i+1, a)
			}
		}
	}
}

// TestHostileImageRefRunsNothing renders the image import task with a reference and a file
// name made of shell text (as a tampered manifest would carry them, were they not refused
// first) and runs its guard and script with a stand-in ctr: nothing but ctr runs.
func TestHostileImageRefRunsNothing(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// ctr images ls prints nothing (nothing imported yet); ctr images import records its args.
	if err := os.WriteFile(filepath.Join(bin, "ctr"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" >> "+filepath.Join(dir, "ctr.args")+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hostile := []struct{ ref, file string }{
		{"x$(touch " + pwned + "1)", "images/a.tar"},
		{"x`touch " + pwned + "2`", "images/b.tar"},
		{"x'\"; touch " + pwned + "3; '", "images/c.tar"},
		{"registry.k8s.io/pause:3.10.1", "images/a$(touch " + pwned + "4).tar"},
	}
	for _, h := range hostile {
		p := testPlan(true)
		p.manifest.Images = map[string]string{h.ref: h.file}
		_, scripts := renderAll(t, p, map[string][]string{})
		ran := 0
		for name, script := range scripts {
			if !strings.HasPrefix(name, "cp1-kubernetes-Import_the_bundle's_images") {
				continue
			}
			ran++
			cmd := exec.Command("sh", "-c", "set -e\n"+script)
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			t.Logf("%q, %s: %v\n%s", h.ref, name, err, out)
		}
		if ran == 0 {
			t.Fatal("no import task rendered")
		}
	}
	for i := 1; i <= 4; i++ {
		if _, err := os.Stat(pwned + strconv.Itoa(i)); err == nil {
			t.Errorf("a hostile image reference or file ran a command (%s%d exists)", pwned, i)
		}
	}
	args, _ := os.ReadFile(filepath.Join(dir, "ctr.args"))
	if !strings.Contains(string(args), "/var/lib/meshlab/bundle/images/a$(touch "+pwned+"4).tar") {
		t.Errorf("ctr did not get the file name as one word:\n%s", args)
	}
}

// TestBackupThenRestore runs the playbook's backup function and the reset's restore task (with
// their folder moved under a temporary root, systemctl a stand-in): a file the host had comes
// back as it was, a file meshlab added goes away, and the caller's variables are untouched.
func TestBackupThenRestore(t *testing.T) {
	pb, err := playbook.Load(playbooks.FS, Playbook)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	move := strings.NewReplacer(RemoteBackupDir, root+RemoteBackupDir, "/var/lib/meshlab/owner", root+"/owner")
	etc := filepath.Join(root, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	own, added := filepath.Join(etc, "config.toml"), filepath.Join(etc, "kubelet.service")
	if err := os.WriteFile(own, []byte("the host's own\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fn := move.Replace(pb.Vars["backupFn"].(string))
	script := fn + "\nb=/the/bundle\nbackup " + own + "\nbackup " + added + "\n" +
		"echo meshlab > " + own + "\necho meshlab > " + added + "\nbackup " + own + "\necho \"$b\"\n"
	out, err := exec.Command("sh", "-ec", script).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "/the/bundle" {
		t.Fatalf("backup: %v\n%s", err, out)
	}

	_, scripts := renderAll(t, testPlan(true), map[string][]string{})
	restore := scripts["cp1-reset-Put_back_the_files_meshlab_replaced-run.sh"]
	if restore == "" {
		t.Fatal("no restore task rendered")
	}
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-ec", move.Replace(restore))
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	} else {
		t.Logf("restore:\n%s", out)
	}
	if b, err := os.ReadFile(own); err != nil || string(b) != "the host's own\n" {
		t.Errorf("the host's file after restore: %q, %v", b, err)
	}
	if _, err := os.Stat(added); !os.IsNotExist(err) {
		t.Errorf("the file meshlab added is still there (%v)", err)
	}
	if _, err := os.Stat(root + RemoteBackupDir); !os.IsNotExist(err) {
		t.Errorf("the backup folder is left (%v)", err)
	}
}
