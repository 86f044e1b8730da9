package transport

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
)

// MaxOutput bounds the text a Result keeps per stream. Longer output keeps its last
// MaxOutput bytes: the end of a log is where the error is.
const MaxOutput = 1 << 20

// lineWriter delivers complete lines to a callback as they arrive and keeps a bounded tail of
// the whole stream. The SSH library and os/exec write each stream from one goroutine, but the
// mutex keeps String safe to call while a write is still in flight.
type lineWriter struct {
	mu       sync.Mutex
	onLine   func(string)
	redact   func(string) string
	partial  []byte // bytes after the last newline, not yet delivered
	tail     []byte
	dropped  int64
	maxBytes int
}

func newLineWriter(onLine func(string), redact func(string) string) *lineWriter {
	return &lineWriter{onLine: onLine, redact: redact, maxBytes: MaxOutput}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.keep(p)
	if w.onLine == nil {
		return len(p), nil
	}
	data := p
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			w.partial = append(w.partial, data...)
			return len(p), nil
		}
		line := append(w.partial, data[:i]...)
		w.partial = w.partial[:0]
		w.emit(line)
		data = data[i+1:]
	}
}

func (w *lineWriter) emit(line []byte) {
	w.onLine(w.redact(strings.TrimSuffix(string(line), "\r")))
}

// keep appends p to the tail, trimming from the front once it is twice the bound so that
// trimming (a copy) happens rarely.
func (w *lineWriter) keep(p []byte) {
	w.tail = append(w.tail, p...)
	if len(w.tail) > 2*w.maxBytes {
		cut := len(w.tail) - w.maxBytes
		w.dropped += int64(cut)
		w.tail = append(w.tail[:0], w.tail[cut:]...)
	}
}

// flush delivers a last line that had no newline.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 && w.onLine != nil {
		w.emit(w.partial)
		w.partial = nil
	}
}

// String is the kept text, redacted, with a note when the start was dropped.
func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	tail, dropped := w.tail, w.dropped
	if len(tail) > w.maxBytes {
		dropped += int64(len(tail) - w.maxBytes)
		tail = tail[len(tail)-w.maxBytes:]
	}
	text := w.redact(string(tail))
	if dropped > 0 {
		return fmt.Sprintf("[... %d bytes dropped ...]\n%s", dropped, text)
	}
	return text
}
