package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/bookinfo/local"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/localmesh"
)

func init() {
	registerIn("bookinfo", newBookinfoLocalCmd)
}

func newBookinfoLocalCmd(g *globalOptions) *cobra.Command {
	opts := localmesh.Options{Name: "bi"}
	var zipkin string
	cmd := &cobra.Command{
		Use:   "local [--routes FILE...]",
		Short: "Run Bookinfo with sidecars in network namespaces on this machine (no Kubernetes; root)",
		Long: `Runs Istio's Bookinfo sample as six "pods" — network namespaces on a private bridge, each with
meshlab's capture rules, a meshlab sidecar (UID 1337) and a Go Bookinfo service — and keeps them running
until interrupted. Routing comes from the --routes files (Istio VirtualService and DestinationRule YAML,
e.g. samples/bookinfo/networking/*.yaml); edit a file and every sidecar applies the change within a
second. Nothing leaves this machine: the bridge is not masqueraded and forwarding off it is dropped.`,
		Example: `  sudo meshlab bookinfo local --routes destination-rule-all.yaml --routes virtual-service-all-v1.yaml
  curl http://10.214.0.15:9080/productpage`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, f := range opts.RouteFiles {
				if _, err := config.Load(f); err != nil {
					return badInput(err)
				}
			}
			if zipkin != "" {
				opts.Tracing = &config.Tracing{ZipkinURL: zipkin, SamplePercent: 100}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			m, err := local.Start(ctx, opts)
			if err != nil {
				return err
			}
			defer m.Stop(context.Background())
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Bookinfo is running.\n  productpage: %s\n  logs:        %s\n", local.ProductpageURL(m), opts.Dir)
			for _, p := range local.Topology().Pods {
				fmt.Fprintf(out, "  %-15s %s  (ip netns exec %s ...)\n", p.Name, m.PodAddr(p.Name), m.Netns(p.Name))
			}
			fmt.Fprintln(out, "Press Ctrl+C to stop and remove everything.")
			<-ctx.Done()
			fmt.Fprintln(out, "Stopping...")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.RouteFiles, "routes", nil, "Istio routing file applied by every sidecar (repeatable; watched for changes)")
	fl.StringVar(&opts.Dir, "dir", "", "directory for generated config and process logs (default a temp dir)")
	fl.StringVar(&zipkin, "zipkin", "", "Zipkin v2 span endpoint, e.g. http://10.214.0.1:9411/api/v2/spans")
	return cmd
}
