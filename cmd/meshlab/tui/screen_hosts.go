package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/meshlab/meshlab/cmd/meshlab/tui/draft"
)

// hostsScreen lists the draft's hosts; the form adds and edits them.
type hostsScreen struct {
	cursor int
	err    string
}

func (m Model) updateHosts(msg tea.Msg) (tea.Model, tea.Cmd) {
	s := &m.hosts
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return m, nil
	}
	n := len(m.draft.Hosts)
	switch {
	case key.Matches(k, m.keys.Up):
		s.cursor = max(0, s.cursor-1)
	case key.Matches(k, m.keys.Down):
		s.cursor = min(max(0, n-1), s.cursor+1)
	case key.Matches(k, m.keys.Add):
		return m.openForm(-1)
	case key.Matches(k, m.keys.Edit) && n > 0:
		return m.openForm(s.cursor)
	case key.Matches(k, m.keys.Delete) && n > 0:
		m.draft.Hosts = append(append([]draft.Host(nil), m.draft.Hosts[:s.cursor]...), m.draft.Hosts[s.cursor+1:]...)
		s.cursor = min(s.cursor, max(0, len(m.draft.Hosts)-1))
	case key.Matches(k, m.keys.Next):
		if n == 0 {
			s.err = "add at least one host (a)"
			return m, nil
		}
		s.err = ""
		return m.openProbe()
	case key.Matches(k, m.keys.Back):
		m.screen = screenStart
	case key.Matches(k, m.keys.Quit):
		return m.quit()
	}
	return m, nil
}

func (m Model) viewHosts() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s  %s\n\n", headingStyle.Render("Hosts of lab "+m.draft.Name), dimStyle.Render(m.path))
	if len(m.draft.Hosts) == 0 {
		b.WriteString("No hosts yet: press a to add one.\n")
	} else {
		fmt.Fprintf(&b, "  %-12s %-21s %-9s %-18s %s\n", "NAME", "ADDRESS", "USER", "AUTH", "ROLE")
	}
	for i, h := range m.draft.Hosts {
		cur := "  "
		if i == m.hosts.cursor {
			cur = symCursor + " "
		}
		line := fmt.Sprintf("%s%-12s %-21s %-9s %-18s %s", cur, cut(h.Name, 12), cut(fmt.Sprintf("%s:%d", h.Address, h.Port), 21),
			cut(h.User, 9), cut(authLabel(h), 18), h.Role)
		if i == m.hosts.cursor {
			line = selectStyle.Render(line)
		}
		b.WriteString(m.fit(line) + "\n")
	}
	if m.hosts.err != "" {
		b.WriteString("\n" + failStyle.Render(m.hosts.err) + "\n")
	}
	return b.String()
}

// authLabel says how a host logs in, short enough for a table cell.
func authLabel(h draft.Host) string {
	switch h.Auth {
	case draft.AuthKey:
		if h.KeyPath == "" {
			return "key (default)"
		}
		return "key"
	case draft.AuthPassword:
		return "pw " + h.PasswordRef
	}
	return string(h.Auth)
}

func (m Model) hostsBindings() []key.Binding {
	k := m.keys
	return []key.Binding{k.Add, k.Edit, k.Delete, withHelp(k.Up, "↑/↓", "select"), withHelp(k.Next, "enter", "test connectivity"), k.Quit}
}
