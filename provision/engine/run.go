package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/state"
	"github.com/meshlab/meshlab/provision/transport"
	"github.com/meshlab/meshlab/provision/versions"
)

// Host is one machine of the lab as the engine sees it. The exported fields are also what
// playbook templates see as .Host.
type Host struct {
	Name    string
	Address string
	Port    int
	User    string
	Role    string
	Labels  map[string]string
	// Transport is set by the connect phase (nil in a dry run that does not probe).
	Transport transport.Transport `json:"-"`
}

func (h *Host) String() string { return h.Name }

// Dialer opens a transport to a host. The command layer builds it from the hosts file.
type Dialer func(ctx context.Context, h *Host) (transport.Transport, error)

// Run is everything a phase may use during one action: the hosts, the event sink, the state, the
// logs and the dry-run switch. Phases depend on it, never on package-level settings.
type Run struct {
	Action   string         // "up", "down", "plan"
	Lab      string         // lab name, on every event
	LabData  *inventory.Lab // .Lab in templates (the hosts file's lab)
	Versions versions.Set   // .Versions in templates
	Vars     map[string]any
	Hosts    []*Host
	// Dial connects a host (used by the connect phase; nil: hosts must come with transports).
	Dial Dialer

	Sink   event.Sink
	State  *state.Store
	Logs   *state.Logs // nil: no log files (plan)
	Redact *state.Redactor
	Log    *slog.Logger

	// DryRun: report what would change and change nothing. Probe: in a dry run, connect and run
	// guards (read-only) to tell what is already done.
	DryRun bool
	Probe  bool
	// Concurrency bounds how many hosts work at once (default DefaultConcurrency).
	Concurrency int
	// WaitingEvery is how often a long wait reports that it is still waiting (default 10 s).
	WaitingEvery time.Duration

	closeMu sync.Mutex
	closers []func() // run at the end of Execute, last added first
}

// OnClose registers f to run when the action ends (success or not), before the transports close:
// what a phase keeps open for the phases after it (a port forwarded through SSH) ends there.
func (r *Run) OnClose(f func()) {
	r.closeMu.Lock()
	defer r.closeMu.Unlock()
	r.closers = append(r.closers, f)
}

func (r *Run) runClosers() {
	r.closeMu.Lock()
	cs := r.closers
	r.closers = nil
	r.closeMu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

// Defaults.
const (
	DefaultConcurrency  = 10
	DefaultWaitingEvery = 10 * time.Second
)

func (r *Run) concurrency() int {
	if r.Concurrency > 0 {
		return r.Concurrency
	}
	return DefaultConcurrency
}

func (r *Run) waitingEvery() time.Duration {
	if r.WaitingEvery > 0 {
		return r.WaitingEvery
	}
	return DefaultWaitingEvery
}

func (r *Run) logger() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Emit sends an event with the lab name and time filled in and secrets redacted.
func (r *Run) Emit(e event.Event) {
	if r.Sink == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	e.Lab = r.Lab
	e.Line = r.Redact.Redact(e.Line)
	if e.Error != nil {
		c := *e.Error
		c.Message = r.Redact.Redact(c.Message)
		c.Command = r.Redact.Redact(c.Command)
		c.Stderr = append([]string(nil), c.Stderr...)
		for i := range c.Stderr {
			c.Stderr[i] = r.Redact.Redact(c.Stderr[i])
		}
		e.Error = &c
	}
	r.Sink.Emit(e)
}

// HostLog appends to the host's log file (no-op without logs).
func (r *Run) HostLog(h *Host, format string, args ...any) {
	if r.Logs != nil {
		r.Logs.Host(h.Name, format, args...)
	}
}

// LogPath is the host's log file, or "" without logs.
func (r *Run) LogPath(h *Host) string {
	if r.Logs == nil {
		return ""
	}
	return r.Logs.HostPath(h.Name)
}

// Wet is the one door every change goes through. In a dry run it reports message as a planned
// change on the host (a task.plan event) and returns nil without calling do; otherwise it calls do.
func (r *Run) Wet(h *Host, phase, task, message string, do func() error) error {
	if r.DryRun {
		r.Emit(event.Event{Kind: event.TaskPlan, Host: h.Name, Phase: phase, Task: task, State: event.StatePending, Line: message})
		return nil
	}
	return do()
}

// Waiting emits a Waiting event for a host (or the lab when h is nil).
func (r *Run) Waiting(h *Host, phase, what string) {
	e := event.Event{Kind: event.Waiting, Phase: phase, Line: what}
	if h != nil {
		e.Host = h.Name
	}
	r.Emit(e)
}

// Logf emits an informational Log event.
func (r *Run) Logf(h *Host, phase, format string, args ...any) {
	e := event.Event{Kind: event.Log, Phase: phase, Line: fmt.Sprintf(format, args...)}
	if h != nil {
		e.Host = h.Name
	}
	r.Emit(e)
}
