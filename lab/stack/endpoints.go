package stack

import (
	"net"
	"strconv"

	"github.com/meshlab/meshlab/addons/dashboard"
	"github.com/meshlab/meshlab/mesh/gateway"
	"github.com/meshlab/meshlab/provision/inventory"
)

// Endpoints are where a lab answers: the first node's address with each component's NodePort
// (the hosts file's components.nodePorts, else the defaults). The summary prints them, and
// the commands that read a lab (mesh graph, mesh traces, dashboard) find its addons here.
type Endpoints struct {
	Productpage, Tracing, Prometheus, Grafana string
}

// LabEndpoints computes a lab's endpoints from its hosts file.
func LabEndpoints(lab *inventory.Lab) Endpoints {
	node := ""
	if len(lab.Hosts) > 0 {
		node = lab.Hosts[0].Address
	}
	return EndpointsAt(lab, node)
}

// EndpointsAt are the lab's entry points on the given node address (up knows it after the
// cluster phases: where this machine reaches the nodes' ports, e.g. a VM's lab network; later
// commands read it from the server of the lab's kubeconfig).
func EndpointsAt(lab *inventory.Lab, node string) Endpoints {
	url := func(component string, def int) string {
		return "http://" + net.JoinHostPort(node, strconv.Itoa(nodePortOf(lab.Components, component, def)))
	}
	return Endpoints{
		Productpage: url("gateway", gateway.DefaultNodePort) + "/productpage",
		Tracing:     url("zipkin", inventory.DefaultZipkinNodePort), // either backend
		Prometheus:  url("prometheus", inventory.DefaultPrometheusNodePort),
		Grafana:     url("grafana", inventory.DefaultGrafanaNodePort),
	}
}

// nodePortOf is the hosts file's NodePort for a component, or def.
func nodePortOf(c inventory.Components, component string, def int) int {
	if n := c.NodePorts[component]; n != 0 {
		return n
	}
	return def
}

// dashboardLinks are the summary's lines for meshlab's dashboards: each opens all of a
// dashboard's panels, in Grafana when the lab runs it (grafana != ""), else as graphs in
// Prometheus's UI. None without Prometheus.
func dashboardLinks(prometheus, grafana string) []Link {
	if prometheus == "" {
		return nil
	}
	ls, err := dashboard.SummaryLinks(dashboard.Target{Prometheus: prometheus, Grafana: grafana})
	if err != nil { // the embedded chart is broken: a build problem, shown rather than hidden
		return []Link{{"dashboards", "— " + err.Error()}}
	}
	var out []Link
	for _, l := range ls {
		out = append(out, Link{l.Title, l.URL})
	}
	return out
}
