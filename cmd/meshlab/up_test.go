package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/transport/sshtest"
	"github.com/meshlab/meshlab/provision/view/schematest"
)

// sampleTasks is the number of tasks in playbooks/sample.yaml's up phases; one of them is for the
// control plane only.
const sampleTasks = 10

func events(t *testing.T, stdout string) []event.Event {
	t.Helper()
	var out []event.Event
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var e event.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not an event line: %v\n%s", err, l)
		}
		out = append(out, e)
	}
	return out
}

func count(evs []event.Event, kind event.Kind, f func(event.Event) bool) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind && (f == nil || f(e)) {
			n++
		}
	}
	return n
}

func notConnect(e event.Event) bool { return e.Phase != "connect" }

// TestUpTwentyHostsJSON runs the sample playbook on 20 real sshd hosts with --output json, checks
// every line against docs/events.schema.json, then re-runs and sees every task skipped.
func TestUpTwentyHostsJSON(t *testing.T) {
	const n = 20
	l := startLab(t, n, sshtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	r := l.run(ctx, "up", "--output", "json")
	if r.code != exitOK {
		t.Fatalf("up exit %d\nstderr: %s\nstdout: %s", r.code, r.stderr, r.stdout)
	}
	lines := schematest.ValidateLines(t, []byte(r.stdout))
	evs := events(t, r.stdout)
	if got, want := count(evs, event.TaskDone, notConnect), n*sampleTasks-(n-1); got != want {
		t.Errorf("task.done = %d, want %d", got, want)
	}
	if got := count(evs, event.TaskRetry, nil); got != n {
		t.Errorf("task.retry = %d, want %d (one flaky step per host)", got, n)
	}
	t.Logf("%d JSON event lines validated", lines)
	for i := range n {
		if _, err := os.Stat(filepath.Join(l.scratch(i), "files.sha256")); err != nil {
			t.Errorf("host h%02d: sample files missing: %v", i, err)
		}
	}
	st, err := os.Stat(filepath.Join(l.labDir(), "state.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("state.json: %v (want mode 0600)", err)
	}

	// Re-run in text mode: nothing to do, and the output says why for each task.
	r = l.run(ctx, "up")
	if r.code != exitOK {
		t.Fatalf("re-run exit %d\n%s%s", r.code, r.stderr, r.stdout)
	}
	if strings.Count(r.stdout, engine.SkipRecorded) != n*6 || strings.Count(r.stdout, engine.SkipGuard) != n*4-(n-1) {
		t.Errorf("re-run: want %d recorded and %d guard skips:\n%s", n*6, n*4-(n-1), r.stdout)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasSuffix(strings.TrimSpace(line), ")") && strings.Contains(line, "... ok (") && !strings.Contains(line, "connect ›") {
			t.Errorf("re-run ran a task: %s", line)
		}
	}
}

// TestUpFailureContractAndRerun: one host's task fails, another host's sshd is killed in the
// middle of a command; both failures carry the full error contract; after fixing, a re-run skips
// the finished tasks and completes.
func TestUpFailureContractAndRerun(t *testing.T) {
	l := startLab(t, 3, sshtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i, sw := range map[int]string{1: "fail", 2: "slow"} {
		if err := os.MkdirAll(l.scratch(i), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(l.scratch(i), sw), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan result, 1)
	go func() { done <- l.run(ctx, "up", "--output", "json") }()

	// Kill h02's sshd once its slow task is running (the host log shows the task's output).
	h02log := filepath.Join(l.labDir(), "logs", "h02.log")
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(h02log)
		if strings.Contains(string(b), "slow switch present") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("h02 never reached the slow task; log:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.servers[2].Kill()

	var r result
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("up did not return within a minute of sshd being killed")
	}
	if r.code != exitFailure {
		t.Fatalf("up exit %d, want 1\n%s", r.code, r.stderr)
	}
	schematest.ValidateLines(t, []byte(r.stdout))
	fails := map[string]*event.ErrorInfo{}
	for _, e := range events(t, r.stdout) {
		if e.Kind == event.TaskFail {
			fails[e.Host] = e.Error
		}
	}
	for host, want := range map[string]struct {
		task string
		exit int
	}{"h01": {"Check the failure switch", 3}, "h02": {"Wait on the slow switch", -1}} {
		info := fails[host]
		if info == nil {
			t.Errorf("no task.fail for %s", host)
			continue
		}
		if info.Host != host || info.Phase != "checks" || info.Task != want.task || info.Exit != want.exit ||
			info.Command == "" || info.LogPath != filepath.Join(l.labDir(), "logs", host+".log") || info.Hint == "" {
			t.Errorf("%s: incomplete error contract: %+v", host, info)
		}
		if host == "h01" && (len(info.Stderr) == 0 || !strings.Contains(info.Stderr[0], "fail switch")) {
			t.Errorf("h01: stderr tail missing: %q", info.Stderr)
		}
	}
	if !strings.Contains(r.stderr, filepath.Join(l.labDir(), "logs", "h01.log")) {
		t.Errorf("final error does not name the log path:\n%s", r.stderr)
	}

	// Fix both causes: remove the switches and bring h02's "machine" back (a new sshd).
	os.Remove(filepath.Join(l.scratch(1), "fail"))
	os.Remove(filepath.Join(l.scratch(2), "slow"))
	l.servers[2] = sshtest.Start(t, sshtest.Options{})
	l.writeHosts(t)
	r = l.run(ctx, "up")
	if r.code != exitOK {
		t.Fatalf("re-run exit %d\n%s\n%s", r.code, r.stderr, r.stdout)
	}
	for _, want := range []string{
		"[h01] checks › Check the failure switch ... ok",
		"[h02] checks › Wait on the slow switch ... ok",
		"[h00] facts › Report the system ... " + engine.SkipRecorded,
		"[h02] files › Write the host file ... " + engine.SkipGuard,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("re-run output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestUpBadInput(t *testing.T) {
	ctx := context.Background()
	if r := meshlab(ctx, "up"); r.code != exitBadInput || !strings.Contains(r.stderr, "--hosts") {
		t.Errorf("up without --hosts: exit %d, %s", r.code, r.stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("hosts:\n  - {address: 10.0.0.1, port: 99999, rol: worker}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := meshlab(ctx, "plan", "--hosts", bad)
	if r.code != exitBadInput || !strings.Contains(r.stderr, "bad.yaml:2") {
		t.Errorf("bad hosts file: exit %d, stderr %s", r.code, r.stderr)
	}
	good := filepath.Join(t.TempDir(), "hosts.yaml")
	if err := os.WriteFile(good, []byte("hosts: [root@127.0.0.1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"plan", "--hosts", good, "--playbook", "nope"},
		{"plan", "--hosts", good, "--skip-phases", "nope"},
		{"plan", "--hosts", good, "--concurrency", "0"},
		{"plan", "--hosts", good, "--output", "yaml"},
	} {
		if r := meshlab(ctx, args...); r.code != exitBadInput {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}
}

// TestUpHostKeys: an unknown host key stops the run with the error contract and a hint naming
// --trust-new-host-keys; with the flag the key is recorded and the run succeeds.
func TestUpHostKeys(t *testing.T) {
	l := startLab(t, 1, sshtest.Options{})
	known := filepath.Join(t.TempDir(), "known_hosts")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	r := l.run(ctx, "up", "--known-hosts", known, "--output", "json")
	if r.code != exitFailure {
		t.Fatalf("unknown host key: exit %d, want 1\n%s", r.code, r.stderr)
	}
	var info *event.ErrorInfo
	for _, e := range events(t, r.stdout) {
		if e.Kind == event.TaskFail {
			info = e.Error
		}
	}
	if info == nil || info.Phase != "connect" || info.Host != "h00" || !strings.Contains(info.Hint, "--trust-new-host-keys") {
		t.Fatalf("connect failure contract = %+v", info)
	}
	if _, err := os.Stat(known); err == nil {
		t.Errorf("known_hosts written without --trust-new-host-keys")
	}

	r = l.run(ctx, "up", "--known-hosts", known, "--trust-new-host-keys")
	if r.code != exitOK {
		t.Fatalf("with --trust-new-host-keys: exit %d\n%s", r.code, r.stderr)
	}
	if b, err := os.ReadFile(known); err != nil || !strings.Contains(string(b), strings.TrimSpace(strings.SplitN(l.servers[0].KnownHostsLine, " ", 2)[1])) {
		t.Errorf("host key not recorded in %s: %v\n%s", known, err, b)
	}

	// plan --probe connects and runs the guards: after a full up there is nothing to do.
	r = l.run(ctx, "plan", "--probe", "--known-hosts", known)
	if r.code != exitOK || !strings.Contains(r.stdout, "Nothing to do") {
		t.Errorf("plan --probe after up: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
