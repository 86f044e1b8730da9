package main

import (
	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/mesh/proxy/sidecarcmd"
)

// `meshlab mesh proxy` and `meshlab mesh init` are built by sidecarcmd, which the slim sidecar
// binary (cmd/meshlab-proxy) uses too, so both binaries take exactly the same flags.
func init() {
	registerIn("mesh", func(g *globalOptions) *cobra.Command {
		return sidecarcmd.ProxyCommand(sidecarcmd.Wiring{Verbose: &g.verbose, BadInput: badInput})
	})
}
