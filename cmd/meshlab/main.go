// Command meshlab stands up a service-mesh lab on real machines. One binary serves every role:
// the operator CLI and wizard, the mesh control plane and sidecar, the capture init, and the Go
// Bookinfo services. This package only wires flags to the packages that do the work.
package main

import (
	"errors"
	"fmt"
	"os"
)

// Exit codes, documented in the README.
const (
	exitOK       = 0
	exitFailure  = 1 // a host, task or check failed
	exitBadInput = 2 // the command line or an input file is wrong
)

// usageError marks an error as the user's input being wrong (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// badInput wraps err so that main exits with code 2.
func badInput(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

func main() {
	root := newRootCmd()
	err := root.Execute()
	if err == nil {
		os.Exit(exitOK)
	}
	fmt.Fprintln(os.Stderr, "meshlab:", err)
	var ue usageError
	if errors.As(err, &ue) {
		os.Exit(exitBadInput)
	}
	os.Exit(exitFailure)
}
