package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap holds every binding of the wizard; each screen shows the ones it honours in its help
// line (bindings()).
type keyMap struct {
	Quit, Cancel, Back, Next, Up, Down, Tab, ShiftTab, Toggle, Left, Right key.Binding
	Add, Edit, Delete, Retest, Trust, TrustAll, Save, Run, Again           key.Binding
	PageUp, PageDown, Follow, Summary                                      key.Binding
}

func defaultKeyMap() keyMap {
	return keyMap{
		Quit:     key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		Cancel:   key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
		Back:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Next:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "next")),
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Tab:      key.NewBinding(key.WithKeys("tab", "down"), key.WithHelp("tab", "next field")),
		ShiftTab: key.NewBinding(key.WithKeys("shift+tab", "up"), key.WithHelp("shift+tab", "previous")),
		Toggle:   key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "toggle")),
		Left:     key.NewBinding(key.WithKeys("left"), key.WithHelp("←/→", "choose")),
		Right:    key.NewBinding(key.WithKeys("right")),
		Add:      key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add")),
		Edit:     key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "edit")),
		Delete:   key.NewBinding(key.WithKeys("d", "delete"), key.WithHelp("d", "delete")),
		Retest:   key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "retest")),
		Trust:    key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "trust key")),
		TrustAll: key.NewBinding(key.WithKeys("T"), key.WithHelp("T", "trust all new keys")),
		Save:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "save")),
		Run:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "save & run")),
		Again:    key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "run again")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "b"), key.WithHelp("pgup/pgdn", "scroll log")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "f", " ")),
		Follow:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("end", "follow")),
		Summary:  key.NewBinding(key.WithKeys("l"), key.WithHelp("l", "log/summary")),
	}
}
