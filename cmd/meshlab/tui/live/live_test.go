package live

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"
)

func init() { lipgloss.SetColorProfile(termenv.Ascii) }

var noon = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func step(t *testing.T, m Model, msg tea.Msg) Model {
	t.Helper()
	next, _ := m.Update(msg)
	return next.(Model)
}

// TestViewStates renders the states in turn: fetching, an answer, a failed refresh that keeps
// the last answer, and a text taller than the screen.
func TestViewStates(t *testing.T) {
	m := New(Options{Title: "service graph", Interval: 5 * time.Second})
	m = step(t, m, tea.WindowSizeMsg{Width: 60, Height: 8})
	var frames bytes.Buffer
	frame := func(name string) { fmt.Fprintf(&frames, "── %s\n%s\n", name, m.View()) }
	frame("first fetch")
	m = step(t, m, fetchedMsg{text: "a\n└─▶ b   1.00 rps\n", at: noon})
	frame("answer")
	m.fetching = true
	m = step(t, m, fetchedMsg{err: errors.New("prometheus query: connection\nrefused"), at: noon.Add(5 * time.Second)})
	frame("failed refresh keeps the last answer")
	m = step(t, m, fetchedMsg{text: "1\n2\n3\n4\n5\n6\n7\n8\n9\n", at: noon.Add(10 * time.Second)})
	frame("too tall")
	golden.RequireEqual(t, frames.Bytes())
}

// TestRefreshes runs the program: it fetches again after each interval until q.
func TestRefreshes(t *testing.T) {
	var n atomic.Int32
	m := New(Options{Title: "count", Interval: 20 * time.Millisecond, Now: func() time.Time { return noon },
		Fetch: func(context.Context) (string, error) { return fmt.Sprintf("fetch %d", n.Add(1)), nil }})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(40, 6))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("fetch 3")) },
		teatest.WithDuration(10*time.Second))
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}
