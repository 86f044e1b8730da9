package view

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/meshlab/meshlab/provision/event"
)

// Plan renders a dry run as a per-host plan: it collects the task.plan and task.skip events and,
// when the run ends, prints each host's list of tasks in order with what would happen, then a
// one-line summary. Other events (failures of a probe, waits) print at once as in Text.
type Plan struct {
	mu    sync.Mutex
	w     io.Writer
	text  *Text
	order []string            // hosts in first-seen order
	steps map[string][]string // host → lines
	would int
	done  int
}

var _ event.Sink = (*Plan)(nil)

// NewPlan returns a plan view writing to w.
func NewPlan(w io.Writer, verbose int) *Plan {
	return &Plan{w: w, text: NewText(w, verbose), steps: map[string][]string{}}
}

// Emit collects or prints one event.
func (p *Plan) Emit(e event.Event) {
	switch e.Kind {
	case event.TaskPlan, event.TaskSkip:
		p.mu.Lock()
		defer p.mu.Unlock()
		if _, ok := p.steps[e.Host]; !ok {
			p.order = append(p.order, e.Host)
		}
		p.steps[e.Host] = append(p.steps[e.Host], fmt.Sprintf("%s › %s\x00%s", e.Phase, e.Task, e.Line))
		if e.Kind == event.TaskPlan {
			p.would++
		} else {
			p.done++
		}
	case event.LabDone:
		p.mu.Lock()
		defer p.mu.Unlock()
		p.flush(e)
	case event.PhaseStart, event.PhaseDone, event.PhaseSkip, event.LabStart:
		// The plan is printed per host at the end; phase lines would only interleave.
	default:
		p.text.Emit(e)
	}
}

func (p *Plan) flush(e event.Event) {
	var b strings.Builder
	fmt.Fprintf(&b, "Plan for lab %s:\n", e.Lab)
	hosts := append([]string(nil), p.order...)
	sort.SliceStable(hosts, func(i, j int) bool { return hosts[i] < hosts[j] })
	for _, h := range hosts {
		fmt.Fprintf(&b, "\n[%s]\n", h)
		width := 0
		for _, s := range p.steps[h] {
			width = max(width, len([]rune(strings.SplitN(s, "\x00", 2)[0])))
		}
		for _, s := range p.steps[h] {
			parts := strings.SplitN(s, "\x00", 2)
			pad := width - len([]rune(parts[0]))
			fmt.Fprintf(&b, "  %s%s  %s\n", parts[0], strings.Repeat(" ", pad), parts[1])
		}
	}
	switch {
	case e.Error != nil:
		fmt.Fprintf(&b, "\nplan FAILED: %s\n", e.Error.Message)
	case p.would == 0:
		fmt.Fprintf(&b, "\nNothing to do: %d task(s) already done on %d host(s).\n", p.done, len(hosts))
	default:
		fmt.Fprintf(&b, "\n%d task(s) would run on %d host(s); %d skipped. Nothing was changed.\n", p.would, len(hosts), p.done)
	}
	_, _ = io.WriteString(p.w, b.String())
}
