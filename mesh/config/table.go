package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Table is the compiled, immutable routing table of one proxy. The proxy swaps whole Tables on a
// config change, so nothing in it is ever mutated after Compile returns; per-endpoint state
// (load-balancer counters, outlier ejections) lives in the proxy, keyed by Cluster.Name.
type Table struct {
	Proxy   Proxy
	Tracing Tracing
	Inbound InboundTLS // what the proxy accepts on its inbound ports
	// Credentials are the Secrets' credentials the clusters' TLS names (ClientTLS.CredentialName).
	Credentials map[string]Credential
	Hosts       []*Host             // every service port, sorted by FQDN then port
	Clusters    map[string]*Cluster // by Name
	// Warnings are things that compile but will not work as the user probably meant (a subset
	// that selects no endpoint, a VirtualService for an unknown host).
	Warnings []string

	byName map[string]*Host         // "reviews.default.svc.cluster.local:9080", also short forms
	byDst  map[netip.AddrPort]*Host // VIP:port
	byPod  map[netip.AddrPort]*Host // endpoint address:port (forwarded to that endpoint as is)
	local  map[uint16]*Host         // this proxy's own service ports, for inbound labels
}

// Protocol is how the proxy treats a port.
type Protocol string

const (
	ProtocolAuto  Protocol = ""      // sniff HTTP/1.x and h2c, else TCP
	ProtocolHTTP  Protocol = "HTTP"  // HTTP/1.x (h2c prior knowledge is still detected)
	ProtocolHTTP2 Protocol = "HTTP2" // h2c
	ProtocolGRPC  Protocol = "GRPC"
	ProtocolTCP   Protocol = "TCP" // never parsed
)

// Host is one service port and its ordered HTTP routes (first match wins).
type Host struct {
	Service   string // short name, e.g. reviews
	Namespace string
	FQDN      string // reviews.default.svc.cluster.local
	Port      uint16
	Protocol  Protocol
	Routes    []*Route
	// VirtualService names the resource the routes came from ("" = the default route).
	VirtualService string
	// DefaultCluster receives TCP traffic and pinned pod-IP traffic.
	DefaultCluster *Cluster
}

// Route is one HTTP route: any of Matches (ORed; empty = match all), then a weighted destination.
type Route struct {
	Name         string
	Matches      []*Match
	Destinations []WeightedCluster
	TotalWeight  int
	Timeout      time.Duration // 0 = none, as in Istio
	Retry        Retry
	Fault        *Fault
}

// WeightedCluster is one destination of a route with its share of TotalWeight.
type WeightedCluster struct {
	Weight  int
	Cluster *Cluster
}

// Retry is a route's retry policy; Attempts is the number of retries after the first try.
type Retry struct {
	Attempts      int
	PerTryTimeout time.Duration
	On            RetryOn
}

// Fault injects a delay and/or an abort into a share of requests (percentages 0..100).
type Fault struct {
	DelayPercent float64
	Delay        time.Duration
	AbortPercent float64
	AbortStatus  int
}

// LBPolicy is the load-balancing algorithm of a cluster.
type LBPolicy string

const (
	LBLeastRequest LBPolicy = "LEAST_REQUEST" // Istio's default
	LBRoundRobin   LBPolicy = "ROUND_ROBIN"
	LBRandom       LBPolicy = "RANDOM"
)

// Cluster is a set of endpoints: a service port, optionally narrowed to a subset.
type Cluster struct {
	Name      string // Istio's form: outbound|9080|v1|reviews.default.svc.cluster.local
	FQDN      string
	Service   string
	Namespace string
	Subset    string
	Port      uint16
	Protocol  Protocol
	Endpoints []ClusterEndpoint
	LB        LBPolicy
	Outlier   *Outlier // nil = no outlier detection
	Pool      Pool
	TLS       ClientTLS
}

// ClusterEndpoint is an address to dial and what metrics should say about it.
type ClusterEndpoint struct {
	Addr     netip.AddrPort
	Workload string
	Labels   map[string]string
	MeshTLS  bool   // runs a sidecar (label security.istio.io/tlsMode=istio)
	Identity string // the SPIFFE ID its certificate must carry; "" = any in the trust domain
}

// TLSMode is how a cluster's upstream connections are secured (DestinationRule
// trafficPolicy.tls.mode).
type TLSMode string

const (
	// TLSAuto is no tls setting: mutual TLS with the mesh's certificates to endpoints that run a
	// sidecar, plaintext to the rest (Istio's auto mTLS).
	TLSAuto        TLSMode = ""
	TLSDisable     TLSMode = "DISABLE"
	TLSIstioMutual TLSMode = "ISTIO_MUTUAL" // the mesh's mutual TLS to every endpoint
	TLSSimple      TLSMode = "SIMPLE"       // TLS to a server outside the mesh
	TLSMutual      TLSMode = "MUTUAL"       // TLS with a client certificate of the user's own
)

// ClientTLS is a cluster's upstream TLS.
type ClientTLS struct {
	Mode TLSMode
	SNI  string
	// SubjectAltNames the server's certificate must carry one of (SIMPLE, MUTUAL; for the mesh's
	// mutual TLS the endpoints' identities are checked).
	SubjectAltNames []string
	// Files holding the trust anchors and the client certificate and key (SIMPLE, MUTUAL).
	CACertificates, ClientCertificate, PrivateKey string
	// CredentialName is the Secret ("namespace/name", in the DestinationRule's namespace) holding
	// them instead (Table.Credentials).
	CredentialName     string
	InsecureSkipVerify bool
}

// MeshTLSTo reports whether connections to e use the mesh's mutual TLS.
func (cl *Cluster) MeshTLSTo(e ClusterEndpoint) bool {
	switch cl.TLS.Mode {
	case TLSAuto:
		return e.MeshTLS
	case TLSIstioMutual:
		return true
	}
	return false
}

// TLSModeLabel and TLSModeIstio mark a pod that runs a sidecar (Istio's label).
const (
	TLSModeLabel = "security.istio.io/tlsMode"
	TLSModeIstio = "istio"
)

// Outlier is passive health checking: eject an endpoint after consecutive errors.
type Outlier struct {
	Consecutive5xx     int // 0 = off
	ConsecutiveGateway int // 502/503/504 and connect failures; 0 = off
	Interval           time.Duration
	BaseEjectionTime   time.Duration
	MaxEjectionPercent int
	MinHealthPercent   int
}

// Pool bounds upstream connections and requests; 0 means unlimited.
type Pool struct {
	MaxConnections           int
	MaxPendingRequests       int
	MaxRequests              int
	MaxRequestsPerConnection int
	MaxRetries               int
	ConnectTimeout           time.Duration
	IdleTimeout              time.Duration
}

// ByDestination finds the service for a captured connection's original destination. pinned is
// true when dst is a pod address: such traffic goes to that very endpoint, as Istio does for
// direct pod calls, and only metrics and tracing use the service.
func (t *Table) ByDestination(dst netip.AddrPort) (h *Host, pinned bool) {
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	if h := t.byDst[dst]; h != nil {
		return h, false
	}
	if h := t.byPod[dst]; h != nil {
		return h, true
	}
	return nil, false
}

// PodEndpoint finds the endpoint at a pod address of the registry and the service-wide cluster
// it belongs to (pinned traffic goes to it as is, with the TLS that cluster would use).
func (t *Table) PodEndpoint(dst netip.AddrPort) (*Cluster, ClusterEndpoint, bool) {
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	h := t.byPod[dst]
	if h == nil || h.DefaultCluster == nil {
		return nil, ClusterEndpoint{}, false
	}
	for _, e := range h.DefaultCluster.Endpoints {
		if e.Addr == dst {
			return h.DefaultCluster, e, true
		}
	}
	return nil, ClusterEndpoint{}, false
}

// ByAuthority finds the service an HTTP request names in its Host/:authority, the way Istio's
// per-port route configuration matches virtual hosts: short name, name.namespace, FQDN, or VIP,
// with or without the port. port is the destination port when the authority has none.
func (t *Table) ByAuthority(authority string, port uint16) *Host {
	host := authority
	if h, p, err := net.SplitHostPort(authority); err == nil {
		host = h
		if n, err := strconv.ParseUint(p, 10, 16); err == nil {
			port = uint16(n)
		}
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if h := t.byName[host+":"+strconv.Itoa(int(port))]; h != nil {
		return h
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return t.byDst[netip.AddrPortFrom(a.Unmap(), port)]
	}
	return nil
}

// Local returns this proxy's own service on port (inbound traffic), or nil.
func (t *Table) Local(port uint16) *Host { return t.local[port] }
