package xds

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// Resources is one complete set of xDS resources as received, by name.
type Resources struct {
	Listeners map[string]*listenerv3.Listener
	Routes    map[string]*routev3.RouteConfiguration
	Clusters  map[string]*clusterv3.Cluster
	Endpoints map[string]*endpointv3.ClusterLoadAssignment
	Secrets   map[string]*tlsv3.Secret // SDS: the Secrets' credentials clusters name
	// Extensions are the ECDS resources: the security policies selected for this proxy.
	Extensions map[string]*corev3.TypedExtensionConfig
}

func newResources() *Resources {
	return &Resources{
		Listeners:  map[string]*listenerv3.Listener{},
		Routes:     map[string]*routev3.RouteConfiguration{},
		Clusters:   map[string]*clusterv3.Cluster{},
		Endpoints:  map[string]*endpointv3.ClusterLoadAssignment{},
		Secrets:    map[string]*tlsv3.Secret{},
		Extensions: map[string]*corev3.TypedExtensionConfig{},
	}
}

// ToSnapshot rebuilds the config.Snapshot that compiles, for proxy, to the Table the control plane
// rendered: Services from the listeners and the service-wide clusters' endpoints, one
// DestinationRule per service from its clusters, one VirtualService per service from its routes.
// Identity and tracing are the proxy's own and are passed in. Every problem is returned, joined.
func ToSnapshot(res *Resources, proxy config.Proxy, tracing config.Tracing) (*config.Snapshot, error) {
	snap := &config.Snapshot{Proxy: proxy, Tracing: tracing}
	var errs []error
	services := map[string]*config.Service{} // by FQDN
	portIndex := map[string]int{}            // FQDN:port -> position in the registry
	var order []string
	for _, name := range slices.Sorted(maps.Keys(res.Listeners)) {
		l := res.Listeners[name]
		if name == xdsnames.InboundListener {
			in, err := inboundTLS(l)
			if err != nil {
				errs = append(errs, fmt.Errorf("listener %s: %w", name, err))
			}
			snap.InboundTLS = in
			continue
		}
		fq, svc, err := serviceFromListener(l, services)
		portIndex[name] = int(num(meta(l.GetMetadata()), xdsnames.KeyPortIndex))
		if err != nil {
			errs = append(errs, fmt.Errorf("listener %s: %w", name, err))
			continue
		}
		if _, seen := services[fq]; !seen {
			services[fq] = svc
			order = append(order, fq)
		}
	}
	for _, fq := range order {
		svc := services[fq]
		slices.SortStableFunc(svc.Ports, func(a, b config.Port) int {
			return portIndex[xdsnames.RouteName(fq, a.Port)] - portIndex[xdsnames.RouteName(fq, b.Port)]
		})
		if err := addEndpoints(svc, res); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", fq, err))
		}
		snap.Services = append(snap.Services, *svc)
	}
	drs, err := destinationRules(res)
	errs = append(errs, err)
	snap.DestinationRules = drs
	snap.Credentials = credentialsOf(res.Secrets)
	for _, fq := range order {
		vs, err := virtualService(services[fq], res)
		if err != nil {
			errs = append(errs, fmt.Errorf("routes of %s: %w", fq, err))
			continue
		}
		if vs != nil {
			snap.VirtualServices = append(snap.VirtualServices, vs)
		}
	}
	errs = append(errs, policies(res, snap))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return snap, nil
}

func serviceFromListener(l *listenerv3.Listener, services map[string]*config.Service) (string, *config.Service, error) {
	md := meta(l.GetMetadata())
	name, ns := str(md, xdsnames.KeyService), str(md, xdsnames.KeyNamespace)
	if name == "" || ns == "" {
		return "", nil, errors.New("metadata lacks the service name or namespace")
	}
	port := l.GetAddress().GetSocketAddress().GetPortValue()
	if port == 0 || port > 65535 {
		return "", nil, fmt.Errorf("port %d out of range", port)
	}
	fq := name + "." + ns + "." + config.ClusterDomain
	svc := services[fq]
	if svc == nil {
		svc = &config.Service{Name: name, Namespace: ns}
		addrs := []*corev3.Address{l.GetAddress()}
		for _, a := range l.GetAdditionalAddresses() {
			addrs = append(addrs, a.GetAddress())
		}
		for _, a := range addrs {
			ip, err := netip.ParseAddr(a.GetSocketAddress().GetAddress())
			if err != nil {
				return "", nil, fmt.Errorf("address: %w", err)
			}
			if !ip.IsUnspecified() {
				svc.VIPs = append(svc.VIPs, ip)
			}
		}
	}
	svc.Ports = append(svc.Ports, config.Port{
		Name:       str(md, xdsnames.KeyPortName),
		Port:       uint16(port),
		TargetPort: uint16(num(md, xdsnames.KeyTargetPort)),
		Protocol:   str(md, xdsnames.KeyProtocol),
	})
	return fq, svc, nil
}

// addEndpoints fills svc's endpoints from its service-wide clusters, one per port. An endpoint
// that several ports share appears once; its port is recorded only where it differs from what the
// service port would give, as the registry wrote it, and a port where Envoy's transport socket
// match withholds the mutual TLS its sidecar label asks for is a port whose own policy disables it.
func addEndpoints(svc *config.Service, res *Resources) error {
	seen := map[netip.Addr]int{} // address -> index in svc.Endpoints
	for _, p := range svc.Ports {
		name := clusterName(p.Port, "", svc.FQDN())
		cla := res.Endpoints[name]
		if cla == nil {
			return fmt.Errorf("no endpoints for cluster %s", name)
		}
		for _, lle := range cla.GetEndpoints() {
			for _, lbe := range lle.GetLbEndpoints() {
				sa := lbe.GetEndpoint().GetAddress().GetSocketAddress()
				ip, err := netip.ParseAddr(sa.GetAddress())
				if err != nil {
					return fmt.Errorf("cluster %s: endpoint: %w", name, err)
				}
				md := meta(lbe.GetMetadata())
				i, ok := seen[ip]
				if !ok {
					i = len(svc.Endpoints)
					seen[ip] = i
					e := config.Endpoint{Address: ip, Workload: str(md, xdsnames.KeyWorkload), Labels: labels(md, xdsnames.KeyLabels),
						Identity: str(md, xdsnames.KeyIdentity)}
					if port := uint16(sa.GetPortValue()); port != p.EndpointPort(config.Endpoint{}) {
						e.Port = port
					}
					svc.Endpoints = append(svc.Endpoints, e)
				}
				e := &svc.Endpoints[i]
				if e.Labels[xdsnames.TLSModeLabel] == xdsnames.TLSModeIstio && !meshTLSEndpoint(lbe.GetMetadata()) {
					e.MTLSDisabledPorts = append(e.MTLSDisabledPorts, uint16(sa.GetPortValue()))
				}
			}
		}
	}
	return nil
}

func clusterName(port uint16, subset, fqdn string) string {
	return "outbound|" + strconv.Itoa(int(port)) + "|" + subset + "|" + fqdn
}

// parseClusterName splits Istio's outbound|port|subset|fqdn.
func parseClusterName(name string) (port uint16, subset, fqdn string, err error) {
	parts := strings.Split(name, "|")
	if len(parts) != 4 || parts[0] != "outbound" {
		return 0, "", "", fmt.Errorf("cluster name %q: want outbound|PORT|SUBSET|FQDN", name)
	}
	n, err := strconv.ParseUint(parts[1], 10, 16)
	if err != nil {
		return 0, "", "", fmt.Errorf("cluster name %q: port: %w", name, err)
	}
	return uint16(n), parts[2], parts[3], nil
}

// meta returns meshlab's filter metadata, or nil.
func meta(m *corev3.Metadata) map[string]*structpb.Value {
	return m.GetFilterMetadata()[xdsnames.MetadataKey].GetFields()
}

func str(md map[string]*structpb.Value, key string) string { return md[key].GetStringValue() }

func num(md map[string]*structpb.Value, key string) float64 { return md[key].GetNumberValue() }

func labels(md map[string]*structpb.Value, key string) map[string]string {
	fields := md[key].GetStructValue().GetFields()
	if len(fields) == 0 {
		return nil
	}
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		out[k] = v.GetStringValue()
	}
	return out
}

// objectMeta names a synthesized resource after the one it was compiled from ("ns/name").
func splitName(qualified, fallbackNS, fallbackName string) (ns, name string) {
	if n, m, ok := strings.Cut(qualified, "/"); ok {
		return n, m
	}
	return fallbackNS, fallbackName
}
