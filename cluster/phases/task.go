package phases

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/transport"
)

// task is one step of a Go phase on one host: engine.Step's events and error contract plus the
// commands a phase runs on the host.
type task struct {
	*engine.Step
	h *engine.Host
}

func newTask(r *engine.Run, h *engine.Host, phase, name string) *task {
	return &task{Step: r.Step(h, phase, name), h: h}
}

// run runs a command on the task's host, logging its output to the host log only (Go phases
// handle tokens and keys, so their output never goes to events).
func (t *task) run(ctx context.Context, command string, timeout time.Duration) (transport.Result, error) {
	t.Log("run (timeout %s): %s", timeout, command)
	logLine := func(stream string) func(string) {
		return func(l string) { t.Log("  %s| %s", stream, l) }
	}
	return t.h.Transport.Run(ctx, transport.Cmd{Command: command, Become: true, Timeout: timeout,
		Stdout: logLine("out"), Stderr: logLine("err")})
}

// read runs a read-only command quietly: for polls, whose every round would flood the host log.
func (t *task) read(ctx context.Context, command string, timeout time.Duration) (transport.Result, error) {
	return t.h.Transport.Run(ctx, transport.Cmd{Command: command, Become: true, Timeout: timeout})
}

// test runs a read-only check: true when it exits 0, false on a non-zero exit, and an error
// when the command could not run at all (connection lost).
func (t *task) test(ctx context.Context, command string) (bool, error) {
	_, err := t.h.Transport.Run(ctx, transport.Cmd{Command: command, Become: true, Timeout: time.Minute})
	var ee *transport.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee):
		return false, nil
	}
	return false, err
}

// quoteAll shell-quotes each word.
func quoteAll(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = transport.Quote(w)
	}
	return strings.Join(q, " ")
}
