package main

import (
	"github.com/spf13/cobra"
)

func init() {
	subcommands = append(subcommands, newPlanCmd)
}

func newPlanCmd(g *globalOptions) *cobra.Command {
	o := &actionOptions{}
	cmd := &cobra.Command{
		Use:   "plan --hosts FILE",
		Short: "Show what `meshlab up` would do on each host, touching nothing",
		Long: `Walk the same phases as ` + "`meshlab up`" + ` in dry-run mode and print, per host, each task it would run.

By default plan reads only the hosts file (and the lab's state file, if one exists, to show tasks
already recorded as done): it opens no SSH connection, reads no secrets and writes nothing.
With --probe it connects and runs each task's guard (read-only checks) to show which tasks are
already done on the hosts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.hosts == "" {
				return badInput(errRequiredHosts)
			}
			return runAction(cmd, g, o, "plan")
		},
	}
	o.bind(cmd)
	bindStackFlags(cmd)
	cmd.Flags().BoolVar(&o.probe, "probe", false, "connect and run the guards (read-only) to tell what is already done")
	return cmd
}
