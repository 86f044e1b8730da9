package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/meshlab/meshlab/cmd/meshlab/tui/draft"
	"github.com/meshlab/meshlab/provision/inventory"
)

// reviewScreen shows the hosts file exactly as it will be saved, validated by inventory.
type reviewScreen struct {
	text   []string // the rendered file, one line each
	errs   []string // validation problems: saving is refused
	offset int      // first line shown
	saved  string   // "saved to ..." after a save
}

// savedMsg is the outcome of writing the hosts file (in a command: disk I/O).
type savedMsg struct {
	lab *inventory.Lab
	err error
	run bool // start the run once saved
}

func saveCmd(d draft.Draft, path string, run bool) tea.Cmd {
	return func() tea.Msg {
		lab, err := d.Save(path)
		return savedMsg{lab: lab, err: err, run: run}
	}
}

func (m Model) openReview() (tea.Model, tea.Cmd) {
	m.screen = screenReview
	data, _, err := m.draft.Validate(m.path)
	m.rev = reviewScreen{text: strings.Split(strings.TrimRight(string(data), "\n"), "\n")}
	if err != nil {
		m.rev.errs = problemLines(err)
	}
	return m, nil
}

func (m Model) updateReview(msg tea.Msg) (tea.Model, tea.Cmd) {
	r := &m.rev
	switch msg := msg.(type) {
	case savedMsg:
		if msg.err != nil {
			r.errs = problemLines(msg.err)
			return m, nil
		}
		r.saved = "saved " + m.path
		if msg.run {
			return m.startRun(msg.lab)
		}
		return m, nil
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, m.keys.Up):
			r.offset = max(0, r.offset-1)
		case key.Matches(msg, m.keys.Down):
			r.offset = min(max(0, len(r.text)-1), r.offset+1)
		case key.Matches(msg, m.keys.Back):
			m.screen = screenComponents
		case key.Matches(msg, m.keys.Quit):
			return m.quit()
		case len(r.errs) > 0:
			return m, nil
		case key.Matches(msg, m.keys.Save):
			return m, saveCmd(m.draft, m.path, false)
		case key.Matches(msg, m.keys.Run):
			return m, saveCmd(m.draft, m.path, true)
		}
	}
	return m, nil
}

func (m Model) viewReview() string {
	r := m.rev
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s  %s\n", headingStyle.Render("Review"), dimStyle.Render(m.path))
	status := okStyle.Render(symOK + " valid hosts file: " + summaryLine(m.draft))
	if len(r.errs) > 0 {
		status = failStyle.Render(symFail + " not valid; go back (esc) and fix:")
	} else if r.saved != "" {
		status = okStyle.Render(symOK + " " + r.saved)
	}
	b.WriteString(m.fit(status) + "\n")
	for _, e := range r.errs {
		b.WriteString(m.fit("  "+e) + "\n")
	}
	b.WriteString("\n")
	// The file fills what is left of the screen; ↑/↓ scroll it.
	room := max(3, m.height-2-5-len(r.errs))
	end := min(len(r.text), r.offset+room)
	for _, l := range r.text[r.offset:end] {
		b.WriteString(m.fit(dimStyle.Render("│ ")+l) + "\n")
	}
	return b.String()
}

// summaryLine is one line about the lab: hosts by role and what gets installed.
func summaryLine(d draft.Draft) string {
	cp := 0
	for _, h := range d.Hosts {
		if h.Role == inventory.RoleControlPlane {
			cp++
		}
	}
	parts := []string{fmt.Sprintf("%d control plane, %d worker(s)", cp, len(d.Hosts)-cp), "Kubernetes " + d.Kubernetes}
	if d.Mesh {
		parts = append(parts, "mesh")
	}
	parts = append(parts, d.Addons...)
	if d.Bookinfo {
		parts = append(parts, "Bookinfo")
	}
	return strings.Join(parts, ", ")
}

func (m Model) reviewBindings() []key.Binding {
	k := m.keys
	return []key.Binding{k.Run, k.Save, withHelp(k.Up, "↑/↓", "scroll"), k.Back, k.Quit}
}
