package tui

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/meshlab/meshlab/cmd/meshlab/tui/draft"
	"github.com/meshlab/meshlab/provision/inventory"
)

// startScreen asks for the hosts file: an existing one is loaded, a new one is created with the
// lab name and known_hosts file given here.
type startScreen struct {
	inputs []textinput.Model // path, lab name, known_hosts
	focus  int
	err    string
}

const (
	startPath = iota
	startName
	startKnown
)

func newStartScreen(path string) startScreen {
	mk := func(placeholder, value string) textinput.Model {
		ti := textinput.New()
		ti.Prompt = ""
		ti.Placeholder = placeholder
		ti.SetValue(value)
		ti.CharLimit = 4096
		return ti
	}
	s := startScreen{inputs: []textinput.Model{
		mk("hosts.yaml", path),
		mk("default: the file name (hosts.yaml → hosts)", ""),
		mk("default: ~/.ssh/known_hosts", ""),
	}}
	s.inputs[startPath].Focus()
	s.inputs[startPath].CursorEnd()
	return s
}

// loadedMsg carries the outcome of reading the hosts file (done in a command: it is disk I/O).
type loadedMsg struct {
	path  string
	draft draft.Draft
	isNew bool
	err   error
}

func loadCmd(path, name, known string) tea.Cmd {
	return func() tea.Msg {
		abs, err := filepath.Abs(path)
		if err != nil {
			return loadedMsg{path: path, err: err}
		}
		known = absPath(known)
		if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
			if name == "" {
				name = labName(abs)
			}
			d := draft.New(name)
			d.KnownHosts = known
			return loadedMsg{path: abs, draft: d, isNew: true}
		}
		lab, err := inventory.Load(abs)
		if err != nil {
			return loadedMsg{path: abs, err: err}
		}
		d := draft.FromLab(lab)
		if known != "" {
			d.KnownHosts = known
		}
		return loadedMsg{path: abs, draft: d}
	}
}

// labName derives the lab's name from the file the way inventory does, by parsing a file that
// names no lab (the parser is the one authority on names).
func labName(path string) string {
	lab, err := inventory.Parse([]byte("hosts: [root@127.0.0.1]\n"), path)
	if err != nil {
		return inventory.DefaultLabName
	}
	return lab.Name
}

func (m Model) updateStart(msg tea.Msg) (tea.Model, tea.Cmd) {
	s := &m.start
	switch msg := msg.(type) {
	case loadedMsg:
		if msg.err != nil {
			s.err = msg.err.Error()
			return m, nil
		}
		m.path, m.draft, s.err = msg.path, msg.draft, ""
		m.screen = screenHosts
		if len(m.draft.Hosts) == 0 {
			return m.openForm(-1)
		}
		return m, nil
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, m.keys.Next):
			path := strings.TrimSpace(s.inputs[startPath].Value())
			if path == "" {
				s.err = "give the hosts file's path"
				return m, nil
			}
			return m, loadCmd(path, strings.TrimSpace(s.inputs[startName].Value()), strings.TrimSpace(s.inputs[startKnown].Value()))
		case key.Matches(msg, m.keys.Back):
			return m.quit()
		case msg.Type == tea.KeyTab || msg.Type == tea.KeyDown:
			s.setFocus((s.focus + 1) % len(s.inputs))
			return m, nil
		case msg.Type == tea.KeyShiftTab || msg.Type == tea.KeyUp:
			s.setFocus((s.focus + len(s.inputs) - 1) % len(s.inputs))
			return m, nil
		}
	}
	var cmd tea.Cmd
	s.inputs[s.focus], cmd = s.inputs[s.focus].Update(msg)
	return m, cmd
}

func (s *startScreen) setFocus(i int) {
	s.inputs[s.focus].Blur()
	s.focus = i
	s.inputs[i].Focus()
}

func (m Model) viewStart() string {
	s := m.start
	var b strings.Builder
	b.WriteString("\n" + headingStyle.Render("Load or create a hosts file") + "\n\n")
	b.WriteString("An existing file is loaded for editing; a new one is written when you save.\n\n")
	labels := []string{"Hosts file", "Lab name (new file)", "known_hosts file"}
	for i, in := range s.inputs {
		cur := "  "
		if i == s.focus {
			cur = symCursor + " "
		}
		fmt.Fprintf(&b, "%s%-*s %s\n", cur, startLabelWidth-3, labels[i], in.View())
	}
	b.WriteString("\n" + dimStyle.Render("Host keys are checked against known_hosts; the Connect step can record new ones.") + "\n")
	if s.err != "" {
		b.WriteString("\n" + failStyle.Render(symFail+" cannot load the file:") + "\n" + s.err + "\n")
	}
	return b.String()
}

func (m Model) startBindings() []key.Binding {
	k := m.keys
	return []key.Binding{withHelp(k.Next, "enter", "load / create"), k.Tab, withHelp(k.Back, "esc", "quit")}
}

// withHelp is a copy of b with other help text.
func withHelp(b key.Binding, keys, desc string) key.Binding {
	b.SetHelp(keys, desc)
	return b
}

// absPath makes a path the user typed absolute: the hosts file resolves relative paths against
// its own folder, but the user meant the current one. "~" paths are left to inventory.
func absPath(p string) string {
	if p == "" || strings.HasPrefix(p, "~") || filepath.IsAbs(p) {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
