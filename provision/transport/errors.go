package transport

import (
	"errors"
	"fmt"
	"strings"
)

// Error classes. Callers test them with errors.Is; the message keeps the cause.
var (
	// ErrConnection: the connection to the host failed or was lost. Retryable.
	ErrConnection = errors.New("connection")
	// ErrAuth: every authentication method was refused. Retryable for a short while (sshd may
	// answer before authorized_keys is written), but reported with the methods tried.
	ErrAuth = errors.New("authentication failed")
	// ErrHostKeyMismatch: the host presented a key different from the recorded one. Never retried.
	ErrHostKeyMismatch = errors.New("host key mismatch")
	// ErrHostKeyUnknown: the host is not in known_hosts and trust-on-first-use was not allowed.
	ErrHostKeyUnknown = errors.New("host key unknown")
	// ErrSudo: root is needed and sudo cannot be used (needs a password none was given, or refused).
	ErrSudo = errors.New("sudo")
	// ErrTimeout: the command ran past its timeout and was stopped.
	ErrTimeout = errors.New("timeout")
)

// IsRetryable reports whether trying the same thing again may help.
func IsRetryable(err error) bool {
	return err != nil && !errors.Is(err, ErrHostKeyMismatch) && !errors.Is(err, ErrHostKeyUnknown)
}

// ExitError is a command that ran and exited non-zero.
type ExitError struct {
	Command    string // redacted command text
	ExitStatus int
	Stderr     string // full stderr
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("command exited with status %d: %s", e.ExitStatus, Tail(e.Stderr, 1))
}

// Tail returns the last n non-empty lines of s joined by " | ".
func Tail(s string, n int) string {
	return strings.Join(TailLines(s, n), " | ")
}

// TailLines returns the last n non-empty lines of s.
func TailLines(s string, n int) []string {
	var out []string
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			out = append([]string{lines[i]}, out...)
		}
	}
	return out
}
