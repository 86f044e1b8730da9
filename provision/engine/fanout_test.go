package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// TestForEachHostBoundsAndKeepsErrors: at most Concurrency calls at once, every host is called
// even when some fail, and each host's error comes back typed.
func TestForEachHostBoundsAndKeepsErrors(t *testing.T) {
	r, _ := newTestRun(t, 25)
	r.Concurrency = 4
	var running, peak atomic.Int32
	var mu sync.Mutex
	called := map[string]bool{}
	release := make(chan struct{})
	// Hold every call until 4 are running at once, so the bound is reached for sure.
	var once sync.Once
	err := r.ForEachHost(context.Background(), r.Hosts, func(ctx context.Context, h *Host) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if n == 4 {
			once.Do(func() { close(release) })
		}
		<-release
		mu.Lock()
		called[h.Name] = true
		mu.Unlock()
		if h.Name == "h03" || h.Name == "h17" {
			return &TaskError{Host: h.Name, Exit: 1}
		}
		return nil
	})
	if peak.Load() != 4 {
		t.Errorf("peak concurrency = %d, want 4", peak.Load())
	}
	if len(called) != 25 {
		t.Errorf("called %d hosts, want 25", len(called))
	}
	tes := TaskErrors(err)
	if len(tes) != 2 || tes[0].Host != "h03" || tes[1].Host != "h17" {
		t.Errorf("errors = %v", err)
	}
	var te *TaskError
	if !errors.As(err, &te) {
		t.Error("errors.As(*TaskError) failed on the joined error")
	}
}
