// Package live is a terminal view that refreshes: every interval it runs a fetch function in a
// command (never in the view) and shows the text of the last answer, with when it came and
// the error of the last attempt if it failed. `meshlab mesh graph` runs it with the service
// graph; anything that renders to text can.
package live

import (
	"context"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// FetchFunc does the work of one refresh and returns the text to show.
type FetchFunc func(ctx context.Context) (string, error)

// Options configure a view.
type Options struct {
	Title    string
	Interval time.Duration // between the end of one fetch and the start of the next (default 5s)
	Fetch    FetchFunc
	Context  context.Context  // bounds every fetch (default Background)
	Now      func() time.Time // the clock shown in the status line (tests pin it)
}

// Model is the view's state; Update returns the next one.
type Model struct {
	opts     Options
	text     string
	err      error
	at       time.Time // when text was fetched
	fetching bool
	width    int
	height   int
	keys     keys
}

type keys struct{ quit, refresh key.Binding }

// fetchedMsg carries one fetch's answer; tickMsg starts the next fetch.
type (
	fetchedMsg struct {
		text string
		err  error
		at   time.Time
	}
	tickMsg struct{}
)

// New returns a view that fetches at once, then every interval.
func New(o Options) Model {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return Model{opts: o, width: 80, height: 24, fetching: true, keys: keys{
		quit:    key.NewBinding(key.WithKeys("q", "ctrl+c", "esc")),
		refresh: key.NewBinding(key.WithKeys("r")),
	}}
}

func (m Model) fetch() tea.Cmd {
	f, ctx, now := m.opts.Fetch, m.opts.Context, m.opts.Now
	return func() tea.Msg {
		text, err := f(ctx)
		return fetchedMsg{text: text, err: err, at: now()}
	}
}

func (m Model) Init() tea.Cmd { return m.fetch() }

func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case fetchedMsg:
		m.fetching = false
		m.err = msg.err
		if msg.err == nil { // on an error the last good answer stays on screen
			m.text, m.at = msg.text, msg.at
		}
		return m, tea.Tick(m.opts.Interval, func(time.Time) tea.Msg { return tickMsg{} })
	case tickMsg:
		if m.fetching {
			return m, nil
		}
		m.fetching = true
		return m, m.fetch()
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, m.keys.quit):
			return m, tea.Quit
		case key.Matches(msg, m.keys.refresh) && !m.fetching:
			m.fetching = true
			return m, m.fetch()
		}
	}
	return m, nil
}

var (
	titleStyle = lipgloss.NewStyle().Bold(true)
	dimStyle   = lipgloss.NewStyle().Faint(true)
	errStyle   = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
)

// View renders the state: title, status, the last text cut to the screen, and the keys.
func (m Model) View() string {
	status := "fetching…"
	if !m.at.IsZero() {
		status = "updated " + m.at.Format("15:04:05") + " · every " + m.opts.Interval.String()
		if m.fetching {
			status += " · refreshing…"
		}
	}
	lines := []string{titleStyle.Render(m.opts.Title) + "  " + dimStyle.Render(status)}
	if m.err != nil {
		lines = append(lines, errStyle.Render("last refresh failed: "+oneLine(m.err.Error())))
	}
	lines = append(lines, "")
	room := max(1, m.height-len(lines)-1)
	body := strings.Split(strings.TrimRight(m.text, "\n"), "\n")
	if len(body) > room {
		body = append(body[:room-1], dimStyle.Render("… (make the window taller to see the rest)"))
	}
	lines = append(lines, body...)
	for len(lines) < m.height-1 {
		lines = append(lines, "")
	}
	lines = append(lines, dimStyle.Render("r refresh · q quit"))
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, m.width, "…")
	}
	return strings.Join(lines, "\n")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
