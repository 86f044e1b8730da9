package phases

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/transport"
)

// task is one named step of a Go phase on one host. It gives Go phases the same events and
// error contract as playbook tasks: start, skip ("already done"), done or fail with a
// *engine.TaskError naming host, phase, task and command.
type task struct {
	r     *engine.Run
	h     *engine.Host // nil: a lab-wide step (events carry no host)
	phase string
	name  string
	start time.Time
}

func newTask(r *engine.Run, h *engine.Host, phase, name string) *task {
	return &task{r: r, h: h, phase: phase, name: name, start: time.Now()}
}

func (t *task) event(kind event.Kind, st event.State, line string) event.Event {
	e := event.Event{Kind: kind, Phase: t.phase, Task: t.name, State: st, Line: line}
	if t.h != nil {
		e.Host = t.h.Name
	}
	if kind != event.TaskStart {
		e.Duration = time.Since(t.start)
	}
	return e
}

func (t *task) begin(line string) { t.r.Emit(t.event(event.TaskStart, event.StateRunning, line)) }
func (t *task) done(line string)  { t.r.Emit(t.event(event.TaskDone, event.StateOK, line)) }
func (t *task) skip()             { t.r.Emit(t.event(event.TaskSkip, event.StateSkipped, engine.SkipGuard)) }
func (t *task) waiting(what string) {
	e := t.event(event.Waiting, event.StateRunning, what)
	t.r.Emit(e)
}

func (t *task) log(format string, args ...any) {
	if t.h != nil {
		t.r.HostLog(t.h, "%s › %s: %s", t.phase, t.name, fmt.Sprintf(format, args...))
	}
}

// fail reports err as this task's failure and returns the typed error for the phase to return.
func (t *task) fail(command, hint string, err error) error {
	te := &engine.TaskError{Phase: t.phase, Task: t.name, Command: t.r.Redact.Redact(command), Exit: -1,
		Err: err, Hint: hint}
	if t.h != nil {
		te.Host, te.LogPath = t.h.Name, t.r.LogPath(t.h)
	}
	var ee *transport.ExitError
	if errors.As(err, &ee) {
		te.Exit = ee.ExitStatus
		for _, l := range transport.TailLines(ee.Stderr, engine.StderrTail) {
			te.Stderr = append(te.Stderr, t.r.Redact.Redact(l))
		}
	}
	if te.Hint == "" {
		te.Hint = defaultHint(err)
	}
	t.log("FAILED: %v", err)
	e := t.event(event.TaskFail, event.StateFailed, "")
	e.Error = te.Info()
	t.r.Emit(e)
	return te
}

func defaultHint(err error) string {
	switch {
	case errors.Is(err, transport.ErrConnection):
		return "the connection to the host was lost: check the host is up and sshd runs, then re-run; finished tasks are skipped"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, transport.ErrTimeout):
		return "the step ran past its timeout; see the host log for where it hung, then re-run"
	}
	return "fix the cause shown above, then re-run; finished tasks are skipped"
}

// run runs a command on the task's host, logging its output to the host log only (Go phases
// handle tokens and keys, so their output never goes to events).
func (t *task) run(ctx context.Context, command string, timeout time.Duration) (transport.Result, error) {
	t.log("run (timeout %s): %s", timeout, command)
	logLine := func(stream string) func(string) {
		return func(l string) { t.log("  %s| %s", stream, t.r.Redact.Redact(l)) }
	}
	return t.h.Transport.Run(ctx, transport.Cmd{Command: command, Become: true, Timeout: timeout,
		Stdout: logLine("out"), Stderr: logLine("err")})
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
