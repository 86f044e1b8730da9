package stack

import (
	"time"

	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
)

// task is one named step of a stack phase, on one host or lab-wide (h nil). It reports the
// same events and error contract as playbook tasks: start, skip, done, or fail with an
// *engine.TaskError naming host, phase and task.
type task struct {
	r     *engine.Run
	h     *engine.Host
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

// skip reports the step as already done (reason "" means the guard said so).
func (t *task) skip(reason string) {
	if reason == "" {
		reason = engine.SkipGuard
	}
	t.r.Emit(t.event(event.TaskSkip, event.StateSkipped, reason))
}

// plan reports, in a dry run, what the step would do.
func (t *task) plan(line string) {
	t.r.Emit(t.event(event.TaskPlan, event.StatePending, line))
}

// fail reports err as this task's failure and returns the typed error for the phase to return.
func (t *task) fail(hint string, err error) error {
	te := &engine.TaskError{Phase: t.phase, Task: t.name, Exit: -1, Err: err, Hint: hint}
	if t.h != nil {
		te.Host, te.LogPath = t.h.Name, t.r.LogPath(t.h)
	}
	if te.Hint == "" {
		te.Hint = "fix the cause shown above, then re-run `meshlab up --stack`; finished steps are skipped"
	}
	e := t.event(event.TaskFail, event.StateFailed, "")
	e.Error = te.Info()
	t.r.Emit(e)
	return te
}
