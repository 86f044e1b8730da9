package lab

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/playbooks"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/playbook"
)

func testOptions(t *testing.T) Options {
	t.Helper()
	l, err := inventory.Load("../examples/hosts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Lab, o.BaseDir = l, t.TempDir()
	return o
}

func names(t *testing.T, o Options, a Action) []string {
	t.Helper()
	ps, _, err := Phases(o, a)
	if err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	return ps.Names()
}

var (
	clusterUp = []string{"connect", "facts", "ownership", "first-boot", "preflight", "os-prep", "mirrors", "container-runtime", "kubernetes",
		"kubeadm-config", "control-plane", "network-check", "kubeconfig", "join", "record-ownership", "cni", "wait", "pod-network-check", "untaint"}
	stackUp = []string{"mesh-image", "mesh-image-load", "mesh", "addons", "bookinfo", "verify", "summary"}
)

// TestUpIsOneList: up, plan and down run the lists in phases.go, in that order; the bundle
// upload comes in offline, right before the runtime; --stack=false stops after the cluster.
func TestUpIsOneList(t *testing.T) {
	o := testOptions(t)
	if got, want := names(t, o, ActionUp), append(slices.Clone(clusterUp), stackUp...); !slices.Equal(got, want) {
		t.Errorf("up = %v\nwant %v", got, want)
	}
	if got, want := names(t, o, ActionPlan), names(t, o, ActionUp); !slices.Equal(got, want) {
		t.Errorf("plan = %v, up = %v", got, want)
	}
	if got, want := names(t, o, ActionDown), []string{"connect", "ownership", "reset", "forget-state", "remove-kubeconfig"}; !slices.Equal(got, want) {
		t.Errorf("down = %v, want %v", got, want)
	}

	o.Stack.Enabled = false
	if got := names(t, o, ActionUp); !slices.Equal(got, clusterUp) {
		t.Errorf("--stack=false: %v", got)
	}

	dir := t.TempDir()
	m := &bundle.Manifest{Schema: bundle.Schema, Images: map[string]string{"registry.k8s.io/pause:3.10.1": "images/p.tar"},
		Files: []bundle.File{{Path: "images/p.tar"}}}
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	o.Cluster.Bundle = dir
	got := names(t, o, ActionUp)
	if i := slices.Index(got, "bundle"); i < 0 || got[i+1] != "container-runtime" {
		t.Errorf("offline up = %v: the bundle upload must come right before the runtime", got)
	}
}

// TestSelectPhases: --skip-phases and --phase pick from the list; connect and the ownership
// check always stay (skipping the check is refused), and a name that is not a phase is an error
// that lists the phases.
func TestSelectPhases(t *testing.T) {
	o := testOptions(t)
	o.SkipPhases = []string{"verify", "summary"}
	if got := names(t, o, ActionUp); slices.Contains(got, "verify") || got[0] != "connect" || len(got) != len(clusterUp)+len(stackUp)-2 {
		t.Errorf("skip verify,summary: %v", got)
	}
	o.SkipPhases, o.OnlyPhase = nil, "cni"
	if got := names(t, o, ActionUp); !slices.Equal(got, []string{"connect", "ownership", "cni"}) {
		t.Errorf("--phase cni: %v", got)
	}
	o.OnlyPhase = "reset"
	if got := names(t, o, ActionDown); !slices.Equal(got, []string{"connect", "ownership", "reset"}) {
		t.Errorf("down --phase reset: %v", got)
	}
	o.SkipPhases, o.OnlyPhase = []string{"ownership"}, ""
	if _, _, err := Phases(o, ActionDown); err == nil || !strings.Contains(err.Error(), "cannot be skipped") {
		t.Errorf("--skip-phases ownership: %v", err)
	}
	o.SkipPhases = nil
	o.OnlyPhase = "cnii"
	if _, _, err := Phases(o, ActionUp); err == nil || !strings.Contains(err.Error(), "kubeadm-config") {
		t.Errorf("--phase cnii: %v", err)
	}
}

// TestOtherPlaybookRunsAsItIs: another embedded playbook runs its own phases, without the lab's.
func TestOtherPlaybookRunsAsItIs(t *testing.T) {
	o := testOptions(t)
	o.Playbook = "sample"
	pb, err := playbook.Load(playbooks.FS, "sample")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, o, ActionUp), engine.UpPhases(pb).Names(); !slices.Equal(got, want) {
		t.Errorf("sample up = %v, want %v", got, want)
	}
	o.Cluster.Bundle = t.TempDir()
	if _, _, err := Phases(o, ActionUp); err == nil || !strings.Contains(err.Error(), "--bundle") {
		t.Errorf("--bundle with the sample playbook: %v", err)
	}
}

// TestEveryPlaybookPhaseIsPlaced: a phase added to the YAML but not to the list is refused, and
// so is a playbook that lacks a phase the list needs — each naming the phase.
func TestEveryPlaybookPhaseIsPlaced(t *testing.T) {
	pb, err := playbook.Load(playbooks.FS, Playbook)
	if err != nil {
		t.Fatal(err)
	}
	extra := *pb
	extra.Phases = append(slices.Clone(pb.Phases), playbook.Phase{Name: "forgotten", Line: 999})
	b := &builder{pb: &extra}
	if _, err := b.build(engine.Phases{b.play("preflight")}, "phases", extra.Phases); err == nil || !strings.Contains(err.Error(), `"os-prep"`) {
		t.Errorf("unplaced playbook phases: %v", err)
	}
	b = &builder{pb: pb}
	if _, err := b.build(engine.Phases{b.play("no-such-phase")}, "phases", nil); err == nil || !strings.Contains(err.Error(), `"no-such-phase"`) {
		t.Errorf("missing playbook phase: %v", err)
	}
}

type countSink struct{ n int }

func (c *countSink) Emit(event.Event) { c.n++ }

// TestTamperedBundleRunsNothing: `up --bundle` with a manifest whose path leaves the bundle is
// refused as bad input before a single event (no connection, no phase) — nothing runs.
func TestTamperedBundleRunsNothing(t *testing.T) {
	o := testOptions(t)
	dir := t.TempDir()
	m := &bundle.Manifest{Schema: bundle.Schema, Files: []bundle.File{{Path: "bin/../../../etc/cron.d/x"}}}
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	o.Cluster.Bundle = dir
	sink := &countSink{}
	_, err := Up(context.Background(), o, sink)
	var in *InputError
	if !errors.As(err, &in) || !strings.Contains(err.Error(), `"bin/../../../etc/cron.d/x" is not a path inside the bundle`) {
		t.Fatalf("err = %v", err)
	}
	if sink.n != 0 {
		t.Errorf("%d events: something ran", sink.n)
	}
}
