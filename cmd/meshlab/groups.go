package main

import (
	"sort"

	"github.com/spf13/cobra"
)

// groupDocs are the parent commands that several files add subcommands to.
var groupDocs = map[string]string{
	"mesh":     "Run and manage meshlab's service mesh (control plane, sidecar, capture, injection)",
	"bookinfo": "Istio's Bookinfo sample: serve the Go services, deploy, delete, verify",
	"lab":      "Local labs of machine-like hosts on this machine (create, destroy)",
	"cluster":  "Kubernetes cluster tasks (offline bundle, kubeconfig)",
	"addons":   "Observability addons from embedded Helm charts: Zipkin or Jaeger, Prometheus, Grafana",
}

// groupSubcommands maps a group name to the constructors of its subcommands. Files fill it from
// init with registerIn; it is read only when a root command is built.
var groupSubcommands = map[string][]func(*globalOptions) *cobra.Command{}

// registerIn adds a subcommand constructor under the named group (a key of groupDocs).
func registerIn(group string, f func(*globalOptions) *cobra.Command) {
	if _, ok := groupDocs[group]; !ok {
		panic("meshlab: unknown command group " + group) // programming error, caught by any test run
	}
	groupSubcommands[group] = append(groupSubcommands[group], f)
}

// addGroups builds each group that has subcommands and adds it to root.
func addGroups(root *cobra.Command, opts *globalOptions) {
	names := make([]string, 0, len(groupSubcommands))
	for name := range groupSubcommands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		g := &cobra.Command{Use: name, Short: groupDocs[name]}
		for _, f := range groupSubcommands[name] {
			g.AddCommand(f(opts))
		}
		root.AddCommand(g)
	}
}
