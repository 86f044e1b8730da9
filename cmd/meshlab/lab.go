package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/locallab"
)

func init() {
	registerIn("lab", newLabCreateCmd)
	registerIn("lab", newLabDestroyCmd)
	registerIn("lab", newLabListCmd)
	registerIn("lab", newLabSSHCmd)
	registerIn("lab", newLabForwardCmd)
}

// labManager builds the lab manager from the global flags; events go to stderr as plain lines
// (or JSON lines with --output json) so stdout stays the command's result.
func labManager(g *globalOptions, stderr io.Writer) (*locallab.Manager, error) {
	enc := json.NewEncoder(stderr)
	sink := event.SinkFunc(func(e event.Event) {
		if g.output == "json" {
			_ = enc.Encode(e)
			return
		}
		host := ""
		if e.Host != "" {
			host = e.Host + ": "
		}
		fmt.Fprintf(stderr, "%s%s\n", host, e.Line)
	})
	return locallab.New(locallab.Options{BaseDir: g.logDir, Events: sink})
}

func newLabCreateCmd(g *globalOptions) *cobra.Command {
	var spec locallab.Spec
	var out string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a local lab of machine-like hosts (systemd + sshd under runc; needs root)",
		Long: "Create boots --nodes Debian machines, each with its own network namespace on a private\n" +
			"bridge that cannot reach anything off this machine, and writes a hosts file for\n" +
			"`meshlab up --hosts`. Run again, it starts whichever machines are stopped.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := locallab.ValidateName(spec.Name); err != nil {
				return badInput(err)
			}
			if err := locallab.ValidateTopology(spec.Topology); err != nil {
				return badInput(fmt.Errorf("--topology: %w", err))
			}
			if spec.ControlPlanes < 1 || spec.Nodes < spec.ControlPlanes {
				return badInput(fmt.Errorf("--nodes (%d) must be at least --control-planes (%d), which must be at least 1",
					spec.Nodes, spec.ControlPlanes))
			}
			m, err := labManager(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			lab, err := m.Create(cmd.Context(), spec)
			if err != nil {
				return err
			}
			if lab.Existed && g.output != "json" {
				fmt.Fprintf(cmd.ErrOrStderr(), "lab %s already exists; every machine is running\n", lab.Name)
			}
			if out != "" {
				if err := copyFile(lab.HostsFile, out); err != nil {
					return err
				}
			}
			return printLabs(cmd.OutOrStdout(), g, []*locallab.Lab{lab})
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Name, "name", "lab", "lab name (letters, digits, dashes)")
	f.IntVar(&spec.Nodes, "nodes", locallab.DefaultNodes, "number of machines")
	f.IntVar(&spec.ControlPlanes, "control-planes", locallab.DefaultControlPlanes, "how many of them are control planes")
	f.DurationVar(&spec.BootTimeout, "boot-timeout", locallab.DefaultBootTimeout, "how long to wait for the machines to boot")
	f.StringVar(&spec.PodCIDR, "pod-cidr", locallab.DefaultPodCIDR, "the cluster's pod network (written to the hosts file)")
	f.StringVar(&spec.ServiceCIDR, "service-cidr", locallab.DefaultServiceCIDR, "the cluster's service network (written to the hosts file)")
	f.StringVar(&out, "out", "", "also copy the hosts file here")
	f.StringVar(&spec.Topology, "topology", locallab.TopologyBridge,
		"bridge: one interface, SSH on the machine's address; virtualbox: as Vagrant with VirtualBox makes them, a NAT eth0 "+
			"with the same address, MAC and default route on every machine (a dead end here), the lab network on eth1, "+
			"SSH on a port of 127.0.0.1 forwarded into each machine")
	f.DurationVar(&spec.DpkgLock, "dpkg-lock", 0, "hold the dpkg locks this long after each boot, as cloud-init does on a fresh cloud image")
	f.StringSliceVar(&spec.RejectInput, "reject-input", nil,
		"machines (cp1, worker1, ...) whose firewall rejects every incoming connection but SSH, as some cloud images ship")
	return cmd
}

// newLabForwardCmd is the SSH forwarder of a lab in the virtualbox topology: `lab create` starts
// it in the background and `lab destroy` stops it; it is not for people to run.
func newLabForwardCmd(g *globalOptions) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:    "forward --name LAB",
		Short:  "Forward the SSH ports of a lab's machines (started by lab create)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := labManager(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return m.ServeSSHForwards(ctx, name)
		},
	}
	cmd.Flags().StringVar(&name, "name", "lab", "lab name")
	return cmd
}

func newLabDestroyCmd(g *globalOptions) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Destroy a local lab and everything it made on this host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := locallab.ValidateName(name); err != nil {
				return badInput(err)
			}
			m, err := labManager(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := m.Destroy(cmd.Context(), name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s destroyed\n", name)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "lab", "lab name")
	return cmd
}

func newLabListCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List local labs and the state of their machines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := labManager(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			labs, err := m.List(cmd.Context())
			if err != nil {
				return err
			}
			return printLabs(cmd.OutOrStdout(), g, labs)
		},
	}
}

// newLabSSHCmd stops or starts sshd on one machine: the cluster tests use it to make a host stop
// answering in the middle of a run.
func newLabSSHCmd(g *globalOptions) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:       "sshd stop|start MACHINE",
		Short:     "Stop or start sshd on one machine of a lab (to test a host that stops answering)",
		Args:      cobra.ExactArgs(2),
		ValidArgs: []string{"stop", "start"},
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := labManager(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			switch args[0] {
			case "stop":
				return m.StopSSH(cmd.Context(), name, args[1])
			case "start":
				return m.StartSSH(cmd.Context(), name, args[1])
			}
			return badInput(fmt.Errorf("sshd: %q is neither stop nor start", args[0]))
		},
	}
	cmd.Flags().StringVar(&name, "name", "lab", "lab name")
	return cmd
}

func printLabs(w io.Writer, g *globalOptions, labs []*locallab.Lab) error {
	if g.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(labs)
	}
	if len(labs) == 0 {
		fmt.Fprintln(w, "no labs")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, l := range labs {
		fmt.Fprintf(tw, "lab %s\tsubnet %s\thosts file %s\n", l.Name, l.Subnet, l.HostsFile)
		for _, mc := range l.Machines {
			status := mc.Status
			if status == "" {
				status = "absent"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", mc.Name, mc.Role, mc.Address, status)
		}
	}
	return tw.Flush()
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		return fmt.Errorf("write hosts file: %w", err)
	}
	return nil
}
