// Package model is the control plane's input: one State of the mesh (services with endpoints, and
// the Istio routing resources), fed by a Registry. Two registries implement it: the file registry
// in mesh/pilot/registry (the same YAML files `meshlab mesh proxy --config` reads, watched), and
// the Kubernetes registry (informers on Services, EndpointSlices, Pods, VirtualServices,
// DestinationRules and the legacy RouteRule) in its own package.
//
// The seam, for implementers of Registry:
//
//   - Run blocks until ctx ends (returning nil) or the registry fails for good (returning the
//     error). It calls push with a complete State once it has synced, and again after every change.
//     Each State is a whole new value: the pilot keeps it and never mutates it, and the registry
//     must not mutate a State after pushing it.
//   - push may be called often (every informer event): the pilot debounces (quiet period 100 ms,
//     at most 1 s) so a registry needs no batching of its own.
//   - push is never called concurrently (one goroutine per Run).
//   - Services use config.Service: FQDN is name.namespace.svc.cluster.local, VIPs are the
//     ClusterIPs, Endpoints carry each ready pod's address, port, workload and pod labels (the
//     labels DestinationRule subsets select on).
//   - Pods maps a pod IP to that pod's identity, so the pilot can fill in labels and namespace of a
//     proxy that connects with only its IP (Kubernetes), and `mesh status` can name workloads.
//     May be nil (the file registry knows no pods beyond endpoints).
package model

import (
	"context"
	"net/netip"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/meshlab/meshlab/mesh/config"
)

// Registry feeds the control plane. See the package comment for the contract.
type Registry interface {
	Run(ctx context.Context, push func(State)) error
}

// State is one consistent view of the mesh.
type State struct {
	Services         []config.Service
	VirtualServices  []*networkingv1.VirtualService
	DestinationRules []*networkingv1.DestinationRule
	// PeerAuthentications say what each workload accepts inbound.
	PeerAuthentications []*securityv1.PeerAuthentication
	// Credentials are the Secrets DestinationRules name with credentialName, by "namespace/name".
	Credentials map[string]config.Credential
	// AuthorizationPolicies and RequestAuthentications are every policy in the mesh; the
	// control plane sends each proxy those that select it.
	AuthorizationPolicies  []*securityv1.AuthorizationPolicy
	RequestAuthentications []*securityv1.RequestAuthentication
	// Rejected lists policies the registry could not apply as stored, with the version it keeps
	// instead (the last good one, or deny-all for one never good), for `mesh status`.
	Rejected []string
	// Pods is keyed by pod IP (unmapped); nil when the registry knows no pods.
	Pods map[netip.Addr]Pod
}

// Pod is the identity of one workload instance, as a proxy's node metadata would give it.
type Pod struct {
	Name      string
	Namespace string
	Workload  string // e.g. reviews-v1 (the Deployment, or the pod name without its hash)
	Labels    map[string]string
	// ServiceAccount is the pod's (its SPIFFE identity's) and UID tells a pod from an earlier one
	// of the same name; both come from the apiserver and are empty in the file registry.
	ServiceAccount string
	UID            string
	IP             netip.Addr
}
