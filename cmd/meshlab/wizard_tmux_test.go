package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/provision/transport/sshtest"
)

// buildMeshlab builds the real binary once for the test.
func buildMeshlab(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "meshlab")
	// Static, as `make build` makes them: the stack puts both into the meshlab image (scratch,
	// no libc); the sidecar binary beside meshlab, where the stack looks for it.
	for out, pkg := range map[string]string{bin: ".", filepath.Join(dir, "meshlab-proxy"): "../meshlab-proxy"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return bin
}

// TestWizardInTmux runs the real binary in a real terminal (tmux) against three sshd hosts:
// create a hosts file, add the hosts, test them (record their new host keys), review, run the
// sample playbook; Ctrl+C while a host sleeps, check no remote process is left, run again and
// see it continue to the end. Screens are captured at each step (-update-tmux keeps them in
// testdata/tmux).
func TestWizardInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a lab: not in -short")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("needs tmux (apt-get install -y tmux)")
	}
	l := startLab(t, 3, sshtest.Options{})
	bin := buildMeshlab(t)
	dir := t.TempDir()
	hostsPath, known := filepath.Join(dir, "lab.yaml"), filepath.Join(dir, "known_hosts")
	// h00 sleeps in "Wait on the slow switch" until the test removes the switch.
	if err := os.MkdirAll(l.scratch(0), 0o755); err != nil {
		t.Fatal(err)
	}
	slow := filepath.Join(l.scratch(0), "slow")
	if err := os.WriteFile(slow, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tt := startTmux(t, 80, 24, fmt.Sprintf("%s wizard --log-dir %s --playbook sample", bin, l.logDir))
	tt.shot("01-start", "Load or create a hosts file")
	tt.keys("C-u")
	tt.text(hostsPath)
	tt.keys("Tab")
	tt.text(l.name)
	tt.keys("Tab")
	tt.text(known)
	tt.keys("Enter")
	for i, s := range l.servers {
		tt.waitFor("Add a host")
		tt.keys("BTab")
		tt.text(fmt.Sprintf("h%02d", i))
		tt.keys("Tab")
		tt.text(s.Host)
		tt.keys("Tab", "BSpace", "BSpace")
		tt.text(fmt.Sprint(s.Port))
		tt.keys("Tab", "Tab", "Tab")
		tt.text(s.KeyPath)
		if i == 2 {
			// The field shows the path's end when the whole does not fit the terminal.
			tt.shot("02-host-form", "Add a host", filepath.Join(filepath.Base(filepath.Dir(s.KeyPath)), filepath.Base(s.KeyPath)))
		}
		tt.keys("Enter")
		tt.waitFor(fmt.Sprintf("h%02d", i), fmt.Sprintf("%s:%d", s.Host, s.Port))
		if i < 2 {
			tt.text("a")
		}
	}
	tt.shot("03-hosts", "h00", "h01", "h02")
	tt.keys("Enter")
	tt.shot("04-connect-unknown", "0 ok, 3 failed, 0 testing")
	tt.text("T")
	tt.shot("05-connect-ok", "3 ok, 0 failed, 0 testing")
	tt.keys("Enter")
	tt.shot("06-components", "Versions and components")
	tt.keys("Enter")
	tt.shot("07-review", "valid hosts file")
	tt.keys("Enter")
	tt.shot("08-run", "slow switch present")
	if len(processesWith(l.name)) == 0 {
		t.Fatal("the slow task runs but no process of the lab was found")
	}
	// The terminal grows: the view follows (a full-width log rule at 120 columns).
	tt.resize(120, 40)
	tt.shot("08b-run-120x40", strings.Repeat("─", 100), "slow switch present")

	tt.keys("C-c")
	tt.shot("09-interrupted", "interrupted after") // the status line: the run has returned
	if p := processesWith(l.name); len(p) > 0 {
		t.Errorf("processes of the lab left after Ctrl+C: %v", p)
	}
	if err := os.Remove(slow); err != nil {
		t.Fatal(err)
	}
	tt.text("r")
	tt.shot("10-done", "is up", "every host is done")
	tt.text("q")
	end := tt.waitFor("EXIT=0")
	if !strings.Contains(end, "hosts file: "+hostsPath) {
		t.Errorf("no report after the wizard ended:\n%s", end)
	}
	tt.saveShots("tmux")
	if _, err := os.Stat(hostsPath); err != nil {
		t.Errorf("hosts file not saved: %v", err)
	}
}

// processesWith lists the PIDs whose command line contains s: the sshd hosts share this
// machine's process table, and the lab's unique name is in every script the playbook runs.
func processesWith(s string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err == nil && strings.Contains(string(b), s) && !strings.Contains(string(b), "tmux") {
			out = append(out, filepath.Base(d))
		}
	}
	return out
}

// TestWizardOrHelpOutsideTerminal: plain `meshlab` in a pipe prints help instead of a screen
// nobody sees, and `meshlab wizard` says it needs a terminal (exit 2).
func TestWizardOrHelpOutsideTerminal(t *testing.T) {
	root := newRootCmd()
	var out strings.Builder
	root.SetOut(&out)
	root.SetIn(strings.NewReader(""))
	if err := wizardOrHelp(&globalOptions{})(root, nil); err != nil || !strings.Contains(out.String(), "Usage:") {
		t.Errorf("err %v, output:\n%s", err, out.String())
	}
	r := meshlab(context.Background(), "wizard")
	if r.code != exitBadInput || !strings.Contains(r.stderr, "needs a terminal") {
		t.Errorf("wizard in a pipe: exit %d\n%s", r.code, r.stderr)
	}
}
