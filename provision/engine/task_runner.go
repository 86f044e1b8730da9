package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/playbook"
	"github.com/meshlab/meshlab/provision/state"
	"github.com/meshlab/meshlab/provision/transport"
)

// Skip reasons shown to the user.
const (
	SkipGuard    = "already done (guard)"
	SkipRecorded = "already done (recorded)"
)

// runTask runs one rendered task on one host: recorded? → guard → run with retries → record.
func runTask(ctx context.Context, r *Run, h *Host, phase string, t playbook.Rendered) error {
	key := state.Key(phase, t.Name)
	ev := func(kind event.Kind, st event.State, line string) event.Event {
		return event.Event{Kind: kind, Host: h.Name, Phase: phase, Task: t.Name, State: st, Line: line}
	}
	// A task without a guard cannot tell whether it is done; the state file remembers it instead.
	if t.Check == "" && r.State != nil {
		if rec, ok := r.State.Done(h.Name, key); ok && rec.Hash == t.Hash {
			r.Emit(ev(event.TaskSkip, event.StateSkipped, SkipRecorded))
			return nil
		}
	}
	if r.DryRun && !r.Probe {
		r.Emit(ev(event.TaskPlan, event.StatePending, planLine(t)))
		return nil
	}
	start := time.Now()
	r.Emit(ev(event.TaskStart, event.StateRunning, ""))
	if h.Transport == nil {
		return r.fail(h, phase, t, fmt.Errorf("host %s is not connected", h.Name), transport.Result{}, t.Check, start)
	}
	if t.Check != "" {
		res, err := r.exec(ctx, h, phase, t, t.Check, true)
		var ee *transport.ExitError
		switch {
		case err == nil:
			r.Emit(withDuration(ev(event.TaskSkip, event.StateSkipped, SkipGuard), start))
			return nil
		case errors.As(err, &ee):
			// Non-zero exit: not done yet, go on.
		default:
			return r.fail(h, phase, t, fmt.Errorf("guard: %w", err), res, t.Check, start)
		}
	}
	if r.DryRun {
		r.Emit(ev(event.TaskPlan, event.StatePending, planLine(t)))
		return nil
	}
	backoff := t.Backoff.D()
	for attempt := 0; ; attempt++ {
		res, err := r.exec(ctx, h, phase, t, t.Script, false)
		if err == nil {
			break
		}
		if attempt >= t.Retries || ctx.Err() != nil || !transport.IsRetryable(err) {
			return r.fail(h, phase, t, err, res, t.Script, start)
		}
		r.Emit(ev(event.TaskRetry, event.StateRunning, fmt.Sprintf("attempt %d of %d failed (%s); retrying in %s",
			attempt+1, t.Retries+1, r.Redact.Redact(errMessage(err)), backoff)))
		r.HostLog(h, "retry %s › %s in %s: %v", phase, t.Name, backoff, err)
		if err := sleepCtx(ctx, backoff); err != nil {
			return r.fail(h, phase, t, err, res, t.Script, start)
		}
		backoff *= 2
	}
	if r.State != nil {
		if err := r.State.Record(h.Name, key, t.Hash, time.Now()); err != nil {
			// The task ran; failing to remember it only costs a re-run of this task. Say so.
			r.Logf(h, phase, "could not record task %q in %s: %v", t.Name, r.State.Path(), err)
		}
	}
	r.Emit(withDuration(ev(event.TaskDone, event.StateOK, ""), start))
	return nil
}

// exec runs one script on the host, streaming output into events and the host log, and reporting
// a Waiting event every WaitingEvery while it runs.
func (r *Run) exec(ctx context.Context, h *Host, phase string, t playbook.Rendered, script string, guard bool) (transport.Result, error) {
	what := "run"
	if guard {
		what = "guard"
	}
	r.HostLog(h, "%s › %s: %s (become=%t timeout=%s):\n%s", phase, t.Name, what, t.Become, t.Timeout.D(), script)
	out := func(stream string) func(string) {
		return func(line string) {
			r.HostLog(h, "  %s| %s", stream[3:], line)
			if !guard {
				r.Emit(event.Event{Kind: event.Output, Host: h.Name, Phase: phase, Task: t.Name, Stream: stream, Line: line})
			}
		}
	}
	stop := r.reportWaiting(ctx, h, phase, fmt.Sprintf("%s › %s (%s)", phase, t.Name, what))
	defer stop()
	res, err := h.Transport.Run(ctx, transport.Cmd{
		// errexit: a failing line of a multi-line script fails the task instead of being ignored.
		Command: "set -e\n" + script, Become: t.Become, Timeout: t.Timeout.D(),
		Stdout: out("stdout"), Stderr: out("stderr"),
	})
	if err != nil {
		r.HostLog(h, "%s › %s: %s failed after %s: %v", phase, t.Name, what, res.Duration, err)
	} else {
		r.HostLog(h, "%s › %s: %s ok after %s", phase, t.Name, what, res.Duration)
	}
	return res, err
}

// reportWaiting emits a Waiting event every WaitingEvery until stop is called.
func (r *Run) reportWaiting(ctx context.Context, h *Host, phase, what string) (stop func()) {
	done := make(chan struct{})
	start := time.Now()
	go func() {
		tick := time.NewTicker(r.waitingEvery())
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				r.Waiting(h, phase, fmt.Sprintf("still waiting for %s to finish (%s so far)", what, time.Since(start).Round(time.Second)))
			}
		}
	}()
	return func() { close(done) }
}

func (r *Run) fail(h *Host, phase string, t playbook.Rendered, err error, res transport.Result, command string, start time.Time) error {
	te := r.newTaskError(h, phase, t.Name, command, t.Hint, res, err)
	r.HostLog(h, "FAILED %s › %s: %v", phase, t.Name, err)
	e := event.Event{Kind: event.TaskFail, Host: h.Name, Phase: phase, Task: t.Name, State: event.StateFailed, Error: te.Info()}
	r.Emit(withDuration(e, start))
	return te
}

func withDuration(e event.Event, start time.Time) event.Event {
	e.Duration = time.Since(start)
	return e
}

// planLine summarises a task for a dry run: its first script line, how long the script is, and
// whether it runs as root or may be skipped by its guard.
func planLine(t playbook.Rendered) string {
	lines := strings.Split(strings.TrimSpace(t.Script), "\n")
	s := "would run: " + strings.TrimSpace(lines[0])
	if len(lines) > 1 {
		s = fmt.Sprintf("would run (%d lines): %s ...", len(lines), strings.TrimSpace(lines[0]))
	}
	if t.Become {
		s += " [as root]"
	}
	if t.Check != "" {
		s += " [unless its guard passes]"
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
