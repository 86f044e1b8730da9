// Package view renders the engine's event stream for people and programs: plain text lines that
// read well in a terminal and a CI log, and JSON lines (one event object per line).
package view

import (
	"encoding/json"
	"io"
	"sync"

	"github.com/meshlab/meshlab/provision/event"
)

// JSON writes each event as one JSON object on its own line and nothing else, so the output can
// be piped into jq or read line by line. Safe for concurrent use.
type JSON struct {
	mu  sync.Mutex
	enc *json.Encoder
}

var _ event.Sink = (*JSON)(nil)

// NewJSON returns a JSON-lines view writing to w.
func NewJSON(w io.Writer) *JSON {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &JSON{enc: enc}
}

// Emit writes e. A write error is dropped: the run must not fail because stdout went away.
func (j *JSON) Emit(e event.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = j.enc.Encode(e)
}
