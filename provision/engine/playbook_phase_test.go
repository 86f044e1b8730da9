package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/playbooks"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/playbook"
	"github.com/meshlab/meshlab/provision/state"
)

// sampleRun prepares a run of the sample playbook on n local-shell hosts, with state and logs in
// a temporary lab directory and the playbook's scratch root in another.
func sampleRun(t *testing.T, n int, labDir, root string) (*Run, *recorder, Phases) {
	t.Helper()
	pb, err := playbook.Load(playbooks.FS, "sample")
	if err != nil {
		t.Fatal(err)
	}
	r, rec := newTestRun(t, n)
	r.Vars = map[string]any{"root": root}
	if r.State, err = state.Open(labDir, "test"); err != nil {
		t.Fatal(err)
	}
	if r.Logs, err = state.OpenLogs(labDir, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Logs.Close() })
	return r, rec, PlaybookPhases(pb, pb.Phases)
}

func TestSamplePlaybookRunAndRerun(t *testing.T) {
	labDir, root := t.TempDir(), t.TempDir()
	r, rec, phases := sampleRun(t, 3, labDir, root)
	if err := Execute(context.Background(), r, phases); err != nil {
		t.Fatalf("first run: %v", err)
	}
	if n := len(rec.of(event.TaskDone)); n != 3*10-2 { // workers skip the control-plane task
		t.Errorf("task.done events = %d, want 28", n)
	}
	if n := len(rec.of(event.TaskRetry)); n != 3 {
		t.Errorf("task.retry events = %d, want 3 (one per host)", n)
	}
	if _, err := os.Stat(filepath.Join(root, "test", "h00", "control-plane")); err != nil {
		t.Errorf("control-plane marker missing on h00: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "test", "h01", "control-plane")); err == nil {
		t.Errorf("control-plane marker written on worker h01")
	}
	if fi, err := os.Stat(filepath.Join(labDir, state.FileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v, mode %v; want 0600", err, fi)
	}
	log, err := os.ReadFile(filepath.Join(labDir, "logs", "h01.log"))
	if err != nil || !strings.Contains(string(log), "uname -sr") || !strings.Contains(string(log), "attempt 1 fails on purpose") {
		t.Errorf("host log lacks commands or output (err %v):\n%s", err, log)
	}

	// Re-run: nothing changes, every task says why it is skipped.
	r2, rec2, phases2 := sampleRun(t, 3, labDir, root)
	if err := Execute(context.Background(), r2, phases2); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if n := len(rec2.of(event.TaskDone)); n != 0 {
		t.Errorf("re-run task.done = %d, want 0", n)
	}
	reasons := map[string]int{}
	for _, e := range rec2.of(event.TaskSkip) {
		reasons[e.Line]++
	}
	if reasons[SkipRecorded] != 3*6 || reasons[SkipGuard] != 3*4-2 {
		t.Errorf("re-run skip reasons = %v, want 18 recorded and 10 guard", reasons)
	}
}

func TestSamplePlaybookFailureContract(t *testing.T) {
	labDir, root := t.TempDir(), t.TempDir()
	failFile := filepath.Join(root, "test", "h01", "fail")
	if err := os.MkdirAll(filepath.Dir(failFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(failFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, rec, phases := sampleRun(t, 3, labDir, root)
	err := Execute(context.Background(), r, phases)
	tes := TaskErrors(err)
	if len(tes) != 1 {
		t.Fatalf("want one task error, got %v", err)
	}
	te := tes[0]
	if te.Host != "h01" || te.Phase != "checks" || te.Task != "Check the failure switch" || te.Exit != 3 ||
		!strings.Contains(te.Command, "fail") || len(te.Stderr) == 0 || !strings.Contains(te.Stderr[0], "fail switch") ||
		te.LogPath != filepath.Join(labDir, "logs", "h01.log") || !strings.Contains(te.Hint, "remove the fail switch") {
		t.Errorf("error contract incomplete: %+v", te)
	}
	// The other hosts finished the failing phase.
	for _, h := range []string{"h00", "h02"} {
		found := false
		for _, e := range rec.of(event.TaskDone) {
			found = found || (e.Host == h && e.Task == "Wait on the slow switch")
		}
		if !found {
			t.Errorf("host %s did not finish the phase after h01 failed", h)
		}
	}
	if fails := rec.of(event.TaskFail); len(fails) != 1 || fails[0].Error.Exit != 3 {
		t.Errorf("task.fail events = %+v", fails)
	}

	// Fix the cause and re-run: done tasks are skipped and the run finishes.
	if err := os.Remove(failFile); err != nil {
		t.Fatal(err)
	}
	r2, rec2, phases2 := sampleRun(t, 3, labDir, root)
	if err := Execute(context.Background(), r2, phases2); err != nil {
		t.Fatalf("re-run after fixing: %v", err)
	}
	done := rec2.of(event.TaskDone)
	if len(done) != 2 { // h01: the failed task and the one after it
		t.Errorf("re-run ran %d tasks, want 2: %+v", len(done), done)
	}
}

func TestSamplePlaybookDryRunTouchesNothing(t *testing.T) {
	labDir, root := t.TempDir(), t.TempDir()
	r, rec, phases := sampleRun(t, 2, labDir, root)
	r.DryRun = true
	trs := []*shellTransport{r.Hosts[0].Transport.(*shellTransport), r.Hosts[1].Transport.(*shellTransport)}
	if err := Execute(context.Background(), r, phases); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.of(event.TaskPlan)); n != 2*10-1 {
		t.Errorf("task.plan events = %d, want 19", n)
	}
	for _, tr := range trs {
		if len(tr.ran) != 0 {
			t.Errorf("dry run ran commands: %q", tr.ran)
		}
	}
	if _, err := os.Stat(filepath.Join(labDir, state.FileName)); !os.IsNotExist(err) {
		t.Errorf("dry run wrote a state file (stat err %v)", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("dry run created files in the scratch root")
	}
}

func TestLongTaskReportsWaiting(t *testing.T) {
	pb, err := playbook.Parse([]byte("name: w\nphases:\n  - name: p\n    tasks:\n      - {name: slow, run: sleep 0.5}\n"), "w.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, rec := newTestRun(t, 1)
	r.WaitingEvery = 20 * time.Millisecond
	if err := Execute(context.Background(), r, PlaybookPhases(pb, pb.Phases)); err != nil {
		t.Fatal(err)
	}
	ws := rec.of(event.Waiting)
	if len(ws) == 0 || !strings.Contains(ws[0].Line, "p › slow") || ws[0].Host != "h00" {
		t.Errorf("waiting events = %+v", ws)
	}
}
