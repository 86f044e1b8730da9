// Package dashboard makes meshlab's Grafana dashboards usable without Grafana: it reads the
// dashboards the Grafana chart ships (addons/charts/grafana/dashboards) and turns every panel
// into a link that opens the panel's queries as graphs in Prometheus's own UI, or, when the
// lab has Grafana, into a link to the panel in Grafana.
package dashboard

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/meshlab/meshlab/addons"
)

// Dashboard is a Grafana dashboard as far as links need it.
type Dashboard struct {
	UID       string
	Title     string
	File      string // e.g. meshlab-mesh.json
	Panels    []Panel
	Variables []Variable // templating.list, e.g. service
}

// Variable is one template variable: its name, type ("query", "custom", ...) and, for a query
// variable, its query (e.g. label_values(istio_requests_total, destination_service)).
type Variable struct {
	Name, Type, Query string
}

// Name is how `meshlab dashboard NAME` selects it: the file name without .json (which is
// also the uid of meshlab's dashboards).
func (d Dashboard) Name() string { return strings.TrimSuffix(d.File, ".json") }

// Panel is one panel and its PromQL queries.
type Panel struct {
	ID      int
	Title   string
	Queries []string
}

// Parse reads a dashboard's JSON; file names it in errors.
func Parse(file string, data []byte) (Dashboard, error) {
	var raw struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Dashboard{}, fmt.Errorf("dashboard %s: %w", file, err)
	}
	if raw.UID == "" {
		return Dashboard{}, fmt.Errorf("dashboard %s: no uid (Grafana links need one)", file)
	}
	d := Dashboard{UID: raw.UID, Title: raw.Title, File: path.Base(file)}
	for _, p := range raw.Panels {
		pn := Panel{ID: p.ID, Title: p.Title}
		for _, t := range p.Targets {
			if t.Expr != "" {
				pn.Queries = append(pn.Queries, t.Expr)
			}
		}
		if len(pn.Queries) > 0 {
			d.Panels = append(d.Panels, pn)
		}
	}
	for _, v := range raw.Templating.List {
		// Grafana stores a query as a string or as {"query": "..."}.
		var q string
		if len(v.Query) > 0 && json.Unmarshal(v.Query, &q) != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				return Dashboard{}, fmt.Errorf("dashboard %s: variable %s: %w", file, v.Name, err)
			}
			q = obj.Query
		}
		d.Variables = append(d.Variables, Variable{Name: v.Name, Type: v.Type, Query: q})
	}
	return d, nil
}

// Embedded parses the dashboards of meshlab's Grafana chart, ordered by file name.
func Embedded() ([]Dashboard, error) {
	c, err := addons.Chart(addons.Grafana)
	if err != nil {
		return nil, err
	}
	var out []Dashboard
	for _, f := range c.Files {
		if !strings.HasPrefix(f.Name, "dashboards/") || !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		d, err := Parse(f.Name, f.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the grafana chart has no dashboards/*.json")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out, nil
}

// Find picks a dashboard by name, uid or title (case-insensitive).
func Find(ds []Dashboard, name string) (Dashboard, error) {
	var names []string
	for _, d := range ds {
		if strings.EqualFold(d.Name(), name) || strings.EqualFold(d.UID, name) || strings.EqualFold(d.Title, name) {
			return d, nil
		}
		names = append(names, d.Name())
	}
	return Dashboard{}, fmt.Errorf("no dashboard %q: choose one of %s", name, strings.Join(names, ", "))
}
