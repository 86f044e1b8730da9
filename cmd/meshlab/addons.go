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
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/addons"
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
func addonSettings(hostsFile string) (addons.Settings, error) {
	s := addons.Settings{
		Addons:    inventory.DefaultAddons(),
		NodePorts: inventory.DefaultNodePorts(),
		Images:    versions.Default().Addons,
	}
	if hostsFile == "" {
		return s, nil
	}
	lab, err := inventory.Load(hostsFile)
	if err != nil {
		return s, badInput(err)
	}
	s.Addons, s.NodePorts, s.Images = lab.Components.Addons, lab.Components.NodePorts, lab.Versions.Addons
	s.ServiceType = lab.Components.AddonService
	return s, nil
}

func newAddonsRenderCmd(*globalOptions) *cobra.Command {
	var hosts string
	cmd := &cobra.Command{
		Use:   "render [ADDON...]",
		Short: "Print the manifests the addons' embedded charts render to (no cluster needed)",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := addonSettings(hosts)
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

func newAddonsInstallCmd(*globalOptions) *cobra.Command {
	var hosts, kubeconfig string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "install --kubeconfig FILE [--hosts FILE]",
		Short: "Install or upgrade the addons with the Helm SDK, waiting until they are ready",
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := addonSettings(hosts)
			if err != nil {
				return err
			}
			if err := s.CheckNodePorts(); err != nil {
				return badInput(err)
			}
			cfg, err := addons.NewConfiguration(kubeconfig, addons.Namespace, slog.Default())
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
					if err := grafanaAdmin(ctx, cmd, kubeconfig); err != nil {
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
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the lab (meshlab up writes it to the lab's state directory)")
	cmd.Flags().DurationVar(&timeout, "timeout", addons.DefaultTimeout, "how long one addon may take to become ready")
	_ = cmd.MarkFlagRequired("kubeconfig")
	return cmd
}

func newAddonsUninstallCmd(*globalOptions) *cobra.Command {
	var hosts, kubeconfig string
	cmd := &cobra.Command{
		Use:   "uninstall --kubeconfig FILE [--hosts FILE]",
		Short: "Remove the addons' releases",
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := addonSettings(hosts)
			if err != nil {
				return err
			}
			cfg, err := addons.NewConfiguration(kubeconfig, addons.Namespace, slog.Default())
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
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the lab")
	_ = cmd.MarkFlagRequired("kubeconfig")
	return cmd
}

// grafanaAdmin makes Grafana's admin Secret when it is missing and shows the new password once.
func grafanaAdmin(ctx context.Context, cmd *cobra.Command, kubeconfig string) error {
	rc, err := kubeClientConfig(kubeconfig)
	if err != nil {
		return badInput(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
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
		Use:   "port-forward NAME --kubeconfig FILE",
		Short: "Reach an addon's UI (" + strings.Join(addons.Names(), ", ") + ") on 127.0.0.1 through the API server, until Ctrl+C",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := addons.UIService(args[0]); err != nil {
				return badInput(err)
			}
			rc, err := kubeClientConfig(kubeconfig)
			if err != nil {
				return badInput(err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			f, err := addons.PortForward(ctx, rc, addons.Namespace, args[0], port)
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
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the lab (meshlab up writes it to the lab's state directory)")
	cmd.Flags().IntVar(&port, "port", 0, "local port on 127.0.0.1 (0: a free one)")
	_ = cmd.MarkFlagRequired("kubeconfig")
	return cmd
}
