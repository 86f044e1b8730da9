package verify

import (
	"sort"

	"github.com/meshlab/meshlab/addons/dashboard"
)

// EmbeddedDashboards parses the dashboards meshlab's Grafana chart ships (the same JSON the
// lab's Grafana loads), so their queries can be run against the lab's Prometheus.
func EmbeddedDashboards() ([]Dashboard, error) {
	gs, err := dashboard.Embedded()
	if err != nil {
		return nil, err
	}
	var out []Dashboard
	for _, g := range gs {
		d, err := fromGrafana(g)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Title < out[j].Title })
	return out, nil
}
