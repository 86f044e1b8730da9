package config

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// Istio's defaults, applied where a resource says nothing, as istio.io/api's networking/v1alpha3
// protos document them: 2 retry attempts on connect-failure, refused-stream, unavailable and
// cancelled (virtual_service.proto, HTTPRetry; Istio's pilot also retries a 503, as here), and
// outlier detection after 5 consecutive 5xx, every 10s, 30s base ejection time, at most 10 %
// ejected, with a 10s connect timeout (destination_rule.proto).
const (
	defaultRetryAttempts  = 2
	defaultRetryOn        = "connect-failure,refused-stream,unavailable,cancelled,503"
	defaultConsecutive5xx = 5
	defaultInterval       = 10 * time.Second
	defaultBaseEjection   = 30 * time.Second
	defaultMaxEjectionPct = 10
	defaultConnectTimeout = 10 * time.Second
)

// Compile builds the routing Table for s. It fails only on inconsistencies validation could not
// see in a single document; things that merely look wrong become Table.Warnings.
func Compile(s *Snapshot) (*Table, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	c := compiler{snap: s, t: &Table{
		Proxy:    s.Proxy,
		Tracing:  s.Tracing,
		Inbound:  inboundTLS(s),
		Clusters: map[string]*Cluster{},
		byName:   map[string]*Host{},
		byDst:    map[netip.AddrPort]*Host{},
		byPod:    map[netip.AddrPort]*Host{},
		local:    map[uint16]*Host{},
	}}
	c.services = map[string]*Service{}
	for i := range s.Services {
		svc := &s.Services[i]
		if svc.Namespace == "" {
			svc.Namespace = DefaultNamespace
		}
		if err := validateService(svc); err != nil {
			return nil, fmt.Errorf("config: service %s: %w", svc.Name, err)
		}
		c.services[svc.FQDN()] = svc
	}
	c.drs = map[string]*networkingv1.DestinationRule{}
	for _, dr := range s.DestinationRules {
		c.drs[c.resolve(dr.Spec.Host, dr.Namespace)] = dr // a later rule for the same host wins
	}
	vsByHost := map[string]*networkingv1.VirtualService{}
	var wildcard *networkingv1.VirtualService
	for _, vs := range s.VirtualServices {
		if !appliesToMesh(vs.Spec.Gateways) {
			continue
		}
		for _, h := range vs.Spec.Hosts {
			if h == "*" {
				wildcard = vs
				continue
			}
			fq := c.resolve(h, vs.Namespace)
			if c.services[fq] == nil {
				c.warn("VirtualService %s/%s: host %q is not in the registry", vs.Namespace, vs.Name, h)
				continue
			}
			vsByHost[fq] = vs
		}
	}
	var errs []error
	for _, fq := range slices.Sorted(maps.Keys(c.services)) {
		svc := c.services[fq]
		vs := vsByHost[fq]
		if vs == nil {
			vs = wildcard
		}
		for _, p := range svc.Ports {
			h, err := c.host(svc, p, vs)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			c.index(svc, p, h)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c.t, nil
}

// inboundTLS is the proxy's inbound policy: resolved by the control plane, or from the
// snapshot's PeerAuthentications for the proxy's namespace and labels.
func inboundTLS(s *Snapshot) InboundTLS {
	if s.InboundTLS != nil {
		return *s.InboundTLS
	}
	return EffectiveInboundTLS(s.PeerAuthentications, s.Proxy.Namespace, s.Proxy.Labels)
}

type compiler struct {
	snap     *Snapshot
	t        *Table
	services map[string]*Service
	drs      map[string]*networkingv1.DestinationRule
}

func (c *compiler) warn(format string, a ...any) {
	c.t.Warnings = append(c.t.Warnings, fmt.Sprintf(format, a...))
}

// resolve turns a host as written in a resource of namespace ns into an FQDN.
func (c *compiler) resolve(host, ns string) string {
	host = strings.ToLower(host)
	switch strings.Count(host, ".") {
	case 0:
		return host + "." + ns + "." + ClusterDomain
	case 1:
		return host + "." + ClusterDomain
	}
	if strings.HasSuffix(host, ".svc") {
		return host + ".cluster.local"
	}
	return host
}

func appliesToMesh(gateways []string) bool {
	return len(gateways) == 0 || slices.Contains(gateways, "mesh")
}

func (c *compiler) host(svc *Service, p Port, vs *networkingv1.VirtualService) (*Host, error) {
	proto, _ := protocolOf(p)
	h := &Host{Service: svc.Name, Namespace: svc.Namespace, FQDN: svc.FQDN(), Port: p.Port, Protocol: proto}
	h.DefaultCluster = c.cluster(svc, p.Port, "")
	if vs == nil {
		h.Routes = []*Route{{
			Name:         "default",
			Destinations: []WeightedCluster{{Weight: 100, Cluster: h.DefaultCluster}},
			TotalWeight:  100,
			Retry:        defaultRetry(),
		}}
		return h, nil
	}
	h.VirtualService = vs.Namespace + "/" + vs.Name
	for i, hr := range vs.Spec.Http {
		rt, ok, err := c.route(svc, p, vs, i, hr)
		if err != nil {
			return nil, err
		}
		if ok {
			h.Routes = append(h.Routes, rt)
		}
	}
	return h, nil
}

// route compiles http[i] for service port p; ok is false when no match block can apply to this
// proxy and port (port, sourceLabels and sourceNamespace are known now).
func (c *compiler) route(svc *Service, p Port, vs *networkingv1.VirtualService, i int, hr *v1alpha3.HTTPRoute) (*Route, bool, error) {
	rt := &Route{Name: hr.Name, Timeout: hr.Timeout.AsDuration()}
	if rt.Name == "" {
		rt.Name = fmt.Sprintf("%s.%s.http[%d]", vs.Name, vs.Namespace, i)
	}
	if hr.Timeout == nil {
		rt.Timeout = 0
	}
	for _, m := range hr.Match {
		if m.Port != 0 && m.Port != uint32(p.Port) ||
			!labelsMatch(m.SourceLabels, c.snap.Proxy.Labels) ||
			m.SourceNamespace != "" && m.SourceNamespace != c.snap.Proxy.Namespace {
			continue
		}
		rt.Matches = append(rt.Matches, compileMatch(m))
	}
	if len(hr.Match) > 0 && len(rt.Matches) == 0 {
		return nil, false, nil
	}
	for j, d := range hr.Route {
		fq := c.resolve(d.Destination.Host, vs.Namespace)
		dsvc := c.services[fq]
		if dsvc == nil {
			// As in Istio, an unknown destination is not a config error: requests to it get 503.
			c.warn("VirtualService %s/%s: spec.http[%d].route[%d].destination.host %q is not in the registry (requests get 503)",
				vs.Namespace, vs.Name, i, j, d.Destination.Host)
			name, _, _ := strings.Cut(fq, ".")
			dsvc = &Service{Name: name, Namespace: strings.TrimSuffix(strings.TrimPrefix(fq, name+"."), "."+ClusterDomain)}
		}
		port := p.Port
		if d.Destination.Port != nil && d.Destination.Port.Number != 0 {
			port = uint16(d.Destination.Port.Number)
		} else if len(dsvc.Ports) == 1 {
			port = dsvc.Ports[0].Port
		}
		w := int(d.Weight)
		if len(hr.Route) == 1 && w == 0 {
			w = 100 // a lone destination takes all traffic
		}
		cl := c.cluster(dsvc, port, d.Destination.Subset)
		rt.Destinations = append(rt.Destinations, WeightedCluster{Weight: w, Cluster: cl})
		rt.TotalWeight += w
	}
	if rt.TotalWeight == 0 {
		return nil, false, fmt.Errorf("config: VirtualService %s/%s: spec.http[%d].route: weights sum to 0", vs.Namespace, vs.Name, i)
	}
	rt.Retry = defaultRetry()
	if r := hr.Retries; r != nil {
		rt.Retry = Retry{Attempts: int(r.Attempts), PerTryTimeout: durOr(r.PerTryTimeout, 0)}
		on := r.RetryOn
		if on == "" {
			on = defaultRetryOn
		}
		rt.Retry.On, _ = parseRetryOn(on) // validated at load
	}
	if f := hr.Fault; f != nil {
		rt.Fault = &Fault{}
		if f.Delay != nil {
			rt.Fault.Delay = f.Delay.GetFixedDelay().AsDuration()
			rt.Fault.DelayPercent = faultPercent(f.Delay.Percentage, legacyDelayPercent(f.Delay))
		}
		if f.Abort != nil {
			rt.Fault.AbortStatus = int(f.Abort.GetHttpStatus())
			rt.Fault.AbortPercent = faultPercent(f.Abort.Percentage, 0)
		}
	}
	return rt, true, nil
}

func defaultRetry() Retry {
	on, _ := parseRetryOn(defaultRetryOn)
	return Retry{Attempts: defaultRetryAttempts, On: on}
}

// cluster returns the shared Cluster for service port and subset, building it once.
func (c *compiler) cluster(svc *Service, port uint16, subset string) *Cluster {
	name := "outbound|" + strconv.Itoa(int(port)) + "|" + subset + "|" + svc.FQDN()
	if cl := c.t.Clusters[name]; cl != nil {
		return cl
	}
	cl := &Cluster{Name: name, FQDN: svc.FQDN(), Service: svc.Name, Namespace: svc.Namespace, Subset: subset, Port: port, LB: LBLeastRequest}
	c.t.Clusters[name] = cl
	var sp *Port
	for i := range svc.Ports {
		if svc.Ports[i].Port == port {
			sp = &svc.Ports[i]
		}
	}
	if sp == nil {
		c.warn("cluster %s: service %s has no port %d", name, svc.FQDN(), port)
		return cl
	}
	cl.Protocol, _ = protocolOf(*sp)
	dr := c.drs[svc.FQDN()]
	var selector map[string]string
	var policies []*v1alpha3.TrafficPolicy
	if dr != nil {
		policies = append(policies, dr.Spec.TrafficPolicy)
	}
	if subset != "" {
		var found *v1alpha3.Subset
		if dr != nil {
			for _, s := range dr.Spec.Subsets {
				if s.Name == subset {
					found = s
				}
			}
		}
		if found == nil {
			c.warn("cluster %s: subset %q is not defined by any DestinationRule for %s (requests get 503)", name, subset, svc.FQDN())
			return cl
		}
		selector = found.Labels
		policies = append(policies, found.TrafficPolicy)
	}
	for _, e := range svc.Endpoints {
		if labelsMatch(selector, e.Labels) {
			ce := ClusterEndpoint{
				Addr: netip.AddrPortFrom(e.Address.Unmap(), sp.EndpointPort(e)), Workload: e.Workload, Labels: e.Labels,
				MeshTLS: e.Labels[TLSModeLabel] == TLSModeIstio, Identity: e.Identity,
			}
			if ce.MeshTLS && (slices.Contains(e.MTLSDisabledPorts, ce.Addr.Port()) || len(c.snap.PeerAuthentications) > 0 &&
				EffectiveInboundTLS(c.snap.PeerAuthentications, svc.Namespace, e.Labels).ModeFor(ce.Addr.Port()) == MTLSDisable) {
				// Auto mTLS sends plaintext where the destination's own policy disables mutual
				// TLS, as Istio's does.
				ce.MeshTLS = false
			}
			cl.Endpoints = append(cl.Endpoints, ce)
		}
	}
	sort.Slice(cl.Endpoints, func(i, j int) bool { return cl.Endpoints[i].Addr.Compare(cl.Endpoints[j].Addr) < 0 })
	if len(cl.Endpoints) == 0 {
		c.warn("cluster %s: no endpoint selected (requests get 503)", name)
	}
	cl.Pool.ConnectTimeout = defaultConnectTimeout
	for _, tp := range policies { // the subset's settings override the rule's, field by field
		applyPolicy(cl, tp)
	}
	if n := cl.TLS.CredentialName; n != "" {
		// A Secret of the rule's namespace, as Istio looks it up for sidecars.
		if !strings.Contains(n, "/") {
			cl.TLS.CredentialName = dr.Namespace + "/" + n
		}
		cred, ok := c.snap.Credentials[cl.TLS.CredentialName]
		if !ok {
			c.warn("cluster %s: credentialName %s: no such Secret (its connections fail)", name, cl.TLS.CredentialName)
		} else {
			if c.t.Credentials == nil {
				c.t.Credentials = map[string]Credential{}
			}
			c.t.Credentials[cl.TLS.CredentialName] = cred
		}
	}
	return cl
}

func (c *compiler) index(svc *Service, p Port, h *Host) {
	c.t.Hosts = append(c.t.Hosts, h)
	port := ":" + strconv.Itoa(int(p.Port))
	for _, n := range []string{svc.Name, svc.Name + "." + svc.Namespace, svc.Name + "." + svc.Namespace + ".svc", svc.FQDN()} {
		if svc.Namespace == c.snap.Proxy.Namespace || n != svc.Name { // short names resolve in the proxy's namespace
			c.t.byName[n+port] = h
		}
	}
	for _, vip := range svc.VIPs {
		ap := netip.AddrPortFrom(vip.Unmap(), p.Port)
		c.t.byDst[ap] = h
		c.t.byName[vip.Unmap().String()+port] = h
	}
	for _, e := range svc.Endpoints {
		ap := netip.AddrPortFrom(e.Address.Unmap(), p.EndpointPort(e))
		c.t.byPod[ap] = h
		if c.snap.Proxy.IP.IsValid() && e.Address.Unmap() == c.snap.Proxy.IP.Unmap() {
			c.t.local[p.EndpointPort(e)] = h
		}
	}
}

func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
