// Package engine runs actions (up, down, plan) on a lab: an ordered list of phases, each fanned out
// over the lab's hosts with bounded parallelism, every step reported as an event. Host work comes
// from playbooks (PlaybookPhase); work that needs Go implements Phase directly.
package engine

import (
	"context"
	"fmt"
	"strings"
)

// Phase is one step of an action. Only Title and Run are required; the manager finds the optional
// capabilities below by type assertion, so a phase implements just what it needs.
type Phase interface {
	Title() string
	Run(ctx context.Context, r *Run) error
}

// Preparer works out the phase's target hosts before the guard is asked.
type Preparer interface {
	Prepare(ctx context.Context, r *Run) error
}

// Guard says whether the phase has anything to do (after Prepare).
type Guard interface {
	ShouldRun(r *Run) bool
}

// CleanUpper undoes what a phase left half done after a later failure. Best effort: it logs and
// returns nothing, so it can never hide the failure that triggered it.
type CleanUpper interface {
	CleanUp(ctx context.Context, r *Run)
}

// DryRunner replaces Run in dry-run mode. A phase without it is run with r.DryRun set, and must
// route every change through r.Wet.
type DryRunner interface {
	DryRun(ctx context.Context, r *Run) error
}

// Namer gives a phase a short machine name for --skip-phases (default: its title).
type Namer interface {
	Name() string
}

// PhaseName is the name --skip-phases and `--phase` match against.
func PhaseName(p Phase) string {
	if n, ok := p.(Namer); ok {
		return n.Name()
	}
	return p.Title()
}

// Phases is an ordered list of phases: an action (lab/phases.go has the lab's).
type Phases []Phase

// Index returns the position of the phase with the given title or name, or -1.
func (ps Phases) Index(title string) int {
	for i, p := range ps {
		if strings.EqualFold(p.Title(), title) || strings.EqualFold(PhaseName(p), title) {
			return i
		}
	}
	return -1
}

// remove removes the phase with the given title or name.
func (ps *Phases) remove(title string) error {
	i := ps.Index(title)
	if i < 0 {
		return fmt.Errorf("no phase %q to remove", title)
	}
	*ps = append((*ps)[:i], (*ps)[i+1:]...)
	return nil
}

// Names lists the phases' names, for help texts and errors.
func (ps Phases) Names() []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = PhaseName(p)
	}
	return out
}

// Select returns the phases left after skipping the named ones, or only the named one when only is
// set. Unknown names are errors (a typo must not silently run everything).
func (ps Phases) Select(skip []string, only string) (Phases, error) {
	known := func(n string) error {
		if ps.Index(n) < 0 {
			return fmt.Errorf("unknown phase %q (phases: %s)", n, strings.Join(ps.Names(), ", "))
		}
		return nil
	}
	if only != "" {
		if err := known(only); err != nil {
			return nil, err
		}
		return Phases{ps[ps.Index(only)]}, nil
	}
	out := append(Phases{}, ps...)
	for _, s := range skip {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if err := known(s); err != nil {
			return nil, err
		}
		_ = out.remove(s) // already removed: a name given twice
	}
	return out, nil
}
