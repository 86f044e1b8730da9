package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/lab"
)

// errRequiredHosts: up, down and plan act on the machines a hosts file names.
var errRequiredHosts = errors.New("--hosts FILE is required (a local lab writes one: meshlab lab create --out FILE)")

func init() {
	subcommands = append(subcommands, newDownCmd)
}

func newDownCmd(g *globalOptions) *cobra.Command {
	f := &labFlags{}
	cmd := &cobra.Command{
		Use:   "down --hosts FILE",
		Short: "Undo what `meshlab up` did on the lab's hosts (the playbook's reset phases)",
		Long: `Run the playbook's reset phases on every host, then forget the tasks recorded as done and
the cluster's kubeconfig, so the next ` + "`meshlab up`" + ` starts from the beginning. For the sample
playbook this removes its scratch directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLab(cmd, g, f, lab.ActionDown)
		},
	}
	f.bindCommon(cmd)
	f.bindRun(cmd)
	f.bindDown(cmd)
	return cmd
}
