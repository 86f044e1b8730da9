package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/lab"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/view"
)

func init() {
	subcommands = append(subcommands, newUpCmd)
}

func newUpCmd(g *globalOptions) *cobra.Command {
	f := &labFlags{}
	cmd := &cobra.Command{
		Use:   "up --hosts FILE",
		Short: "Build the lab on the hosts: Kubernetes, the mesh, addons, Bookinfo, verify (re-running continues where it stopped)",
		Long: `Run the lab's phases on every host of the hosts file, in parallel where they can: the
cluster (preflight, pinned runtime and Kubernetes, kubeadm init/join, Flannel), then the meshlab
image, the mesh, the addons and Bookinfo, then ` + "`meshlab verify bookinfo`" + ` and the lab's URLs.
` + "`meshlab plan`" + ` prints the same list of phases.

Every task is idempotent: a guard or the lab's recorded state tells whether it is already done, so
re-running after a failure skips finished work and continues. State and full per-host logs are kept
in ~/.meshlab/labs/<lab>/ (or --log-dir). Ctrl+C stops the remote commands and keeps the state.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLab(cmd, g, f, lab.ActionUp)
		},
	}
	f.bindCommon(cmd)
	f.bindRun(cmd)
	f.bindUp(cmd)
	f.bindForce(cmd, "change")
	return cmd
}

// runLab loads the hosts file, turns the flags into the lab's options and runs the action.
func runLab(cmd *cobra.Command, g *globalOptions, f *labFlags, a lab.Action) error {
	if f.hosts == "" {
		return badInput(errRequiredHosts)
	}
	l, err := inventory.Load(f.hosts)
	if err != nil {
		// A missing, unreadable or invalid hosts file: every case is the user's input.
		return badInput(err)
	}
	o, err := f.options(cmd, g, l)
	if err != nil {
		return badInput(err)
	}
	if a == lab.ActionDown && !f.yes {
		if err := confirmDown(cmd, l); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	act := map[lab.Action]func(context.Context, lab.Options, event.Sink) (lab.Result, error){
		lab.ActionUp: lab.Up, lab.ActionDown: lab.Down, lab.ActionPlan: lab.Plan}[a]
	res, err := act(ctx, o, newView(cmd.OutOrStdout(), g, a == lab.ActionPlan))
	var input *lab.InputError
	switch {
	case errors.As(err, &input):
		return badInput(input.Err)
	case err != nil && res.RunLog != "":
		return fmt.Errorf("%s failed: %w\nrun log: %s", a, err, res.RunLog)
	case err != nil:
		return fmt.Errorf("%s failed: %w", a, err)
	}
	return nil
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
