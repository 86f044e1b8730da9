package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshlab/meshlab/provision/event"
)

// Execute runs the phases in order on r: for each phase Prepare, the guard, then Run (or DryRun in
// a dry run). When a phase fails, no later phase starts; the clean-ups of the phases that ran are
// called in reverse order and the phase's error (per-host errors joined) is returned. Transports
// opened during the run are closed at the end.
func Execute(ctx context.Context, r *Run, phases Phases) (err error) {
	start := time.Now()
	r.Emit(event.Event{Kind: event.LabStart, State: event.StateRunning, Line: r.Action, Total: len(r.Hosts)})
	r.logger().Info("action start", "action", r.Action, "lab", r.Lab, "hosts", len(r.Hosts), "dry_run", r.DryRun)
	var ran []Phase
	defer func() {
		if err != nil {
			for i := len(ran) - 1; i >= 0; i-- {
				if c, ok := ran[i].(CleanUpper); ok {
					// Clean-ups get their own short context: the run's may be cancelled already.
					cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
					c.CleanUp(cctx, r)
					cancel()
				}
			}
		}
		r.runClosers()
		closeTransports(r)
		done := event.Event{Kind: event.LabDone, State: event.StateOK, Line: r.Action, Duration: time.Since(start)}
		if err != nil {
			done.State = event.StateFailed
			done.Error = labErrorInfo(err)
		}
		r.Emit(done)
		r.logger().Info("action done", "action", r.Action, "error", err, "duration", time.Since(start))
	}()
	for i, p := range phases {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s interrupted before phase %q: %w", r.Action, p.Title(), err)
		}
		name := PhaseName(p)
		if pr, ok := p.(Preparer); ok {
			if err := pr.Prepare(ctx, r); err != nil {
				return fmt.Errorf("prepare phase %q: %w", name, err)
			}
		}
		if g, ok := p.(Guard); ok && !g.ShouldRun(r) {
			r.Emit(event.Event{Kind: event.PhaseSkip, Phase: name, State: event.StateSkipped, Line: p.Title()})
			continue
		}
		pstart := time.Now()
		r.Emit(event.Event{Kind: event.PhaseStart, Phase: name, State: event.StateRunning, Line: p.Title(), Done: i, Total: len(phases)})
		ran = append(ran, p)
		var perr error
		if dr, ok := p.(DryRunner); ok && r.DryRun {
			perr = dr.DryRun(ctx, r)
		} else {
			perr = p.Run(ctx, r)
		}
		pe := event.Event{Kind: event.PhaseDone, Phase: name, State: event.StateOK, Line: p.Title(), Duration: time.Since(pstart)}
		if perr != nil {
			pe.State = event.StateFailed
			failed := phaseFailures(perr)
			pe.Error = &event.ErrorInfo{Message: fmt.Sprintf("phase %q failed on %d host(s)", name, failed)}
			if rest := len(phases) - i - 1; rest > 0 {
				pe.Error.Message += fmt.Sprintf("; the remaining %d phase(s) were not started", rest)
			}
			pe.Error.Hint = "fix the failures above and re-run: tasks already done are skipped"
			r.Emit(pe)
			return &PhaseError{Phase: name, Errs: flatten(perr)}
		}
		r.Emit(pe)
	}
	return nil
}

func phaseFailures(err error) int {
	return len(flatten(err))
}

// flatten splits a joined error into its parts.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func labErrorInfo(err error) *event.ErrorInfo {
	info := &event.ErrorInfo{Message: err.Error()}
	var pe *PhaseError
	if errors.As(err, &pe) {
		info.Phase = pe.Phase
		info.Message = fmt.Sprintf("phase %q failed on %d host(s)", pe.Phase, len(pe.Errs))
		if tes := TaskErrors(err); len(tes) > 0 {
			info.LogPath = tes[0].LogPath
		}
	}
	if errors.Is(err, context.Canceled) {
		info.Hint = "interrupted: state was saved; re-run the same command to continue"
	}
	return info
}

func closeTransports(r *Run) {
	for _, h := range r.Hosts {
		if h.Transport != nil {
			_ = h.Transport.Close()
			h.Transport = nil
		}
	}
}
