package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/cluster/kubeconfig"
	"github.com/meshlab/meshlab/mesh/install"
	"github.com/meshlab/meshlab/mesh/pilot"
	"github.com/meshlab/meshlab/mesh/pilot/server"
)

func init() {
	registerIn("mesh", newMeshStatusCmd)
}

// newMeshStatusCmd is `meshlab mesh status`: every connected proxy's sync state.
func newMeshStatusCmd(*globalOptions) *cobra.Command {
	var (
		addr, kubeconfigPath string
		timeout              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status [--pilot ADDR | --kubeconfig FILE]",
		Short: "List the proxies connected to the control plane as SYNCED, STALE or NACKED",
		Long: `Asks the control plane's debug port (/debug/status) for every connected proxy: SYNCED when it
ACKed the latest config of every resource type, STALE while a push is not ACKed yet, NACKED when
it rejected the latest config (the error is shown). Config the control plane itself refused
(a policy that does not validate) is listed after the table, with what stays in force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			var st []server.ProxyStatus
			var err error
			if kubeconfigPath != "" {
				st, err = fetchStatusInCluster(ctx, kubeconfigPath)
			} else {
				st, err = pilot.FetchStatus(ctx, addr)
			}
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PROXY\tNAMESPACE\tWORKLOAD\tSTATE\tVERSION\tERROR")
			for _, p := range st {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Namespace, p.Workload, p.State, p.Version, strings.ReplaceAll(p.Error, "\n", " "))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if len(st) > 0 {
				for _, r := range st[0].Rejected {
					fmt.Fprintf(cmd.OutOrStdout(), "REJECTED CONFIG: %s\n", strings.ReplaceAll(r, "\n", " "))
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "pilot", "127.0.0.1:15014", "the control plane's debug address")
	cmd.Flags().StringVar(&kubeconfigPath, "kubeconfig", "", "ask the control plane on this cluster, through the API server (instead of --pilot)")
	cmd.MarkFlagsMutuallyExclusive("pilot", "kubeconfig")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for the control plane")
	return cmd
}

// fetchStatusInCluster asks meshlab's installed control plane through the API server.
func fetchStatusInCluster(ctx context.Context, path string) ([]server.ProxyStatus, error) {
	cfg, err := kubeconfig.RESTConfig(path)
	if err != nil {
		return nil, badInput(err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, badInput(err)
	}
	return pilot.FetchStatusInCluster(ctx, kube, install.Namespace, "app="+install.Name, install.MetricsPort)
}
