package stack

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/meshlab/meshlab/addons"
	"github.com/meshlab/meshlab/mesh/gateway"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
)

// Summary ends `meshlab up` with where everything is: productpage through the gateway, the
// addons' UIs on the first node, and the kubeconfig. Each line is one Log event, so the text
// view prints it and --output json carries it.
type Summary struct{ plan *plan }

func (*Summary) Title() string { return "Summary" }
func (*Summary) Name() string  { return "summary" }

// Link is one line of the summary.
type Link struct{ What, Where string }

// Links lists the lab's entry points, only for what this lab installs (an addon skipped as not
// in the offline bundle has no URL to offer).
func (s *Summary) Links() []Link {
	p := s.plan
	c := p.components()
	url := func(port int) string { return "http://" + net.JoinHostPort(p.firstNode(), strconv.Itoa(port)) }
	var out []Link
	if c.Mesh && c.Bookinfo {
		out = append(out, Link{"productpage", url(p.nodePort("gateway", gateway.DefaultNodePort)) + "/productpage"})
	}
	settings := p.addonSettings()
	for _, name := range settings.Addons {
		var l Link
		switch name {
		case addons.Zipkin, addons.Jaeger:
			l = Link{"tracing (" + name + ")", url(p.nodePort("zipkin", inventory.DefaultZipkinNodePort))}
		case addons.Prometheus:
			l = Link{"prometheus", url(p.nodePort("prometheus", inventory.DefaultPrometheusNodePort))}
		case addons.Grafana:
			l = Link{"grafana", url(p.nodePort("grafana", inventory.DefaultGrafanaNodePort))}
		default:
			continue
		}
		if why := p.missingFromBundle(settings, name); why != "" {
			l.Where = "— " + NotInBundle
		}
		out = append(out, l)
	}
	return append(out, Link{"kubeconfig", p.kubeconfigPath()})
}

func (s *Summary) Run(_ context.Context, r *engine.Run) error {
	for _, l := range s.Links() {
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
