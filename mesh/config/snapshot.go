// Package config is meshlab's routing config model: the one input type a sidecar proxy consumes
// (Snapshot), its loader from multi-document YAML files (Istio resources as they are, plus meshlab's
// Proxy and Registry documents), validation, and the compiler that turns a Snapshot into the
// immutable per-proxy routing Table. The control plane later feeds the same Snapshot from xDS, so
// this file is the contract between the two; docs/proxy-config.md documents the YAML form.
package config

import (
	"net/netip"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
)

// Snapshot is everything one proxy needs to route: who it is, the service registry, and the Istio
// routing resources. A Snapshot is complete by construction; the proxy applies it atomically.
type Snapshot struct {
	Proxy            Proxy
	Services         []Service
	VirtualServices  []*networkingv1.VirtualService
	DestinationRules []*networkingv1.DestinationRule
	// PeerAuthentications decide what the proxy accepts inbound (mutual TLS, plaintext, or both).
	PeerAuthentications []*securityv1.PeerAuthentication
	// InboundTLS, when set, is the inbound policy already resolved for this proxy (by the control
	// plane, which sends it resolved); PeerAuthentications are then not consulted.
	InboundTLS *InboundTLS
	// Credentials are the TLS credentials DestinationRules name with credentialName, by
	// "namespace/name" of their Kubernetes Secret.
	Credentials map[string]Credential
	Tracing     Tracing
	// AuthorizationPolicies and RequestAuthentications are the security policies in view: from
	// files, every one (the proxy picks those that select it); from the control plane, only those
	// that select this proxy (PoliciesSelected).
	AuthorizationPolicies  []*securityv1.AuthorizationPolicy
	RequestAuthentications []*securityv1.RequestAuthentication
	// PoliciesSelected says the control plane already chose the policies for this proxy (it knows
	// the pod's labels from the API server), so the proxy applies all of them as they are.
	PoliciesSelected bool
}

// Credential is a TLS credential from a Secret: Istio's keys cert, key and cacert (or the
// kubernetes.io/tls keys tls.crt, tls.key and ca.crt), in PEM.
type Credential struct {
	Cert, Key, CA []byte
}

// Proxy identifies the workload this sidecar runs beside.
type Proxy struct {
	ID        string            `json:"id"`        // e.g. reviews-v1-0.default; defaults to workload.namespace
	Namespace string            `json:"namespace"` // defaults to "default"
	Workload  string            `json:"workload"`  // e.g. reviews-v1
	Labels    map[string]string `json:"labels"`    // pod labels: app, version, ...
	IP        netip.Addr        `json:"ip"`        // the pod's address; inbound original destinations match it
	// ServerFirstPorts are destination ports whose servers speak first (MySQL, SMTP...): the proxy
	// does not wait for client bytes to sniff the protocol there, it splices TCP at once.
	ServerFirstPorts []uint16 `json:"serverFirstPorts,omitempty"`
}

// Service is one registry entry: a Kubernetes-like service with its virtual IPs, ports and endpoints.
type Service struct {
	Name      string       `json:"name"`
	Namespace string       `json:"namespace"` // defaults to "default"
	VIPs      []netip.Addr `json:"vips,omitempty"`
	Ports     []Port       `json:"ports"`
	Endpoints []Endpoint   `json:"endpoints"`
}

// Port is a service port. Protocol follows Istio's port naming: HTTP, HTTP2, GRPC, TCP, or empty
// for "sniff the protocol" (also what a name without a known prefix means).
type Port struct {
	Name       string `json:"name,omitempty"`
	Port       uint16 `json:"port"`
	TargetPort uint16 `json:"targetPort,omitempty"` // the endpoint port; defaults to Port
	Protocol   string `json:"protocol,omitempty"`
}

// Endpoint is one pod behind a service. A pod that runs a meshlab sidecar carries the label
// security.istio.io/tlsMode=istio (the injector sets it), and clients originate mutual TLS to it.
type Endpoint struct {
	Address  netip.Addr        `json:"address"`
	Port     uint16            `json:"port,omitempty"` // overrides the service port's TargetPort
	Labels   map[string]string `json:"labels,omitempty"`
	Workload string            `json:"workload,omitempty"`
	// Identity is the SPIFFE ID the endpoint's certificate must carry (its pod's ServiceAccount);
	// empty accepts any identity of the mesh's trust domain.
	Identity string `json:"identity,omitempty"`
	// MTLSDisabledPorts are endpoint ports whose own PeerAuthentication disables mutual TLS, as
	// the control plane resolved them: auto mTLS sends plaintext there.
	MTLSDisabledPorts []uint16 `json:"mtlsDisabledPorts,omitempty"`
}

// Tracing says where spans go. An empty ZipkinURL disables span reporting (headers still propagate).
type Tracing struct {
	ZipkinURL     string  `json:"zipkinURL,omitempty"` // e.g. http://127.0.0.1:9411/api/v2/spans
	SamplePercent float64 `json:"samplePercent"`       // 0..100
}

// ClusterDomain is the DNS suffix of fully qualified service names, as in Kubernetes.
const ClusterDomain = "svc.cluster.local"

// DefaultNamespace applies to documents and services that name none.
const DefaultNamespace = "default"

// FQDN is the service's fully qualified host name, the key routes and metrics use.
func (s *Service) FQDN() string { return s.Name + "." + s.Namespace + "." + ClusterDomain }

// EndpointPort is the port to dial for endpoint e of service port p.
func (p Port) EndpointPort(e Endpoint) uint16 {
	switch {
	case e.Port != 0:
		return e.Port
	case p.TargetPort != 0:
		return p.TargetPort
	}
	return p.Port
}
