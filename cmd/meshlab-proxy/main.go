// Command meshlab-proxy is the slim sidecar binary: only `proxy` and `init`, the two commands a
// meshed pod runs, with the same flags as `meshlab mesh proxy` and `meshlab mesh init` (both
// binaries build them with mesh/proxy/sidecarcmd). It exists for memory: the full meshlab binary
// links Helm, client-go and the operator CLI, whose package initialisation touches tens of MiB
// of the binary's pages in every sidecar process; this one links only the data plane.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/mesh/proxy/sidecarcmd"
)

// Exit codes, the same as meshlab's.
const (
	exitFailure  = 1
	exitBadInput = 2
)

// usageError marks an error as the user's input being wrong (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func badInput(err error) error { return usageError{err} }

func newRootCmd() *cobra.Command {
	var verbose int
	root := &cobra.Command{
		Use:           "meshlab-proxy",
		Short:         "meshlab's sidecar: the proxy and the capture init",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return badInput(err) })
	root.PersistentFlags().CountVarP(&verbose, "verbose", "v", "more output (repeat for more)")
	w := sidecarcmd.Wiring{Verbose: &verbose, BadInput: badInput}
	root.AddCommand(sidecarcmd.ProxyCommand(w), sidecarcmd.InitCommand(w))
	return root
}

func main() {
	err := newRootCmd().Execute()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "meshlab-proxy:", err)
	var ue usageError
	if errors.As(err, &ue) {
		os.Exit(exitBadInput)
	}
	os.Exit(exitFailure)
}
