package dashboard

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// Text lists each dashboard with a link that opens all its panels, then a link per panel.
func Text(ds []Dashboard, t Target) string {
	var b strings.Builder
	where := "Prometheus's graph page (no Grafana in this lab)"
	if t.Grafana != "" {
		where = "Grafana"
	}
	fmt.Fprintf(&b, "meshlab's dashboards, each panel one link away in %s\n", where)
	for _, d := range ds {
		fmt.Fprintf(&b, "\n%s  (meshlab dashboard %s)\n", d.Title, d.Name())
		w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintf(w, "  %s\t%s\n", "all panels", DashboardLink(d, t).URL)
		for _, l := range PanelLinks(d, t) {
			fmt.Fprintf(w, "  %s\t%s\n", l.Title, l.URL)
		}
		_ = w.Flush()
	}
	if t.Grafana == "" && hasVariables(ds) {
		b.WriteString("\nPanels filtered by a dashboard variable ($service, $workload) show every value; " +
			"--var NAME=VALUE picks one.\n")
	}
	return b.String()
}

func hasVariables(ds []Dashboard) bool {
	for _, d := range ds {
		if len(d.Variables) > 0 {
			return true
		}
	}
	return false
}

// SummaryLinks are the lab summary's dashboard lines: one link per dashboard (all its panels
// on one page), titled "dashboard: <title>".
func SummaryLinks(t Target) ([]Link, error) {
	ds, err := Embedded()
	if err != nil {
		return nil, err
	}
	var out []Link
	for _, d := range ds {
		l := DashboardLink(d, t)
		l.Title = "dashboard: " + d.Title
		out = append(out, l)
	}
	return out, nil
}
