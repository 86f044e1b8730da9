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
	"github.com/meshlab/meshlab/lab"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
)

func init() {
	subcommands = append(subcommands, newWizardCmd)
}

// wizardOptions are the wizard's flags: `meshlab up`'s (but those the wizard asks about), so
// both fill the same lab.Options and run the same lab.Up.
type wizardOptions struct {
	labFlags
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
	o.bindCommon(cmd)
	o.bindUp(cmd) // the stack after the cluster, as on `meshlab up`: the components chosen here
	cmd.Flags().Lookup("hosts").DefValue, o.hosts = "hosts.yaml", "hosts.yaml"
	cmd.Flags().Lookup("hosts").Usage = "hosts file to load, or to create"
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
	// The run is lab.Up with the options `meshlab up` would make of the same flags, so the wizard
	// and `up --hosts` run the same phases. The stack (mesh, addons, Bookinfo) installs what the
	// wizard saved in the hosts file's components.
	m := tui.New(tui.Options{
		HostsPath: o.hosts, Context: ctx, KnownHostsPath: o.knownHosts, LogDir: g.logDir, Playbook: o.playbook,
		Up: func(ctx context.Context, l *inventory.Lab, sink event.Sink) (lab.Result, error) {
			lo, err := o.options(cmd, g, l)
			if err != nil {
				return lab.Result{}, err
			}
			return lab.Up(ctx, lo, sink)
		},
		Graph: labGraphText,
		Next:  nextFlags(cmd, g, o),
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
	if o.playbook != lab.Playbook {
		both = append(both, "--playbook", o.playbook)
	}
	if g.logDir != "" {
		both = append(both, "--log-dir", absOr(g.logDir))
	}
	if o.knownHosts != "" {
		both = append(both, "--known-hosts", absOr(o.knownHosts))
	}
	if o.bundle != "" {
		up = append(up, "--bundle", absOr(o.bundle))
		verify = append(verify, "--bundle", absOr(o.bundle))
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
