package model

import (
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshlab/meshlab/mesh/config"
)

// Node metadata keys a proxy sends with its first request (Istio's sidecars send the same facts
// as NAMESPACE, LABELS, INSTANCE_IPS, WORKLOAD_NAME).
const (
	MetaNamespace = "NAMESPACE"
	MetaLabels    = "LABELS"
	MetaIP        = "INSTANCE_IP"
	MetaWorkload  = "WORKLOAD_NAME"
)

// NodeFor describes proxy p to the control plane. The node ID is the proxy ID, which the control
// plane uses as the cache key: two proxies must not share one.
func NodeFor(p config.Proxy) *corev3.Node {
	labels := map[string]any{}
	for k, v := range p.Labels {
		labels[k] = v
	}
	fields := map[string]any{
		MetaNamespace: p.Namespace,
		MetaWorkload:  p.Workload,
		MetaLabels:    labels,
	}
	if p.IP.IsValid() {
		fields[MetaIP] = p.IP.String()
	}
	md, _ := structpb.NewStruct(fields) // strings and a map of strings always convert
	return &corev3.Node{Id: p.ID, Cluster: p.Workload, Metadata: md}
}

// ProxyFromNode is NodeFor's inverse. A pod known to the registry by the node's IP fills in what
// the node left out.
func ProxyFromNode(n *corev3.Node, pods map[netip.Addr]Pod) config.Proxy {
	f := n.GetMetadata().GetFields()
	p := config.Proxy{
		ID:        n.GetId(),
		Namespace: f[MetaNamespace].GetStringValue(),
		Workload:  f[MetaWorkload].GetStringValue(),
	}
	if ip, err := netip.ParseAddr(f[MetaIP].GetStringValue()); err == nil {
		p.IP = ip.Unmap()
	}
	for k, v := range f[MetaLabels].GetStructValue().GetFields() {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		p.Labels[k] = v.GetStringValue()
	}
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
