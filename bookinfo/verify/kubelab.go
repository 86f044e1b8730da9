package verify

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
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
	Kubeconfig string
	Namespace  string // Bookinfo's; deploy.DefaultNamespace when empty
	// Node is the address the NodePorts are reached on; the kubeconfig server's host when empty.
	Node    string
	Ports   NodePorts // zero fields take DefaultNodePorts
	Offline bool
	// Addons are the addons the lab installs (zipkin, jaeger, prometheus, grafana); the checks of
	// any other are skipped. nil checks them all.
	Addons []string
}

// NewClusterLab connects to the lab the kubeconfig names and fills in every address.
func NewClusterLab(o ClusterOptions) (Lab, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return Lab{}, fmt.Errorf("verify: kubeconfig %s: %w", o.Kubeconfig, err)
	}
	cfg.Timeout = 15 * time.Second
	cfg.QPS, cfg.Burst = 50, 100 // the checks poll; client-go's default 5 QPS would throttle them
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return Lab{}, fmt.Errorf("verify: kubeconfig %s: %w", o.Kubeconfig, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return Lab{}, fmt.Errorf("verify: kubeconfig %s: %w", o.Kubeconfig, err)
	}
	node := o.Node
	if node == "" {
		u, err := url.Parse(cfg.Host)
		if err != nil || u.Hostname() == "" {
			return Lab{}, fmt.Errorf("verify: kubeconfig %s: server %q has no host to reach NodePorts on", o.Kubeconfig, cfg.Host)
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
	installed := func(url string, addons ...string) string {
		if o.Addons == nil || slices.ContainsFunc(addons, func(a string) bool { return slices.Contains(o.Addons, a) }) {
			return url
		}
		return "" // not installed: its checks are skipped
	}
	return Lab{
		Namespace:     ns,
		Kube:          kube,
		Browser:       Browser{BaseURL: port(o.Ports.Gateway, def.Gateway)},
		Router:        KubeRouter{Dynamic: dyn, Namespace: ns},
		PrometheusURL: installed(port(o.Ports.Prometheus, def.Prometheus), "prometheus"),
		TracingURL:    installed(port(o.Ports.Tracing, def.Tracing), "zipkin", "jaeger"),
		GrafanaURL:    installed(port(o.Ports.Grafana, def.Grafana), "grafana"),
		Dashboards:    ds,
		Offline:       o.Offline,
	}, nil
}
