// Package transport runs commands and places files on a host: over SSH for lab machines, or
// locally for the operator's own machine. Everything above it (the engine, cluster phases) rests
// on the one Transport interface, so SSH and local execution are interchangeable and tests can
// use a fake.
package transport

import (
	"context"
	"io"
	"io/fs"
	"net"
	"time"
)

// Cmd is one command to run on a host through a POSIX shell (sh -c).
type Cmd struct {
	// Command is the shell text. It must not contain secrets: secrets go in Stdin.
	Command string
	// Stdin, if set, is streamed to the command's standard input.
	Stdin io.Reader
	// Become runs the command as root (no-op when already root; sudo otherwise).
	Become bool
	// Timeout bounds the run; zero means only the context's deadline. On expiry the remote
	// process is stopped, not abandoned.
	Timeout time.Duration
	// Stdout and Stderr receive the output one line at a time (without the newline) as it
	// arrives. Either may be nil.
	Stdout func(line string)
	Stderr func(line string)
}

// Result is what a finished command left behind. Stdout and Stderr keep the full text
// (bounded by the transport) so callers can decide on it.
type Result struct {
	ExitStatus int
	Stdout     string
	Stderr     string
	Duration   time.Duration
}

// Upload describes a file to place on a host.
type Upload struct {
	Path  string      // absolute destination path
	Mode  fs.FileMode // permission bits of the final file
	Owner string      // "user:group" or "" to keep the connecting user (root with Become)
	// Become writes as root (through a temporary file moved into place with sudo).
	Become bool
}

// Dialer is a Transport that can open TCP connections from its host: through an SSH connection,
// the operator reaches what only the host can (an API server behind a firewall that lets SSH in).
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Transport is a connection to one host. Implementations are safe for concurrent use: several
// commands may run at once on one connection.
type Transport interface {
	// Run runs cmd and waits. A non-zero exit returns a *ExitError (Result still filled);
	// a lost connection, timeout or cancellation returns an error wrapping ErrConnection,
	// ErrTimeout or the context's error.
	Run(ctx context.Context, cmd Cmd) (Result, error)
	// Put writes r to the host atomically (temp file + rename) with the given mode and owner.
	Put(ctx context.Context, r io.Reader, u Upload) error
	// Get reads a file from the host.
	Get(ctx context.Context, path string, become bool) ([]byte, error)
	// Name is the host's name for messages and events.
	Name() string
	// Close releases the connection.
	Close() error
}
