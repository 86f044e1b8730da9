package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/action"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/addons"
	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/versions"
)

func init() {
	registerIn("addons", newAddonsRenderCmd)
	registerIn("addons", newAddonsInstallCmd)
	registerIn("addons", newAddonsUninstallCmd)
	registerIn("addons", newAddonsPortForwardCmd)
}

// addonSettings reads the addon choices, NodePorts and images from a hosts file, or the defaults.
// The lab is the hosts file's (nil without one).
func addonSettings(hostsFile string) (addons.Settings, *inventory.Lab, error) {
	s := addons.Settings{
		Addons:    inventory.DefaultAddons(),
		NodePorts: inventory.DefaultNodePorts(),
		Images:    versions.Default().Addons,
	}
	if hostsFile == "" {
		return s, nil, nil
	}
	lab, err := inventory.Load(hostsFile)
	if err != nil {
		return s, nil, badInput(err)
	}
	s.Addons, s.NodePorts, s.Images = lab.Components.Addons, lab.Components.NodePorts, lab.Versions.Addons
	s.ServiceType = lab.Components.AddonService
	return s, lab, nil
}

// addonsCluster finds the cluster of --kubeconfig, or of the lab --hosts names, and connects
// Helm to it.
func addonsCluster(cmd *cobra.Command, g *globalOptions, kubeconfig string, lab *inventory.Lab) (*kube.Config, *action.Configuration, error) {
	labFile := ""
	if lab != nil {
		var err error
		if labFile, err = labKubeconfig(g, lab); err != nil {
			return nil, nil, err
		}
	}
	cfg, err := loadCluster(cmd, kubeconfig, labFile)
	if err != nil {
		return nil, nil, err
	}
	helm, err := addons.NewConfiguration(cfg, addons.Namespace, slog.Default())
	return cfg, helm, err
}

func newAddonsRenderCmd(*globalOptions) *cobra.Command {
	var hosts string
	cmd := &cobra.Command{
		Use:   "render [ADDON...]",
		Short: "Print the manifests the addons' embedded charts render to (no cluster needed)",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, _, err := addonSettings(hosts)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				args = s.Addons
			}
			for _, name := range args {
				vals, err := s.Values(name)
				if err != nil {
					return badInput(err)
				}
				out, err := addons.Render(cmd.Context(), name, addons.Namespace, vals)
				if err != nil {
					return badInput(err)
				}
				fmt.Fprint(cmd.OutOrStdout(), out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&hosts, "hosts", "", "hosts file whose components and versions choose the addons, NodePorts and images")
	return cmd
}

func newAddonsInstallCmd(g *globalOptions) *cobra.Command {
	var hosts, kubeconfig string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "install [--kubeconfig FILE] [--hosts FILE]",
		Short: "Install or upgrade the addons with the Helm SDK, waiting until they are ready",
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, lab, err := addonSettings(hosts)
			if err != nil {
				return err
			}
			if err := s.CheckNodePorts(); err != nil {
				return badInput(err)
			}
			kc, cfg, err := addonsCluster(cmd, g, kubeconfig, lab)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			in := addons.NewInstaller(cfg, addons.Namespace, timeout)
			for _, name := range s.Addons {
				vals, err := s.Values(name)
				if err != nil {
					return badInput(err)
				}
				if name == addons.Grafana {
					if err := grafanaAdmin(ctx, cmd, kc); err != nil {
						return err
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "installing %s (waiting up to %s for it to be ready)...\n", name, timeout)
				rel, err := in.Apply(ctx, name, vals)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: revision %d %s\n", name, rel.Version, rel.Info.Status)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&hosts, "hosts", "", "hosts file whose components and versions choose the addons, NodePorts and images")
	addKubeconfigFlag(cmd.Flags(), &kubeconfig)
	cmd.Flags().DurationVar(&timeout, "timeout", addons.DefaultTimeout, "how long one addon may take to become ready")
	return cmd
}

func newAddonsUninstallCmd(g *globalOptions) *cobra.Command {
	var hosts, kubeconfig string
	cmd := &cobra.Command{
		Use:   "uninstall [--kubeconfig FILE] [--hosts FILE]",
		Short: "Remove the addons' releases",
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, lab, err := addonSettings(hosts)
			if err != nil {
				return err
			}
			_, cfg, err := addonsCluster(cmd, g, kubeconfig, lab)
			if err != nil {
				return err
			}
			in := addons.NewInstaller(cfg, addons.Namespace, time.Minute)
			for _, name := range s.Addons {
				if err := in.Remove(name); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: removed\n", name)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&hosts, "hosts", "", "hosts file whose components choose the addons")
	addKubeconfigFlag(cmd.Flags(), &kubeconfig)
	return cmd
}

// grafanaAdmin makes Grafana's admin Secret when it is missing and shows the new password once.
func grafanaAdmin(ctx context.Context, cmd *cobra.Command, kc *kube.Config) error {
	cs, err := kubernetes.NewForConfig(kc.REST)
	if err != nil {
		return err
	}
	pw, created, err := addons.EnsureGrafanaAdmin(ctx, cs, addons.Namespace)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(cmd.OutOrStdout(), "grafana: admin password %s (shown this once; kept in Secret %s/%s)\n",
			pw, addons.Namespace, addons.GrafanaAdminSecret)
	}
	return nil
}

// newAddonsPortForwardCmd reaches an addon's UI through the API server, as `kubectl
// port-forward` does: the way in when the addons are ClusterIP only (components.addonService).
func newAddonsPortForwardCmd(*globalOptions) *cobra.Command {
	var kubeconfig string
	var port int
	cmd := &cobra.Command{
		Use:   "port-forward NAME [--kubeconfig FILE]",
		Short: "Reach an addon's UI (" + strings.Join(addons.Names(), ", ") + ") on 127.0.0.1 through the API server, until Ctrl+C",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := addons.UIService(args[0]); err != nil {
				return badInput(err)
			}
			kc, err := loadCluster(cmd, kubeconfig, "")
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			f, err := addons.PortForward(ctx, kc.REST, addons.Namespace, args[0], port)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s (through the API server; Ctrl+C stops)\n", args[0], f.URL)
			select {
			case <-ctx.Done():
				return f.Close()
			case <-f.Done():
				return fmt.Errorf("port-forward to %s ended: %w", args[0], f.Close())
			}
		},
	}
	addKubeconfigFlag(cmd.Flags(), &kubeconfig)
	cmd.Flags().IntVar(&port, "port", 0, "local port on 127.0.0.1 (0: a free one)")
	return cmd
}
