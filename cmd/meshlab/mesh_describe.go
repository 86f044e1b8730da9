package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	istioclient "istio.io/client-go/pkg/clientset/versioned"

	"github.com/meshlab/meshlab/mesh/describe"
)

func init() {
	registerIn("mesh", newMeshDescribeCmd)
}

// newMeshDescribeCmd is `meshlab mesh describe POD`: one pod's identity and mutual TLS.
func newMeshDescribeCmd(*globalOptions) *cobra.Command {
	var (
		kubeconfigPath, namespace string
		timeout                   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "describe POD [-n NAMESPACE]",
		Short: "Show a pod's mesh identity, certificate, sync state and mutual TLS in and out",
		Long: `Describes one meshed pod, as istioctl x describe does: its SPIFFE identity and the certificate its
sidecar holds (serial, validity, root), whether the control plane has it SYNCED, the mutual TLS it
accepts inbound (STRICT, PERMISSIVE, DISABLE, per port) with the PeerAuthentications that decide
it, and, per upstream cluster, whether it originates mutual TLS. The sidecar is read through the
API server's pod proxy (its port 15021), so no port-forward is needed.`,
		Example: `  meshlab mesh describe productpage-v1-7d9c -n bookinfo --kubeconfig ~/.meshlab/labs/lab/admin.conf`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pod := args[0]
			if ns, name, ok := strings.Cut(pod, "/"); ok && namespace == "" {
				namespace, pod = ns, name
			}
			if namespace == "" {
				namespace = "default"
			}
			c, cfg, err := connectCluster(cmd, kubeconfigPath, "")
			if err != nil {
				return err
			}
			ic, err := istioclient.NewForConfig(cfg.REST)
			if err != nil {
				return badInput(err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			r, err := describe.Gather(ctx, describe.Sources{Kube: c.Kube, Istio: ic}, namespace, pod)
			if err != nil {
				return err
			}
			return r.Write(cmd.OutOrStdout())
		},
	}
	addKubeconfigFlag(cmd.Flags(), &kubeconfigPath)
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "the pod's namespace (default: default, or NAMESPACE/POD)")
	cmd.Flags().DurationVar(&timeout, "timeout", 20*time.Second, "how long to wait for the cluster")
	return cmd
}
