// Package graph is the lab's live service graph, what Kiali draws for Istio: workloads as nodes,
// calls between them as edges with request rate, error ratio and p99 latency, computed from the
// Istio-named metrics meshlab's sidecars export (istio_requests_total and the
// istio_request_duration_milliseconds histogram) in the lab's Prometheus.
//
// Fetch asks Prometheus and returns a Graph value; Text and DOT turn that value into a terminal
// tree or Graphviz source (package picture draws that as SVG or PNG). Nothing here prints or
// loops: the live view (cmd/meshlab) refreshes by calling Fetch again.
package graph

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"
)

// Node is one workload (a Deployment's pods), or "unknown" for callers outside the mesh.
type Node struct {
	Workload  string `json:"workload"`
	Namespace string `json:"namespace"`
}

// ID names the node uniquely: workload.namespace, as Istio's telemetry names workloads.
func (n Node) ID() string {
	if n.Namespace == "" || n.Namespace == unknown {
		return n.Workload
	}
	return n.Workload + "." + n.Namespace
}

// Edge is the traffic from one workload to another over the window.
type Edge struct {
	From Node `json:"from"`
	To   Node `json:"to"`
	// Services are the destination services the calls addressed (e.g. reviews.default.svc.cluster.local).
	Services []string `json:"services"`
	// Rate is requests per second, averaged over the window.
	Rate float64 `json:"rate"`
	// ErrorRate is the fraction of those requests answered 5xx (0..1).
	ErrorRate float64 `json:"errorRate"`
	// P99 is the 99th percentile request duration in milliseconds, NaN when unknown.
	P99 float64 `json:"-"`
	// Reporter is whose metrics the edge shows: the caller's sidecar ("source") when it has
	// one, else the callee's ("destination"), e.g. for calls from outside the mesh.
	Reporter string `json:"reporter"`
}

// Graph is the mesh's traffic over Window, ending At.
type Graph struct {
	At     time.Time     `json:"at"`
	Window time.Duration `json:"window"`
	Nodes  []Node        `json:"nodes"`
	Edges  []Edge        `json:"edges"`
}

const unknown = "unknown"

// build sorts edges and derives the nodes from them: a workload without live traffic in the
// window has no edge and so no node, the way a scaled-down workload leaves the graph.
func build(at time.Time, window time.Duration, edges []Edge) Graph {
	slices.SortFunc(edges, func(a, b Edge) int {
		if c := strings.Compare(a.From.ID(), b.From.ID()); c != 0 {
			return c
		}
		return strings.Compare(a.To.ID(), b.To.ID())
	})
	seen := map[Node]bool{}
	var nodes []Node
	for _, e := range edges {
		for _, n := range []Node{e.From, e.To} {
			if !seen[n] {
				seen[n] = true
				nodes = append(nodes, n)
			}
		}
	}
	slices.SortFunc(nodes, func(a, b Node) int { return strings.Compare(a.ID(), b.ID()) })
	return Graph{At: at, Window: window, Nodes: nodes, Edges: edges}
}

// Edge returns the edge from→to (by node ID) and whether there is one.
func (g Graph) Edge(from, to string) (Edge, bool) {
	for _, e := range g.Edges {
		if e.From.ID() == from && e.To.ID() == to {
			return e, true
		}
	}
	return Edge{}, false
}

// known reports whether v is a number (Prometheus answers NaN for a quantile of no data).
func known(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// MarshalJSON writes an unknown p99 as null: JSON has no NaN.
func (e Edge) MarshalJSON() ([]byte, error) {
	type plain Edge
	out := struct {
		plain
		P99 *float64 `json:"p99"`
	}{plain: plain(e)}
	if known(e.P99) {
		out.P99 = &e.P99
	}
	return json.Marshal(out)
}
