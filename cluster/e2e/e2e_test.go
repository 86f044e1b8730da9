// Package e2e proves `meshlab up` end to end: a local lab of machine-like hosts
// (provision/locallab), the kubernetes playbook with its Go phases, installed from an offline
// bundle. It needs root, runc, debootstrap and a built bundle, and skips saying which is missing.
//
//	MESHLAB_E2E_BUNDLE=/path/to/bundle go test -v -timeout 90m ./cluster/e2e/
package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/locallab"
)

func setup(t *testing.T, ctx context.Context, name string, nodes int) *cli {
	return setupLab(t, ctx, locallab.Spec{Name: name, Nodes: nodes})
}

// setupLab builds meshlab and creates the lab spec asks for (its realism options included).
func setupLab(t *testing.T, ctx context.Context, spec locallab.Spec) *cli {
	bundleDir := requireLab(t)
	base := t.TempDir()
	bin := buildStatic(t, "./cmd/meshlab", filepath.Join(base, "meshlab"))
	buildStatic(t, "./cmd/meshlab-proxy", filepath.Join(base, "meshlab-proxy")) // the image's sidecar, found beside meshlab
	mgr, lab := newLab(t, ctx, base, bin, spec)
	return &cli{t: t, bin: bin, base: base, bundle: bundleDir, lab: lab, mgr: mgr}
}

// readOnlyPhases run on every `up` and change nothing (connecting).
var readOnlyPhases = map[string]bool{"connect": true, "summary": true}

func changedTasks(events []event.Event) []string {
	var out []string
	for _, d := range tasksDone(events) {
		_, pt, _ := strings.Cut(d, " ")
		phase, _, _ := strings.Cut(pt, "/")
		if !readOnlyPhases[phase] {
			out = append(out, d)
		}
	}
	return out
}

// TestUpThreeNodes is the "done when": 1 control plane + 2 workers.
func TestUpThreeNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Minute)
	defer cancel()
	c := setup(t, ctx, "e2e3", 3)
	workers := []string{}
	for _, m := range c.lab.Machines {
		if m.Role == "worker" {
			workers = append(workers, m.Name)
		}
	}

	_, first, err := c.up(ctx, nil)
	if err != nil {
		t.Fatalf("first up: %v", err)
	}
	t.Logf("MEASURE 3 nodes: up to 3 Ready nodes and CoreDNS available: %s", first.Round(time.Second))
	cs := c.client(t)
	loadProbeImage(t, ctx, c)
	checkPodToPod(t, ctx, cs, workers)

	t.Run("second up changes nothing", func(t *testing.T) {
		events, again, err := c.up(ctx, nil)
		if err != nil {
			t.Fatalf("second up: %v", err)
		}
		t.Logf("MEASURE idempotent re-run: %s (%.0f%% of the first run)", again.Round(time.Second), 100*again.Seconds()/first.Seconds())
		if changed := changedTasks(events); len(changed) > 0 {
			t.Errorf("the second up changed things: %v", changed)
		}
		// The bar: the re-run costs at most a fifth of the first run (a ratio, so the
		// machine's speed cancels out).
		if again > first/5 {
			t.Errorf("second up took %s, more than 20%% of the first run's %s", again, first)
		}
	})

	t.Run("down then a worker's sshd dies during the kubernetes phase", func(t *testing.T) {
		if err := c.down(ctx, "--remove-packages"); err != nil {
			t.Fatalf("down: %v", err)
		}
		victim := workers[len(workers)-1]
		var once sync.Once
		var stopErr error
		events, _, err := c.up(ctx, func(e event.Event) {
			if e.Kind == event.PhaseStart && e.Phase == "kubernetes" {
				once.Do(func() { stopErr = killSSH(ctx, c, victim) })
			}
		})
		if stopErr != nil {
			t.Fatalf("stop sshd on %s: %v", victim, stopErr)
		}
		if err == nil {
			t.Fatal("up succeeded although sshd of " + victim + " was stopped")
		}
		fail := failureOf(events, victim)
		if fail == nil {
			t.Fatalf("no task.fail event names %s; error: %v", victim, err)
		}
		t.Logf("failure contract: host=%s phase=%s task=%q message=%q hint=%q log=%s",
			fail.Host, fail.Phase, fail.Task, fail.Error.Message, fail.Error.Hint, fail.Error.LogPath)
		if fail.Phase != "kubernetes" || fail.Task == "" || fail.Error.LogPath == "" || fail.Error.Hint == "" {
			t.Errorf("the failure does not name phase kubernetes, a task, a log and a hint: %+v", fail.Error)
		}
		if !strings.Contains(err.Error(), victim) {
			t.Errorf("the command's error does not name %s: %v", victim, err)
		}
		if err := c.mgr.StartSSH(ctx, c.lab.Name, victim); err != nil {
			t.Fatalf("start sshd on %s: %v", victim, err)
		}
		if _, _, err := c.up(ctx, nil); err != nil {
			t.Fatalf("up after sshd came back: %v", err)
		}
		loadProbeImage(t, ctx, c)
		checkPodToPod(t, ctx, c.client(t), workers)
	})
}

// killSSH stops sshd on a machine and ends the sessions it already serves (meshlab's own
// connection among them): a host that stops answering, not just one that refuses new logins.
func killSSH(ctx context.Context, c *cli, node string) error {
	if err := c.mgr.StopSSH(ctx, c.lab.Name, node); err != nil {
		return err
	}
	// Inside the lab machine (runc exec): the sshd processes there are the lab's own.
	_, err := c.mgr.Exec(ctx, c.lab.Name, node, "sh", "-c", "for p in $(pidof sshd); do kill \"$p\"; done")
	return err
}

func failureOf(events []event.Event, host string) *event.Event {
	for i := range events {
		e := &events[i]
		if e.Kind == event.TaskFail && e.Host == host && e.Error != nil {
			return e
		}
	}
	return nil
}
