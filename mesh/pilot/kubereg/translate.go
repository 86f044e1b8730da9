package kubereg

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/model"
	"github.com/meshlab/meshlab/mesh/spiffe"
)

// Objects is what the informers hold at one moment; translate turns it into a model.State.
// Keeping this pure (no clients) lets the translation be tested with plain values.
type Objects struct {
	Services       []*corev1.Service
	EndpointSlices []*discoveryv1.EndpointSlice
	Pods           []*corev1.Pod
}

// pods maps pod IPs to identities. Pods without an IP (not yet scheduled), host-network pods
// (their IP is the node's, shared by many) and finished pods are left out.
func pods(in []*corev1.Pod) map[netip.Addr]model.Pod {
	out := make(map[netip.Addr]model.Pod, len(in))
	for _, p := range in {
		if p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		id := model.Pod{Name: p.Name, Namespace: p.Namespace, Workload: workloadOf(p), Labels: p.Labels,
			ServiceAccount: serviceAccountOf(p), UID: string(p.UID)}
		if a, err := netip.ParseAddr(p.Status.PodIP); err == nil {
			id.IP = a.Unmap()
		}
		for _, ip := range p.Status.PodIPs {
			if a, err := netip.ParseAddr(ip.IP); err == nil {
				if !id.IP.IsValid() {
					id.IP = a.Unmap()
				}
				out[a.Unmap()] = id
			}
		}
		if id.IP.IsValid() {
			out[id.IP] = id
		}
	}
	return out
}

// serviceAccountOf is the pod's ServiceAccount; the apiserver defaults an empty one to "default".
func serviceAccountOf(p *corev1.Pod) string {
	if p.Spec.ServiceAccountName != "" {
		return p.Spec.ServiceAccountName
	}
	return "default"
}

// workloadOf names the pod's workload as Istio does in its metrics: the Deployment for a pod of
// a ReplicaSet (the ReplicaSet name without its pod-template-hash), else the controller's name,
// else the pod's own name.
func workloadOf(p *corev1.Pod) string {
	for _, o := range p.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			continue
		}
		if o.Kind == "ReplicaSet" {
			if h := p.Labels["pod-template-hash"]; h != "" {
				if d, ok := strings.CutSuffix(o.Name, "-"+h); ok {
					return d
				}
			}
		}
		return o.Name
	}
	return p.Name
}

// services builds the registry: every Service with its ports and the ready endpoints of its
// EndpointSlices, each labelled with its pod's labels (what DestinationRule subsets select).
func services(objs Objects, byIP map[netip.Addr]model.Pod, trustDomain string) []config.Service {
	slicesBySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range objs.EndpointSlices {
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		key := s.Namespace + "/" + name
		slicesBySvc[key] = append(slicesBySvc[key], s)
	}
	var out []config.Service
	for _, svc := range objs.Services {
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue // a DNS alias: no endpoints, nothing for a sidecar to balance
		}
		out = append(out, service(svc, slicesBySvc[svc.Namespace+"/"+svc.Name], byIP, trustDomain))
	}
	slices.SortFunc(out, func(a, b config.Service) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

func service(svc *corev1.Service, eps []*discoveryv1.EndpointSlice, byIP map[netip.Addr]model.Pod, trustDomain string) config.Service {
	s := config.Service{Name: svc.Name, Namespace: svc.Namespace}
	for _, ip := range svc.Spec.ClusterIPs {
		if a, err := netip.ParseAddr(ip); err == nil { // "None" (headless) does not parse
			s.VIPs = append(s.VIPs, a)
		}
	}
	// A target port may be named (resolved per pod); EndpointSlices carry the resolved number
	// under the service port's name.
	resolved := map[string]int32{}
	for _, sl := range eps {
		for _, p := range sl.Ports {
			if p.Name != nil && p.Port != nil {
				resolved[*p.Name] = *p.Port
			}
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue // UDP and SCTP are not proxied
		}
		port := config.Port{Name: p.Name, Port: uint16(p.Port), Protocol: appProtocol(p.AppProtocol)}
		switch {
		case resolved[p.Name] != 0:
			port.TargetPort = uint16(resolved[p.Name])
		case p.TargetPort.IntVal != 0:
			port.TargetPort = uint16(p.TargetPort.IntVal)
		}
		s.Ports = append(s.Ports, port)
	}
	seen := map[netip.Addr]bool{}
	for _, sl := range eps {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 && sl.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		for _, e := range sl.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, addr := range e.Addresses {
				a, err := netip.ParseAddr(addr)
				if err != nil || seen[a.Unmap()] {
					continue
				}
				seen[a.Unmap()] = true
				ep := config.Endpoint{Address: a.Unmap()}
				if pod, ok := byIP[a.Unmap()]; ok {
					ep.Labels, ep.Workload = pod.Labels, pod.Workload
					if pod.ServiceAccount != "" && pod.Labels[config.TLSModeLabel] == config.TLSModeIstio {
						// A sidecar's certificate names its pod's ServiceAccount; the client
						// checks exactly that identity.
						ep.Identity = spiffe.ID{TrustDomain: trustDomain, Namespace: pod.Namespace, ServiceAccount: pod.ServiceAccount}.String()
					}
				} else if e.TargetRef != nil && e.TargetRef.Kind == "Pod" {
					ep.Workload = e.TargetRef.Name
				}
				s.Endpoints = append(s.Endpoints, ep)
			}
		}
	}
	slices.SortFunc(s.Endpoints, func(a, b config.Endpoint) int { return a.Address.Compare(b.Address) })
	return s
}

// appProtocol maps a Service port's appProtocol to the proxy's protocol names; an unknown or
// empty value leaves the choice to the port name's Istio prefix (http-, grpc-, ...) or sniffing.
func appProtocol(p *string) string {
	if p == nil {
		return ""
	}
	switch strings.ToLower(*p) {
	case "http", "kubernetes.io/http":
		return "HTTP"
	case "http2", "kubernetes.io/h2c":
		return "HTTP2"
	case "grpc":
		return "GRPC"
	case "tcp":
		return "TCP"
	}
	return ""
}

// key names an object in log lines.
func key(kind, ns, name string) string { return fmt.Sprintf("%s %s/%s", kind, ns, name) }
