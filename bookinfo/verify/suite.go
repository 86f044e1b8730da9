// Package verify is `meshlab verify bookinfo`: a suite of checks, kept as data (categories in
// order, each check with a description, a hint, fatal or warning, and a retry deadline), one
// runner that reports through an observer, and table and JSON renderers apart from the checks.
package verify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Status is a check's outcome.
type Status string

const (
	Passed  Status = "passed"
	Failed  Status = "FAILED"
	Warning Status = "warning" // failed, but the check is not fatal for the lab
	Skipped Status = "skipped"
	// NotInBundle: the lab was built from an offline bundle whose manifest does not list the
	// component's image, so it was never installed. Distinct from passed: nothing was
	// verified. An installed component that does not answer is Failed, never this.
	NotInBundle Status = "not in the offline bundle"
)

// SkipError makes a check skipped rather than failed (a component not installed, a quick run).
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "skipped: " + e.Reason }

// Skip returns a SkipError.
func Skip(format string, a ...any) error { return &SkipError{Reason: fmt.Sprintf(format, a...)} }

// ErrNotInBundle marks a component whose image the lab's offline bundle lacks (Lab.Absent).
var ErrNotInBundle = errors.New("not in the offline bundle")

// Observation is what a check saw; Observed goes in the table, Detail explains a failure.
type Observation struct {
	Observed string
	Detail   string
}

// CheckFunc performs one check. It returns what it observed, and an error when the
// expectation does not hold (or a *SkipError, or ErrNotInBundle).
type CheckFunc func(ctx context.Context) (Observation, error)

// Checker is one row of the checklist.
type Checker struct {
	Name     string // short, stable: "pods-ready"
	Expected string // what must hold, in words
	Hint     string // what to look at when it fails
	// Fatal stops the run after this check fails: later categories depend on it.
	Fatal bool
	// Warning makes a failure a warning (the lab works, something is off).
	Warning bool
	// Quick checks are the smoke checks `--quick` runs.
	Quick bool
	// Retry is how long a failing check is retried before it counts (0: once).
	Retry time.Duration
	Check CheckFunc
}

// Category groups checks; categories run in declared order.
type Category struct {
	Name     string
	Checkers []Checker
}

// Result is a finished check, as renderers show it.
type Result struct {
	Category string        `json:"category"`
	Check    string        `json:"check"`
	Expected string        `json:"expected"`
	Observed string        `json:"observed"`
	Status   Status        `json:"result"`
	Duration time.Duration `json:"-"`
	Seconds  float64       `json:"seconds"`
	Error    string        `json:"error,omitempty"`
	Hint     string        `json:"hint,omitempty"`
}

// Failed reports whether the result makes the run fail (warnings and skips do not).
func (r Result) Failed() bool { return r.Status == Failed }
