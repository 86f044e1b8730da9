package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/state"
)

// kubeconfigHelp is the --kubeconfig help of every command that talks to a cluster: they all
// find it the same way (internal/kube.Load).
const kubeconfigHelp = "kubeconfig (default: $KUBECONFIG, then the lab's when --hosts is given, then ~/.kube/config, then in-cluster)"

func addKubeconfigFlag(fl *pflag.FlagSet, p *string) {
	fl.StringVar(p, "kubeconfig", "", kubeconfigHelp)
}

// loadCluster finds the cluster for --kubeconfig flag (labKubeconfig: the lab's file, "" when
// the command knows no lab). When the cluster was not named with --kubeconfig it says on stderr
// which one it found; a named one adds no line to output that scripts may read.
func loadCluster(cmd *cobra.Command, flag, labKubeconfig string) (*kube.Config, error) {
	cfg, err := kube.Load(kube.LoadOptions{Kubeconfig: flag, Lab: labKubeconfig})
	if err != nil {
		return nil, badInput(err)
	}
	if cfg.Source.Kind != kube.FromFlag {
		fmt.Fprintf(cmd.ErrOrStderr(), "using %s (%s)\n", cfg.Source, cfg.REST.Host)
	}
	return cfg, nil
}

// connectCluster is loadCluster and a client for the cluster.
func connectCluster(cmd *cobra.Command, flag, labKubeconfig string) (*kube.Client, *kube.Config, error) {
	cfg, err := loadCluster(cmd, flag, labKubeconfig)
	if err != nil {
		return nil, nil, err
	}
	c, err := kube.NewClient(cfg.REST)
	if err != nil {
		return nil, nil, err
	}
	return c, cfg, nil
}

// labKubeconfig is where `meshlab up` keeps the lab's admin kubeconfig.
func labKubeconfig(g *globalOptions, lab *inventory.Lab) (string, error) {
	dir, err := state.LabDirFor(g.logDir, lab.Name)
	if err != nil {
		return "", err
	}
	return dir.Kubeconfig(), nil
}
