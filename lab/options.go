package lab

import (
	"errors"
	"fmt"
	"time"

	"github.com/meshlab/meshlab/cluster/phases"
	"github.com/meshlab/meshlab/lab/stack"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/state"
)

// Playbook is the embedded playbook a lab's hosts run: the Kubernetes one. Another embedded
// playbook (--playbook sample) runs on its own, without the lab's Go phases.
const Playbook = phases.Playbook

// Options are everything one `meshlab up`, `down` or `plan` (or the wizard's run) decides.
type Options struct {
	Lab *inventory.Lab // the loaded, validated hosts file
	// BaseDir holds the labs' folders (--log-dir); "" is ~/.meshlab/labs.
	BaseDir string
	// Playbook is the embedded playbook; "" is Playbook (the lab). Any other runs as it is.
	Playbook string

	KnownHosts       string // known_hosts file ("" the hosts file's, else ~/.ssh/known_hosts)
	TrustNewHostKeys bool   // record unknown host keys (trust on first use)
	Concurrency      int    // hosts worked on at once (0: engine.DefaultConcurrency)
	SkipPhases       []string
	OnlyPhase        string // run only this phase (after connecting)
	Probe            bool   // plan: connect and run the guards (read-only)
	// Resolver looks up the hosts file's names before connecting (nil: the system's).
	Resolver inventory.Resolver

	Cluster ClusterOptions
	Stack   StackOptions
}

// ClusterOptions shape the Kubernetes cluster.
type ClusterOptions struct {
	Bundle                string        // offline bundle folder; "" installs from the internet
	WaitTimeout           time.Duration // Ready nodes and CoreDNS (0: phases.DefaultWaitTimeout)
	IgnorePreflightErrors []string      // passed to kubeadm init and join
	RemovePackages        bool          // down: also remove the Kubernetes packages and the bundle
	// Force works on hosts meshlab cannot prove it set up for this lab (--force).
	Force bool
}

// StackOptions shape what follows the cluster: the meshlab image, mesh, addons, Bookinfo,
// verify and the summary. The hosts file's components say which of them are installed.
type StackOptions struct {
	Enabled     bool             // false stops after the cluster
	WaitTimeout time.Duration    // each rollout or addon (0: stack.DefaultWaitTimeout)
	Verify      stack.VerifyMode // "" is stack.VerifyFull
	Version     string           // the meshlab binary's version: tags the meshlab image
}

// DefaultOptions are the defaults `meshlab up` and the wizard start from.
func DefaultOptions() Options {
	return Options{
		Playbook: Playbook,
		Cluster:  ClusterOptions{WaitTimeout: phases.DefaultWaitTimeout},
		Stack:    StackOptions{Enabled: true, WaitTimeout: stack.DefaultWaitTimeout, Verify: stack.VerifyFull},
	}
}

// isLab says whether the options run the lab (the Kubernetes playbook with its Go phases) rather
// than another playbook on its own.
func (o Options) isLab() bool { return o.Playbook == "" || o.Playbook == Playbook }

// Dir is the lab's folder.
func (o Options) Dir() (state.LabDir, error) {
	if o.Lab == nil {
		return "", errors.New("no lab (load a hosts file first)")
	}
	return state.LabDirFor(o.BaseDir, o.Lab.Name)
}

// check reports the options a user can get wrong, each naming the flag that sets it.
func (o Options) check() error {
	var errs []error
	if o.Lab == nil {
		errs = append(errs, errors.New("no lab (load a hosts file first)"))
	}
	if o.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("--concurrency must be at least 1, not %d", o.Concurrency))
	}
	if !o.isLab() && o.Cluster.Bundle != "" {
		errs = append(errs, fmt.Errorf("--bundle is for the %s playbook, not %s (add --playbook %s)", Playbook, o.Playbook, Playbook))
	}
	if o.Stack.Enabled && o.Stack.WaitTimeout < 0 {
		errs = append(errs, fmt.Errorf("--stack-wait-timeout must be positive, not %s", o.Stack.WaitTimeout))
	}
	if o.Stack.Verify != "" {
		if _, err := stack.ParseVerifyMode(string(o.Stack.Verify)); err != nil {
			errs = append(errs, fmt.Errorf("--verify: %w", err))
		}
	}
	return errors.Join(errs...)
}

// keep lets phases be chosen with --skip-phases and --phase; connect always stays, since every
// other phase needs the connections, and so does the ownership check, since no phase may change
// a host meshlab cannot prove is the lab's.
func (o Options) keep(all engine.Phases) (engine.Phases, error) {
	if len(o.SkipPhases) == 0 && o.OnlyPhase == "" {
		return all, nil
	}
	var always, rest engine.Phases
	for i, p := range all {
		if i == 0 || engine.PhaseName(p) == phases.OwnershipPhase {
			always = append(always, p)
		} else {
			rest = append(rest, p)
		}
	}
	for _, s := range o.SkipPhases {
		if s == phases.OwnershipPhase {
			return nil, fmt.Errorf("--skip-phases %s: the ownership check cannot be skipped (--force lets the run go ahead on hosts it refuses)", s)
		}
	}
	only := o.OnlyPhase
	if only == phases.OwnershipPhase {
		only, rest = "", nil
	}
	sel, err := rest.Select(o.SkipPhases, only)
	if err != nil {
		return nil, err
	}
	chosen := map[engine.Phase]bool{}
	for _, p := range append(always, sel...) {
		chosen[p] = true
	}
	var out engine.Phases
	for _, p := range all { // in the list's order
		if chosen[p] {
			out = append(out, p)
		}
	}
	return out, nil
}
