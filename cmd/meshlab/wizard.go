package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

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
	bindStackFlags(cmd) // the stack after the cluster, as on `meshlab up`: the components chosen here
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
		// The wizard command itself with its flags' defaults, so plain `meshlab` runs exactly
		// what `meshlab wizard` does (the stack flags included).
		w := newWizardCmd(g)
		w.SetContext(cmd.Context())
		w.SetIn(cmd.InOrStdin())
		w.SetOut(cmd.OutOrStdout())
		w.SetErr(cmd.ErrOrStderr())
		return w.RunE(w, nil)
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
	// The run goes through the phases `meshlab up` builds (cluster_up.go, stack_up.go), so the
	// wizard and `up --hosts` drive the same engine the same way. The stack phases (mesh,
	// addons, Bookinfo) install what the wizard saved in the hosts file's components; whether
	// they run at all follows `meshlab up`'s stack flags.
	upOpts := labrun.UpOptions{Playbook: o.playbook, LogDir: g.logDir, KnownHostsPath: o.knownHosts,
		Phases: func(pb *playbook.Playbook, lab *inventory.Lab, logDir string) (engine.Phases, map[string]any, error) {
			ps, vars, err := o.cluster.phases("up", pb, lab, logDir)
			if err != nil {
				return nil, nil, err
			}
			ps, err = appendStack(cmd, ps, pb, lab, logDir, o.cluster.bundle)
			return ps, vars, err
		}}
	m := tui.New(tui.Options{
		HostsPath: o.hosts, Context: ctx, KnownHostsPath: o.knownHosts, LogDir: g.logDir, Playbook: o.playbook,
		Up: func(ctx context.Context, lab *inventory.Lab, sink event.Sink) (labrun.UpResult, error) {
			return labrun.Up(ctx, lab, sink, upOpts)
		},
		Next: nextFlags(cmd, g, o),
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

// nextFlags are the flags that make the summary's `meshlab up`, `down` and `verify` act on the
// wizard's lab the way its run did: the same playbook, bundle, state folder, known_hosts and
// stack choice, each only when it differs from the command's default.
func nextFlags(cmd *cobra.Command, g *globalOptions, o *wizardOptions) tui.NextFlags {
	var both, up, verify []string
	if o.playbook != defaultPlaybook {
		both = append(both, "--playbook", o.playbook)
	}
	if g.logDir != "" {
		both = append(both, "--log-dir", absOr(g.logDir))
	}
	if o.knownHosts != "" {
		both = append(both, "--known-hosts", absOr(o.knownHosts))
	}
	if o.cluster.bundle != "" {
		up = append(up, "--bundle", absOr(o.cluster.bundle))
		verify = append(verify, "--bundle", absOr(o.cluster.bundle))
	}
	// The other up flags the user set (waits, preflight, the stack), spelled as given.
	for _, name := range []string{"wait-timeout", "ignore-preflight-errors", stackFlag, stackTimeoutFlag} {
		f := cmd.Flags().Lookup(name)
		if f == nil || !f.Changed {
			continue
		}
		v := f.Value.String()
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			v = strings.Join(sv.GetSlice(), ",")
		}
		up = append(up, "--"+name+"="+v)
	}
	return tui.NextFlags{Up: append(slices.Clone(both), up...), Down: both, Verify: verify}
}

func absOr(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// reportWizard prints what the wizard left behind once the screen is gone: the hosts file, the
// kubeconfig, and the next commands in full (the screen cuts long lines; this is where they
// are copied from).
func reportWizard(w io.Writer, m tui.Model) error {
	if m.Path() != "" {
		if _, err := os.Stat(m.Path()); err == nil {
			fmt.Fprintf(w, "hosts file: %s\n", m.Path())
			if k := m.Kubeconfig(); k != "" {
				fmt.Fprintf(w, "kubeconfig: %s\n", k)
			}
			fmt.Fprintln(w, "next:")
			for _, c := range m.NextCommands() {
				fmt.Fprintf(w, "  %s\n", c)
			}
		}
	}
	if err := m.RunErr(); err != nil {
		return fmt.Errorf("up failed: %w", err)
	}
	return nil
}
