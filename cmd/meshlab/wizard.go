package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/meshlab/meshlab/cluster/phases"
	"github.com/meshlab/meshlab/cmd/meshlab/tui"
	"github.com/meshlab/meshlab/cmd/meshlab/tui/labrun"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/playbook"
)

func init() {
	subcommands = append(subcommands, newWizardCmd)
}

// wizardOptions are the wizard's flags; they mirror `meshlab up`'s so both drive the engine the
// same way.
type wizardOptions struct {
	hosts      string
	knownHosts string
	playbook   string
	cluster    clusterOptions // --bundle, --wait-timeout, ... as on `meshlab up`
}

func newWizardCmd(g *globalOptions) *cobra.Command {
	o := &wizardOptions{}
	cmd := &cobra.Command{
		Use:   "wizard",
		Short: "Build a lab step by step in the terminal (what `meshlab` alone opens)",
		Long: `Open the interactive wizard: load or create a hosts file, add hosts, test SSH and sudo on
each, choose versions and components, review and save the file, then run ` + "`meshlab up`" + ` on it
with a live view of every host. Ctrl+C during the run stops the remote commands and keeps the
state: running again continues where it stopped. Needs a terminal; scripts use meshlab up --hosts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runWizard(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.hosts, "hosts", "hosts.yaml", "hosts file to load, or to create")
	f.StringVar(&o.knownHosts, "known-hosts", "", "known_hosts file (default: the hosts file's ssh.knownHosts, else ~/.ssh/known_hosts)")
	f.StringVar(&o.playbook, "playbook", defaultPlaybook, "embedded playbook the run uses")
	o.cluster.bind(cmd)
	return cmd
}

// wizardOrHelp is the root command's action: the wizard in a terminal, help anywhere else (a
// pipe, CI), so a script that runs plain `meshlab` never hangs on a screen nobody sees.
// root.go wires it as the root's RunE.
func wizardOrHelp(g *globalOptions) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return badInput(fmt.Errorf("unknown command %q for meshlab", args[0]))
		}
		if !isTerminal(cmd.InOrStdin()) || !isTerminal(cmd.OutOrStdout()) {
			return cmd.Help()
		}
		o := &wizardOptions{hosts: "hosts.yaml", playbook: defaultPlaybook}
		o.cluster.waitTimeout = phases.DefaultWaitTimeout
		return runWizard(cmd, g, o)
	}
}

func isTerminal(f any) bool {
	fd, ok := f.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(fd.Fd()))
}

var errNoTerminal = errors.New("the wizard needs a terminal; in scripts use: meshlab up --hosts FILE")

func runWizard(cmd *cobra.Command, g *globalOptions, o *wizardOptions) error {
	in, out := cmd.InOrStdin(), cmd.OutOrStdout()
	if !isTerminal(in) || !isTerminal(out) {
		return badInput(errNoTerminal)
	}
	// Ctrl+C is a key inside the wizard (it cancels a run and waits for it); SIGTERM from
	// outside cancels the same way through the context.
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM)
	defer stop()
	// The screen belongs to the wizard: a stray log line on stderr would tear it. Runs log to
	// the lab's own files; anything else logging through the default goes nowhere meanwhile.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.DiscardHandler))
	// The run goes through the phases `meshlab up` builds (cluster_up.go), so the wizard and
	// `up --hosts` drive the same engine the same way.
	upOpts := labrun.UpOptions{Playbook: o.playbook, LogDir: g.logDir, KnownHostsPath: o.knownHosts,
		Phases: func(pb *playbook.Playbook, lab *inventory.Lab, logDir string) (engine.Phases, map[string]any, error) {
			return o.cluster.phases("up", pb, lab, logDir)
		}}
	m := tui.New(tui.Options{
		HostsPath: o.hosts, Context: ctx, KnownHostsPath: o.knownHosts, LogDir: g.logDir, Playbook: o.playbook,
		Up: func(ctx context.Context, lab *inventory.Lab, sink event.Sink) (labrun.UpResult, error) {
			return labrun.Up(ctx, lab, sink, upOpts)
		},
	})
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithInput(in), tea.WithOutput(out))
	final, err := p.Run()
	if err != nil {
		return fmt.Errorf("wizard: %w", err)
	}
	fm, ok := final.(tui.Model)
	if !ok {
		return nil
	}
	return reportWizard(out, fm)
}

// reportWizard prints what the wizard left behind once the screen is gone.
func reportWizard(w io.Writer, m tui.Model) error {
	if m.Path() != "" {
		if _, err := os.Stat(m.Path()); err == nil {
			fmt.Fprintf(w, "hosts file: %s\nrun again:  meshlab up --hosts %s\n", m.Path(), m.Path())
		}
	}
	if err := m.RunErr(); err != nil {
		return fmt.Errorf("up failed: %w", err)
	}
	return nil
}
