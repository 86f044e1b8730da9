package verify

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"k8s.io/client-go/rest"

	"github.com/meshlab/meshlab/internal/kube"
)

// NodePorts says where the lab exposes its entry points on every node.
type NodePorts struct {
	Gateway, Prometheus, Tracing, Grafana int
}

// DefaultNodePorts are meshlab's: ingress gateway 30080, Zipkin/Jaeger UI 30001, Grafana
// 30002, Prometheus 30003.
func DefaultNodePorts() NodePorts {
	return NodePorts{Gateway: 30080, Prometheus: 30003, Tracing: 30001, Grafana: 30002}
}

// ClusterOptions build a Lab for a Kubernetes lab.
type ClusterOptions struct {
	Config    *kube.Config // the lab's cluster (kube.Load)
	Namespace string       // Bookinfo's; deploy.DefaultNamespace when empty
	// Node is the address the NodePorts are reached on; the kubeconfig server's host when empty.
	Node  string
	Ports NodePorts // zero fields take DefaultNodePorts
	// Absent says which addons the lab has not and why (Lab.Absent): an addon the hosts file
	// leaves out is skipped, one the offline bundle lacks is "not in the offline bundle".
	Absent map[string]error
}

// NewClusterLab connects to the lab's cluster and fills in every address.
func NewClusterLab(o ClusterOptions) (Lab, error) {
	if o.Config == nil {
		return Lab{}, errors.New("verify: no cluster to check (ClusterOptions.Config)")
	}
	cfg := rest.CopyConfig(o.Config.REST)
	cfg.Timeout = 15 * time.Second
	cfg.QPS, cfg.Burst = 50, 100 // the checks poll; client-go's default 5 QPS would throttle them
	c, err := kube.NewClient(cfg)
	if err != nil {
		return Lab{}, fmt.Errorf("verify: %s: %w", o.Config.Source, err)
	}
	node := o.Node
	if node == "" {
		u, err := url.Parse(cfg.Host)
		if err != nil || u.Hostname() == "" {
			return Lab{}, fmt.Errorf("verify: %s: server %q has no host to reach NodePorts on (pass --node)", o.Config.Source, cfg.Host)
		}
		node = u.Hostname()
	}
	def := DefaultNodePorts()
	port := func(p, d int) string {
		if p == 0 {
			p = d
		}
		return "http://" + net.JoinHostPort(node, strconv.Itoa(p))
	}
	ns := o.Namespace
	if ns == "" {
		ns = "bookinfo"
	}
	ds, err := EmbeddedDashboards()
	if err != nil {
		return Lab{}, err
	}
	return Lab{
		Namespace:     ns,
		Kube:          c.Kube,
		Browser:       Browser{BaseURL: port(o.Ports.Gateway, def.Gateway)},
		Router:        KubeRouter{Client: c, Namespace: ns},
		PrometheusURL: port(o.Ports.Prometheus, def.Prometheus),
		TracingURL:    port(o.Ports.Tracing, def.Tracing),
		GrafanaURL:    port(o.Ports.Grafana, def.Grafana),
		Dashboards:    ds,
		Absent:        o.Absent,
		// `mesh install` gives every injected sidecar (and the gateway) a workload certificate
		// and auto mTLS between them: principal-based policies can match.
		MutualTLS: true,
	}, nil
}
