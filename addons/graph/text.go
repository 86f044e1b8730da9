package graph

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Text renders the graph as a call tree for a terminal: each caller with its callees indented
// under it, every call with its rate, error ratio and p99. A workload reached by several
// callers is expanded once and marked "(see above)" after that, so a cycle cannot loop.
func Text(g Graph) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", Headline(g))
	if len(g.Edges) == 0 {
		b.WriteString("no calls in the window: send some traffic (e.g. open productpage) and wait for a scrape\n")
		return b.String()
	}
	type row struct{ tree, metrics string }
	var rows []row
	out := map[string][]Edge{}
	in := map[string]int{}
	for _, e := range g.Edges {
		out[e.From.ID()] = append(out[e.From.ID()], e)
		in[e.To.ID()]++
	}
	expanded := map[string]bool{}
	var walk func(e Edge, prefix string, last bool)
	walk = func(e Edge, prefix string, last bool) {
		branch, indent := "├─▶ ", "│   "
		if last {
			branch, indent = "└─▶ ", "    "
		}
		id := e.To.ID()
		name := id
		if expanded[id] && len(out[id]) > 0 {
			name += " (see above)"
		}
		rows = append(rows, row{prefix + branch + name, metrics(e)})
		if expanded[id] {
			return
		}
		expanded[id] = true
		kids := out[id]
		for i, k := range kids {
			walk(k, prefix+indent, i == len(kids)-1)
		}
	}
	root := func(id string) {
		rows = append(rows, row{id, ""})
		expanded[id] = true
		kids := out[id]
		for i, k := range kids {
			walk(k, "", i == len(kids)-1)
		}
	}
	// Roots are callers nobody calls (the gateway, outside clients); any caller still not
	// shown after them sits on a cycle and starts its own tree.
	for _, n := range g.Nodes {
		if in[n.ID()] == 0 && len(out[n.ID()]) > 0 {
			root(n.ID())
		}
	}
	for _, n := range g.Nodes {
		if !expanded[n.ID()] && len(out[n.ID()]) > 0 {
			root(n.ID())
		}
	}
	width := 0
	for _, r := range rows {
		width = max(width, len([]rune(r.tree)))
	}
	for _, r := range rows {
		if r.metrics == "" {
			fmt.Fprintf(&b, "%s\n", r.tree)
			continue
		}
		fmt.Fprintf(&b, "%s%s  %s\n", r.tree, strings.Repeat(" ", width-len([]rune(r.tree))), r.metrics)
	}
	return b.String()
}

// Headline sums the graph up in one line: window, time, workloads and calls.
func Headline(g Graph) string {
	var errs []string
	for _, e := range g.Edges {
		if e.ErrorRate > 0 {
			errs = append(errs, e.From.Workload+"→"+e.To.Workload)
		}
	}
	s := fmt.Sprintf("service graph · last %s at %s · %d workloads · %d calls", shortDuration(g.Window),
		g.At.UTC().Format("15:04:05 UTC"), len(g.Nodes), len(g.Edges))
	if len(errs) > 0 {
		slices.Sort(errs)
		s += " · errors on " + strings.Join(errs, ", ")
	}
	return s
}

// metrics is one call's numbers in fixed-width columns.
func metrics(e Edge) string {
	return fmt.Sprintf("%9s  %-9s  %s", Rate(e.Rate), "err "+Percent(e.ErrorRate), "p99 "+Millis(e.P99))
}

// Rate formats requests per second.
func Rate(r float64) string {
	if r < 10 {
		return fmt.Sprintf("%.2f rps", r)
	}
	return fmt.Sprintf("%.0f rps", r)
}

// Percent formats a ratio as a percentage.
func Percent(f float64) string {
	switch {
	case f == 0:
		return "0%"
	case f < 0.001:
		return "<0.1%"
	}
	return fmt.Sprintf("%.1f%%", 100*f)
}

// Millis formats a duration in milliseconds ("-" when unknown).
func Millis(ms float64) string {
	switch {
	case !known(ms):
		return "-"
	case ms < 10:
		return fmt.Sprintf("%.1fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0fms", ms)
	}
	return fmt.Sprintf("%.2fs", ms/1000)
}

// shortDuration writes 1m rather than Go's 1m0s (Prometheus's duration format).
func shortDuration(d time.Duration) string { return model.Duration(d).String() }
