package view

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/meshlab/meshlab/provision/event"
)

// Text renders events as plain lines, one finished step per line, prefixed with the host:
//
//	[node1] files › Write the host file ... ok (1.2s)
//	[node2] files › Write the host file ... already done (guard)
//
// Failures print a multi-line block with the whole error contract. Nothing is redrawn, so the
// output reads the same in a terminal and in a CI log. Safe for concurrent use.
type Text struct {
	mu      sync.Mutex
	w       io.Writer
	verbose int
}

var _ event.Sink = (*Text)(nil)

// NewText returns a text view. verbose ≥ 1 also prints task starts and every output line.
func NewText(w io.Writer, verbose int) *Text {
	return &Text{w: w, verbose: verbose}
}

// Emit prints one event (or nothing, for events that only matter to machines).
func (t *Text) Emit(e event.Event) {
	s := t.format(e)
	if s == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _ = io.WriteString(t.w, s)
}

func (t *Text) format(e event.Event) string {
	host := ""
	if e.Host != "" {
		host = "[" + e.Host + "] "
	}
	step := e.Phase
	if e.Task != "" {
		step += " › " + e.Task
	}
	switch e.Kind {
	case event.LabStart:
		return fmt.Sprintf("meshlab %s: lab %s, %d host(s)\n", e.Line, e.Lab, e.Total)
	case event.LabDone:
		if e.Error != nil {
			return fmt.Sprintf("meshlab %s FAILED after %s: %s\n", e.Line, round(e.Duration), e.Error.Message)
		}
		return fmt.Sprintf("meshlab %s: done in %s\n", e.Line, round(e.Duration))
	case event.PhaseStart:
		return fmt.Sprintf("== %s (%s)\n", e.Line, e.Phase)
	case event.PhaseSkip:
		return fmt.Sprintf("== %s (%s): nothing to do\n", e.Line, e.Phase)
	case event.PhaseDone:
		if e.Error != nil {
			return fmt.Sprintf("== %s FAILED: %s\n", e.Line, e.Error.Message)
		}
		return ""
	case event.TaskStart:
		if t.verbose > 0 {
			return fmt.Sprintf("%s%s ... started\n", host, step)
		}
	case event.TaskDone:
		return fmt.Sprintf("%s%s ... ok (%s)\n", host, step, round(e.Duration))
	case event.TaskSkip:
		return fmt.Sprintf("%s%s ... %s\n", host, step, e.Line)
	case event.TaskRetry:
		return fmt.Sprintf("%s%s ... retry: %s\n", host, step, e.Line)
	case event.TaskPlan:
		return fmt.Sprintf("%s%s ... %s\n", host, step, e.Line)
	case event.TaskFail:
		return failureBlock(host, step, e.Error)
	case event.Output:
		if t.verbose > 0 {
			return fmt.Sprintf("%s%s | %s\n", host, step, e.Line)
		}
	case event.Waiting:
		return fmt.Sprintf("%swaiting: %s\n", host, e.Line)
	case event.Log:
		return fmt.Sprintf("%s%s\n", host, e.Line)
	case event.Progress:
		if t.verbose > 1 {
			return fmt.Sprintf("%s%s: %d/%d\n", host, e.Phase, e.Done, e.Total)
		}
	}
	return ""
}

// failureBlock prints the error contract.
func failureBlock(host, step string, info *event.ErrorInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s ... FAILED\n", host, step)
	if info == nil {
		return b.String()
	}
	fmt.Fprintf(&b, "    error:   %s\n", info.Message)
	if info.Command != "" {
		cmd := strings.Split(strings.TrimSpace(info.Command), "\n")
		fmt.Fprintf(&b, "    command: %s\n", cmd[0])
		for _, l := range cmd[1:] {
			fmt.Fprintf(&b, "             %s\n", l)
		}
	}
	if info.Exit >= 0 {
		fmt.Fprintf(&b, "    exit:    %d\n", info.Exit)
	} else {
		fmt.Fprintf(&b, "    exit:    none (the command did not finish)\n")
	}
	if len(info.Stderr) > 0 {
		fmt.Fprintf(&b, "    stderr (last %d lines):\n", len(info.Stderr))
		for _, l := range info.Stderr {
			fmt.Fprintf(&b, "      | %s\n", l)
		}
	}
	if info.LogPath != "" {
		fmt.Fprintf(&b, "    log:     %s\n", info.LogPath)
	}
	if info.Hint != "" {
		fmt.Fprintf(&b, "    hint:    %s\n", info.Hint)
	}
	return b.String()
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d
}
