package inventory

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one mistake in a hosts file, located precisely enough for an editor to jump to it.
type Problem struct {
	File    string
	Line    int // 1-based; 0 when the problem is about the whole file
	Column  int // 1-based; 0 when unknown (e.g. some YAML syntax errors)
	Field   string
	Message string
	Hint    string
}

// Error formats the problem as "file:line:col: field: message (hint)", the form compilers use,
// so editors and CI log viewers link it. Parts that are unknown are left out.
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	if p.Hint != "" {
		b.WriteString(" (" + p.Hint + ")")
	}
	return b.String()
}

// ValidationError carries every problem found in one hosts file.
type ValidationError struct {
	Problems []Problem
}

// Error lists every problem, one per line, in file order.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by position so the report reads top to bottom; problems on the
// same spot keep the order they were found in.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Column < ps[j].Column
	})
}
