package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/meshlab/meshlab/addons/dashboard"
)

// grafanaHealthy checks GET /api/health says the database is ok (Grafana's documented Health API,
// which needs no login; Istio's addon probes readiness with it).
func grafanaHealthy(a api, base string) CheckFunc {
	return func(ctx context.Context) (Observation, error) {
		var h struct {
			Database string `json:"database"`
			Version  string `json:"version"`
		}
		if err := a.getJSON(ctx, base+"/api/health", &h); err != nil {
			return Observation{Observed: "unreachable"}, err
		}
		o := Observation{Observed: fmt.Sprintf("database %s, version %s", h.Database, h.Version)}
		if h.Database != "ok" {
			return o, errors.New("the database of Grafana is not ok")
		}
		return o, nil
	}
}

// grafanaDashboards checks /api/search lists every dashboard meshlab ships.
func grafanaDashboards(a api, base string, dashboards []Dashboard) CheckFunc {
	return func(ctx context.Context) (Observation, error) {
		var hits []struct {
			Title string `json:"title"`
			Type  string `json:"type"`
		}
		if err := a.getJSON(ctx, base+"/api/search?type=dash-db", &hits); err != nil {
			return Observation{Observed: "unreachable"}, err
		}
		var titles []string
		for _, h := range hits {
			titles = append(titles, h.Title)
		}
		var missing []string
		for _, d := range dashboards {
			if !slices.Contains(titles, d.Title) {
				missing = append(missing, d.Title)
			}
		}
		o := Observation{Observed: fmt.Sprintf("%d dashboards listed", len(titles))}
		if len(missing) > 0 {
			return o, fmt.Errorf("missing dashboards: %s", strings.Join(missing, ", "))
		}
		return o, nil
	}
}

// Dashboard is the part of a Grafana dashboard JSON the query check needs.
type Dashboard struct {
	Title     string
	Queries   []string   // panels[].targets[].expr
	Variables []Variable // templating.list[] of type query
}

// Variable is a template variable whose values come from label_values(selector, label).
type Variable struct {
	Name, Selector, Label string
}

// fromGrafana keeps what the query check needs of a dashboard: every panel's queries and its
// label_values query variables.
func fromGrafana(g dashboard.Dashboard) (Dashboard, error) {
	d := Dashboard{Title: g.Title}
	for _, p := range g.Panels {
		d.Queries = append(d.Queries, p.Queries...)
	}
	for _, v := range g.Variables {
		if v.Type != "query" {
			continue
		}
		sel, label, ok := parseLabelValues(v.Query)
		if !ok {
			return Dashboard{}, fmt.Errorf("dashboard %s: variable %s: only label_values(selector, label) is supported, got %q", g.File, v.Name, v.Query)
		}
		d.Variables = append(d.Variables, Variable{Name: v.Name, Selector: sel, Label: label})
	}
	return d, nil
}

// parseLabelValues splits `label_values(metric{...}, label)`.
func parseLabelValues(q string) (selector, label string, ok bool) {
	q = strings.TrimSpace(q)
	if !strings.HasPrefix(q, "label_values(") || !strings.HasSuffix(q, ")") {
		return "", "", false
	}
	inner := q[len("label_values(") : len(q)-1]
	i := strings.LastIndex(inner, ",")
	if i < 0 {
		return "", "", false
	}
	return strings.TrimSpace(inner[:i]), strings.TrimSpace(inner[i+1:]), true
}

// preferred picks a variable value that belongs to Bookinfo when there is one, so panels show
// the sample's traffic rather than the control plane's.
func preferred(values []string) string {
	for _, want := range []string{"productpage", "reviews"} {
		for _, v := range values {
			if strings.Contains(v, want) {
				return v
			}
		}
	}
	return values[0]
}

// dashboardQueries runs every query of d against Prometheus with its variables substituted by
// real label values. TCP panels may be empty: Bookinfo's calls are all HTTP.
func dashboardQueries(a api, base string, d Dashboard) CheckFunc {
	return func(ctx context.Context) (Observation, error) {
		vars := map[string]string{"__rate_interval": "1m", "__interval": "1m"}
		for _, v := range d.Variables {
			series, err := a.query(ctx, base, "count by ("+v.Label+") ("+v.Selector+")")
			if err != nil {
				return Observation{Observed: "variable query failed"}, fmt.Errorf("variable $%s: %w", v.Name, err)
			}
			var values []string
			for _, s := range series {
				if s[v.Label] != "" {
					values = append(values, s[v.Label])
				}
			}
			if len(values) == 0 {
				return Observation{Observed: "no values for $" + v.Name}, fmt.Errorf("variable $%s: %s has no %s label values", v.Name, v.Selector, v.Label)
			}
			slices.Sort(values)
			vars[v.Name] = preferred(values)
		}
		var empty, tcpEmpty []string
		for _, q := range d.Queries {
			q = substitute(q, vars)
			res, err := a.query(ctx, base, q)
			if err != nil {
				return Observation{Observed: "query failed"}, err
			}
			if len(res) > 0 {
				continue
			}
			if strings.Contains(q, "istio_tcp_") {
				tcpEmpty = append(tcpEmpty, q)
				continue
			}
			empty = append(empty, q)
		}
		n := len(d.Queries)
		o := Observation{Observed: fmt.Sprintf("%d/%d queries with data", n-len(empty)-len(tcpEmpty), n)}
		if len(tcpEmpty) > 0 {
			o.Observed += fmt.Sprintf(" (%d TCP panels empty: no TCP traffic)", len(tcpEmpty))
		}
		if len(empty) > 0 {
			o.Detail = "empty: " + strings.Join(empty, " | ")
			return o, fmt.Errorf("%d queries of %q returned no data", len(empty), d.Title)
		}
		return o, nil
	}
}

// substitute replaces $name and ${name}, longest names first so $service does not eat $serviceX.
func substitute(q string, vars map[string]string) string {
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) })
	for _, n := range names {
		q = strings.ReplaceAll(q, "${"+n+"}", vars[n])
		q = strings.ReplaceAll(q, "$"+n, vars[n])
	}
	return q
}
