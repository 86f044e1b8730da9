package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/lab"
	"github.com/meshlab/meshlab/provision/inventory"
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
playbook this removes its scratch directory.

Only hosts whose ownership marker (/var/lib/meshlab/owner) names this lab are reset; a host
holding Kubernetes that meshlab did not set up for this lab stops the run before anything
changes (--force resets it anyway). In a terminal down asks first; scripts pass --yes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLab(cmd, g, f, lab.ActionDown)
		},
	}
	f.bindCommon(cmd)
	f.bindRun(cmd)
	f.bindDown(cmd)
	f.bindForce(cmd, "reset")
	return cmd
}

// errDownNeedsYes: without a terminal there is nobody to ask.
var errDownNeedsYes = errors.New("meshlab down resets Kubernetes on every host of the hosts file and asks first; " +
	"stdin is not a terminal, so nobody can answer: pass --yes to go ahead")

// confirmDown asks, in a terminal, before down resets the lab's hosts; "yes" (or the lab's name)
// goes ahead, anything else stops with nothing changed.
func confirmDown(cmd *cobra.Command, l *inventory.Lab) error {
	if !isTerminal(cmd.InOrStdin()) {
		return badInput(errDownNeedsYes)
	}
	names := make([]string, len(l.Hosts))
	for i, h := range l.Hosts {
		names[i] = h.Name
	}
	fmt.Fprintf(cmd.OutOrStdout(), "This resets Kubernetes on %s (lab %s): kubeadm reset, the CNI configuration, the cluster's iptables rules,\n"+
		"and puts back the files meshlab replaced. Type yes to go ahead: ", strings.Join(names, ", "), l.Name)
	answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if a := strings.TrimSpace(answer); a != "yes" && a != l.Name {
		return errors.New("down cancelled: nothing was changed")
	}
	return nil
}
