package labrun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/meshlab/meshlab/playbooks"
	"github.com/meshlab/meshlab/provision/connect"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/playbook"
)

// DefaultPlaybook is what the wizard runs unless told otherwise; it follows `meshlab up`.
const DefaultPlaybook = "sample"

// kubeconfigName is the admin kubeconfig the cluster phases fetch into the lab's folder
// (cluster/phases.KubeconfigName; not imported, the cluster packages are far heavier).
const kubeconfigName = "kubeconfig"

// PhasesFunc builds the up action's phases for a playbook, and the playbook vars they need. The
// command layer passes the one `meshlab up` uses, so both run the same phases (the kubernetes
// playbook gets its Go cluster phases spliced in).
type PhasesFunc func(pb *playbook.Playbook, lab *inventory.Lab, logDir string) (engine.Phases, map[string]any, error)

// UpOptions are the choices `meshlab up` takes as flags.
type UpOptions struct {
	Phases         PhasesFunc // nil: engine.UpPhases(pb), the playbook as it is
	Playbook       string     // embedded playbook name; default DefaultPlaybook
	LogDir         string     // --log-dir: the labs' parent folder; "" means ~/.meshlab/labs
	KnownHostsPath string     // --known-hosts
	Concurrency    int        // 0: the engine's default
}

// UpResult is what the summary screen shows after a run, successful or not.
type UpResult struct {
	LabDir     string // state and logs
	RunLog     string // the run's log file ("" when none was opened)
	Kubeconfig string // the admin kubeconfig, when the run produced one
}

// Up runs the up action on lab, reporting every step to sink, the same way `meshlab up --hosts`
// does (connect.NewRun + engine.Execute over the phases o.Phases builds). Cancelling ctx stops the remote
// commands; the engine saves state, so the next Up continues where this one stopped. Up returns
// only once the engine has finished, so a caller that waits for it may exit safely.
func Up(ctx context.Context, lab *inventory.Lab, sink event.Sink, o UpOptions) (UpResult, error) {
	name := o.Playbook
	if name == "" {
		name = DefaultPlaybook
	}
	var res UpResult
	dir, err := connect.LabDir(lab, o.LogDir)
	if err != nil {
		return res, err
	}
	res.LabDir = dir
	pb, err := playbook.Load(playbooks.FS, name)
	if err != nil {
		return res, fmt.Errorf("playbook %s: %w", name, err)
	}
	phases, vars := engine.UpPhases(pb), map[string]any(nil)
	if o.Phases != nil {
		if phases, vars, err = o.Phases(pb, lab, o.LogDir); err != nil {
			return res, err
		}
	}
	run, closeLogs, err := connect.NewRun(lab, connect.RunOptions{
		Options: connect.Options{KnownHostsPath: o.KnownHostsPath},
		Action:  "up", BaseDir: o.LogDir, Sink: sink, Concurrency: o.Concurrency, Vars: vars,
	})
	if err != nil {
		return res, err
	}
	defer closeLogs()
	if run.Logs != nil {
		res.RunLog = run.Logs.RunPath()
	}
	err = engine.Execute(ctx, run, phases)
	if k := filepath.Join(dir, kubeconfigName); fileExists(k) {
		res.Kubeconfig = k
	}
	return res, err
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
