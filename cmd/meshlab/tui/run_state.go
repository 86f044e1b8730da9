package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/meshlab/meshlab/provision/event"
)

// maxLogLines bounds each host's log pane; the full log is in the host's log file.
const maxLogLines = 2000

// summaryPhase is the phase that ends a stack run (lab/stack's Summary): each of its Log
// events is one "what  where" line (productpage, the addons' UIs, the kubeconfig). The wizard
// shows those lines rather than guessing URLs, so it lists only what the run really installed.
const summaryPhase = "summary"

// hostRun is one host's row during a run, built only from events.
type hostRun struct {
	name                string
	state               event.State
	phase, task         string
	phaseIndex          int // index of the phase running on the host (connect is 0)
	done, total         int // tasks of the current phase (progress events)
	ok, skipped, failed int // task counts over the run
	err                 *event.ErrorInfo
	log                 []string
	finished            bool // the lab ended ok: the bar is full
}

// runState folds the engine's events into what the run screen shows.
type runState struct {
	hosts      []*hostRun
	byName     map[string]*hostRun
	phases     int // phases of the action, from phase.start
	phaseIndex int
	phaseTitle string
	labLog     []string         // lab-wide messages (phase results, waits)
	links      []string         // the lab's entry points, from the run's summary phase
	labErr     *event.ErrorInfo // from lab.done
	// labTaskErr is the first failed lab-wide task (the stack's phases run on the cluster, not
	// on a host): the summary shows its error contract, which lab.done only summarises.
	labTaskErr *event.ErrorInfo
	labState   event.State // "" until lab.done
	started    time.Time
	duration   time.Duration // from lab.done
}

func newRunState(names []string) *runState {
	s := &runState{byName: map[string]*hostRun{}}
	for _, n := range names {
		h := &hostRun{name: n, state: event.StatePending}
		s.hosts = append(s.hosts, h)
		s.byName[n] = h
	}
	return s
}

// apply folds one event into the state.
func (s *runState) apply(e event.Event) {
	e = printableEvent(e)
	h := s.byName[e.Host]
	if e.Host != "" && h == nil { // a host the wizard did not list: show it anyway
		h = &hostRun{name: e.Host, state: event.StatePending}
		s.hosts = append(s.hosts, h)
		s.byName[e.Host] = h
	}
	switch e.Kind {
	case event.LabStart:
		s.started = e.Time
	case event.LabDone:
		s.labState, s.labErr, s.duration = e.State, e.Error, e.Duration
		for _, h := range s.hosts {
			switch {
			case h.state == event.StateFailed:
			case e.State == event.StateOK:
				h.state, h.finished = event.StateOK, true
			default: // stopped by another host's failure or an interrupt
				h.state = event.StatePending
			}
		}
		if e.Error != nil {
			s.labLog = append(s.labLog, symFail+" "+e.Error.Message)
		}
	case event.PhaseStart:
		s.phases, s.phaseIndex, s.phaseTitle = e.Total, e.Done, e.Line
		for _, h := range s.hosts {
			if h.state != event.StateFailed {
				h.phaseIndex, h.phase, h.done, h.total, h.task = e.Done, e.Phase, 0, 0, ""
			}
		}
		s.labLog = append(s.labLog, "▶ "+e.Line)
	case event.PhaseDone, event.PhaseSkip:
		if e.Error != nil {
			s.labLog = append(s.labLog, symFail+" "+e.Error.Message)
		}
	case event.TaskFail:
		if h == nil && e.Error != nil {
			if s.labTaskErr == nil {
				s.labTaskErr = e.Error
			}
			s.labLog = append(s.labLog, symFail+" "+e.Task+": "+e.Error.Message)
		}
	case event.Log:
		switch {
		case h == nil && e.Phase == summaryPhase:
			s.links = append(s.links, e.Line)
		case h == nil:
			s.labLog = append(s.labLog, "… "+e.Line)
		}
	case event.Waiting:
		if h == nil {
			s.labLog = append(s.labLog, "… "+e.Line)
		}
	}
	if h != nil {
		h.apply(e)
	}
}

func (h *hostRun) apply(e event.Event) {
	switch e.Kind {
	case event.TaskStart:
		h.state, h.phase, h.task = event.StateRunning, e.Phase, e.Task
		h.logf("▶ %s", e.Task)
	case event.TaskDone:
		h.ok++
		h.logf("%s %s (%s)", symOK, e.Task, e.Duration.Round(time.Millisecond))
	case event.TaskSkip:
		h.skipped++
		h.logf("%s %s: %s", symSkip, e.Task, e.Line)
	case event.TaskRetry:
		h.logf("↻ %s: %s", e.Task, e.Line)
	case event.TaskFail:
		h.failed++
		h.state, h.err, h.task = event.StateFailed, e.Error, e.Task
		msg := ""
		if e.Error != nil {
			msg = e.Error.Message
		}
		h.logf("%s %s: %s", symFail, e.Task, msg)
	case event.Output:
		h.logf("  %s", e.Line)
	case event.Progress:
		h.done, h.total = e.Done, e.Total
	case event.Waiting:
		h.logf("… waiting: %s", e.Line)
	case event.Log:
		h.logf("%s", e.Line)
	}
}

func (h *hostRun) logf(format string, args ...any) {
	h.log = append(h.log, fmt.Sprintf(format, args...))
	if len(h.log) > maxLogLines {
		h.log = append([]string(nil), h.log[len(h.log)-maxLogLines:]...)
	}
}

// fraction is how far the host is through the action: whole phases done plus the share of the
// current phase's tasks.
func (s *runState) fraction(h *hostRun) float64 {
	if h.finished {
		return 1
	}
	if s.phases == 0 {
		return 0
	}
	f := float64(h.phaseIndex)
	if h.total > 0 {
		f += float64(h.done) / float64(h.total)
	}
	return min(1, f/float64(s.phases))
}

// overall is the mean of the hosts' fractions.
func (s *runState) overall() float64 {
	if len(s.hosts) == 0 {
		return 0
	}
	sum := 0.0
	for _, h := range s.hosts {
		sum += s.fraction(h)
	}
	return sum / float64(len(s.hosts))
}

// totals counts tasks over all hosts.
func (s *runState) totals() (ok, skipped, failed int) {
	for _, h := range s.hosts {
		ok, skipped, failed = ok+h.ok, skipped+h.skipped, failed+h.failed
	}
	return ok, skipped, failed
}

// hasPrometheus says whether the run's summary lists a running Prometheus (a URL, not
// "— not in the offline bundle").
func (s *runState) hasPrometheus() bool {
	for _, l := range s.links {
		if what, where, _ := strings.Cut(l, " "); what == "prometheus" && strings.HasPrefix(strings.TrimSpace(where), "http") {
			return true
		}
	}
	return false
}
