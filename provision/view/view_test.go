package view

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/internal/golden"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/view/schematest"
)

// script is a short run: one phase, a done task, a skipped one, a retry, a failure, the end.
func script() []event.Event {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return []event.Event{
		{Time: t0, Kind: event.LabStart, Lab: "demo", Line: "up", Total: 2},
		{Time: t0, Kind: event.PhaseStart, Lab: "demo", Phase: "files", Line: "Write files"},
		{Time: t0, Kind: event.TaskStart, Lab: "demo", Host: "node1", Phase: "files", Task: "Write the host file", State: event.StateRunning},
		{Time: t0, Kind: event.Output, Lab: "demo", Host: "node1", Phase: "files", Task: "Write the host file", Stream: "stdout", Line: "written"},
		{Time: t0, Kind: event.TaskDone, Lab: "demo", Host: "node1", Phase: "files", Task: "Write the host file", State: event.StateOK, Duration: 1234 * time.Millisecond},
		{Time: t0, Kind: event.TaskSkip, Lab: "demo", Host: "node2", Phase: "files", Task: "Write the host file", State: event.StateSkipped, Line: "already done (guard)"},
		{Time: t0, Kind: event.TaskRetry, Lab: "demo", Host: "node2", Phase: "files", Task: "Flaky", State: event.StateRunning, Line: "attempt 1 of 3 failed (exit 1); retrying in 100ms"},
		{Time: t0, Kind: event.Waiting, Lab: "demo", Host: "node2", Phase: "files", Line: "still waiting for files › Flaky (run) to finish (10s so far)"},
		{Time: t0, Kind: event.TaskFail, Lab: "demo", Host: "node2", Phase: "files", Task: "Flaky", State: event.StateFailed, Error: &event.ErrorInfo{
			Message: "command exited with status 3: boom", Host: "node2", Phase: "files", Task: "Flaky",
			Command: "echo boom >&2\nexit 3", Exit: 3, Stderr: []string{"boom"}, LogPath: "/root/.meshlab/labs/demo/logs/node2.log",
			Hint: "fix the cause shown above, then re-run; finished tasks are skipped"}},
		{Time: t0, Kind: event.PhaseDone, Lab: "demo", Phase: "files", Line: "Write files", State: event.StateFailed,
			Error: &event.ErrorInfo{Message: `phase "files" failed on 1 host(s)`}},
		{Time: t0, Kind: event.TaskPlan, Lab: "demo", Host: "node1", Phase: "files", Task: "Plan me", State: event.StatePending, Line: "would run: touch x"},
		{Time: t0, Kind: event.LabDone, Lab: "demo", Line: "up", State: event.StateFailed, Duration: 3 * time.Second,
			Error: &event.ErrorInfo{Message: `phase "files" failed on 1 host(s)`}},
	}
}

func TestTextGolden(t *testing.T) {
	for _, v := range []int{0, 1} {
		var b bytes.Buffer
		tv := NewText(&b, v)
		for _, e := range script() {
			tv.Emit(e)
		}
		golden.Check(t, "testdata/"+map[int]string{0: "text.golden", 1: "text-verbose.golden"}[v], b.Bytes())
	}
}

func TestPlanGolden(t *testing.T) {
	var b bytes.Buffer
	pv := NewPlan(&b, 0)
	for _, e := range script() {
		pv.Emit(e)
	}
	golden.Check(t, "testdata/plan.golden", b.Bytes())
}

func TestJSONOneObjectPerLine(t *testing.T) {
	var b bytes.Buffer
	jv := NewJSON(&b)
	for _, e := range script() {
		jv.Emit(e)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != len(script()) {
		t.Fatalf("%d lines for %d events", len(lines), len(script()))
	}
	for i, l := range lines {
		var e event.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %d is not an event: %v", i+1, err)
		}
		if e.Kind != script()[i].Kind {
			t.Errorf("line %d kind = %s", i+1, e.Kind)
		}
	}
	golden.Check(t, "testdata/events.jsonl", b.Bytes())
}

func TestJSONMatchesSchema(t *testing.T) {
	var b bytes.Buffer
	jv := NewJSON(&b)
	for _, e := range script() {
		jv.Emit(e)
	}
	schematest.ValidateLines(t, b.Bytes())
}
