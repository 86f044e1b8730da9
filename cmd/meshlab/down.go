package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// errRequiredHosts: up, down and plan need a hosts file until local labs exist.
var errRequiredHosts = errors.New("--hosts FILE is required for now (a local lab default will come with `meshlab lab`)")

func init() {
	subcommands = append(subcommands, newDownCmd)
}

func newDownCmd(g *globalOptions) *cobra.Command {
	o := &actionOptions{}
	cmd := &cobra.Command{
		Use:   "down --hosts FILE",
		Short: "Undo what `meshlab up` did on the lab's hosts (the playbook's reset phases)",
		Long: `Run the playbook's reset phases on every host, then forget the tasks recorded as done,
so the next ` + "`meshlab up`" + ` starts from the beginning. For the sample playbook this removes its
scratch directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.hosts == "" {
				return badInput(errRequiredHosts)
			}
			return runAction(cmd, g, o, "down")
		},
	}
	o.bind(cmd)
	return cmd
}
