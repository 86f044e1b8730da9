package dashboard

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Target is where links point.
type Target struct {
	// Prometheus is the base URL of Prometheus's UI, e.g. http://10.0.0.1:30003.
	Prometheus string
	// Grafana is the base URL of Grafana; when set, links go to Grafana instead.
	Grafana string
	// Range is the graphs' time range in Prometheus's UI (default 1h).
	Range time.Duration
	// Window replaces Grafana's $__rate_interval and $__interval (default 1m).
	Window time.Duration
	// Vars are values for the dashboards' template variables (e.g. service=reviews.default.svc.cluster.local);
	// a variable without one matches every value.
	Vars map[string]string
}

func (t Target) withDefaults() Target {
	if t.Range <= 0 {
		t.Range = time.Hour
	}
	if t.Window <= 0 {
		t.Window = time.Minute
	}
	return t
}

// Link is one entry of a link list.
type Link struct {
	Title string
	URL   string
}

// DashboardLink opens the whole dashboard: every panel's queries as graphs on one Prometheus
// page, or the dashboard in Grafana.
func DashboardLink(d Dashboard, t Target) Link {
	t = t.withDefaults()
	if t.Grafana != "" {
		return Link{d.Title, grafanaURL(t.Grafana, d.UID, 0, t.Vars)}
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, q := range p.Queries {
			exprs = append(exprs, Expand(q, t))
		}
	}
	return Link{d.Title, PrometheusGraphURL(t.Prometheus, exprs, t.Range)}
}

// PanelLinks is one link per panel of d.
func PanelLinks(d Dashboard, t Target) []Link {
	t = t.withDefaults()
	var out []Link
	for _, p := range d.Panels {
		if t.Grafana != "" {
			out = append(out, Link{p.Title, grafanaURL(t.Grafana, d.UID, p.ID, t.Vars)})
			continue
		}
		var exprs []string
		for _, q := range p.Queries {
			exprs = append(exprs, Expand(q, t))
		}
		out = append(out, Link{p.Title, PrometheusGraphURL(t.Prometheus, exprs, t.Range)})
	}
	return out
}

// PrometheusGraphURL opens exprs as graphs, one panel each, on Prometheus's query page. The
// parameters are those the v3 UI reads from its URL (web/ui/mantine-ui, urlStateEncoding.ts):
// g<i>.expr, g<i>.tab and g<i>.range_input; the rest (lines, no tree, auto resolution) are the
// UI's defaults and left out to keep the links short.
func PrometheusGraphURL(base string, exprs []string, rng time.Duration) string {
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(base, "/") + "/query?")
	for i, e := range exprs {
		if i > 0 {
			b.WriteByte('&')
		}
		g := "g" + strconv.Itoa(i) + "."
		// Not url.Values.Encode: that sorts keys, and the UI's panels must keep their order.
		fmt.Fprintf(&b, "%sexpr=%s&%stab=graph&%srange_input=%s", g, url.QueryEscape(e), g, g, model.Duration(rng))
	}
	return b.String()
}

// grafanaURL is the dashboard (/d/<uid>), or one panel of it (?viewPanel=<id>), with any
// variable values given.
func grafanaURL(base, uid string, panel int, vars map[string]string) string {
	q := url.Values{}
	if panel > 0 {
		q.Set("viewPanel", strconv.Itoa(panel))
	}
	for k, v := range vars {
		q.Set("var-"+k, v)
	}
	u := strings.TrimSuffix(base, "/") + "/d/" + url.PathEscape(uid)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// variableMatcher is a label matcher on a template variable: label="$var" or ="${var}",
// with =, !=, =~ or !~.
var variableMatcher = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"\$\{?([a-zA-Z_][a-zA-Z0-9_]*)\}?"`)

// Expand turns a Grafana panel query into plain PromQL:
//   - $__rate_interval, $__interval and $__range become t.Window (t.Range for $__range),
//     fixed where Grafana would compute them from the graph's width;
//   - a variable with a value in t.Vars becomes that value;
//   - a label matcher on any other variable (label="$service") matches every value:
//     label=~".+" (label!~".+" for a negative matcher), what Grafana's "All" does.
func Expand(q string, t Target) string {
	t = t.withDefaults()
	w := model.Duration(t.Window).String()
	builtins := map[string]string{"__rate_interval": w, "__interval": w, "__range": model.Duration(t.Range).String()}
	q = variableMatcher.ReplaceAllStringFunc(q, func(m string) string {
		sub := variableMatcher.FindStringSubmatch(m)
		label, op, name := sub[1], sub[2], sub[3]
		if v, ok := t.Vars[name]; ok {
			return label + op + strconv.Quote(v)
		}
		if _, ok := builtins[name]; ok {
			return m
		}
		if op == "!=" || op == "!~" {
			return label + `!~".+"`
		}
		return label + `=~".+"`
	})
	// What is left: built-ins and valued variables outside matchers ([$__rate_interval]),
	// longest names first so $service does not eat $serviceX.
	vals := map[string]string{}
	for k, v := range builtins {
		vals[k] = v
	}
	for k, v := range t.Vars {
		vals[k] = v
	}
	names := make([]string, 0, len(vals))
	for n := range vals {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) })
	for _, n := range names {
		q = strings.ReplaceAll(q, "${"+n+"}", vals[n])
		q = strings.ReplaceAll(q, "$"+n, vals[n])
	}
	return q
}
