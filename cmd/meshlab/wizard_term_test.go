package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateTmux = flag.Bool("update-tmux", false, "write the tmux screen captures to testdata/<test's folder>")

// tmuxTerm is a real terminal for the wizard: a tmux server of its own running one command in
// a pane of a fixed size. The tests type into it (send-keys) and read it (capture-pane).
type tmuxTerm struct {
	t *testing.T
	// socket is a private socket file: a server named by a fixed -L name is shared by every
	// test process of the machine, so two runs of the same test at once (two engineers, or
	// `make test` beside a manual run) drove and killed each other's wizard.
	socket string
	// wait bounds each waitFor; failOn strings end a wait at once (a failed run will not
	// turn into the screen being waited for).
	wait   time.Duration
	failOn []string
	shots  []tmuxShot
}

type tmuxShot struct{ name, screen string }

// startTmux starts command in a width×height pane. The pane stays after the command exits, so
// its last words can be read.
func startTmux(t *testing.T, width, height int, command string) *tmuxTerm {
	t.Helper()
	// Not t.TempDir(): a socket path must stay under 108 bytes, and test names are long.
	dir, err := os.MkdirTemp("", "mltmux")
	if err != nil {
		t.Fatal(err)
	}
	tt := &tmuxTerm{t: t, socket: filepath.Join(dir, "s"), wait: 90 * time.Second}
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-S", tt.socket, "kill-server").Run()
		os.RemoveAll(dir)
	})
	// -f /dev/null: the user's ~/.tmux.conf (key bindings, sizes, a status line) stays out.
	tt.tmux("-f", "/dev/null", "new-session", "-d", "-s", "w", "-x", strconv.Itoa(width), "-y", strconv.Itoa(height),
		command+"; echo EXIT=$?; sleep 600")
	return tt
}

func (tt *tmuxTerm) tmux(args ...string) string {
	tt.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", tt.socket}, args...)...).CombinedOutput()
	if err != nil {
		tt.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// keys sends tmux key names (Enter, Tab, BTab, BSpace, C-c, ...).
func (tt *tmuxTerm) keys(keys ...string) {
	tt.tmux(append([]string{"send-keys", "-t", "w"}, keys...)...)
}

// text types literal text.
func (tt *tmuxTerm) text(s string) { tt.tmux("send-keys", "-t", "w", "-l", s) }

func (tt *tmuxTerm) capture() string { return tt.tmux("capture-pane", "-p", "-t", "w") }

// resize changes the terminal's size, as a user dragging the window does.
func (tt *tmuxTerm) resize(width, height int) {
	tt.tmux("resize-window", "-t", "w", "-x", strconv.Itoa(width), "-y", strconv.Itoa(height))
}

// waitFor polls the pane until it shows every string, with a deadline.
func (tt *tmuxTerm) waitFor(want ...string) string {
	tt.t.Helper()
	deadline := time.Now().Add(tt.wait)
	for {
		screen := tt.capture()
		if containsAll(screen, want) {
			return screen
		}
		for _, f := range tt.failOn {
			if strings.Contains(screen, f) {
				tt.t.Fatalf("waiting for %q, the terminal shows %q:\n%s", want, f, screen)
			}
		}
		if time.Now().After(deadline) {
			tt.t.Fatalf("the terminal never showed %q within %s; it shows:\n%s", want, tt.wait, screen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// containsAll reports whether the screen shows every string, also where the view wrapped one
// over lines (the summary puts a long path on the next, indented, line and breaks it at the
// window's edge): then the text matches with all blanks and line breaks left out.
func containsAll(s string, want []string) bool {
	squashed := blanks.ReplaceAllString(s, "")
	for _, w := range want {
		if !strings.Contains(s, w) && !strings.Contains(squashed, blanks.ReplaceAllString(w, "")) {
			return false
		}
	}
	return true
}

var blanks = regexp.MustCompile(`\s+`)

// shot waits for the strings and keeps the screen as a named capture.
func (tt *tmuxTerm) shot(name string, want ...string) string {
	tt.t.Helper()
	s := tt.waitFor(want...)
	tt.shots = append(tt.shots, tmuxShot{name, s})
	return s
}

// saveShots writes the captures, one file each, to testdata/<folder> with -update-tmux and to
// a temporary folder otherwise.
func (tt *tmuxTerm) saveShots(folder string) {
	dir := tt.t.TempDir()
	if *updateTmux {
		dir = filepath.Join("testdata", folder)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tt.t.Fatal(err)
	}
	for _, s := range tt.shots {
		if err := os.WriteFile(filepath.Join(dir, s.name+".txt"), []byte(s.screen), 0o644); err != nil {
			tt.t.Fatal(err)
		}
	}
	tt.t.Logf("%d screen captures in %s", len(tt.shots), dir)
}

func TestContainsAllFindsWrappedText(t *testing.T) {
	screen := "kubeconfig:\n    /var/tmp/x/TestWizardOnLocalLab1/001/wiz-kdu\n    irx/kubeconfig\n"
	if !containsAll(screen, []string{"kubeconfig: /var/tmp/x/TestWizardOnLocalLab1/001/wiz-kduirx/kubeconfig"}) {
		t.Error("a path wrapped over two lines was not found")
	}
	if containsAll(screen, []string{"wiz-other/kubeconfig"}) {
		t.Error("found what the screen does not show")
	}
}
