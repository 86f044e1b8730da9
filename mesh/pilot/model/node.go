package model

import (
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// ProxyFromNode is the proxy a node describes (xdsnames.ProxyFromNode, the inverse of what the
// sidecar sends). A pod known to the registry by the node's IP fills in what the node left out.
func ProxyFromNode(n *corev3.Node, pods map[netip.Addr]Pod) config.Proxy {
	p := xdsnames.ProxyFromNode(n)
	if pod, ok := pods[p.IP]; ok && p.IP.IsValid() {
		if p.Namespace == "" {
			p.Namespace = pod.Namespace
		}
		if p.Workload == "" {
			p.Workload = pod.Workload
		}
		if p.Labels == nil {
			p.Labels = pod.Labels
		}
	}
	if p.Namespace == "" {
		p.Namespace = config.DefaultNamespace
	}
	return p
}
