package xdsnames

import (
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshlab/meshlab/mesh/config"
)

// Node metadata keys a proxy sends with its first request (Istio's sidecars send the same facts
// as NAMESPACE, LABELS, INSTANCE_IPS, WORKLOAD_NAME).
const (
	NodeNamespace = "NAMESPACE"
	NodeLabels    = "LABELS"
	NodeIP        = "INSTANCE_IP"
	NodeWorkload  = "WORKLOAD_NAME"
)

// NodeFor describes proxy p to the control plane. The node ID is the proxy ID, which the control
// plane uses as the cache key: two proxies must not share one.
func NodeFor(p config.Proxy) *corev3.Node {
	labels := map[string]any{}
	for k, v := range p.Labels {
		labels[k] = v
	}
	fields := map[string]any{
		NodeNamespace: p.Namespace,
		NodeWorkload:  p.Workload,
		NodeLabels:    labels,
	}
	if p.IP.IsValid() {
		fields[NodeIP] = p.IP.String()
	}
	md, _ := structpb.NewStruct(fields) // strings and a map of strings always convert
	return &corev3.Node{Id: p.ID, Cluster: p.Workload, Metadata: md}
}

// ProxyFromNode is NodeFor's inverse: the proxy as its node describes it, nothing filled in
// (the control plane completes it from its registry).
func ProxyFromNode(n *corev3.Node) config.Proxy {
	f := n.GetMetadata().GetFields()
	p := config.Proxy{
		ID:        n.GetId(),
		Namespace: f[NodeNamespace].GetStringValue(),
		Workload:  f[NodeWorkload].GetStringValue(),
	}
	if ip, err := netip.ParseAddr(f[NodeIP].GetStringValue()); err == nil {
		p.IP = ip.Unmap()
	}
	for k, v := range f[NodeLabels].GetStructValue().GetFields() {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		p.Labels[k] = v.GetStringValue()
	}
	return p
}
