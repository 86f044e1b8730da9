// Package sidecarcmd is the command-line wiring of the sidecar's two commands, `proxy` and
// `init`, shared by the full meshlab binary (`meshlab mesh proxy`, `meshlab mesh init`) and the
// slim sidecar binary (`meshlab-proxy proxy`, `meshlab-proxy init`). Both mains build their
// commands here, so the flags, defaults and behaviour cannot drift apart.
package sidecarcmd

import (
	"log/slog"
	"os"
)

// Wiring is what a main contributes: how verbose the user asked it to be and how it marks an
// error as bad input (exit code 2 in both binaries).
type Wiring struct {
	// Verbose points at the -v count of the binary's root command; nil means 0. It is read when
	// the command runs, after flag parsing.
	Verbose *int
	// BadInput marks err as the user's mistake; nil leaves errors unmarked.
	BadInput func(error) error
}

func (w Wiring) badInput(err error) error {
	if w.BadInput == nil || err == nil {
		return err
	}
	return w.BadInput(err)
}

// logger writes text logs to stderr at info level, debug with -v.
func (w Wiring) logger() *slog.Logger {
	level := slog.LevelInfo
	if w.Verbose != nil && *w.Verbose > 0 {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
