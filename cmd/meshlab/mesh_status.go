package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

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
it rejected the latest config (the error is shown).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			var st []server.ProxyStatus
			var err error
			if kubeconfigPath != "" {
				st, err = fetchStatusInCluster(ctx, cmd, kubeconfigPath)
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
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&addr, "pilot", "127.0.0.1:15014", "the control plane's debug address")
	cmd.Flags().StringVar(&kubeconfigPath, "kubeconfig", "", "ask the control plane on this cluster, through the API server (instead of --pilot)")
	cmd.MarkFlagsMutuallyExclusive("pilot", "kubeconfig")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for the control plane")
	return cmd
}

// fetchStatusInCluster asks meshlab's installed control plane through the API server.
func fetchStatusInCluster(ctx context.Context, cmd *cobra.Command, path string) ([]server.ProxyStatus, error) {
	c, _, err := connectCluster(cmd, path, "")
	if err != nil {
		return nil, err
	}
	return pilot.FetchStatusInCluster(ctx, c.Kube, install.Namespace, "app="+install.Name, install.MetricsPort)
}
