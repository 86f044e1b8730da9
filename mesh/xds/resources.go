package xds

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/meshlab/meshlab/mesh/pilot/xdsgen"
)

// FromGenerated indexes rendered resources by name, as a client would hold them.
func FromGenerated(g xdsgen.Resources) *Resources {
	r := newResources()
	for _, x := range g[resource.ListenerType] {
		l := x.(*listenerv3.Listener)
		r.Listeners[l.GetName()] = l
	}
	for _, x := range g[resource.RouteType] {
		rc := x.(*routev3.RouteConfiguration)
		r.Routes[rc.GetName()] = rc
	}
	for _, x := range g[resource.ClusterType] {
		c := x.(*clusterv3.Cluster)
		r.Clusters[c.GetName()] = c
	}
	for _, x := range g[resource.EndpointType] {
		e := x.(*endpointv3.ClusterLoadAssignment)
		r.Endpoints[e.GetClusterName()] = e
	}
	return r
}

func newResources() *Resources {
	return &Resources{
		Listeners: map[string]*listenerv3.Listener{},
		Routes:    map[string]*routev3.RouteConfiguration{},
		Clusters:  map[string]*clusterv3.Cluster{},
		Endpoints: map[string]*endpointv3.ClusterLoadAssignment{},
	}
}
