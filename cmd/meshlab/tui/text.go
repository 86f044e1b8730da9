package tui

import (
	"strings"
	"unicode"

	"github.com/charmbracelet/x/ansi"

	"github.com/meshlab/meshlab/provision/event"
)

// tabWidth is the terminal's tab stop spacing, which a tab in remote output would jump to.
const tabWidth = 8

// printable makes one line of text from a host safe to draw. The renderer counts a line's
// width to fit it on the screen, and a terminal moves the cursor on control characters that
// count as nothing: a tab (kubeadm indents its join command with one) made a line wrap and
// scrolled the whole frame by a row, and a carriage return (dpkg's progress) drew over the
// line's start. So: escape sequences are dropped, a line redrawn in place keeps its last
// state, tabs become spaces to the next stop, a newline inside becomes a space, and other
// control characters are removed.
func printable(s string) string {
	s = ansi.Strip(strings.ToValidUTF8(s, "\uFFFD"))
	s = strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\r\n")
	if i := strings.LastIndexByte(s, '\r'); i >= 0 {
		s = s[i+1:]
	}
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	var b strings.Builder
	col := 0
	for _, r := range s {
		switch {
		case r == '\t':
			n := tabWidth - col%tabWidth
			b.WriteString(strings.Repeat(" ", n))
			col += n
		case r == '\n':
			b.WriteByte(' ')
			col++
		case unicode.IsControl(r): // C0, DEL and C1: nothing to show
		default:
			b.WriteRune(r)
			col += ansi.StringWidth(string(r))
		}
	}
	return b.String()
}

// printableEvent is e with every text that came from a host made printable. The error info is
// copied, not changed in place: the engine may still hold it.
func printableEvent(e event.Event) event.Event {
	e.Line, e.Task = printable(e.Line), printable(e.Task)
	if e.Error != nil {
		info := *e.Error
		info.Message, info.Task = printable(info.Message), printable(info.Task)
		cmd := strings.Split(info.Command, "\n") // shown line by line
		for i, l := range cmd {
			cmd[i] = printable(l)
		}
		info.Command = strings.Join(cmd, "\n")
		info.Stderr = make([]string, len(e.Error.Stderr))
		for i, l := range e.Error.Stderr {
			info.Stderr[i] = printable(l)
		}
		e.Error = &info
	}
	return e
}

// wrapLines breaks lines wider than width at spaces, indenting the continuations, so a long
// path or command in the summary is read whole rather than cut at the edge.
func wrapLines(lines []string, width int) []string {
	var out []string
	for _, l := range lines {
		if ansi.StringWidth(l) <= width {
			out = append(out, l)
			continue
		}
		out = append(out, wrapWords(l, width)...)
	}
	return out
}

// wrapWords fills lines of at most width columns with the words of l; continuations are
// indented past l's own indent. Only a word wider than a line is broken inside it (ansi.Wrap
// would also break at dashes, splitting a flag from its name).
func wrapWords(l string, width int) []string {
	body := strings.TrimLeft(l, " ")
	lead := l[:len(l)-len(body)]
	next := lead + "    "
	limit := max(10, width-len(next))
	var out []string
	cur := ""
	flush := func() {
		prefix := next
		if len(out) == 0 {
			prefix = lead
		}
		out = append(out, prefix+cur)
		cur = ""
	}
	for _, w := range strings.Fields(body) {
		if cur != "" && ansi.StringWidth(cur)+1+ansi.StringWidth(w) > limit {
			flush()
		}
		if cur != "" {
			w = cur + " " + w
		}
		cur = w
		for ansi.StringWidth(cur) > limit { // a word wider than the line
			rest := ansi.TruncateLeft(cur, limit, "")
			cur = ansi.Truncate(cur, limit, "")
			flush()
			cur = rest
		}
	}
	if cur != "" {
		flush()
	}
	return out
}
