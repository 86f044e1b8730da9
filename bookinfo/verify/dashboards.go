package verify

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshlab/meshlab/addons"
)

// EmbeddedDashboards parses the dashboards meshlab's Grafana chart ships (the same JSON the
// lab's Grafana loads), so their queries can be run against the lab's Prometheus.
func EmbeddedDashboards() ([]Dashboard, error) {
	c, err := addons.Chart(addons.Grafana)
	if err != nil {
		return nil, err
	}
	var out []Dashboard
	for _, f := range c.Files {
		if !strings.HasPrefix(f.Name, "dashboards/") || !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		d, err := ParseDashboard(f.Name, f.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("verify: the grafana chart has no dashboards/*.json")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Title < out[j].Title })
	return out, nil
}
