package main

import (
	"context"
	"fmt"
	"io"
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
it rejected the latest config (the error is shown). In a cluster it also shows the SPIFFE identity
each proxy authenticated as, when the certificate the CA last signed for it expires, and the
inbound mutual TLS mode it enforces; 'meshlab mesh describe POD' tells more about one pod.
Config the control plane itself refused (a policy that does not validate) is listed after the
table, with what stays in force.`,
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
			return writeStatus(cmd.OutOrStdout(), st, time.Now())
		},
	}
	cmd.Flags().StringVar(&addr, "pilot", "127.0.0.1:15014", "the control plane's debug address")
	cmd.Flags().StringVar(&kubeconfigPath, "kubeconfig", "", "ask the control plane on this cluster, through the API server (instead of --pilot)")
	cmd.MarkFlagsMutuallyExclusive("pilot", "kubeconfig")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for the control plane")
	return cmd
}

// writeStatus prints the proxies: sync state, the identity each authenticated as, when the
// workload certificate expires (the later of the last one signed here and the one it presented
// when it connected), and the inbound mutual TLS it was sent.
func writeStatus(out io.Writer, st []server.ProxyStatus, now time.Time) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROXY\tNAMESPACE\tWORKLOAD\tSTATE\tVERSION\tIDENTITY\tCERT EXPIRES\tMTLS IN\tERROR")
	for _, p := range st {
		expires := "-"
		if !p.CertExpiry.IsZero() {
			expires = "in " + p.CertExpiry.Sub(now).Round(time.Minute).String()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Namespace, p.Workload, p.State, p.Version,
			orDash(p.Identity), expires, orDash(p.InboundMTLS), strings.ReplaceAll(p.Error, "\n", " "))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(st) > 0 { // the same for every proxy
		for _, r := range st[0].Rejected {
			fmt.Fprintf(out, "REJECTED CONFIG: %s\n", strings.ReplaceAll(r, "\n", " "))
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fetchStatusInCluster asks meshlab's installed control plane through the API server.
func fetchStatusInCluster(ctx context.Context, cmd *cobra.Command, path string) ([]server.ProxyStatus, error) {
	c, _, err := connectCluster(cmd, path, "")
	if err != nil {
		return nil, err
	}
	return pilot.FetchStatusInCluster(ctx, c.Kube, install.Namespace, "app="+install.Name, install.MetricsPort)
}
