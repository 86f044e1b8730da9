// Package xdsgen renders one proxy's compiled routing Table into Envoy xDS v3 resources: one
// Listener and one RouteConfiguration per service port, one Cluster and one ClusterLoadAssignment
// per cluster. Each resource type has its own small pure translator; Generate gathers them.
//
// Envoy's own fields carry everything Envoy has a field for (addresses, matches, weights, retries,
// timeouts, faults, LB policy, outlier detection, circuit breakers). What Envoy has no field for
// but meshlab's model needs (a service's short name and port name, an endpoint's workload and
// labels, a subset's label selector) travels in filter_metadata under xdsnames.MetadataKey, as
// Istio's pilot does with its "istio" key. mesh/xds translates the resources back into a
// config.Snapshot; the names both sides use are in mesh/xds/xdsnames.
package xdsgen

import (
	"maps"
	"slices"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/meshlab/meshlab/mesh/config"
)

// Resources is one proxy's rendered configuration, by xDS type URL, each list sorted by name.
type Resources map[resource.Type][]types.Resource

// Generate renders t, compiled for one proxy from snap (whose Services give the port names and
// target ports a Table does not keep).
func Generate(snap *config.Snapshot, t *config.Table) Resources {
	ports := servicePorts(snap)
	out := Resources{
		resource.ListenerType: nil,
		resource.RouteType:    nil,
		resource.ClusterType:  nil,
		resource.EndpointType: nil,
		// The security policies of snap are the ones selected for this proxy.
		resource.ExtensionConfigType: nil,
	}
	for _, h := range t.Hosts {
		svc := ports[h.FQDN]
		out[resource.ListenerType] = append(out[resource.ListenerType], Listener(h, svc.service, svc.ports[h.Port], svc.index[h.Port]))
		out[resource.RouteType] = append(out[resource.RouteType], RouteConfiguration(h, svc.service))
	}
	out[resource.ListenerType] = append(out[resource.ListenerType], InboundListener(t.Inbound))
	for _, s := range Secrets(t) {
		out[resource.SecretType] = append(out[resource.SecretType], s)
	}
	for _, name := range slices.Sorted(maps.Keys(t.Clusters)) {
		cl := t.Clusters[name]
		sel, defined := subsetSelector(snap, cl)
		out[resource.ClusterType] = append(out[resource.ClusterType], Cluster(cl, sel, defined, t.Credentials))
		out[resource.EndpointType] = append(out[resource.EndpointType], ClusterLoadAssignment(cl))
	}
	for _, p := range snap.AuthorizationPolicies {
		out[resource.ExtensionConfigType] = append(out[resource.ExtensionConfigType], AuthorizationPolicy(p))
	}
	for _, ra := range snap.RequestAuthentications {
		out[resource.ExtensionConfigType] = append(out[resource.ExtensionConfigType], RequestAuthentication(ra))
	}
	return out
}

type serviceInfo struct {
	service *config.Service
	ports   map[uint16]config.Port
	index   map[uint16]int
}

func servicePorts(snap *config.Snapshot) map[string]serviceInfo {
	out := map[string]serviceInfo{}
	for i := range snap.Services {
		s := &snap.Services[i]
		ns := s.Namespace
		if ns == "" {
			ns = config.DefaultNamespace
		}
		fq := s.Name + "." + ns + "." + config.ClusterDomain
		info := serviceInfo{service: s, ports: map[uint16]config.Port{}, index: map[uint16]int{}}
		for i, p := range s.Ports {
			info.ports[p.Port] = p
			info.index[p.Port] = i
		}
		out[fq] = info
	}
	return out
}
