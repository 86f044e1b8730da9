package verify

import (
	"context"
	"errors"
	"time"
)

// Observer hears about every check as it starts and ends (the table renderer, the TUI).
type Observer interface {
	Started(category string, c Checker)
	Finished(r Result)
}

// Runner runs a suite.
type Runner struct {
	// Quick runs only checkers marked Quick.
	Quick bool
	// Poll is the pause between retries of a failing check (default 2s).
	Poll time.Duration
	// NoRetry runs each check once, whatever its Retry says (tests of failing labs).
	NoRetry bool
	// Now is the clock (tests substitute one); nil means time.Now.
	Now func() time.Time
}

// Run runs the categories in order and returns every result; failed is true when any check
// failed. After a fatal failure the remaining checks are reported as skipped, not run.
func (rn Runner) Run(ctx context.Context, suite []Category, obs Observer) (results []Result, failed bool) {
	now := rn.Now
	if now == nil {
		now = time.Now
	}
	stop := ""
	for _, cat := range suite {
		for _, c := range cat.Checkers {
			if obs != nil {
				obs.Started(cat.Name, c)
			}
			var r Result
			switch {
			case stop != "":
				r = rn.result(cat.Name, c, Observation{}, Skip("%s failed", stop), 0)
			case rn.Quick && !c.Quick:
				r = rn.result(cat.Name, c, Observation{}, Skip("not a smoke check (--quick)"), 0)
			case ctx.Err() != nil:
				r = rn.result(cat.Name, c, Observation{}, Skip("interrupted"), 0)
			default:
				start := now()
				o, err := rn.attempt(ctx, c)
				r = rn.result(cat.Name, c, o, err, now().Sub(start))
			}
			if r.Failed() {
				failed = true
				if c.Fatal {
					stop = c.Name
				}
			}
			results = append(results, r)
			if obs != nil {
				obs.Finished(r)
			}
		}
	}
	return results, failed
}

// attempt runs c, retrying failures until its Retry deadline. Skips, NotInBundle and failures
// that waiting cannot change (a backend down, see isFinal) are not retried.
func (rn Runner) attempt(ctx context.Context, c Checker) (Observation, error) {
	poll := rn.Poll
	if poll == 0 {
		poll = 2 * time.Second
	}
	retry := c.Retry
	if rn.NoRetry {
		retry = 0
	}
	deadline := time.Now().Add(retry)
	for {
		o, err := c.Check(ctx)
		var skip *SkipError
		if err == nil || errors.As(err, &skip) || errors.Is(err, ErrNotInBundle) || isFinal(err) || time.Now().After(deadline) {
			return o, err
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return o, err
		case <-t.C:
		}
	}
}

func (rn Runner) result(cat string, c Checker, o Observation, err error, d time.Duration) Result {
	r := Result{Category: cat, Check: c.Name, Expected: c.Expected, Observed: o.Observed,
		Status: Passed, Duration: d, Seconds: float64(d.Round(10*time.Millisecond)) / float64(time.Second)}
	var skip *SkipError
	switch {
	case err == nil:
		return r
	case errors.As(err, &skip):
		r.Status = Skipped
		if r.Observed == "" {
			r.Observed = skip.Reason
		}
		return r
	case errors.Is(err, ErrNotInBundle):
		r.Status = NotInBundle
		r.Error = err.Error()
		return r
	case c.Warning:
		r.Status = Warning
	default:
		r.Status = Failed
	}
	r.Error = err.Error()
	if o.Detail != "" {
		r.Error += " (" + o.Detail + ")"
	}
	r.Hint = c.Hint
	var down *DownError
	if errors.As(err, &down) && down.Hint != "" {
		r.Hint = down.Hint
	}
	return r
}
