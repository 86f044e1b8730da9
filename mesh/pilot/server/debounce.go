package server

import (
	"context"
	"time"
)

// Istio's pilot waits for a quiet period before pushing, and pushes anyway once changes have kept
// coming for a while (PILOT_DEBOUNCE_AFTER 100 ms, PILOT_DEBOUNCE_MAX 10 s). meshlab keeps the
// quiet period and caps the wait at 1 s, because its convergence target is 1 s end to end.
const (
	DebounceQuiet = 100 * time.Millisecond
	DebounceMax   = time.Second
)

// debounce calls flush once changes have been quiet for quiet, or max after the first unflushed
// change, whichever comes first. It returns when ctx ends.
func debounce(ctx context.Context, changes <-chan struct{}, quiet, max time.Duration, flush func()) {
	var quietT, maxT <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
			if maxT == nil {
				maxT = time.After(max)
			}
			quietT = time.After(quiet)
			continue
		case <-quietT:
		case <-maxT:
		}
		quietT, maxT = nil, nil
		flush()
	}
}
