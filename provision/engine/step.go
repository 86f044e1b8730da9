package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/transport"
)

// Step is one named step of a Go phase, on one host or lab-wide (no host). It gives Go phases
// the same events and error contract as playbook tasks: start, skip ("already done"), done, or
// fail with a *TaskError naming host, phase, task and command.
type Step struct {
	r     *Run
	h     *Host // nil: a lab-wide step (events carry no host)
	phase string
	name  string
	start time.Time
}

// Step starts timing a step of phase on h (nil for a lab-wide step).
func (r *Run) Step(h *Host, phase, name string) *Step {
	return &Step{r: r, h: h, phase: phase, name: name, start: time.Now()}
}

func (s *Step) event(kind event.Kind, st event.State, line string) event.Event {
	e := event.Event{Kind: kind, Phase: s.phase, Task: s.name, State: st, Line: line}
	if s.h != nil {
		e.Host = s.h.Name
	}
	if kind != event.TaskStart {
		e.Duration = time.Since(s.start)
	}
	return e
}

// Name is the step's (task's) name.
func (s *Step) Name() string { return s.name }

// Begin reports that the step started.
func (s *Step) Begin(line string) { s.r.Emit(s.event(event.TaskStart, event.StateRunning, line)) }

// Done reports that the step changed something and succeeded.
func (s *Step) Done(line string) { s.r.Emit(s.event(event.TaskDone, event.StateOK, line)) }

// Skip reports the step as already done; reason "" means its guard said so.
func (s *Step) Skip(reason string) {
	if reason == "" {
		reason = SkipGuard
	}
	s.r.Emit(s.event(event.TaskSkip, event.StateSkipped, reason))
}

// Plan reports, in a dry run, what the step would do.
func (s *Step) Plan(line string) { s.r.Emit(s.event(event.TaskPlan, event.StatePending, line)) }

// Waiting says what the step is waiting for.
func (s *Step) Waiting(what string) { s.r.Emit(s.event(event.Waiting, event.StateRunning, what)) }

// Log writes a line to the host's log (lab-wide steps have none). Go phases handle tokens and
// keys, so their details go to the redacted host log, never to events.
func (s *Step) Log(format string, args ...any) {
	if s.h != nil {
		s.r.HostLog(s.h, "%s › %s: %s", s.phase, s.name, fmt.Sprintf(format, args...))
	}
}

// Fail reports err as the step's failure and returns the typed error for the phase to return.
// command (may be "") is redacted; an *transport.ExitError gives the exit status and stderr tail.
func (s *Step) Fail(command, hint string, err error) error {
	te := &TaskError{Phase: s.phase, Task: s.name, Command: s.r.Redact.Redact(command), Exit: -1, Err: err, Hint: hint}
	if s.h != nil {
		te.Host, te.LogPath = s.h.Name, s.r.LogPath(s.h)
	}
	var ee *transport.ExitError
	if errors.As(err, &ee) {
		te.Exit = ee.ExitStatus
		for _, l := range transport.TailLines(ee.Stderr, StderrTail) {
			te.Stderr = append(te.Stderr, s.r.Redact.Redact(l))
		}
	}
	if te.Hint == "" {
		te.Hint = defaultStepHint(err)
	}
	s.Log("FAILED: %v", err)
	e := s.event(event.TaskFail, event.StateFailed, "")
	e.Error = te.Info()
	s.r.Emit(e)
	return te
}

func defaultStepHint(err error) string {
	switch {
	case errors.Is(err, transport.ErrConnection):
		return "the connection to the host was lost: check the host is up and sshd runs, then re-run; finished tasks are skipped"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, transport.ErrTimeout):
		return "the step ran past its timeout; see the host log for where it hung, then re-run"
	}
	return "fix the cause shown above, then re-run; finished tasks are skipped"
}
