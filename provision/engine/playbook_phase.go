package engine

import (
	"context"
	"fmt"

	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/playbook"
)

// PlaybookPhase runs one phase of a playbook: its tasks in order on each matching host, hosts in
// parallel.
type PlaybookPhase struct {
	Book  *playbook.Playbook
	Phase playbook.Phase

	hosts []*Host // chosen by Prepare
}

var (
	_ Phase    = (*PlaybookPhase)(nil)
	_ Preparer = (*PlaybookPhase)(nil)
	_ Guard    = (*PlaybookPhase)(nil)
	_ Namer    = (*PlaybookPhase)(nil)
)

// PlaybookPhases turns a list of playbook phases (the book's Phases or Reset) into engine phases.
func PlaybookPhases(pb *playbook.Playbook, list []playbook.Phase) Phases {
	out := make(Phases, 0, len(list))
	for _, ph := range list {
		out = append(out, &PlaybookPhase{Book: pb, Phase: ph})
	}
	return out
}

func (p *PlaybookPhase) Title() string { return p.Phase.DisplayTitle() }
func (p *PlaybookPhase) Name() string  { return p.Phase.Name }

// Prepare keeps the hosts whose role the phase applies to.
func (p *PlaybookPhase) Prepare(_ context.Context, r *Run) error {
	p.hosts = p.hosts[:0]
	for _, h := range r.Hosts {
		if playbook.AppliesTo(p.Phase.Roles, h.Role) {
			p.hosts = append(p.hosts, h)
		}
	}
	return nil
}

// ShouldRun: there is at least one host for this phase.
func (p *PlaybookPhase) ShouldRun(*Run) bool { return len(p.hosts) > 0 }

// Run runs the tasks on every host. A host stops at its first failed task; other hosts go on.
func (p *PlaybookPhase) Run(ctx context.Context, r *Run) error {
	return r.ForEachHost(ctx, p.hosts, func(ctx context.Context, h *Host) error {
		return p.runHost(ctx, r, h)
	})
}

func (p *PlaybookPhase) runHost(ctx context.Context, r *Run, h *Host) error {
	data := playbook.Data{Lab: r.LabData, Host: h, Versions: r.Versions, Vars: r.Vars}
	total := len(p.Phase.Tasks)
	for i, t := range p.Phase.Tasks {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !playbook.AppliesTo(t.Roles, h.Role) {
			r.Emit(event.Event{Kind: event.TaskSkip, Host: h.Name, Phase: p.Name(), Task: t.Name,
				State: event.StateSkipped, Line: fmt.Sprintf("not for role %s", h.Role)})
			continue
		}
		rt, err := p.Book.Render(p.Name(), t, data)
		if err != nil {
			te := &TaskError{Host: h.Name, Phase: p.Name(), Task: t.Name, Exit: -1, LogPath: r.LogPath(h), Err: err,
				Hint: "fix the playbook template (file:line above)"}
			r.Emit(event.Event{Kind: event.TaskFail, Host: h.Name, Phase: p.Name(), Task: t.Name, State: event.StateFailed, Error: te.Info()})
			return te
		}
		if rt.Skip {
			r.Emit(event.Event{Kind: event.TaskSkip, Host: h.Name, Phase: p.Name(), Task: t.Name,
				State: event.StateSkipped, Line: "condition (when) is false"})
			continue
		}
		if err := runTask(ctx, r, h, p.Name(), rt); err != nil {
			return err
		}
		r.Emit(event.Event{Kind: event.Progress, Host: h.Name, Phase: p.Name(), Done: i + 1, Total: total})
	}
	return nil
}
