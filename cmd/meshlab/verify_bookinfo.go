package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/bookinfo/deploy"
	"github.com/meshlab/meshlab/bookinfo/verify"
	"github.com/meshlab/meshlab/lab/stack"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/versions"
)

func init() { registerVerify(newVerifyBookinfoCmd) }

// errChecksFailed is returned after the table is printed, so the exit status is 1.
var errChecksFailed = errors.New("verify bookinfo: checks failed (see the explanations above)")

// tableObserver prints a line per finished check while the run goes on (stderr), so a long run
// shows progress; the table itself is printed at the end.
type tableObserver struct{ w io.Writer }

func (o tableObserver) Started(string, verify.Checker) {}
func (o tableObserver) Finished(r verify.Result) {
	fmt.Fprintf(o.w, "  %-28s %s\n", r.Category+"/"+r.Check, r.Status)
}

func newVerifyBookinfoCmd(g *globalOptions) *cobra.Command {
	var o verify.ClusterOptions
	var kubeconfig string
	var quick, offline bool // offline: accepted (deprecated) so old scripts still run
	var bundleDir string
	cmd := &cobra.Command{
		Use:   "bookinfo [--kubeconfig FILE] [--quick] [--bundle DIR]",
		Short: "Check Bookinfo end to end: pods, gateway, routing scenarios, tracing, metrics, dashboards",
		Long: `Runs meshlab's Bookinfo checklist against a lab and prints check, expected, observed,
result and time for each. The routing scenarios apply Istio's networking samples, observe them
and restore the routing that was there before, also on failure or Ctrl+C. Exits 1 if any check
failed; each failure comes with a hint. --quick runs the smoke checks only. An addon that is
installed but does not answer fails at once with the reason; one whose image the offline bundle
(--bundle) lacks is reported as not in the offline bundle.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.output != "" && g.output != "text" && g.output != "json" {
				return badInput(fmt.Errorf("--output %q: want text or json", g.output))
			}
			// The lab as meshlab's defaults build it: the addons and image pins a hosts file
			// gets when it does not choose, so the bundle's manifest can say what is absent.
			defaults := &inventory.Lab{Versions: versions.Default(),
				Components: inventory.Components{Addons: inventory.DefaultAddons(), NodePorts: inventory.DefaultNodePorts()}}
			absent, err := stack.AbsentAddons(defaults, bundleDir)
			if err != nil {
				return badInput(fmt.Errorf("--bundle: %w", err))
			}
			o.Absent = absent
			if o.Config, err = loadCluster(cmd, kubeconfig, ""); err != nil {
				return err
			}
			lab, err := verify.NewClusterLab(o)
			if err != nil {
				return badInput(err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return runVerify(ctx, cmd, g, lab, quick)
		},
	}
	f := cmd.Flags()
	addKubeconfigFlag(f, &kubeconfig)
	f.StringVar(&o.Namespace, "namespace", deploy.DefaultNamespace, "Bookinfo's namespace")
	f.StringVar(&o.Node, "node", "", "address of a node for the NodePorts (default: the kubeconfig server's host)")
	f.IntVar(&o.Ports.Gateway, "gateway-port", verify.DefaultNodePorts().Gateway, "NodePort of the ingress gateway")
	f.IntVar(&o.Ports.Prometheus, "prometheus-port", verify.DefaultNodePorts().Prometheus, "NodePort of Prometheus")
	f.IntVar(&o.Ports.Tracing, "tracing-port", verify.DefaultNodePorts().Tracing, "NodePort of the Zipkin or Jaeger query API")
	f.IntVar(&o.Ports.Grafana, "grafana-port", verify.DefaultNodePorts().Grafana, "NodePort of Grafana")
	f.StringVar(&bundleDir, "bundle", "", "the offline bundle `DIR` the lab was built from: an addon whose image it lacks (by its manifest) is reported as not in the offline bundle")
	f.BoolVar(&offline, "offline", false, "use --bundle DIR")
	_ = f.MarkDeprecated("offline", "pass --bundle DIR: only the bundle's manifest says which addon images it lacks")
	f.BoolVar(&quick, "quick", false, "run the smoke checks only")
	return cmd
}

func runVerify(ctx context.Context, cmd *cobra.Command, g *globalOptions, lab verify.Lab, quick bool) error {
	var obs verify.Observer
	if g.output != "json" {
		obs = tableObserver{w: cmd.ErrOrStderr()}
	}
	results, failed := verify.Runner{Quick: quick}.Run(ctx, verify.Suite(lab), obs)
	var err error
	if g.output == "json" {
		err = verify.RenderJSON(cmd.OutOrStdout(), results)
	} else {
		err = verify.RenderTable(cmd.OutOrStdout(), results)
	}
	if err != nil {
		return err
	}
	if failed {
		return errChecksFailed
	}
	return nil
}
