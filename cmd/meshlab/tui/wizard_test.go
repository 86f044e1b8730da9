package tui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/transport/sshtest"
)

// wizardLab is three real sshd hosts and the paths a wizard run writes to.
type wizardLab struct {
	servers          []*sshtest.Server
	lab              string
	dir, hostsPath   string
	knownHosts, logs string
}

func newWizardLab(t *testing.T) *wizardLab {
	t.Helper()
	w := &wizardLab{lab: uniqueLabName(), dir: t.TempDir()}
	for range 3 {
		w.servers = append(w.servers, sshtest.Start(t, sshtest.Options{}))
	}
	w.hostsPath = filepath.Join(w.dir, "lab.yaml")
	w.knownHosts = filepath.Join(w.dir, "known_hosts") // empty: the wizard must record the keys
	w.logs = filepath.Join(w.dir, "labs")
	t.Cleanup(func() { os.RemoveAll(filepath.Join("/root/.meshlab-sample", w.lab)) })
	return w
}

// createAndTest drives the wizard from the first screen to a green connectivity screen: create
// the file, add the three hosts, test, trust the new host keys.
func (w *wizardLab) createAndTest(t *testing.T, tm *teatest.TestModel) {
	t.Helper()
	waitFor(t, tm, "Load or create a hosts file")
	press(tm, tea.KeyCtrlU, 1) // clear the offered path
	runes(tm, w.hostsPath)
	press(tm, tea.KeyTab, 1)
	runes(tm, w.lab)
	press(tm, tea.KeyTab, 1)
	runes(tm, w.knownHosts)
	press(tm, tea.KeyEnter, 1)
	for i, s := range w.servers {
		waitFor(t, tm, "Add a host")
		press(tm, tea.KeyShiftTab, 1) // from Address up to Name
		runes(tm, fmt.Sprintf("h%02d", i))
		press(tm, tea.KeyTab, 1)
		runes(tm, s.Host)
		press(tm, tea.KeyTab, 1)
		press(tm, tea.KeyBackspace, 2) // the offered 22
		runes(tm, fmt.Sprint(s.Port))
		press(tm, tea.KeyTab, 3) // user root, auth key
		runes(tm, s.KeyPath)
		press(tm, tea.KeyEnter, 1)
		waitFor(t, tm, fmt.Sprintf("h%02d", i), fmt.Sprintf("%s:%d", s.Host, s.Port))
		if i < len(w.servers)-1 {
			runes(tm, "a")
		}
	}
	press(tm, tea.KeyEnter, 1)
	waitFor(t, tm, "host key unknown", "0 ok, 3 failed, 0 testing")
	runes(tm, "T")
	waitFor(t, tm, "3 ok, 0 failed, 0 testing")
}

// TestWizardCreateTestReviewRun goes create → add 3 hosts → test connectivity → review → run
// against real sshd hosts with the sample playbook, then checks the saved hosts file, the
// recorded host keys, the hosts' files and the final screen.
func TestWizardCreateTestReviewRun(t *testing.T) {
	w := newWizardLab(t)
	m := New(Options{HostsPath: "hosts.yaml", LogDir: w.logs, Playbook: "sample"})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(120, 40))
	w.createAndTest(t, tm)

	press(tm, tea.KeyEnter, 1) // components
	waitFor(t, tm, "Versions and components")
	press(tm, tea.KeyEnter, 1) // review
	waitFor(t, tm, "valid hosts file: 1 control plane, 2 worker(s)")
	press(tm, tea.KeyEnter, 1) // save and run
	waitFor(t, tm, "is up")
	runes(tm, "q")
	final := tm.FinalModel(t, teatest.WithFinalTimeout(waitTimeout)).(Model)

	lab, err := inventory.Load(w.hostsPath)
	if err != nil {
		t.Fatalf("saved hosts file does not load: %v", err)
	}
	if lab.Name != w.lab || len(lab.Hosts) != 3 || lab.SSH.KnownHosts != w.knownHosts {
		t.Fatalf("saved lab = %s, %d hosts, known_hosts %q", lab.Name, len(lab.Hosts), lab.SSH.KnownHosts)
	}
	for i, h := range lab.Hosts {
		s := w.servers[i]
		wantRole := inventory.RoleWorker
		if i == 0 {
			wantRole = inventory.RoleControlPlane
		}
		if h.Name != fmt.Sprintf("h%02d", i) || h.Address != s.Host || h.Port != s.Port || h.User != "root" ||
			h.KeyPath != s.KeyPath || h.UseAgent || h.Role != wantRole {
			t.Errorf("host %d = %+v", i, h)
		}
		if _, err := os.Stat(filepath.Join(scratchDir(w.lab, h.Name), "files.sha256")); err != nil {
			t.Errorf("host %s: the sample playbook's files are missing: %v", h.Name, err)
		}
	}
	if st, err := os.Stat(w.hostsPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("hosts file mode: %v %v", st.Mode(), err)
	}
	known, _ := os.ReadFile(w.knownHosts)
	if n := strings.Count(string(known), "\n"); n != 3 {
		t.Errorf("known_hosts has %d lines after trusting 3 hosts:\n%s", n, known)
	}
	if final.RunErr() != nil {
		t.Errorf("run error: %v", final.RunErr())
	}
	final.quitting = false // the last frame, as it was before q
	screen := final.View()
	for _, want := range []string{"every host is done", "meshlab up --hosts " + w.hostsPath, "h00", "h02", "100%"} {
		if !strings.Contains(screen, want) {
			t.Errorf("final screen lacks %q:\n%s", want, screen)
		}
	}
}

// TestWizardInterruptAndResume starts a run in which every host sleeps on the sample playbook's
// slow switch, presses Ctrl+C, and checks that the wizard waits for the engine, no remote
// process of the run is left on any host, and running again continues (finished tasks are
// skipped) to the end.
func TestWizardInterruptAndResume(t *testing.T) {
	w := newWizardLab(t)
	for i := range w.servers {
		d := scratchDir(w.lab, fmt.Sprintf("h%02d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "slow"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := New(Options{HostsPath: "hosts.yaml", LogDir: w.logs, Playbook: "sample"})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	w.createAndTest(t, tm)
	press(tm, tea.KeyEnter, 2) // components, review
	waitFor(t, tm, "valid hosts file")
	press(tm, tea.KeyEnter, 1)
	waitFor(t, tm, "Wait on the slow switch")
	// Every host sleeps in its last task, so what the second run must skip is known exactly.
	for i := range w.servers {
		waitRemote(t, true, w.lab, fmt.Sprintf("h%02d", i), "sleep 30")
	}

	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlC})
	waitFor(t, tm, "interrupted")
	waitRemote(t, false, w.lab)

	for i := range w.servers {
		if err := os.Remove(filepath.Join(scratchDir(w.lab, fmt.Sprintf("h%02d", i)), "slow")); err != nil {
			t.Fatal(err)
		}
	}
	runes(tm, "r") // run again: continues
	waitFor(t, tm, "is up")
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlC})
	final := tm.FinalModel(t, teatest.WithFinalTimeout(waitTimeout)).(Model)
	ok, skipped, failed := final.run.state.totals()
	// Per host the second run connects and finishes the slow task (2 changed); the 9 tasks
	// before it were recorded or pass their guards, or are not for the host's role (skipped).
	if failed != 0 || ok != 3*2 || skipped != 3*9 {
		t.Errorf("second run: %d changed, %d skipped, %d failed; want 6, 27, 0", ok, skipped, failed)
		for _, h := range final.run.state.hosts {
			t.Logf("%s:\n%s", h.name, strings.Join(h.log, "\n"))
		}
	}
}

// waitRemote waits until a process whose command line holds every one of ss is, or is no
// longer, running. The sshd hosts share this machine's process table; the lab's unique name and
// the host's name are in the command line of every script the sample playbook runs there.
func waitRemote(t *testing.T, present bool, ss ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		pids := processesWith(ss...)
		if (len(pids) > 0) == present {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("processes with %q: %v, want present=%v", ss, pids, present)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// processesWith lists the PIDs whose command line contains every one of ss.
func processesWith(ss ...string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err == nil && containsAll(b, ss) {
			out = append(out, filepath.Base(d))
		}
	}
	return out
}
