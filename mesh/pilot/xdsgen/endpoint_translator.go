package xdsgen

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// ClusterLoadAssignment renders a cluster's endpoints; each carries its workload, pod labels and
// identity in metadata, which metrics, subset selection and mutual TLS need, and an endpoint
// with a sidecar the transport socket match that makes Envoy originate mutual TLS to it.
func ClusterLoadAssignment(cl *config.Cluster) *endpointv3.ClusterLoadAssignment {
	lle := &endpointv3.LocalityLbEndpoints{Locality: &corev3.Locality{}}
	for _, e := range cl.Endpoints {
		fields := map[string]any{xdsnames.KeyWorkload: e.Workload, xdsnames.KeyLabels: labelsValue(e.Labels)}
		if e.Identity != "" {
			fields[xdsnames.KeyIdentity] = e.Identity
		}
		md := metadata(fields)
		if e.MeshTLS {
			md.FilterMetadata[TransportSocketMatchKey] = toStruct(map[string]any{"tlsMode": xdsnames.TLSModeIstio})
		}
		lle.LbEndpoints = append(lle.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: socketAddress(e.Addr.Addr(), e.Addr.Port()),
			}},
			Metadata: md,
		})
	}
	return &endpointv3.ClusterLoadAssignment{ClusterName: cl.Name, Endpoints: []*endpointv3.LocalityLbEndpoints{lle}}
}
