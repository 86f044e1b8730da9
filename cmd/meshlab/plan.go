package main

import (
	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/lab"
)

func init() {
	subcommands = append(subcommands, newPlanCmd)
}

func newPlanCmd(g *globalOptions) *cobra.Command {
	f := &labFlags{}
	cmd := &cobra.Command{
		Use:   "plan --hosts FILE",
		Short: "Show what `meshlab up` would do on each host, touching nothing",
		Long: `Walk the same phases as ` + "`meshlab up`" + ` (the lab's one list) in dry-run mode and print,
per host, each task it would run.

By default plan reads only the hosts file (and the lab's state file, if one exists, to show tasks
already recorded as done): it opens no SSH connection, reads no secrets and writes nothing.
With --probe it connects and runs each task's guard (read-only checks) to show which tasks are
already done on the hosts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLab(cmd, g, f, lab.ActionPlan)
		},
	}
	f.bindCommon(cmd)
	f.bindRun(cmd)
	f.bindUp(cmd)
	cmd.Flags().BoolVar(&f.probe, "probe", false, "connect and run the guards (read-only) to tell what is already done")
	return cmd
}
