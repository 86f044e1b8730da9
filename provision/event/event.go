// Package event defines the one stream every meshlab engine writes to and every view reads from.
//
// The engine never imports a view: the plain-text log, the JSON-lines output and the TUI all
// subscribe to the same Event values through a Sink.
package event

import (
	"time"
)

// Kind says what happened. The set is closed and documented in docs/events.md; views switch on it.
type Kind string

const (
	LabStart   Kind = "lab.start"   // an action (up, down, plan) begins on a lab
	LabDone    Kind = "lab.done"    // the action ended; Error is set when it failed
	PhaseStart Kind = "phase.start" // a phase begins (Host empty: the phase as a whole)
	PhaseDone  Kind = "phase.done"  // a phase ended
	PhaseSkip  Kind = "phase.skip"  // a phase's guard said there is nothing to do
	TaskStart  Kind = "task.start"  // a task begins on one host
	TaskDone   Kind = "task.done"   // a task changed the host and succeeded
	TaskSkip   Kind = "task.skip"   // the task's guard said it is already done
	TaskFail   Kind = "task.fail"   // the task failed on one host; Error is set
	TaskRetry  Kind = "task.retry"  // the task failed and will be tried again
	TaskPlan   Kind = "task.plan"   // dry-run: what the task would do (Line)
	Output     Kind = "output"      // one line of a remote command's stdout or stderr
	Progress   Kind = "progress"    // Done of Total steps on a host (or the lab when Host is empty)
	Waiting    Kind = "waiting"     // a long wait: Line says what is being waited for
	Log        Kind = "log"         // an informational message (Line)
)

// State is the state of a host or task after the event.
type State string

const (
	StatePending State = "pending"
	StateRunning State = "running"
	StateOK      State = "ok"
	StateSkipped State = "skipped"
	StateFailed  State = "failed"
)

// Event is one thing that happened. Fields that do not apply are left empty and omitted from JSON.
type Event struct {
	Time     time.Time     `json:"time"`
	Kind     Kind          `json:"kind"`
	Lab      string        `json:"lab,omitempty"`
	Host     string        `json:"host,omitempty"`
	Phase    string        `json:"phase,omitempty"`
	Task     string        `json:"task,omitempty"`
	State    State         `json:"state,omitempty"`
	Stream   string        `json:"stream,omitempty"` // "stdout" or "stderr" for Output
	Line     string        `json:"line,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Done     int           `json:"done,omitempty"`
	Total    int           `json:"total,omitempty"`
	Error    *ErrorInfo    `json:"error,omitempty"`
}

// ErrorInfo is the error contract: everything a user needs to understand a failure without
// digging. Secrets never appear here: commands are recorded after redaction.
type ErrorInfo struct {
	Message string   `json:"message"`
	Host    string   `json:"host,omitempty"`
	Phase   string   `json:"phase,omitempty"`
	Task    string   `json:"task,omitempty"`
	Command string   `json:"command,omitempty"`
	Exit    int      `json:"exit,omitempty"` // -1 when the command did not finish (connection lost, timeout)
	Stderr  []string `json:"stderr,omitempty"`
	LogPath string   `json:"log,omitempty"`
	Hint    string   `json:"hint,omitempty"`
}

// Sink receives events. Emit must be safe for concurrent use and must not block for long:
// the engine calls it from every host's goroutine.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

func (f SinkFunc) Emit(e Event) { f(e) }

// Discard drops every event.
var Discard Sink = SinkFunc(func(Event) {})
