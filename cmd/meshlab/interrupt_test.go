package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/state"
	"github.com/meshlab/meshlab/provision/transport/sshtest"
)

// TestUpInterruptSavesState cancels `meshlab up` (what Ctrl+C does) while a host runs a 30 s
// command: up returns promptly with exit 1 and an "interrupted" hint, and the state file keeps
// every task finished before the interruption.
func TestUpInterruptSavesState(t *testing.T) {
	l := startLab(t, 1, sshtest.Options{})
	if err := os.MkdirAll(l.scratch(0), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.scratch(0), "slow"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() { done <- l.run(ctx, "up") }()
	logPath := filepath.Join(l.labDir(), "logs", "h00.log")
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), "slow switch present") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never reached the slow task:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("up did not return within 20 s of being interrupted (the remote sleep is 30 s)")
	}
	if r.code != exitFailure || !strings.Contains(r.stdout, "interrupted") {
		t.Errorf("exit %d; want 1 and an interrupted hint:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(l.labDir(), state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Hosts map[string]struct{ Tasks map[string]any } `json:"hosts"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	// Recorded: every task run to success. Not recorded: the interrupted one, and "Create the
	// scratch directory", whose guard passed (the test made the folder for the switch file).
	if n := len(st.Hosts["h00"].Tasks); n != sampleTasks-2 {
		t.Errorf("state records %d tasks, want %d", n, sampleTasks-2)
	}
}
