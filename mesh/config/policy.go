package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"istio.io/api/networking/v1alpha3"
)

// applyPolicy and its helpers turn DestinationRule traffic policies and port names into a
// Cluster's plain settings, applying Istio's defaults.

func applyPolicy(cl *Cluster, tp *v1alpha3.TrafficPolicy) {
	if tp == nil {
		return
	}
	if tp.LoadBalancer != nil {
		cl.LB, _ = lbPolicyOf(tp.LoadBalancer)
	}
	if t := tp.Tls; t != nil {
		cl.TLS = ClientTLS{Mode: tlsModes[t.Mode], SNI: t.Sni, SubjectAltNames: t.SubjectAltNames,
			CACertificates: t.CaCertificates, ClientCertificate: t.ClientCertificate, PrivateKey: t.PrivateKey,
			CredentialName: t.CredentialName, InsecureSkipVerify: t.InsecureSkipVerify.GetValue()}
	}
	if cp := tp.ConnectionPool; cp != nil {
		if t := cp.Tcp; t != nil {
			cl.Pool.MaxConnections = int(t.MaxConnections)
			cl.Pool.ConnectTimeout = durOr(t.ConnectTimeout, defaultConnectTimeout)
		}
		if h := cp.Http; h != nil {
			cl.Pool.MaxPendingRequests = int(h.Http1MaxPendingRequests)
			cl.Pool.MaxRequests = int(h.Http2MaxRequests)
			cl.Pool.MaxRequestsPerConnection = int(h.MaxRequestsPerConnection)
			cl.Pool.MaxRetries = int(h.MaxRetries)
			cl.Pool.IdleTimeout = durOr(h.IdleTimeout, 0)
		}
	}
	if od := tp.OutlierDetection; od != nil {
		o := &Outlier{
			Consecutive5xx:     defaultConsecutive5xx,
			Interval:           durOr(od.Interval, defaultInterval),
			BaseEjectionTime:   durOr(od.BaseEjectionTime, defaultBaseEjection),
			MaxEjectionPercent: defaultMaxEjectionPct,
			MinHealthPercent:   int(od.MinHealthPercent),
		}
		if od.Consecutive_5XxErrors != nil {
			o.Consecutive5xx = int(od.Consecutive_5XxErrors.Value)
		} else if n := legacyConsecutiveErrors(od); n != 0 {
			o.Consecutive5xx = n
		}
		if od.ConsecutiveGatewayErrors != nil {
			o.ConsecutiveGateway = int(od.ConsecutiveGatewayErrors.Value)
		}
		if od.MaxEjectionPercent != 0 {
			o.MaxEjectionPercent = int(od.MaxEjectionPercent)
		}
		cl.Outlier = o
	}
}

// tlsModes maps the API's client TLS modes to the proxy's.
var tlsModes = map[v1alpha3.ClientTLSSettings_TLSmode]TLSMode{
	v1alpha3.ClientTLSSettings_DISABLE:      TLSDisable,
	v1alpha3.ClientTLSSettings_SIMPLE:       TLSSimple,
	v1alpha3.ClientTLSSettings_MUTUAL:       TLSMutual,
	v1alpha3.ClientTLSSettings_ISTIO_MUTUAL: TLSIstioMutual,
}

func lbPolicyOf(lb *v1alpha3.LoadBalancerSettings) (LBPolicy, error) {
	s, ok := lb.LbPolicy.(*v1alpha3.LoadBalancerSettings_Simple)
	if !ok {
		if lb.LbPolicy == nil {
			return LBLeastRequest, nil
		}
		return "", errors.New("only simple load balancing (ROUND_ROBIN, LEAST_REQUEST, RANDOM) is supported")
	}
	switch s.Simple {
	case v1alpha3.LoadBalancerSettings_UNSPECIFIED, v1alpha3.LoadBalancerSettings_LEAST_REQUEST:
		return LBLeastRequest, nil
	case 1: // LEAST_CONN, deprecated in the API but still accepted: an alias of LEAST_REQUEST
		return LBLeastRequest, nil
	case v1alpha3.LoadBalancerSettings_ROUND_ROBIN:
		return LBRoundRobin, nil
	case v1alpha3.LoadBalancerSettings_RANDOM:
		return LBRandom, nil
	}
	return "", fmt.Errorf("simple: %s is not supported", s.Simple)
}

// protocolOf reads a port's protocol, from Protocol or else from the Istio port-name prefix.
func protocolOf(p Port) (Protocol, error) {
	v := p.Protocol
	if v == "" {
		v, _, _ = strings.Cut(p.Name, "-")
	}
	switch strings.ToUpper(v) {
	case "HTTP":
		return ProtocolHTTP, nil
	case "HTTP2":
		return ProtocolHTTP2, nil
	case "GRPC":
		return ProtocolGRPC, nil
	case "TCP":
		return ProtocolTCP, nil
	}
	if p.Protocol != "" {
		return "", fmt.Errorf("protocol %q: want HTTP, HTTP2, GRPC or TCP", p.Protocol)
	}
	return ProtocolAuto, nil
}

func durOr(d *durationpb.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.AsDuration()
}

// The API deprecates these fields but Istio still honours them, so old manifests keep working.

func legacyConsecutiveErrors(od *v1alpha3.OutlierDetection) int {
	//lint:ignore SA1019 deprecated but still accepted by Istio
	return int(od.ConsecutiveErrors)
}

func legacyDelayPercent(d *v1alpha3.HTTPFaultInjection_Delay) int32 {
	//lint:ignore SA1019 deprecated but still accepted by Istio
	return d.Percent
}
