package xds

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

var lbFromEnvoy = map[clusterv3.Cluster_LbPolicy]v1alpha3.LoadBalancerSettings_SimpleLB{
	clusterv3.Cluster_LEAST_REQUEST: v1alpha3.LoadBalancerSettings_LEAST_REQUEST,
	clusterv3.Cluster_ROUND_ROBIN:   v1alpha3.LoadBalancerSettings_ROUND_ROBIN,
	clusterv3.Cluster_RANDOM:        v1alpha3.LoadBalancerSettings_RANDOM,
}

// destinationRules rebuilds one DestinationRule per host from its clusters: the service-wide
// cluster gives the rule's traffic policy, each defined subset its labels and (complete) policy.
func destinationRules(res *Resources) ([]*networkingv1.DestinationRule, error) {
	byHost := map[string]*networkingv1.DestinationRule{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(res.Clusters)) {
		c := res.Clusters[name]
		_, subset, fqdn, err := parseClusterName(c.GetName())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tp, err := trafficPolicy(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", name, err))
			continue
		}
		dr := byHost[fqdn]
		if dr == nil {
			dr = &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: "xds-" + fqdn, Namespace: config.DefaultNamespace}}
			dr.Spec.Host = fqdn
			byHost[fqdn] = dr
		}
		if t := tp.GetTls(); t != nil {
			if ns, name, ok := strings.Cut(t.CredentialName, "/"); ok {
				// A credential is the rule's namespace's Secret: the rebuilt rule lives there.
				dr.Namespace, t.CredentialName = ns, name
			}
		}
		md := meta(c.GetMetadata())
		switch {
		case subset == "":
			if c.GetConnectTimeout() != nil { // a port the service lacks has no policy applied
				dr.Spec.TrafficPolicy = tp
			}
		case md[xdsnames.KeySubsetDefined].GetBoolValue():
			dr.Spec.Subsets = append(dr.Spec.Subsets, &v1alpha3.Subset{Name: subset, Labels: labels(md, xdsnames.KeySubsetLabels), TrafficPolicy: tp})
		}
	}
	var out []*networkingv1.DestinationRule
	for _, h := range slices.Sorted(maps.Keys(byHost)) {
		out = append(out, byHost[h])
	}
	return out, errors.Join(errs...)
}

// trafficPolicy states every setting a compiled Cluster has, explicitly, so that compiling it
// again applies no default the control plane did not already apply.
func trafficPolicy(c *clusterv3.Cluster) (*v1alpha3.TrafficPolicy, error) {
	lb, ok := lbFromEnvoy[c.GetLbPolicy()]
	if !ok {
		return nil, fmt.Errorf("lb_policy %s is not supported", c.GetLbPolicy())
	}
	tp := &v1alpha3.TrafficPolicy{
		LoadBalancer: &v1alpha3.LoadBalancerSettings{LbPolicy: &v1alpha3.LoadBalancerSettings_Simple{Simple: lb}},
		ConnectionPool: &v1alpha3.ConnectionPoolSettings{
			Tcp:  &v1alpha3.ConnectionPoolSettings_TCPSettings{ConnectTimeout: orZero(c.GetConnectTimeout())},
			Http: &v1alpha3.ConnectionPoolSettings_HTTPSettings{},
		},
	}
	if th := c.GetCircuitBreakers().GetThresholds(); len(th) > 0 {
		tp.ConnectionPool.Tcp.MaxConnections = int32(th[0].GetMaxConnections().GetValue())
		tp.ConnectionPool.Http.Http1MaxPendingRequests = int32(th[0].GetMaxPendingRequests().GetValue())
		tp.ConnectionPool.Http.Http2MaxRequests = int32(th[0].GetMaxRequests().GetValue())
		tp.ConnectionPool.Http.MaxRetries = int32(th[0].GetMaxRetries().GetValue())
	}
	if a := c.GetTypedExtensionProtocolOptions()[xdsnames.HTTPProtocolOptionsKey]; a != nil {
		var opts upstreamhttpv3.HttpProtocolOptions
		if err := a.UnmarshalTo(&opts); err != nil {
			return nil, fmt.Errorf("http protocol options: %w", err)
		}
		common := opts.GetCommonHttpProtocolOptions()
		tp.ConnectionPool.Http.MaxRequestsPerConnection = int32(common.GetMaxRequestsPerConnection().GetValue())
		tp.ConnectionPool.Http.IdleTimeout = orZero(common.GetIdleTimeout())
	}
	tls, err := clientTLS(c)
	if err != nil {
		return nil, err
	}
	tp.Tls = tls
	if od := c.GetOutlierDetection(); od != nil {
		tp.OutlierDetection = &v1alpha3.OutlierDetection{
			Consecutive_5XxErrors:    wrapperspb.UInt32(enforced(od.GetConsecutive_5Xx(), od.GetEnforcingConsecutive_5Xx())),
			ConsecutiveGatewayErrors: wrapperspb.UInt32(enforced(od.GetConsecutiveGatewayFailure(), od.GetEnforcingConsecutiveGatewayFailure())),
			Interval:                 orZero(od.GetInterval()),
			BaseEjectionTime:         orZero(od.GetBaseEjectionTime()),
			MaxEjectionPercent:       int32(od.GetMaxEjectionPercent().GetValue()),
			MinHealthPercent:         int32(c.GetCommonLbConfig().GetHealthyPanicThreshold().GetValue()),
		}
	}
	return tp, nil
}

func enforced(n, enforcing *wrapperspb.UInt32Value) uint32 {
	if enforcing != nil && enforcing.GetValue() == 0 {
		return 0
	}
	return n.GetValue()
}

func orZero(d *durationpb.Duration) *durationpb.Duration {
	if d == nil {
		return durationpb.New(0)
	}
	return d
}
