package xdsgen

import (
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

var lbPolicies = map[config.LBPolicy]clusterv3.Cluster_LbPolicy{
	config.LBLeastRequest: clusterv3.Cluster_LEAST_REQUEST,
	config.LBRoundRobin:   clusterv3.Cluster_ROUND_ROBIN,
	config.LBRandom:       clusterv3.Cluster_RANDOM,
}

// Cluster renders one cluster: EDS over ADS, its LB policy, connection pool as circuit breakers
// and HTTP protocol options, and outlier detection. selector is the subset's label selector (nil
// for the service-wide cluster or an undefined subset; metadata subsetDefined tells the two apart).
func Cluster(cl *config.Cluster, selector map[string]string, subsetDefined bool, credentials map[string]config.Credential) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 cl.Name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource(), ServiceName: cl.Name},
		LbPolicy:             lbPolicies[cl.LB],
		Metadata: metadata(map[string]any{
			xdsnames.KeyFQDN:          cl.FQDN,
			xdsnames.KeyService:       cl.Service,
			xdsnames.KeyNamespace:     cl.Namespace,
			xdsnames.KeySubset:        cl.Subset,
			xdsnames.KeySubsetDefined: subsetDefined,
			xdsnames.KeySubsetLabels:  labelsValue(selector),
			xdsnames.KeyPort:          float64(cl.Port),
			xdsnames.KeyProtocol:      string(cl.Protocol),
		}),
	}
	if cl.Pool.ConnectTimeout > 0 {
		c.ConnectTimeout = durationpb.New(cl.Pool.ConnectTimeout)
	}
	clusterTLS(c, cl, credentials)
	if cl.TLS.CredentialName != "" {
		// Envoy's SDS names say which Secret only when it has a certificate or a CA to send.
		c.Metadata.FilterMetadata[xdsnames.MetadataKey].Fields[xdsnames.KeyCredential] = structpb.NewStringValue(cl.TLS.CredentialName)
	}
	c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
		MaxConnections:     u32(cl.Pool.MaxConnections),
		MaxPendingRequests: u32(cl.Pool.MaxPendingRequests),
		MaxRequests:        u32(cl.Pool.MaxRequests),
		MaxRetries:         u32(cl.Pool.MaxRetries),
	}}}
	opts := &upstreamhttpv3.HttpProtocolOptions{CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{
		MaxRequestsPerConnection: u32(cl.Pool.MaxRequestsPerConnection),
	}}
	if cl.Pool.IdleTimeout > 0 {
		opts.CommonHttpProtocolOptions.IdleTimeout = durationpb.New(cl.Pool.IdleTimeout)
	}
	a, _ := anypb.New(opts)
	c.TypedExtensionProtocolOptions = map[string]*anypb.Any{xdsnames.HTTPProtocolOptionsKey: a}
	if o := cl.Outlier; o != nil {
		c.OutlierDetection = &clusterv3.OutlierDetection{
			Consecutive_5Xx:                    u32(o.Consecutive5xx),
			EnforcingConsecutive_5Xx:           enforcing(o.Consecutive5xx),
			ConsecutiveGatewayFailure:          u32(o.ConsecutiveGateway),
			EnforcingConsecutiveGatewayFailure: enforcing(o.ConsecutiveGateway),
			Interval:                           durationpb.New(o.Interval),
			BaseEjectionTime:                   durationpb.New(o.BaseEjectionTime),
			MaxEjectionPercent:                 u32(o.MaxEjectionPercent),
		}
		// Istio maps minHealthPercent to Envoy's panic threshold the same way.
		c.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{HealthyPanicThreshold: &typev3.Percent{Value: float64(o.MinHealthPercent)}}
	}
	return c
}

// enforcing switches an outlier condition on (100 %) or off (0 %), as Istio does for a zero count.
func enforcing(n int) *wrapperspb.UInt32Value {
	if n == 0 {
		return wrapperspb.UInt32(0)
	}
	return wrapperspb.UInt32(100)
}

func u32(n int) *wrapperspb.UInt32Value { return wrapperspb.UInt32(uint32(n)) }

// subsetSelector finds the labels a subset cluster selects with, the way Compile finds them: the
// last DestinationRule for the cluster's host, then the subset by name.
func subsetSelector(snap *config.Snapshot, cl *config.Cluster) (map[string]string, bool) {
	if cl.Subset == "" {
		return nil, false
	}
	var dr *networkingv1.DestinationRule
	for _, d := range snap.DestinationRules {
		if resolve(d.Spec.Host, d.Namespace) == cl.FQDN {
			dr = d
		}
	}
	if dr == nil {
		return nil, false
	}
	var found map[string]string
	ok := false
	for _, s := range dr.Spec.Subsets {
		if s.Name == cl.Subset {
			found, ok = s.Labels, true
		}
	}
	return found, ok
}

// resolve turns a host as written in a resource of namespace ns into an FQDN, as Compile does.
func resolve(host, ns string) string {
	if ns == "" {
		ns = config.DefaultNamespace
	}
	host = strings.ToLower(host)
	switch strings.Count(host, ".") {
	case 0:
		return host + "." + ns + "." + config.ClusterDomain
	case 1:
		return host + "." + config.ClusterDomain
	}
	if strings.HasSuffix(host, ".svc") {
		return host + ".cluster.local"
	}
	return host
}
