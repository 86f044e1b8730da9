package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/bookinfo/deploy"
	"github.com/meshlab/meshlab/internal/kube"
)

func init() {
	registerIn("bookinfo", newBookinfoDeployCmd)
	registerIn("bookinfo", newBookinfoDeleteCmd)
}

// bookinfoDeployFlags are shared by deploy and delete: delete must render the same objects.
type bookinfoDeployFlags struct {
	kubeconfig string
	opts       deploy.Options
}

func (f *bookinfoDeployFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	addKubeconfigFlag(fl, &f.kubeconfig)
	fl.StringVar(&f.opts.Namespace, "namespace", deploy.DefaultNamespace, "namespace for Bookinfo (labelled meshlab-injection=enabled)")
	fl.BoolVar(&f.opts.Offline, "offline", false, "run the Go Bookinfo from the side-loaded meshlab image instead of pulling upstream images")
	fl.StringVar(&f.opts.MeshlabImage, "meshlab-image", "", "offline image (default meshlab.local/meshlab:<this version>)")
}

// client opens the lab's cluster for deploy or delete, with this binary's version for the
// offline image and a context Ctrl+C ends (stop releases it).
func (f *bookinfoDeployFlags) client(cmd *cobra.Command) (*kube.Client, context.Context, context.CancelFunc, error) {
	c, _, err := connectCluster(cmd, f.kubeconfig, "")
	if err != nil {
		return nil, nil, nil, err
	}
	f.opts.MeshlabVersion = version
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	return c, ctx, stop, nil
}

func newBookinfoDeployCmd(*globalOptions) *cobra.Command {
	f := &bookinfoDeployFlags{}
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "deploy [--kubeconfig FILE] [--offline]",
		Short: "Deploy Istio's Bookinfo (bookinfo.yaml and bookinfo-gateway.yaml, unchanged) into an injected namespace",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, stop, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer stop()
			fmt.Fprintf(cmd.OutOrStdout(), "deploying Bookinfo into %s; waiting up to %s for its 6 deployments to roll out...\n", f.opts.Namespace, timeout)
			if err := deploy.Deploy(ctx, c, f.opts, kube.WaitOptions{Timeout: timeout, Log: slog.Default()}); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Bookinfo is up in %s: http://<node>:30080/productpage through the ingress gateway\n", f.opts.Namespace)
			return err
		},
	}
	f.bind(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", deploy.DefaultRolloutTimeout, "how long the rollouts may take")
	return cmd
}

func newBookinfoDeleteCmd(*globalOptions) *cobra.Command {
	f := &bookinfoDeployFlags{}
	cmd := &cobra.Command{
		Use:   "delete [--kubeconfig FILE]",
		Short: "Delete what `meshlab bookinfo deploy` applied (and its namespace, unless it is default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, stop, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer stop()
			if err := deploy.Remove(ctx, c, f.opts); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Bookinfo deleted from %s\n", f.opts.Namespace)
			return err
		},
	}
	f.bind(cmd)
	return cmd
}
