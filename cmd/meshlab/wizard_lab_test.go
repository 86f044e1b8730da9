package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/provision/locallab"
)

// labBundleEnv names the offline bundle the lab test installs from (`make test` sets it);
// without it the test uses the repository's _output/bundle (`make bundle`).
const labBundleEnv = "MESHLAB_BUNDLE"

// labNodes are the machines `meshlab lab create --nodes 3 --control-planes 1` makes.
var labNodes = []string{"cp1", "worker1", "worker2"}

// TestWizardOnLocalLab runs the real binary's wizard in a real terminal (tmux, 80×24) against a
// local lab of three machine-like hosts (systemd + sshd under runc, strict known_hosts) with the
// kubernetes playbook from the offline bundle: load the lab's hosts file, see every host green,
// choose the cluster alone, save and run; Ctrl+C while a remote command runs and check on every
// machine that none is left; run again and see it continue to a summary with the kubeconfig;
// check the nodes are Ready with the bundle's kubectl. Captures: -update-tmux keeps them in
// testdata/tmux-lab; the test log has them too.
func TestWizardOnLocalLab(t *testing.T) {
	bundleDir := requireLocalLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	base := t.TempDir()    // --log-dir: the lab's machines, state, logs and kubeconfig
	bin := buildMeshlab(t) // static, with meshlab-proxy beside it, as `make build` leaves them
	hostsPath := filepath.Join(t.TempDir(), "lab.yaml")
	name := "wiz-" + strings.ToLower(rand.Text()[:6]) // own name: concurrent runs never meet
	createLocalLab(t, ctx, bin, base, name, hostsPath)
	mgr, err := locallab.New(locallab.Options{BaseDir: base})
	if err != nil {
		t.Fatal(err)
	}

	tt := startTmux(t, 80, 24, fmt.Sprintf("%s wizard --log-dir %s --hosts %s --bundle %s --verify quick",
		bin, base, hostsPath, bundleDir))
	tt.failOn = []string{"up failed on lab"}
	t.Cleanup(func() { logShots(t, tt) })
	tt.waitFor("Load or create a hosts file", filepath.Base(hostsPath))
	tt.keys("Enter")
	tt.waitFor("Hosts of lab "+name, "cp1", "worker1", "worker2")
	tt.keys("Enter")
	tt.shot("01-connect", "3 ok, 0 failed, 0 testing")

	// The components as the wizard proposes them (mesh, Bookinfo, the default addons): the run
	// is the whole lab, ending with verify's smoke checks (--verify quick keeps it in minutes).
	tt.keys("Enter")
	tt.waitFor("Versions and components")
	tt.keys("Enter")
	review := tt.shot("02-review", "valid hosts file: 1 control plane, 2 worker(s)")
	if !strings.Contains(review, "mesh: true") {
		t.Errorf("the review does not show the mesh chosen:\n%s", review)
	}

	// Save and run; Ctrl+C once the run is deep in (the bundle's images going into containerd)
	// and a remote command is seen running on a machine.
	tt.keys("Enter")
	tt.wait = 10 * time.Minute
	tt.waitFor("Running up on lab "+name, "Import the bundle")
	host, cmds := waitRemoteCommand(t, ctx, mgr, name)
	tt.shot("03-run", "Running up on lab "+name)
	tt.keys("C-c")
	t.Logf("Ctrl+C while %s ran: %s", host, strings.Join(cmds, " | "))
	interrupted := tt.shot("04-interrupted", "interrupted after")
	for _, node := range labNodes {
		if left := remoteCommands(t, ctx, mgr, name, node); len(left) > 0 {
			t.Errorf("remote commands left on %s after Ctrl+C: %s", node, strings.Join(left, " | "))
		}
	}
	if !strings.Contains(interrupted, "stopped") {
		tt.keys("l") // the host's log was shown: the summary has the counts
		interrupted = tt.waitFor("stopped")
	}
	if n := screenNumber(t, interrupted, `(\d+) stopped`); n == 0 {
		t.Errorf("Ctrl+C stopped no task:\n%s", interrupted)
	}

	// Run again: finished tasks are skipped and the run ends with the lab's URLs and kubeconfig.
	tt.text("r")
	kubeconfig := filepath.Join(base, name, "kubeconfig")
	done := tt.shot("05-done", "is up", "every host is done", "kubeconfig: "+kubeconfig, "/productpage")
	if n := screenNumber(t, done, `(\d+) already done`); n == 0 {
		t.Errorf("the second run did not continue from the first (nothing already done):\n%s", done)
	}
	requireReadyNodes(t, ctx, filepath.Join(bundleDir, "bin", "kubectl"), kubeconfig, len(labNodes))
	tt.text("q")
	tt.wait = time.Minute
	if end := tt.waitFor("EXIT=0"); !containsAll(end, []string{"kubeconfig: " + kubeconfig}) {
		t.Errorf("the report after the wizard names no kubeconfig:\n%s", end)
	}
	tt.saveShots("tmux-lab")
}

// requireLocalLab skips unless root, tmux, the lab's tools and a built bundle are here, saying
// which is missing; it returns the bundle's folder.
func requireLocalLab(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a local lab and builds Kubernetes on it: not in -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (runc machines, network namespaces): run as root or via .ci/run")
	}
	for _, tool := range []string{"tmux", "runc", "debootstrap", "ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: apt-get install -y tmux runc debootstrap iproute2 iptables", tool)
		}
	}
	dir := os.Getenv(labBundleEnv)
	if dir == "" {
		dir = filepath.Join(moduleRoot(t), "_output", "bundle")
	}
	if _, err := bundle.Read(dir); err != nil {
		if os.Getenv(labBundleEnv) != "" {
			t.Fatalf("offline bundle %s (%s): %v", dir, labBundleEnv, err)
		}
		t.Skipf("needs the offline bundle: `make bundle`, or set %s=DIR (%v)", labBundleEnv, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// createLocalLab boots the lab with the real binary and destroys it when the test ends, also
// on failure.
func createLocalLab(t *testing.T, ctx context.Context, bin, base, name, hostsPath string) {
	t.Helper()
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(cctx, bin, "lab", "destroy", "--name", name, "--log-dir", base).CombinedOutput(); err != nil {
			t.Errorf("lab destroy %s: %v\n%s", name, err, out)
		}
	})
	start := time.Now()
	out, err := exec.CommandContext(ctx, bin, "lab", "create", "--name", name, "--nodes", "3", "--control-planes", "1",
		"--out", hostsPath, "--log-dir", base).CombinedOutput()
	if err != nil {
		t.Fatalf("lab create %s: %v\n%s", name, err, out)
	}
	t.Logf("lab %s created in %s", name, time.Since(start).Round(time.Second))
}

// remoteCommands lists the commands running on a machine on behalf of an SSH session: every
// process below an sshd process that is not sshd itself. Services the run started (kubelet,
// containerd) belong to systemd, and this check's own process comes in through runc exec, so
// neither counts. It reads /proc inside the machine.
func remoteCommands(t *testing.T, ctx context.Context, mgr *locallab.Manager, lab, node string) []string {
	t.Helper()
	const script = `for d in /proc/[0-9]*; do
  s=$(cat "$d/stat" 2>/dev/null) || continue
  set -- ${s##*) }
  printf '%s %s %s\n' "${d#/proc/}" "$2" "$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)"
done`
	out, err := mgr.Exec(ctx, lab, node, "sh", "-c", script)
	if err != nil {
		t.Fatalf("list processes on %s: %v", node, err)
	}
	type proc struct{ ppid, cmd string }
	procs := map[string]proc{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(l, " ", 3)
		if len(f) == 3 {
			procs[f[0]] = proc{f[1], strings.TrimSpace(f[2])}
		}
	}
	isSSHD := func(cmd string) bool {
		return strings.HasPrefix(cmd, "sshd") || strings.HasPrefix(cmd, "/usr/sbin/sshd")
	}
	var found []string
	for pid, p := range procs {
		if p.cmd == "" || isSSHD(p.cmd) { // "" is a zombie or a kernel thread
			continue
		}
		for up, seen := p.ppid, 0; seen < len(procs); up, seen = procs[up].ppid, seen+1 {
			parent, ok := procs[up]
			if !ok {
				break
			}
			if isSSHD(parent.cmd) {
				found = append(found, pid+" "+shorten(p.cmd, 100))
				break
			}
		}
	}
	slices.Sort(found)
	return found
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// waitRemoteCommand polls the machines until one runs a remote command, and returns it.
func waitRemoteCommand(t *testing.T, ctx context.Context, mgr *locallab.Manager, lab string) (string, []string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		for _, node := range labNodes {
			if cmds := remoteCommands(t, ctx, mgr, lab, node); len(cmds) > 0 {
				return node, cmds
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no remote command seen on any machine for 3 minutes of the run")
	return "", nil
}

// requireReadyNodes polls the bundle's kubectl until n nodes are Ready.
func requireReadyNodes(t *testing.T, ctx context.Context, kubectl, kubeconfig string, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	var out []byte
	var err error
	for time.Now().Before(deadline) {
		out, err = exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfig, "get", "nodes", "--no-headers").CombinedOutput()
		if err == nil && strings.Count(string(out), " Ready ") == n {
			t.Logf("kubectl get nodes:\n%s", out)
			return
		}
		time.Sleep(2 * time.Second)
	}
	t.Fatalf("want %d Ready nodes; kubectl get nodes: %v\n%s", n, err, out)
}

// screenNumber reads the number a pattern's first group matches on the screen (0 when absent).
func screenNumber(t *testing.T, screen, pattern string) int {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(screen)
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// logShots puts the captures in the test log, where CI keeps them.
func logShots(t *testing.T, tt *tmuxTerm) {
	for _, s := range tt.shots {
		t.Logf("capture %s:\n%s", s.name, s.screen)
	}
}
