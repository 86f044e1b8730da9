// Package xdsnames is what meshlab's control plane and its sidecar agree on beyond Envoy's own
// fields: the names of listeners and routes, the filter_metadata namespace and keys that carry
// facts Envoy has no field for, Envoy's names for pseudo-headers and extension options, and how
// a proxy's identity travels in the xDS Node.
//
// mesh/pilot/xdsgen writes these names and mesh/xds reads them back. The package lives with the
// client and imports nothing of the control plane, so the sidecar (cmd/meshlab-proxy) links no
// control-plane code; mesh/pilot imports it. It is its own package rather than part of mesh/xds
// because mesh/xds's tests render resources with xdsgen, which would then import mesh/xds: a cycle.
package xdsnames

import "strconv"

// MetadataKey is the filter_metadata namespace of meshlab's own facts, as Istio's pilot uses
// its "istio" key.
const MetadataKey = "meshlab"

// Keys inside filter_metadata[MetadataKey], by the resource that carries them.
const (
	// Listeners (one per service port) and clusters.
	KeyService   = "service"   // the service's short name
	KeyNamespace = "namespace" // the service's namespace
	KeyProtocol  = "protocol"  // the port's protocol, as config.Protocol

	// Listeners.
	KeyPortName   = "portName"
	KeyTargetPort = "targetPort"
	KeyPortIndex  = "portIndex" // the registry's port order, which orders the proxy's hosts

	// Clusters.
	KeyFQDN          = "fqdn"
	KeySubset        = "subset"
	KeySubsetDefined = "subsetDefined" // tells a defined subset from an undefined one a route names
	KeySubsetLabels  = "subsetLabels"  // the subset's label selector
	KeyPort          = "port"
	KeyCredential    = "credentialName" // the DestinationRule's credentialName, "namespace/name"

	// Endpoints.
	KeyWorkload = "workload"
	KeyLabels   = "labels"   // the pod's labels
	KeyIdentity = "identity" // the SPIFFE ID the endpoint's certificate must carry

	// Route configurations.
	KeyVirtualService = "virtualService" // the VirtualService the routes came from

	// Routes. An Istio route with several (ORed) match blocks becomes one Envoy route per block.
	KeyRoute    = "route"    // the Istio route's index, which regroups the blocks
	KeyCatchAll = "catchAll" // the route has no match block
	KeyMatch    = "match"    // the match block's name
	KeyAnyPath  = "anyPath"  // the block has no uri match (Envoy needs a path: it gets prefix "/")
)

// RouteName is the name of the Listener and RouteConfiguration of a service port.
func RouteName(fqdn string, port uint16) string {
	return fqdn + ":" + strconv.Itoa(int(port))
}

// Pseudo-headers that carry Istio's method, authority and scheme matches, as in Envoy.
const (
	HeaderMethod    = ":method"
	HeaderAuthority = ":authority"
	HeaderScheme    = ":scheme"
)

// HTTPProtocolOptionsKey is where Envoy reads a cluster's upstream HTTP options.
const HTTPProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
