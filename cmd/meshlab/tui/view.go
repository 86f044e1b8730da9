package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/x/ansi"
)

// View renders the current screen inside the shared frame: a title with the steps, the body,
// and a help line at the bottom. Every line is cut to the terminal's width and the body to its
// height, so the frame holds at 80×24 and follows resizes.
func (m Model) View() string {
	if m.quitting {
		return ""
	}
	var body string
	var bindings []key.Binding
	switch m.screen {
	case screenStart:
		body, bindings = m.viewStart(), m.startBindings()
	case screenHosts:
		body, bindings = m.viewHosts(), m.hostsBindings()
	case screenHostForm:
		body, bindings = m.viewForm(), m.formBindings()
	case screenProbe:
		body, bindings = m.viewProbe(), m.probeBindings()
	case screenComponents:
		body, bindings = m.viewComponents(), m.componentsBindings()
	case screenReview:
		body, bindings = m.viewReview(), m.reviewBindings()
	case screenRun:
		body, bindings = m.viewRun(), m.runBindings()
	}
	header := m.viewHeader()
	helpLine := m.help.ShortHelpView(bindings)
	room := max(1, m.height-2) // header and help line
	lines := strings.Split(strings.TrimRight(body, "\n"), "\n")
	if len(lines) > room {
		lines = lines[:room]
	}
	for len(lines) < room {
		lines = append(lines, "")
	}
	out := append([]string{header}, lines...)
	out = append(out, helpLine)
	for i, l := range out {
		out[i] = ansi.Truncate(l, m.width, "…")
	}
	return strings.Join(out, "\n")
}

// viewHeader is "meshlab  1 File › 2 Hosts › ..." with the current step underlined.
func (m Model) viewHeader() string {
	cur := m.screen
	if cur == screenHostForm {
		cur = screenHosts
	}
	parts := make([]string, 0, len(steps))
	for i, s := range steps {
		label := string(rune('1'+i)) + " " + s.name
		if s.s == cur {
			parts = append(parts, currentStep.Render(label))
		} else {
			parts = append(parts, stepStyle.Render(label))
		}
	}
	return titleStyle.Render("meshlab") + "  " + strings.Join(parts, " › ")
}

// fit cuts a line to the width (for bodies that build long rows).
func (m Model) fit(s string) string { return ansi.Truncate(s, m.width, "…") }

// Label columns of the forms: the cursor mark (2), the label, a space; the forms' views and
// fitInputs both use them.
const (
	startLabelWidth = 2 + 20 + 1
	formLabelWidth  = 2 + 14 + 1
)

// fitInputs gives the text fields the width the terminal leaves them beside their labels, so
// that a value longer than that scrolls inside its field and shows its end where the cursor is
// (a long path keeps its file name in sight) instead of being cut off at the window's edge.
// Called on a resize and when a form is made; the cursor stays where it was.
func (m *Model) fitInputs() {
	fit := func(ins []textinput.Model, label int) {
		for i := range ins {
			ins[i].Width = max(m.width-label-1, 8) // one column for the cursor
			ins[i].SetCursor(ins[i].Position())
		}
	}
	fit(m.start.inputs, startLabelWidth)
	fit(m.form.inputs[:], formLabelWidth)
}
