package server

import (
	"context"
	"testing"
	"time"
)

// TestDebounceCoalescesABurst: many changes in a burst give one flush; no change, no flush.
func TestDebounceCoalescesABurst(t *testing.T) {
	changes := make(chan struct{})
	flushed := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go debounce(ctx, changes, 20*time.Millisecond, time.Hour, func() { flushed <- struct{}{} })
	for range 50 {
		changes <- struct{}{}
	}
	select {
	case <-flushed:
	case <-time.After(10 * time.Second):
		t.Fatal("no flush after the burst")
	}
	changes <- struct{}{}
	select {
	case <-flushed:
	case <-time.After(10 * time.Second):
		t.Fatal("no flush after the second change")
	}
	if n := len(flushed); n != 0 {
		t.Fatalf("%d extra flushes", n)
	}
}

// TestDebounceMaxWaitBoundsAStream: changes that never pause still flush once max has passed.
func TestDebounceMaxWaitBoundsAStream(t *testing.T) {
	changes := make(chan struct{})
	flushed := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go debounce(ctx, changes, time.Hour, 30*time.Millisecond, func() { flushed <- struct{}{} })
	deadline := time.After(10 * time.Second)
	for {
		select {
		case changes <- struct{}{}: // faster than the quiet period, forever
		case <-flushed:
			return
		case <-deadline:
			t.Fatal("a continuous stream of changes was never flushed")
		}
	}
}
