package tui

import "github.com/charmbracelet/lipgloss"

// Styles are constants of the view; colours drop out under an ASCII profile (tests, dumb
// terminals), so every state is also told by a symbol.
var (
	titleStyle   = lipgloss.NewStyle().Bold(true)
	stepStyle    = lipgloss.NewStyle().Faint(true)
	currentStep  = lipgloss.NewStyle().Bold(true).Underline(true)
	okStyle      = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	failStyle    = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
	warnStyle    = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
	dimStyle     = lipgloss.NewStyle().Faint(true)
	selectStyle  = lipgloss.NewStyle().Bold(true)
	headingStyle = lipgloss.NewStyle().Bold(true).Underline(true)
)

// Symbols of a host's or a task's state.
const (
	symOK      = "✓"
	symFail    = "✗"
	symPending = "·"
	symSkip    = "-"
	symCursor  = ">"
)
