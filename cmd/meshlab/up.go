package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/cluster/phases"
	"github.com/meshlab/meshlab/playbooks"
	"github.com/meshlab/meshlab/provision/connect"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/playbook"
	"github.com/meshlab/meshlab/provision/view"
)

func init() {
	subcommands = append(subcommands, newUpCmd)
}

// actionOptions are the flags up, down and plan share.
type actionOptions struct {
	hosts       string
	playbook    string
	concurrency int
	skipPhases  []string
	phase       string
	trustNew    bool
	knownHosts  string
	probe       bool
	cluster     clusterOptions // --bundle and friends (cluster_up.go)
}

// DefaultPlaybook is what up, down and plan run without --playbook: the Kubernetes cluster,
// after which up (and plan) add the stack (see stack_up.go).
const defaultPlaybook = phases.Playbook

func (o *actionOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.hosts, "hosts", "", "hosts file (YAML; see examples/hosts.yaml)")
	f.StringVar(&o.playbook, "playbook", defaultPlaybook, "embedded playbook to run")
	f.StringSliceVar(&o.skipPhases, "skip-phases", nil, "phases to skip (comma-separated names)")
	f.StringVar(&o.phase, "phase", "", "run only this phase (after connecting)")
	f.IntVar(&o.concurrency, "concurrency", engine.DefaultConcurrency, "hosts worked on at once")
	f.StringVar(&o.knownHosts, "known-hosts", "", "known_hosts file (default: the hosts file's ssh.knownHosts, else ~/.ssh/known_hosts)")
	f.BoolVar(&o.trustNew, "trust-new-host-keys", false, "record the keys of hosts not yet in known_hosts (trust on first use)")
	_ = cmd.RegisterFlagCompletionFunc("playbook", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		names, _ := playbook.List(playbooks.FS)
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	o.cluster.bind(cmd)
}

func newUpCmd(g *globalOptions) *cobra.Command {
	o := &actionOptions{}
	cmd := &cobra.Command{
		Use:   "up --hosts FILE",
		Short: "Provision the lab's hosts over SSH (re-running continues where it stopped)",
		Long: `Run the playbook's phases on every host of the hosts file, in parallel.

Every task is idempotent: a guard or the lab's recorded state tells whether it is already done, so
re-running after a failure skips finished work and continues. State and full per-host logs are kept
in ~/.meshlab/labs/<lab>/ (or --log-dir). Ctrl+C stops the remote commands and keeps the state.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.hosts == "" {
				return badInput(errRequiredHosts)
			}
			return runAction(cmd, g, o, "up")
		},
	}
	o.bind(cmd)
	bindStackFlags(cmd)
	return cmd
}

// runAction loads the hosts file and playbook, builds the run and executes the action's phases.
func runAction(cmd *cobra.Command, g *globalOptions, o *actionOptions, action string) error {
	lab, err := inventory.Load(o.hosts)
	if err != nil {
		// A missing, unreadable or invalid hosts file: every case is the user's input.
		return badInput(err)
	}
	pb, err := playbook.Load(playbooks.FS, o.playbook)
	if err != nil {
		return badInput(err)
	}
	phases, vars, err := o.cluster.phases(action, pb, lab, g.logDir)
	if err != nil {
		return badInput(err)
	}
	if phases, err = appendStack(cmd, phases, pb, lab, g.logDir, o.cluster.bundle); err != nil {
		return badInput(err)
	}
	if phases, err = selectPhases(phases, o); err != nil {
		return badInput(err)
	}
	if o.concurrency < 1 {
		return badInput(fmt.Errorf("--concurrency must be at least 1, not %d", o.concurrency))
	}
	dryRun := action == "plan"
	run, closeLogs, err := connect.NewRun(lab, connect.RunOptions{
		Options: connect.Options{KnownHostsPath: o.knownHosts, TrustNewHostKeys: o.trustNew},
		Action:  action, BaseDir: g.logDir, Sink: newView(cmd.OutOrStdout(), g, dryRun),
		Concurrency: o.concurrency, DryRun: dryRun, Probe: o.probe, Vars: vars,
	})
	if err != nil {
		return badInput(err)
	}
	defer closeLogs()

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := engine.Execute(ctx, run, phases); err != nil {
		if run.Logs != nil {
			return fmt.Errorf("%s failed: %w\nrun log: %s", action, err, run.Logs.RunPath())
		}
		return fmt.Errorf("%s failed: %w", action, err)
	}
	return nil
}

// selectPhases applies --skip-phases and --phase. The connect phase always stays: every other
// phase needs the connections.
func selectPhases(all engine.Phases, o *actionOptions) (engine.Phases, error) {
	if len(o.skipPhases) == 0 && o.phase == "" {
		return all, nil
	}
	rest := append(engine.Phases{}, all[1:]...)
	sel, err := rest.Select(o.skipPhases, o.phase)
	if err != nil {
		return nil, err
	}
	return append(engine.Phases{all[0]}, sel...), nil
}

// newView picks the event renderer for --output; a dry run in text is shown as a per-host plan.
func newView(w io.Writer, g *globalOptions, dryRun bool) event.Sink {
	switch {
	case g.output == "json":
		return view.NewJSON(w)
	case dryRun:
		return view.NewPlan(w, g.verbose)
	}
	return view.NewText(w, g.verbose)
}
