package tui

import (
	"sync"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/meshlab/meshlab/provision/event"
)

// eventQueue is the engine → TUI bridge. The engine's Emit only appends under a lock and never
// waits for the UI; a command drains everything queued into one message, so a burst of output
// lines costs one render, not one per line.
type eventQueue struct {
	mu     sync.Mutex
	buf    []event.Event
	wake   chan struct{} // one pending wake-up is enough
	closed chan struct{} // closed when the run has returned
	once   sync.Once
}

var _ event.Sink = (*eventQueue)(nil)

func newEventQueue() *eventQueue {
	return &eventQueue{wake: make(chan struct{}, 1), closed: make(chan struct{})}
}

// Emit queues e; safe from every host's goroutine.
func (q *eventQueue) Emit(e event.Event) {
	q.mu.Lock()
	q.buf = append(q.buf, e)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) drain() []event.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.buf
	q.buf = nil
	return out
}

// close ends the waiting command once the run has returned.
func (q *eventQueue) close() { q.once.Do(func() { close(q.closed) }) }

// eventsMsg is a batch of events in the order they were emitted.
type eventsMsg []event.Event

// wait is the command that delivers the next batch; the run screen issues it again after each
// batch. It returns nil once the queue is closed and empty.
func (q *eventQueue) wait() tea.Cmd {
	return func() tea.Msg {
		for {
			select {
			case <-q.wake:
			case <-q.closed:
			}
			if evs := q.drain(); len(evs) > 0 {
				return eventsMsg(evs)
			}
			// An empty drain is a stale wake-up (its events went out with the previous
			// batch): keep waiting unless the run is over.
			select {
			case <-q.closed:
				return nil
			default:
			}
		}
	}
}
