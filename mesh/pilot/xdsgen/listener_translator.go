package xdsgen

import (
	"net/netip"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// Listener renders one service port as an outbound listener: bound to the service's VIPs (or
// 0.0.0.0 without one), with an HTTP connection manager reading routes over RDS, or a TCP proxy to
// the default cluster for TCP ports. Its metadata names the service and port as the registry
// knows them.
func Listener(h *config.Host, svc *config.Service, p config.Port, portIndex int) *listenerv3.Listener {
	var vips []netip.Addr
	if svc != nil {
		vips = svc.VIPs
	}
	l := &listenerv3.Listener{
		Name:             xdsnames.RouteName(h.FQDN, h.Port),
		Address:          socketAddress(netip.IPv4Unspecified(), h.Port),
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		Metadata: metadata(map[string]any{
			xdsnames.KeyService:    h.Service,
			xdsnames.KeyNamespace:  h.Namespace,
			xdsnames.KeyPortName:   p.Name,
			xdsnames.KeyProtocol:   string(h.Protocol),
			xdsnames.KeyTargetPort: float64(p.TargetPort),
			xdsnames.KeyPortIndex:  float64(portIndex), // the registry's port order, which orders the proxy's hosts
		}),
	}
	for i, vip := range vips {
		if i == 0 {
			l.Address = socketAddress(vip.Unmap(), h.Port)
			continue
		}
		l.AdditionalAddresses = append(l.AdditionalAddresses, &listenerv3.AdditionalAddress{Address: socketAddress(vip.Unmap(), h.Port)})
	}
	if h.Protocol == config.ProtocolTCP {
		l.FilterChains = []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{
			typedFilter(wellknown.TCPProxy, &tcpproxyv3.TcpProxy{
				StatPrefix:       h.DefaultCluster.Name,
				ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: h.DefaultCluster.Name},
			}),
		}}}
		return l
	}
	router, _ := anypb.New(&routerv3.Router{})
	fault, _ := anypb.New(&faultv3.HTTPFault{}) // per-route faults override this empty default
	l.FilterChains = []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{
		typedFilter(wellknown.HTTPConnectionManager, &hcmv3.HttpConnectionManager{
			StatPrefix: l.Name,
			CodecType:  hcmv3.HttpConnectionManager_AUTO,
			RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
				RouteConfigName: xdsnames.RouteName(h.FQDN, h.Port),
				ConfigSource:    adsSource(),
			}},
			HttpFilters: []*hcmv3.HttpFilter{
				{Name: wellknown.Fault, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: fault}},
				{Name: wellknown.Router, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}},
			},
		}),
	}}}
	return l
}

func socketAddress(a netip.Addr, port uint16) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       a.String(),
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
	}}}
}

func typedFilter(name string, cfg proto.Message) *listenerv3.Filter {
	a, _ := anypb.New(cfg) // marshalling a well-formed generated message cannot fail
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a}}
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// metadata wraps meshlab's facts as filter_metadata[xdsnames.MetadataKey]. Values are strings,
// float64, bool or nested map[string]any of those; strings are made valid UTF-8, which protobuf
// requires.
func metadata(fields map[string]any) *corev3.Metadata {
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{xdsnames.MetadataKey: toStruct(fields)}}
}

func toStruct(fields map[string]any) *structpb.Struct {
	s := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(fields))}
	for k, v := range fields {
		switch v := v.(type) {
		case string:
			s.Fields[strings.ToValidUTF8(k, "\uFFFD")] = structpb.NewStringValue(strings.ToValidUTF8(v, "\uFFFD"))
		case float64:
			s.Fields[k] = structpb.NewNumberValue(v)
		case bool:
			s.Fields[k] = structpb.NewBoolValue(v)
		case map[string]any:
			s.Fields[k] = structpb.NewStructValue(toStruct(v))
		}
	}
	return s
}

func labelsValue(l map[string]string) map[string]any {
	out := make(map[string]any, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}
