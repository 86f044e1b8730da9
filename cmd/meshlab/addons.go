package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/action"

	"github.com/meshlab/meshlab/addons"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/versions"
)

func init() {
	registerIn("addons", newAddonsRenderCmd)
	registerIn("addons", newAddonsInstallCmd)
	registerIn("addons", newAddonsUninstallCmd)
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
	return s, lab, nil
}

// addonsCluster connects Helm to the cluster of --kubeconfig, or of the lab --hosts names.
func addonsCluster(cmd *cobra.Command, g *globalOptions, kubeconfig string, lab *inventory.Lab) (*action.Configuration, error) {
	labFile := ""
	if lab != nil {
		var err error
		if labFile, err = labKubeconfig(g, lab); err != nil {
			return nil, err
		}
	}
	cfg, err := loadCluster(cmd, kubeconfig, labFile)
	if err != nil {
		return nil, err
	}
	return addons.NewConfiguration(cfg, addons.Namespace, slog.Default())
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
			cfg, err := addonsCluster(cmd, g, kubeconfig, lab)
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
			cfg, err := addonsCluster(cmd, g, kubeconfig, lab)
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
