package main

import (
	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/mesh/proxy/sidecarcmd"
)

// `meshlab mesh init`, the capture init container; see mesh_proxy.go for why sidecarcmd builds it.
func init() {
	registerIn("mesh", func(g *globalOptions) *cobra.Command {
		return sidecarcmd.InitCommand(sidecarcmd.Wiring{Verbose: &g.verbose, BadInput: badInput})
	})
}
