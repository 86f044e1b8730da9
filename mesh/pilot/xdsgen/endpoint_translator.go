package xdsgen

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// ClusterLoadAssignment renders a cluster's endpoints; each carries its workload and pod labels
// in metadata, which metrics and subset selection need.
func ClusterLoadAssignment(cl *config.Cluster) *endpointv3.ClusterLoadAssignment {
	lle := &endpointv3.LocalityLbEndpoints{Locality: &corev3.Locality{}}
	for _, e := range cl.Endpoints {
		lle.LbEndpoints = append(lle.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: socketAddress(e.Addr.Addr(), e.Addr.Port()),
			}},
			Metadata: metadata(map[string]any{xdsnames.KeyWorkload: e.Workload, xdsnames.KeyLabels: labelsValue(e.Labels)}),
		})
	}
	return &endpointv3.ClusterLoadAssignment{ClusterName: cl.Name, Endpoints: []*endpointv3.LocalityLbEndpoints{lle}}
}
