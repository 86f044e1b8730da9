package stack

import (
	"context"
	"fmt"

	"github.com/meshlab/meshlab/addons"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
)

// Summary ends `meshlab up` with where everything is: productpage through the gateway, the
// addons' UIs on the first node, and the kubeconfig. Each line is one Log event, so the text
// view prints it and --output json carries it.
type Summary struct{ plan *plan }

func (*Summary) Title() string { return "Summary" }
func (*Summary) Name() string  { return "summary" }

// JaegerOfflineTracing names the tracing link of an offline lab: the bundle's Jaeger is built
// from its Go module, which serves the query API but not the UI (jaeger-ui is not in the module
// and not on npm; "/" shows a placeholder). The link goes to the API's list of traced services,
// a page that works; `meshlab mesh traces` draws the traces themselves.
const JaegerOfflineTracing = "tracing (jaeger API; UI needs the online bundle)"

// Link is one line of the summary.
type Link struct{ What, Where string }

// Links lists the lab's entry points, only for what this lab installs (an addon skipped as not
// in the offline bundle has no URL to offer).
func (s *Summary) Links() []Link {
	p := s.plan
	c := p.components()
	e := EndpointsAt(p.Lab, p.firstNode())
	var out []Link
	if c.Mesh && c.Bookinfo {
		out = append(out, Link{"productpage", e.Productpage})
	}
	settings := p.addonSettings()
	var prometheus, grafana string // those running, for the dashboards' links
	for _, name := range settings.Addons {
		var l Link
		switch name {
		case addons.Zipkin, addons.Jaeger:
			l = Link{"tracing (" + name + ")", e.Tracing}
			if name == addons.Jaeger && p.offline() {
				l = Link{JaegerOfflineTracing, e.Tracing + "/api/services"}
			}
		case addons.Prometheus:
			l = Link{"prometheus", e.Prometheus}
		case addons.Grafana:
			l = Link{"grafana", e.Grafana}
		default:
			continue
		}
		switch {
		case p.missingFromBundle(settings, name) != "":
			l.Where = "— " + NotInBundle
		case settings.ClusterIPOnly(): // no NodePort: reached through the API server only
			l.Where = "meshlab addons port-forward " + name + " --kubeconfig " + p.kubeconfigPath()
		case name == addons.Prometheus:
			prometheus = l.Where
		case name == addons.Grafana:
			grafana = l.Where
		}
		out = append(out, l)
		if name == addons.Grafana && p.missingFromBundle(settings, name) == "" {
			out = append(out, s.grafanaAdmin())
		}
	}
	out = append(out, dashboardLinks(prometheus, grafana)...)
	return append(out, Link{"kubeconfig", p.kubeconfigPath()})
}

// grafanaAdmin says how to log in to Grafana as admin: the password itself on the run that made
// it (the only time it is shown), afterwards where to read it.
func (s *Summary) grafanaAdmin() Link {
	if pw := s.plan.grafanaPassword; pw != "" {
		return Link{"grafana admin", "user admin, password " + pw + " (shown this once; kept in Secret " +
			addons.Namespace + "/" + addons.GrafanaAdminSecret + ")"}
	}
	return Link{"grafana admin", "user admin; password: kubectl -n " + addons.Namespace + " get secret " +
		addons.GrafanaAdminSecret + " -o jsonpath='{.data.password}' | base64 -d"}
}

func (s *Summary) Run(_ context.Context, r *engine.Run) error {
	for _, l := range s.Links() {
		// Straight to the views (terminal, --output json), like every event: never into the
		// lab's log files, so the Grafana password shown here is not kept on disk.
		r.Emit(event.Event{Kind: event.Log, Phase: "summary", Line: fmt.Sprintf("%-20s %s", l.What, l.Where)})
	}
	if p := s.plan; p.Reach != nil {
		if hint := p.Reach.AccessHint(); hint != "" {
			r.Emit(event.Event{Kind: event.Log, Phase: "summary", Line: hint + "; the URLs above too (ssh -L for each port)"})
		}
	}
	return nil
}

// DryRun prints the same summary: the URLs are known before anything is installed.
func (s *Summary) DryRun(ctx context.Context, r *engine.Run) error { return s.Run(ctx, r) }
