package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/transport"
)

// StderrTail is how many stderr lines a failure shows.
const StderrTail = 10

// TaskError is a failure on one host: the error contract. It carries everything the user needs
// (host, phase, task, the redacted command, exit status, stderr tail, log path, hint) and wraps
// the cause, so callers can still ask errors.Is(err, transport.ErrConnection).
type TaskError struct {
	Host    string
	Phase   string
	Task    string
	Command string   // redacted
	Exit    int      // -1: the command did not finish (connection lost, timeout, cancelled)
	Stderr  []string // last lines, redacted
	LogPath string
	Hint    string
	Err     error
}

func (e *TaskError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "host %s: phase %q: task %q", e.Host, e.Phase, e.Task)
	if e.Exit >= 0 {
		fmt.Fprintf(&b, ": exit status %d", e.Exit)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.LogPath != "" {
		fmt.Fprintf(&b, " (log: %s)", e.LogPath)
	}
	return b.String()
}

func (e *TaskError) Unwrap() error { return e.Err }

// Info converts the error to the event form.
func (e *TaskError) Info() *event.ErrorInfo {
	msg := "failed"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	return &event.ErrorInfo{
		Message: msg, Host: e.Host, Phase: e.Phase, Task: e.Task, Command: e.Command,
		Exit: e.Exit, Stderr: e.Stderr, LogPath: e.LogPath, Hint: e.Hint,
	}
}

// newTaskError classifies err from running command on h and fills in the contract.
func (r *Run) newTaskError(h *Host, phase, task, command, hint string, res transport.Result, err error) *TaskError {
	te := &TaskError{
		Host: h.Name, Phase: phase, Task: task, Command: r.Redact.Redact(command),
		Exit: -1, LogPath: r.LogPath(h), Err: err,
	}
	stderr := res.Stderr
	var ee *transport.ExitError
	if errors.As(err, &ee) {
		te.Exit = ee.ExitStatus
		if ee.Stderr != "" {
			stderr = ee.Stderr
		}
	}
	for _, l := range transport.TailLines(stderr, StderrTail) {
		te.Stderr = append(te.Stderr, r.Redact.Redact(l))
	}
	te.Err = redactedError{msg: r.Redact.Redact(errMessage(err)), cause: err}
	te.Hint = hint
	if te.Hint == "" {
		te.Hint = defaultHint(err, te.LogPath)
	}
	return te
}

func errMessage(err error) string {
	if err == nil {
		return "failed"
	}
	return err.Error()
}

// defaultHint says what to try, by error class.
func defaultHint(err error, logPath string) string {
	see := "see the log"
	if logPath != "" {
		see = "see " + logPath
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "the run was interrupted; re-run the same command to continue where it stopped"
	case errors.Is(err, transport.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "the command ran past its timeout and was stopped; " + see + " for where it hung, then re-run"
	case errors.Is(err, transport.ErrHostKeyMismatch):
		return "the host's key changed: if the machine was rebuilt, remove its old line from known_hosts; otherwise do not connect"
	case errors.Is(err, transport.ErrHostKeyUnknown):
		return "the host is not in known_hosts: add it (ssh-keyscan) or re-run with --trust-new-host-keys"
	case errors.Is(err, transport.ErrAuth):
		return "check the user, key path or agent for this host in the hosts file; try `ssh` with the same settings"
	case errors.Is(err, transport.ErrSudo):
		return "the user needs passwordless sudo, or set sudoPassword for this host in the hosts file"
	case errors.Is(err, transport.ErrConnection):
		return "the connection to the host was lost: check the host is up and sshd runs, then re-run; finished tasks are skipped"
	}
	return "fix the cause shown above (" + see + " for the full output), then re-run; finished tasks are skipped"
}

// redactedError keeps the cause for errors.Is/As but shows a message with secrets removed.
type redactedError struct {
	msg   string
	cause error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.cause }

// PhaseError says a phase failed on some hosts; Errs holds one *TaskError (or other error) per
// failed host. It unwraps to all of them for errors.As.
type PhaseError struct {
	Phase string
	Errs  []error
}

func (e *PhaseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase %q failed on %d host(s); later phases were not started", e.Phase, len(e.Errs))
	for _, err := range e.Errs {
		b.WriteString("\n  " + err.Error())
	}
	return b.String()
}

func (e *PhaseError) Unwrap() []error { return e.Errs }

// TaskErrors returns every *TaskError inside err.
func TaskErrors(err error) []*TaskError {
	var out []*TaskError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if te, ok := err.(*TaskError); ok {
			out = append(out, te)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}
