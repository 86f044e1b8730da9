package traces

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// List renders traces as a table: ID, start, root service and operation, spans, duration
// and failed spans.
func List(ts []Trace, b Backend) string {
	var out strings.Builder
	fmt.Fprintf(&out, "%d recent traces from %s\n", len(ts), b)
	if len(ts) == 0 {
		out.WriteString("no traces yet: send a request (e.g. open productpage) and look again\n")
		return out.String()
	}
	w := tabwriter.NewWriter(&out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TRACE\tSTART (UTC)\tROOT\tSPANS\tDURATION\tERRORS")
	for _, t := range ts {
		r := t.Root()
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%d\n", t.ID, t.Start().UTC().Format("15:04:05.000"),
			cut(r.Service+" "+r.Operation, 60), len(t.Spans), Duration(t.Duration()), t.Errors())
	}
	_ = w.Flush()
	return out.String()
}

// barWidth is the waterfall's timeline width in columns.
const barWidth = 32

// Waterfall renders one trace: each span indented under its parent, with its service,
// operation, start offset from the trace's start, duration, status and a bar on the trace's
// timeline.
func Waterfall(t Trace) string {
	var out strings.Builder
	r := t.Root()
	total := t.Duration()
	fmt.Fprintf(&out, "trace %s · %s %s · %d spans · %s · %d errors · %s\n", t.ID, r.Service, r.Operation,
		len(t.Spans), Duration(total), t.Errors(), t.Start().UTC().Format("2006-01-02 15:04:05.000 UTC"))
	w := tabwriter.NewWriter(&out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SERVICE\tOPERATION\tSTART\tDURATION\tSTATUS\tTIMELINE")
	for _, row := range tree(t) {
		s := row.span
		status := s.Status
		if status == "" {
			status = "-"
		}
		if s.Error {
			status += " ERROR"
		}
		fmt.Fprintf(w, "%s%s\t%s\t+%s\t%s\t%s\t|%s|\n", strings.Repeat("  ", row.depth), s.Service, cut(s.Operation, 48),
			Duration(s.Start.Sub(t.Start())), Duration(s.Duration), status, bar(s.Start.Sub(t.Start()), s.Duration, total))
	}
	_ = w.Flush()
	return out.String()
}

type treeRow struct {
	span  Span
	depth int
}

// tree orders spans depth first from the roots, children by start time; a span whose parent
// is missing is a root of its own.
func tree(t Trace) []treeRow {
	ids := map[string]bool{}
	for _, s := range t.Spans {
		ids[s.ID] = true
	}
	kids := map[string][]Span{}
	var roots []Span
	for _, s := range t.Spans { // already in start order
		if s.ParentID == "" || !ids[s.ParentID] || s.ParentID == s.ID {
			roots = append(roots, s)
			continue
		}
		kids[s.ParentID] = append(kids[s.ParentID], s)
	}
	var rows []treeRow
	done := map[string]bool{}
	var walk func(s Span, depth int)
	walk = func(s Span, depth int) {
		if done[s.ID] { // a malformed trace with a cycle
			return
		}
		done[s.ID] = true
		rows = append(rows, treeRow{s, depth})
		for _, k := range kids[s.ID] {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return rows
}

// bar draws a span on the trace's timeline; every span gets at least one mark.
func bar(offset, d, total time.Duration) string {
	if total <= 0 {
		return strings.Repeat("█", barWidth)
	}
	from := int(float64(offset) / float64(total) * barWidth)
	to := int(float64(offset+d)/float64(total)*barWidth + 0.5)
	from = min(max(from, 0), barWidth-1)
	to = min(max(to, from+1), barWidth)
	return strings.Repeat(" ", from) + strings.Repeat("█", to-from) + strings.Repeat(" ", barWidth-to)
}

// Duration formats a span's duration with three significant digits.
func Duration(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0fms", ms)
	}
	return fmt.Sprintf("%.2fs", ms/1000)
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
