package locallab

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain lets this test binary be a lab's SSH forwarder, as `meshlab lab forward` is: create
// starts os.Executable() with ForwarderEnv set and forwarderArgs.
func TestMain(m *testing.M) {
	if os.Getenv(ForwarderEnv) != "" {
		os.Exit(serveForwarderFromArgs(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func serveForwarderFromArgs(args []string) int {
	var name, base string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--name":
			name = args[i+1]
		case "--log-dir":
			base = args[i+1]
		}
	}
	mgr, err := New(Options{BaseDir: base})
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = mgr.ServeSSHForwards(ctx, name)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
