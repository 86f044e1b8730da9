package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/cluster/phases"
	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/locallab"
	"github.com/meshlab/meshlab/provision/state"
)

// bundleEnv names the offline bundle the test installs from; without it the test looks in the
// bundle cache (`meshlab cluster bundle build --from-source` fills it).
const bundleEnv = "MESHLAB_E2E_BUNDLE"

// requireLab skips unless everything the end-to-end test needs is here, saying what is missing.
func requireLab(t *testing.T) (bundleDir string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (runc machines, network namespaces): run as root or via .ci/run")
	}
	for _, tool := range []string{"runc", "debootstrap", "ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s for the local lab: apt-get install -y runc debootstrap iproute2 iptables", tool)
		}
	}
	// MESHLAB_BUNDLE is what `make test` sets for every test; MESHLAB_E2E_BUNDLE overrides it here.
	for _, env := range []string{bundleEnv, "MESHLAB_BUNDLE"} {
		if dir := os.Getenv(env); dir != "" {
			if _, err := bundle.Verify(dir); err != nil {
				t.Fatalf("offline bundle %s (%s) is not usable: %v", dir, env, err)
			}
			return dir
		}
	}
	// The newest complete bundle in the cache (a build in progress is skipped over).
	found, _ := filepath.Glob(filepath.Join(bundle.DefaultCacheRoot(os.Getenv), "*", "bundle", bundle.ManifestName))
	sort.Slice(found, func(i, j int) bool { return modTime(found[i]).After(modTime(found[j])) })
	for _, m := range found {
		dir := filepath.Dir(m)
		if _, err := bundle.Verify(dir); err == nil {
			return dir
		}
	}
	t.Skipf("no complete offline bundle: build one with `meshlab cluster bundle build --from-source --out DIR` and set %s=DIR", bundleEnv)
	return ""
}

func modTime(p string) time.Time {
	st, err := os.Stat(p)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// buildStatic builds a package of this module as a static binary.
func buildStatic(t *testing.T, pkg, out string) string {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// cli runs the meshlab binary against one lab.
type cli struct {
	t      *testing.T
	bin    string
	base   string // --log-dir: labs' state folders (the local lab's too)
	bundle string
	lab    *locallab.Lab
	mgr    *locallab.Manager
}

// run runs `meshlab --output json <args>` and returns its events. onEvent sees each event as it
// arrives (to act in the middle of a run).
func (c *cli) run(ctx context.Context, onEvent func(event.Event), args ...string) ([]event.Event, time.Duration, error) {
	c.t.Helper()
	full := append([]string{"--output", "json", "--log-dir", c.base}, args...)
	cmd := exec.CommandContext(ctx, c.bin, full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	var events []event.Event
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e event.Event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		events = append(events, e)
		if onEvent != nil {
			onEvent(e)
		}
	}
	err = cmd.Wait()
	took := time.Since(start)
	c.t.Logf("meshlab %s: %s, %d events, err=%v", strings.Join(args, " "), took.Round(time.Second), len(events), err)
	if err != nil {
		err = fmt.Errorf("%w\n%s", err, lastLines(stderr.String(), 30))
	}
	return events, took, err
}

func (c *cli) up(ctx context.Context, onEvent func(event.Event)) ([]event.Event, time.Duration, error) {
	// The cluster alone: these tests are about Kubernetes (TestUpWholeLab runs the stack).
	return c.run(ctx, onEvent, "up", "--hosts", c.lab.HostsFile, "--playbook", phases.Playbook, "--bundle", c.bundle, "--stack=false")
}

func (c *cli) down(ctx context.Context, extra ...string) error {
	_, _, err := c.run(ctx, nil, append([]string{"down", "--yes", "--hosts", c.lab.HostsFile, "--playbook", phases.Playbook}, extra...)...)
	return err
}

func (c *cli) client(t *testing.T) kubernetes.Interface {
	t.Helper()
	cfg, err := kube.Load(kube.LoadOptions{Kubeconfig: c.dir().Kubeconfig()})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg.REST)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// newLab creates a local lab (spec.Nodes machines, the first a control plane) and destroys it
// when the test ends, also on failure. bin is the meshlab binary (a VirtualBox-like lab's SSH
// forwarder runs as `meshlab lab forward`).
func newLab(t *testing.T, ctx context.Context, base, bin string, spec locallab.Spec) (*locallab.Manager, *locallab.Lab) {
	t.Helper()
	name := spec.Name
	mgr, err := locallab.New(locallab.Options{BaseDir: base, Executable: bin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := mgr.Destroy(cctx, name); err != nil {
			t.Errorf("destroy lab %s: %v", name, err)
		}
	})
	spec.ControlPlanes = 1
	lab, err := mgr.Create(ctx, spec)
	if err != nil {
		t.Fatalf("create lab %s: %v", name, err)
	}
	return mgr, lab
}

// tasksDone lists "host phase/task" of every task that changed something in a run.
func tasksDone(events []event.Event) []string {
	var out []string
	for _, e := range events {
		if e.Kind == event.TaskDone {
			out = append(out, e.Host+" "+e.Phase+"/"+e.Task)
		}
	}
	return out
}

// dir is the lab's folder (state, logs, kubeconfig) under the test's --log-dir.
func (c *cli) dir() state.LabDir { return state.LabDir(filepath.Join(c.base, c.lab.Name)) }
