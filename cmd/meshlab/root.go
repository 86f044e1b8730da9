package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// globalOptions are the flags every command shares. They travel in this struct, never in
// package-level variables, so two runs in one process (the TUI, tests) cannot leak settings.
type globalOptions struct {
	output  string // text | json
	logDir  string // overrides ~/.meshlab/labs
	verbose int
}

// subcommands registers the command constructors of each file in this package; files add to it
// from init so that each area (mesh, bookinfo, lab, ...) keeps its wiring in its own file.
var subcommands []func(*globalOptions) *cobra.Command

func newRootCmd() *cobra.Command {
	opts := &globalOptions{}
	root := &cobra.Command{
		Use:           "meshlab",
		Short:         "Stand up a real service-mesh lab on real machines",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Alone in a terminal, meshlab opens the wizard; in a pipe or CI it prints help.
		RunE: wizardOrHelp(opts),
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if opts.output != "text" && opts.output != "json" {
				return badInput(fmt.Errorf("--output must be text or json, not %q", opts.output))
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return badInput(err) })
	pf := root.PersistentFlags()
	pf.StringVar(&opts.output, "output", "text", "output format: text or json (one event per line)")
	pf.StringVar(&opts.logDir, "log-dir", "", "directory for lab state and logs (default ~/.meshlab/labs)")
	pf.CountVarP(&opts.verbose, "verbose", "v", "more output (repeat for more)")
	for _, sub := range subcommands {
		root.AddCommand(sub(opts))
	}
	addGroups(root, opts)
	return root
}
