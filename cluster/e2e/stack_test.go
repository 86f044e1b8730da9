package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/bookinfo/verify"
	"github.com/meshlab/meshlab/cluster/phases"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/locallab"
)

// TestUpWholeLab is the main job end to end (issue 7) and the mesh's proof on a real cluster
// (issue 5): one `meshlab up` from bare lab hosts through cluster, mesh, addons and Bookinfo to
// `meshlab verify bookinfo` passing; then Istio's networking samples applied with kubectl, the
// walk-through's RouteRule, Istio's authorization task (its principal steps over the sidecars'
// mutual TLS), and the control plane killed and restarted; then the lab's safety (issue 15): a
// privileged pod cannot reach the host, the addons are locked down, a wrong hosts file cannot
// reset the lab, and no join token is left in a log, event or state file.
// The machines look like Vagrant's VirtualBox VMs fresh from their first boot (issue 19): the
// same NAT eth0 (address, MAC, default route) on all three, the lab network on eth1, SSH on
// forwarded ports of 127.0.0.1, and the dpkg locks held after boot.
func TestUpWholeLab(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()
	start := time.Now()
	c := setupLab(t, ctx, locallab.Spec{Name: "e2es", Nodes: 3, Topology: locallab.TopologyVirtualBox, DpkgLock: realDpkgLock})
	created := time.Since(start)

	events, took, err := c.run(ctx, nil, c.stackArgs("full")...)
	if err != nil {
		t.Fatalf("up: %v\n%s", err, verifyRows(events))
	}
	t.Logf("MEASURE whole lab (3 nodes): lab create %s + up (cluster, mesh, addons, Bookinfo, full verify) %s",
		created.Round(time.Second), took.Round(time.Second))
	t.Logf("verify rows of the up:\n%s", verifyRows(events))
	checkVerified(t, events)
	checkFirstBootWaited(t, events, 3)
	t.Logf("MEASURE first-boot waited %s for the dpkg lock", phaseTime(events, "first-boot"))
	t.Logf("summary:\n%s", summaryLines(events))

	t.Run("VirtualBox topology: node IPs, pods across nodes, kubectl logs", func(t *testing.T) {
		checkVirtualBoxLab(t, ctx, c)
	})

	k := c.kubectl(t)
	b := verify.Browser{BaseURL: "http://" + c.lab.Machines[0].Address + ":30080"}

	t.Run("networking samples applied with kubectl", func(t *testing.T) {
		samples := filepath.Join(moduleRoot(t), "mesh", "config", "testdata", "istio-samples")
		k.run(ctx, t, "apply", "-n", "bookinfo", "-f", filepath.Join(samples, "destination-rule-all.yaml"))
		for _, s := range verify.Scenarios() {
			var files []string
			for _, f := range s.Samples {
				files = append(files, "-f", filepath.Join(samples, f))
			}
			applied := time.Now()
			k.run(ctx, t, append([]string{"apply", "-n", "bookinfo"}, files...)...)
			in := settle(ctx, t, b, s)
			// Through verify's sampler: a random split gets its fresh samples, so a false
			// failure has the chance the scenario states (≤ 1e-4; TestStatedChances).
			o, err := verify.Observe(ctx, b, s)
			if err != nil {
				t.Errorf("%s: expected %s, observed %s: %v", s.Name, s.Expected, o.Observed, err)
			}
			t.Logf("MEASURE %s: in effect within %.1fs of kubectl apply; observed %s", s.Name, in.Sub(applied).Seconds(), o.Observed)
			k.run(ctx, t, append([]string{"delete", "-n", "bookinfo", "--ignore-not-found"}, files...)...)
		}
		// No route left: the mix of versions comes back.
		removed := time.Now()
		mix := untilMix(ctx, t, b)
		t.Logf("MEASURE routes deleted: all three versions again %.1fs later (%v)", time.Since(removed).Seconds(), mix)
		k.run(ctx, t, "delete", "-n", "bookinfo", "-f", filepath.Join(samples, "destination-rule-all.yaml"))
	})

	t.Run("the walk-through's RouteRule gives only v1", func(t *testing.T) {
		rule := filepath.Join(t.TempDir(), "reviews-default.yaml")
		all, err := os.ReadFile(filepath.Join(moduleRoot(t), "mesh", "config", "testdata", "legacy-routerules.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(all), "\n---\n") // reviews-default, as written
		if err := os.WriteFile(rule, []byte(first), 0o644); err != nil {
			t.Fatal(err)
		}
		applied := time.Now()
		k.run(ctx, t, "apply", "-n", "bookinfo", "-f", rule)
		counts := untilOnly(ctx, t, b, "v1")
		t.Logf("MEASURE RouteRule reviews-default: only v1 %.1fs after kubectl apply (%v)", time.Since(applied).Seconds(), counts)
		k.run(ctx, t, "delete", "-n", "bookinfo", "-f", rule)
		untilMix(ctx, t, b)
	})

	t.Run("Istio's authorization task applied with kubectl", func(t *testing.T) {
		// The task's policies, namespace default in the docs, for Bookinfo's namespace here
		// (verify.AuthorizationSample); each step is the docs' next file applied on top.
		dir := t.TempDir()
		var files []string
		// Every step, the principal ones too: the sidecars' mutual TLS gives the callers' identities.
		for _, step := range verify.AuthorizationSteps() {
			for _, name := range step.Samples[len(files):] {
				data, err := verify.AuthorizationSample("bookinfo", name)
				if err != nil {
					t.Fatal(err)
				}
				f := filepath.Join(dir, name+".yaml")
				if err := os.WriteFile(f, data, 0o644); err != nil {
					t.Fatal(err)
				}
				files = append(files, f)
				applied := time.Now()
				k.run(ctx, t, "apply", "-f", f)
				if name != step.Samples[len(step.Samples)-1] {
					continue
				}
				for {
					p, err := b.Fetch(ctx, nil)
					if err == nil {
						err = step.OK(p)
					}
					if err == nil {
						t.Logf("MEASURE %s: %s %.1fs after kubectl apply", step.Name, step.Expected, time.Since(applied).Seconds())
						break
					}
					if time.Since(applied) > verify.SecurityTimeout {
						t.Fatalf("%s: %s not observed %s after kubectl apply: %v", step.Name, step.Expected, verify.SecurityTimeout, err)
					}
					sleep(ctx, t, 200*time.Millisecond)
				}
			}
		}
		args := []string{"delete", "--ignore-not-found"}
		for _, f := range files {
			args = append(args, "-f", f)
		}
		k.run(ctx, t, args...)
		deleted := time.Now()
		for {
			p, err := b.Fetch(ctx, nil)
			if err == nil && p.Status == 200 && !strings.Contains(p.Body, "Error fetching") {
				t.Logf("MEASURE policies deleted: the whole page again %.1fs later", time.Since(deleted).Seconds())
				break
			}
			if time.Since(deleted) > verify.SecurityTimeout {
				t.Fatalf("the page did not come back %s after the policies were deleted", verify.SecurityTimeout)
			}
			sleep(ctx, t, 200*time.Millisecond)
		}
	})

	t.Run("mutual TLS", func(t *testing.T) { mutualTLS(ctx, t, c, k, b) })

	t.Run("control plane killed, then restarted", func(t *testing.T) {
		samples := filepath.Join(moduleRoot(t), "mesh", "config", "testdata", "istio-samples")
		routing := []string{"-n", "bookinfo", "-f", filepath.Join(samples, "destination-rule-all.yaml"),
			"-f", filepath.Join(samples, "virtual-service-all-v1.yaml")}
		k.run(ctx, t, append([]string{"apply"}, routing...)...)
		untilOnly(ctx, t, b, "v1")
		k.run(ctx, t, "-n", "meshlab-system", "scale", "deployment/meshlab-pilot", "--replicas=0")
		k.run(ctx, t, "-n", "meshlab-system", "wait", "--for=delete", "pod", "-l", "app=meshlab-pilot", "--timeout=3m")
		if counts, err := b.Count(ctx, nil, 20); err != nil || counts["v1"] != 20 {
			t.Errorf("without the control plane: %v, %v; want 20 pages from v1 on the last config", counts, err)
		}
		k.run(ctx, t, "-n", "meshlab-system", "scale", "deployment/meshlab-pilot", "--replicas=1")
		k.run(ctx, t, "-n", "meshlab-system", "rollout", "status", "deployment/meshlab-pilot", "--timeout=3m")
		back := time.Now()
		status := c.untilSynced(ctx, t, 6)
		t.Logf("MEASURE control plane restarted: 6 proxies SYNCED %.1fs after its rollout\n%s", time.Since(back).Seconds(), status)
		// The restarted control plane signed none of the certificates in use: it knows their
		// expiry from the ones the sidecars present when they reconnect.
		identitiesInStatus(t, status)
		k.run(ctx, t, append([]string{"delete"}, routing...)...)
	})

	t.Run("meshlab verify bookinfo", func(t *testing.T) {
		out, took, err := c.verifyBookinfo(ctx)
		t.Logf("MEASURE verify bookinfo, healthy lab: %.1fs\n%s", took.Seconds(), out)
		if err != nil {
			t.Fatalf("verify bookinfo: %v", err)
		}
		// Jaeger stands in for Zipkin and is in the bundle: it must pass, never be "not in
		// the offline bundle"; Grafana's image is not in the bundle, and only it may say so.
		if row := tableRow(out, "tracing/trace"); !strings.Contains(row, "passed") {
			t.Errorf("tracing/trace on a healthy lab: %q", row)
		}
	})

	// A backend that is installed but down fails verify at once, with the reason; it is never
	// "not in the offline bundle" (issue 17).
	t.Run("tracing backend scaled to zero fails verify", func(t *testing.T) {
		k.scaleAddon(ctx, t, "jaeger", 0)
		out, took, err := c.verifyBookinfo(ctx)
		t.Logf("MEASURE verify bookinfo, tracing backend down: %.1fs (exit %v)\n%s", took.Seconds(), err, out)
		mustExit1(t, err)
		if row := tableRow(out, "tracing/trace"); !strings.Contains(row, "FAILED") {
			t.Errorf("tracing/trace: %q, want FAILED", row)
		}
		if !strings.Contains(out, "FAILED tracing/trace: tracing: no ready endpoints for service") ||
			!strings.Contains(out, "kubectl -n meshlab-system get deploy,pods -l app=jaeger") {
			t.Errorf("tracing's failure does not say why or what to run")
		}
		k.scaleAddon(ctx, t, "jaeger", 1)
	})

	t.Run("Prometheus scaled to zero fails verify fast", func(t *testing.T) {
		k.scaleAddon(ctx, t, "prometheus", 0)
		out, took, err := c.verifyBookinfo(ctx)
		// Issue 17 asks for at most 60 s (it was 412 s); printed, not asserted: timings are
		// measurements here, never test conditions.
		t.Logf("MEASURE verify bookinfo, Prometheus down: %.1fs (exit %v)\n%s", took.Seconds(), err, out)
		mustExit1(t, err)
		for _, check := range []string{"prometheus/ready", "prometheus/sidecar-targets", "prometheus/request-series"} {
			if row := tableRow(out, check); !strings.Contains(row, "FAILED") {
				t.Errorf("%s: %q, want FAILED", check, row)
			}
		}
		if !strings.Contains(out, "FAILED prometheus/ready: prometheus: no ready endpoints for service prometheus") {
			t.Errorf("Prometheus's failure does not say why")
		}
		k.scaleAddon(ctx, t, "prometheus", 1)
	})

	t.Run("backends back: verify passes again", func(t *testing.T) {
		out, took, err := c.verifyBookinfo(ctx)
		t.Logf("MEASURE verify bookinfo, backends scaled back: %.1fs\n%s", took.Seconds(), out)
		if err != nil {
			t.Fatalf("verify bookinfo after scaling the backends back: %v", err)
		}
	})

	cs := c.client(t)
	t.Run("a privileged pod cannot reach the host", func(t *testing.T) {
		loadProbeImage(t, ctx, c)
		checkNoEscape(t, ctx, c, cs, c.lab.Machines[len(c.lab.Machines)-1].Name)
	})

	t.Run("prometheus has no lifecycle API; port-forward through the API server", func(t *testing.T) {
		checkAddonsLockedDown(t, ctx, c)
	})

	t.Run("another lab's hosts file cannot reset this lab", func(t *testing.T) {
		checkWrongHostsFile(t, ctx, c, cs)
	})

	runs := [][]event.Event{events}
	t.Run("second up changes nothing", func(t *testing.T) {
		events, again, err := c.run(ctx, nil, c.stackArgs("quick")...)
		runs = append(runs, events)
		if err != nil {
			t.Fatalf("second up: %v", err)
		}
		t.Logf("MEASURE second up (quick verify): %s", again.Round(time.Second))
		var changed []string
		for _, d := range changedTasks(events) {
			if _, pt, _ := strings.Cut(d, " "); !strings.HasPrefix(pt, "verify/") {
				changed = append(changed, d)
			}
		}
		if len(changed) > 0 {
			t.Errorf("the second up changed things: %v", changed)
		}
	})

	t.Run("no join token in any log, event or state file", func(t *testing.T) {
		checkNoTokens(t, ctx, c, cs, runs...)
	})

	// Issue 17: the lab as a person looks at it (browser, service graph). It scales reviews-v3
	// to zero and back.
	observeLab(ctx, t, c, events)

	// Last: it changes the lab (the addons lose their NodePorts).
	t.Run("addons ClusterIP only, verified through port-forwards", func(t *testing.T) {
		checkClusterIPAddons(t, ctx, c)
	})
}

// verifyBookinfo runs `meshlab verify bookinfo` on the lab as its user would after `meshlab up
// --bundle`, and says how long it took.
func (c *cli) verifyBookinfo(ctx context.Context) (string, time.Duration, error) {
	kc := c.dir().Kubeconfig()
	start := time.Now()
	out, err := exec.CommandContext(ctx, c.bin, "verify", "bookinfo", "--kubeconfig", kc, "--bundle", c.bundle).CombinedOutput()
	return string(out), time.Since(start), err
}

func mustExit1(t *testing.T, err error) {
	t.Helper()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("verify bookinfo: %v, want exit status 1 (checks failed)", err)
	}
}

// tableRow is the line of verify's table for a check ("tracing/trace  a trace ...  FAILED  0.31s").
func tableRow(out, check string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == check && strings.HasSuffix(l, "s") {
			return l
		}
	}
	return ""
}

func (c *cli) stackArgs(verifyMode string) []string {
	return []string{"up", "--hosts", c.lab.HostsFile, "--playbook", phases.Playbook, "--bundle", c.bundle,
		"--stack", "--verify", verifyMode}
}

// checkVerified: every check of the up's verify phase passed, but those whose image cannot be
// in an offline bundle (Grafana's), which must say so and never pass.
func checkVerified(t *testing.T, events []event.Event) {
	t.Helper()
	seen := 0
	for _, e := range events {
		if e.Phase != "verify" {
			continue
		}
		switch e.Kind {
		case event.TaskFail:
			t.Errorf("verify %s failed: %s", e.Task, e.Error.Message)
		case event.TaskDone:
			seen++
		case event.TaskSkip:
			seen++
			if !strings.HasPrefix(e.Task, "grafana/") || !strings.Contains(e.Line, "not in the offline bundle") {
				t.Errorf("verify %s skipped: %s (only Grafana may be absent offline)", e.Task, e.Line)
			}
		}
	}
	if seen < 15 {
		t.Errorf("verify reported %d checks; the full checklist has more", seen)
	}
}

func verifyRows(events []event.Event) string {
	var b strings.Builder
	for _, e := range events {
		if e.Phase == "verify" && (e.Kind == event.TaskDone || e.Kind == event.TaskSkip || e.Kind == event.TaskFail) {
			line := e.Line
			if e.Error != nil {
				line = e.Error.Message
			}
			fmt.Fprintf(&b, "  %-9s %-40s %s\n", strings.TrimPrefix(string(e.Kind), "task."), e.Task, line)
		}
	}
	return b.String()
}

func summaryLines(events []event.Event) string {
	var out []string
	for _, e := range events {
		if e.Phase == "summary" && e.Kind == event.Log {
			out = append(out, "  "+e.Line)
		}
	}
	return strings.Join(out, "\n")
}

// kubectl is the bundle's kubectl on the lab's kubeconfig: the user's own tool.
type kubectl struct{ bin, kubeconfig string }

func (c *cli) kubectl(t *testing.T) kubectl {
	return kubectl{bin: filepath.Join(c.bundle, "bin", "kubectl"), kubeconfig: c.dir().Kubeconfig()}
}

func (k kubectl) run(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, k.bin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// scaleAddon scales an addon's deployment (named as its app label) in meshlab-system and waits
// until its pods are gone (0) or its rollout is done.
func (k kubectl) scaleAddon(ctx context.Context, t *testing.T, app string, replicas int) {
	t.Helper()
	k.run(ctx, t, "-n", "meshlab-system", "scale", "deployment/"+app, fmt.Sprintf("--replicas=%d", replicas))
	if replicas == 0 {
		k.run(ctx, t, "-n", "meshlab-system", "wait", "--for=delete", "pod", "-l", "app="+app, "--timeout=3m")
		return
	}
	k.run(ctx, t, "-n", "meshlab-system", "rollout", "status", "deployment/"+app, "--timeout=3m")
}

// settle polls a scenario's condition until it holds and returns when the attempt that saw it
// began: the routing was in effect by then (the delay scenario's pages take 6 s each, which
// says nothing about how fast the routes arrived).
func settle(ctx context.Context, t *testing.T, b verify.Browser, s verify.Scenario) time.Time {
	t.Helper()
	deadline := time.Now().Add(verify.SettleTimeout)
	for {
		began := time.Now()
		ok, err := s.Settle(ctx, b)
		if ok {
			return began
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not in effect %s after kubectl apply (last error %v)", s.Name, verify.SettleTimeout, err)
		}
		sleep(ctx, t, 200*time.Millisecond)
	}
}

// untilOnly polls until 10 pages in a row come from version.
func untilOnly(ctx context.Context, t *testing.T, b verify.Browser, version string) map[string]int {
	t.Helper()
	deadline := time.Now().Add(verify.SettleTimeout)
	for {
		c, err := b.Count(ctx, nil, 10)
		if err == nil && c[version] == 10 {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("not only %s after %s: %v %v", version, verify.SettleTimeout, c, err)
		}
		sleep(ctx, t, 200*time.Millisecond)
	}
}

// untilMix polls until v1, v2 and v3 all appear among 30 pages (no routing: round robin).
func untilMix(ctx context.Context, t *testing.T, b verify.Browser) map[string]int {
	t.Helper()
	deadline := time.Now().Add(verify.SettleTimeout)
	for {
		c, err := b.Count(ctx, nil, 30)
		if err == nil && c["v1"] > 0 && c["v2"] > 0 && c["v3"] > 0 {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mix of versions did not come back within %s: %v %v", verify.SettleTimeout, c, err)
		}
		sleep(ctx, t, 200*time.Millisecond)
	}
}

// untilSynced polls `meshlab mesh status --kubeconfig` until n proxies are listed, all SYNCED.
func (c *cli) untilSynced(ctx context.Context, t *testing.T, n int) string {
	t.Helper()
	kc := c.dir().Kubeconfig()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := exec.CommandContext(ctx, c.bin, "mesh", "status", "--kubeconfig", kc).CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		synced := 0
		for _, l := range lines[1:] {
			if slices.Contains(strings.Fields(l), "SYNCED") {
				synced++
			}
		}
		if err == nil && synced == n && len(lines) == n+1 {
			return string(out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxies not all SYNCED after the control plane came back: %v\n%s", err, out)
		}
		sleep(ctx, t, time.Second)
	}
}

func sleep(ctx context.Context, t *testing.T, d time.Duration) {
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(d):
	}
}
