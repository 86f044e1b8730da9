package tui

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"
)

// TestMain pins the colour profile: rendered output differs with and without a TTY otherwise,
// and goldens must not depend on where the tests run.
func TestMain(m *testing.M) {
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

// waitTimeout bounds every wait on the screen; runs on real sshd hosts take seconds.
const waitTimeout = 90 * time.Second

// waitFor waits until the screen output contains every string in want.
func waitFor(t *testing.T, tm *teatest.TestModel, want ...string) {
	t.Helper()
	var seen bytes.Buffer
	deadline := time.Now().Add(waitTimeout)
	for {
		if _, err := io.ReadAll(io.TeeReader(tm.Output(), &seen)); err != nil {
			t.Fatal(err)
		}
		if containsAll(seen.Bytes(), want) {
			return
		}
		if time.Now().After(deadline) {
			// The model's own view says more than the last diff the renderer wrote.
			_ = tm.Quit()
			fm := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(Model)
			quitting := fm.quitting
			fm.quitting = false
			tail := seen.Bytes()[max(0, seen.Len()-1500):]
			t.Fatalf("screen never showed %q (quitting=%v, screen %d); it shows:\n%s\nlast output: %q", want, quitting, fm.screen, fm.View(), tail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func containsAll(b []byte, want []string) bool {
	for _, w := range want {
		if !bytes.Contains(b, []byte(w)) {
			return false
		}
	}
	return true
}

func press(tm *teatest.TestModel, k tea.KeyType, times int) {
	for range times {
		tm.Send(tea.KeyMsg{Type: k})
	}
}

func runes(tm *teatest.TestModel, s string) {
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)})
}

// uniqueLabName is unique per test, so scratch folders and state of parallel runs never meet.
func uniqueLabName() string { return "tui-" + strings.ToLower(rand.Text()[:8]) }

// scratchDir is the sample playbook's folder of a host (root logins).
func scratchDir(lab, host string) string {
	return filepath.Join("/root/.meshlab-sample", lab, host)
}
