package graph

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Colours of the picture: calls in grey, calls with errors in red, workloads in blue.
const (
	callColour  = "#546e7a"
	errorColour = "#c62828"
	nodeFill    = "#e3f2fd"
	nodeBorder  = "#1565c0"
)

// DOT renders the graph as Graphviz source: a box per workload inside a box per namespace, an
// arrow per call labelled with rate, error ratio and p99, thicker for more traffic and red
// when some calls failed. Layout is Graphviz's (dot, left to right).
func DOT(g Graph) string {
	var b strings.Builder
	b.WriteString("digraph mesh {\n")
	fmt.Fprintf(&b, "  graph [rankdir=LR, bgcolor=white, fontname=Helvetica, fontsize=12, labelloc=t, label=%s, nodesep=0.4, ranksep=1.1];\n",
		quote(Headline(g)))
	fmt.Fprintf(&b, "  node [shape=box, style=\"rounded,filled\", fillcolor=%s, color=%s, penwidth=1.2, fontname=Helvetica, fontsize=11];\n",
		quote(nodeFill), quote(nodeBorder))
	fmt.Fprintf(&b, "  edge [color=%s, fontcolor=%s, fontname=Helvetica, fontsize=9, penwidth=1.2, arrowsize=0.8];\n",
		quote(callColour), quote(callColour))

	byNS := map[string][]Node{}
	var namespaces []string
	for _, n := range g.Nodes {
		if _, ok := byNS[n.Namespace]; !ok {
			namespaces = append(namespaces, n.Namespace)
		}
		byNS[n.Namespace] = append(byNS[n.Namespace], n)
	}
	slices.Sort(namespaces)
	for i, ns := range namespaces {
		if ns == unknown { // callers outside the mesh belong to no namespace
			for _, n := range byNS[ns] {
				fmt.Fprintf(&b, "  %s [label=%s, style=\"rounded,dashed\", fillcolor=white];\n", quote(n.ID()), quote(n.Workload))
			}
			continue
		}
		fmt.Fprintf(&b, "  subgraph cluster_%d {\n    graph [label=%s, style=rounded, color=\"#b0bec5\", fontcolor=\"#607d8b\"];\n", i, quote(ns))
		for _, n := range byNS[ns] {
			fmt.Fprintf(&b, "    %s [label=%s];\n", quote(n.ID()), quote(n.Workload))
		}
		b.WriteString("  }\n")
	}
	maxRate := 0.0
	for _, e := range g.Edges {
		maxRate = max(maxRate, e.Rate)
	}
	for _, e := range g.Edges {
		label := Rate(e.Rate) + "\\nerr " + Percent(e.ErrorRate) + "\\np99 " + Millis(e.P99)
		attrs := []string{"label=\"" + label + "\"", "penwidth=" + strconv.FormatFloat(penWidth(e.Rate, maxRate), 'f', 1, 64)}
		if e.ErrorRate > 0 {
			attrs = append(attrs, "color="+quote(errorColour), "fontcolor="+quote(errorColour))
		}
		fmt.Fprintf(&b, "  %s -> %s [%s];\n", quote(e.From.ID()), quote(e.To.ID()), strings.Join(attrs, ", "))
	}
	b.WriteString("}\n")
	return b.String()
}

// penWidth scales an edge from 1.2 to 4 points with the square root of its share of the
// busiest edge's traffic, so quiet calls stay visible.
func penWidth(rate, maxRate float64) float64 {
	if maxRate <= 0 {
		return 1.2
	}
	return 1.2 + 2.8*math.Sqrt(rate/maxRate)
}

// quote makes a DOT string literal.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
