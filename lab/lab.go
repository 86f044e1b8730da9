package lab

import (
	"context"

	"github.com/meshlab/meshlab/cluster/phases"
	"github.com/meshlab/meshlab/lab/stack"
	"github.com/meshlab/meshlab/playbooks"
	"github.com/meshlab/meshlab/provision/connect"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/playbook"
	"github.com/meshlab/meshlab/provision/state"
)

// Action is what a run does to the lab.
type Action string

// The actions.
const (
	ActionUp   Action = "up"
	ActionDown Action = "down"
	ActionPlan Action = "plan" // up's phases in a dry run
)

// Result is what a run leaves behind for the one who asked: where to look next.
type Result struct {
	Dir        state.LabDir // state and logs
	RunLog     string       // the run's own log ("" when none was opened: plan)
	Kubeconfig string       // the admin kubeconfig, when the cluster exists
}

// Up runs `meshlab up`: the lab's phases from bare machines to a verified lab, every step
// reported to sink. Re-running continues where a stopped or failed run left off; cancelling ctx
// stops the remote commands and keeps the state.
func Up(ctx context.Context, o Options, sink event.Sink) (Result, error) {
	return run(ctx, o, ActionUp, sink)
}

// Down runs `meshlab down`: the playbook's reset on every host, then forgets the cluster.
func Down(ctx context.Context, o Options, sink event.Sink) (Result, error) {
	return run(ctx, o, ActionDown, sink)
}

// Plan walks up's phases in a dry run: what would run on each host, touching nothing (with
// o.Probe, connecting and running the read-only guards).
func Plan(ctx context.Context, o Options, sink event.Sink) (Result, error) {
	return run(ctx, o, ActionPlan, sink)
}

// Phases is the list an action runs with these options, after --skip-phases and --phase.
func Phases(o Options, a Action) (engine.Phases, map[string]any, error) {
	if err := o.check(); err != nil {
		return nil, nil, err
	}
	name := o.Playbook
	if name == "" {
		name = Playbook
	}
	pb, err := playbook.Load(playbooks.FS, name)
	if err != nil {
		return nil, nil, err
	}
	if !o.isLab() { // another playbook: its own phases, as they are
		list := engine.UpPhases(pb)
		if a == ActionDown {
			list = engine.DownPhases(pb)
		}
		list, err = o.keep(list)
		return list, nil, err
	}
	dir, err := o.Dir()
	if err != nil {
		return nil, nil, err
	}
	b := &builder{pb: pb}
	if b.cluster, err = phases.New(phases.Options{Lab: o.Lab, Kubeconfig: dir.Kubeconfig(), BundleDir: o.Cluster.Bundle,
		RemovePackages: o.Cluster.RemovePackages, WaitTimeout: o.Cluster.WaitTimeout,
		IgnorePreflightErrors: o.Cluster.IgnorePreflightErrors, Force: o.Cluster.Force}); err != nil {
		return nil, nil, err
	}
	var list engine.Phases
	if a == ActionDown {
		list, err = b.build(downPhases(b), "reset", pb.Reset)
	} else {
		if o.Stack.Enabled {
			if b.stack, err = stack.New(stack.Options{Lab: o.Lab, Dir: dir, BundleDir: o.Cluster.Bundle,
				Version: o.Stack.Version, WaitTimeout: o.Stack.WaitTimeout, Verify: o.Stack.Verify,
				Reach: b.cluster}); err != nil {
				return nil, nil, err
			}
		}
		list, err = b.build(upPhases(b), "phases", pb.Phases)
	}
	if err != nil {
		return nil, nil, err
	}
	list, err = o.keep(list)
	return list, b.cluster.Vars().Map(), err
}

func run(ctx context.Context, o Options, a Action, sink event.Sink) (Result, error) {
	var res Result
	list, vars, err := Phases(o, a)
	if err != nil {
		return res, &InputError{err}
	}
	if res.Dir, err = o.Dir(); err != nil {
		return res, &InputError{err}
	}
	// A name that does not resolve is a mistake in the hosts file: say so with its line now,
	// not when its host is first dialled (a plain plan connects to nothing, so looks up nothing).
	if a != ActionPlan || o.Probe {
		if err := inventory.CheckNames(ctx, o.Lab, o.Resolver); err != nil {
			return res, &InputError{err}
		}
	}
	r, closeLogs, err := connect.NewRun(o.Lab, connect.RunOptions{
		Options: connect.Options{KnownHostsPath: o.KnownHosts, TrustNewHostKeys: o.TrustNewHostKeys},
		Action:  string(a), Dir: res.Dir, Sink: sink, Concurrency: o.Concurrency,
		DryRun: a == ActionPlan, Probe: o.Probe, Vars: vars,
	})
	if err != nil {
		return res, &InputError{err}
	}
	defer closeLogs()
	if r.Logs != nil {
		res.RunLog = r.Logs.RunPath()
	}
	err = engine.Execute(ctx, r, list)
	if res.Dir.HasKubeconfig() {
		res.Kubeconfig = res.Dir.Kubeconfig()
	}
	return res, err
}

// InputError marks a failure caused by what the user gave (options, the hosts file, the
// playbook, the bundle) before anything ran, so the CLI can exit with its bad-input status.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }
