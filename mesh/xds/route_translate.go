package xds

import (
	"errors"
	"fmt"
	"math"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// virtualService rebuilds the VirtualService of svc from its ports' route configurations, or nil
// when its routes are the default ones (no VirtualService applied). When every port has the same
// routes they are written once; otherwise each port's routes carry a port match, which compiles to
// the same routing (a catch-all route then holds one empty match instead of none).
func virtualService(svc *config.Service, res *Resources) (*networkingv1.VirtualService, error) {
	var perPort [][]*v1alpha3.HTTPRoute
	var qualified string
	for _, p := range svc.Ports {
		name := xdsnames.RouteName(svc.FQDN(), p.Port)
		rc := res.Routes[name]
		if rc == nil {
			return nil, fmt.Errorf("no route configuration %s", name)
		}
		qualified = str(meta(rc.GetMetadata()), xdsnames.KeyVirtualService)
		routes, err := httpRoutes(rc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		perPort = append(perPort, routes)
	}
	if qualified == "" {
		return nil, nil
	}
	ns, name := splitName(qualified, svc.Namespace, svc.Name)
	vs := &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	vs.Spec.Hosts = []string{svc.FQDN()}
	if allEqual(perPort) {
		vs.Spec.Http = perPort[0]
		return vs, nil
	}
	for i, routes := range perPort {
		port := uint32(svc.Ports[i].Port)
		for _, hr := range routes {
			if len(hr.Match) == 0 {
				hr.Match = []*v1alpha3.HTTPMatchRequest{{}}
			}
			for _, m := range hr.Match {
				m.Port = port
			}
			vs.Spec.Http = append(vs.Spec.Http, hr)
		}
	}
	return vs, nil
}

func allEqual(perPort [][]*v1alpha3.HTTPRoute) bool {
	for _, routes := range perPort[1:] {
		if len(routes) != len(perPort[0]) {
			return false
		}
		for i := range routes {
			if !proto.Equal(routes[i], perPort[0][i]) {
				return false
			}
		}
	}
	return true
}

// httpRoutes regroups Envoy routes (one per match block) into Istio HTTP routes.
func httpRoutes(rc *routev3.RouteConfiguration) ([]*v1alpha3.HTTPRoute, error) {
	if len(rc.GetVirtualHosts()) != 1 {
		return nil, fmt.Errorf("want 1 virtual host, got %d", len(rc.GetVirtualHosts()))
	}
	var out []*v1alpha3.HTTPRoute
	last := -1.0
	var errs []error
	for j, r := range rc.GetVirtualHosts()[0].GetRoutes() {
		md := meta(r.GetMetadata())
		idx := num(md, xdsnames.KeyRoute)
		if len(out) == 0 || idx != last {
			hr, err := httpRoute(r)
			if err != nil {
				errs = append(errs, fmt.Errorf("route %d (%s): %w", j, r.GetName(), err))
				continue
			}
			out = append(out, hr)
			last = idx
		}
		if !md[xdsnames.KeyCatchAll].GetBoolValue() {
			m, err := matchRequest(r.GetMatch(), md[xdsnames.KeyAnyPath].GetBoolValue())
			if err != nil {
				errs = append(errs, fmt.Errorf("route %d (%s): match: %w", j, r.GetName(), err))
				continue
			}
			m.Name = str(md, xdsnames.KeyMatch)
			out[len(out)-1].Match = append(out[len(out)-1].Match, m)
		}
	}
	return out, errors.Join(errs...)
}

func httpRoute(r *routev3.Route) (*v1alpha3.HTTPRoute, error) {
	ra := r.GetRoute()
	if ra == nil {
		return nil, errors.New("only route actions are supported")
	}
	hr := &v1alpha3.HTTPRoute{Name: r.GetName()}
	wc := ra.GetWeightedClusters()
	if wc == nil {
		return nil, errors.New("want weighted_clusters")
	}
	for _, c := range wc.GetClusters() {
		port, subset, fqdn, err := parseClusterName(c.GetName())
		if err != nil {
			return nil, err
		}
		hr.Route = append(hr.Route, &v1alpha3.HTTPRouteDestination{
			Destination: &v1alpha3.Destination{Host: fqdn, Subset: subset, Port: &v1alpha3.PortSelector{Number: uint32(port)}},
			Weight:      int32(c.GetWeight().GetValue()),
		})
	}
	if t := ra.GetTimeout(); t.AsDuration() > 0 {
		hr.Timeout = t
	}
	rp := ra.GetRetryPolicy()
	hr.Retries = &v1alpha3.HTTPRetry{Attempts: int32(rp.GetNumRetries().GetValue()), RetryOn: rp.GetRetryOn()}
	if pt := rp.GetPerTryTimeout(); pt.AsDuration() > 0 {
		hr.Retries.PerTryTimeout = pt
	}
	if a := r.GetTypedPerFilterConfig()[wellknown.Fault]; a != nil {
		var f faultv3.HTTPFault
		if err := a.UnmarshalTo(&f); err != nil {
			return nil, fmt.Errorf("fault: %w", err)
		}
		hr.Fault = &v1alpha3.HTTPFaultInjection{}
		if d := f.GetDelay(); d != nil {
			hr.Fault.Delay = &v1alpha3.HTTPFaultInjection_Delay{
				HttpDelayType: &v1alpha3.HTTPFaultInjection_Delay_FixedDelay{FixedDelay: orZero(d.GetFixedDelay())},
				Percentage:    percent(d.GetPercentage()),
			}
		}
		if ab := f.GetAbort(); ab != nil {
			hr.Fault.Abort = &v1alpha3.HTTPFaultInjection_Abort{
				ErrorType:  &v1alpha3.HTTPFaultInjection_Abort_HttpStatus{HttpStatus: int32(ab.GetHttpStatus())},
				Percentage: percent(ab.GetPercentage()),
			}
		}
	}
	return hr, nil
}

func percent(f *typev3.FractionalPercent) *v1alpha3.Percent {
	var denom float64
	switch f.GetDenominator() {
	case typev3.FractionalPercent_HUNDRED:
		denom = 100
	case typev3.FractionalPercent_TEN_THOUSAND:
		denom = 10_000
	default:
		denom = 1_000_000
	}
	v := float64(f.GetNumerator()) * 100 / denom
	return &v1alpha3.Percent{Value: math.Round(v*1e6) / 1e6}
}

func matchRequest(rm *routev3.RouteMatch, anyPath bool) (*v1alpha3.HTTPMatchRequest, error) {
	m := &v1alpha3.HTTPMatchRequest{}
	if !anyPath {
		switch p := rm.GetPathSpecifier().(type) {
		case *routev3.RouteMatch_Path:
			m.Uri = exact(p.Path)
		case *routev3.RouteMatch_Prefix:
			m.Uri = &v1alpha3.StringMatch{MatchType: &v1alpha3.StringMatch_Prefix{Prefix: p.Prefix}}
		case *routev3.RouteMatch_SafeRegex:
			m.Uri = &v1alpha3.StringMatch{MatchType: &v1alpha3.StringMatch_Regex{Regex: p.SafeRegex.GetRegex()}}
		default:
			return nil, fmt.Errorf("path specifier %T is not supported", p)
		}
		if cs := rm.GetCaseSensitive(); cs != nil && !cs.GetValue() {
			m.IgnoreUriCase = true
		}
	}
	for _, h := range rm.GetHeaders() {
		sm, err := fromHeaderMatcher(h)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", h.GetName(), err)
		}
		switch {
		case h.GetName() == xdsnames.HeaderMethod:
			m.Method = sm
		case h.GetName() == xdsnames.HeaderAuthority:
			m.Authority = sm
		case h.GetName() == xdsnames.HeaderScheme:
			m.Scheme = sm
		case h.GetInvertMatch():
			if m.WithoutHeaders == nil {
				m.WithoutHeaders = map[string]*v1alpha3.StringMatch{}
			}
			m.WithoutHeaders[h.GetName()] = sm
		default:
			if m.Headers == nil {
				m.Headers = map[string]*v1alpha3.StringMatch{}
			}
			m.Headers[h.GetName()] = sm
		}
	}
	for _, q := range rm.GetQueryParameters() {
		if m.QueryParams == nil {
			m.QueryParams = map[string]*v1alpha3.StringMatch{}
		}
		if q.GetPresentMatch() {
			m.QueryParams[q.GetName()] = &v1alpha3.StringMatch{}
			continue
		}
		sm, err := fromStringMatcher(q.GetStringMatch())
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q.GetName(), err)
		}
		m.QueryParams[q.GetName()] = sm
	}
	return m, nil
}

func fromHeaderMatcher(h *routev3.HeaderMatcher) (*v1alpha3.StringMatch, error) {
	if h.GetPresentMatch() {
		return &v1alpha3.StringMatch{}, nil
	}
	return fromStringMatcher(h.GetStringMatch())
}

func fromStringMatcher(sm *matcherv3.StringMatcher) (*v1alpha3.StringMatch, error) {
	switch p := sm.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		return exact(p.Exact), nil
	case *matcherv3.StringMatcher_Prefix:
		return &v1alpha3.StringMatch{MatchType: &v1alpha3.StringMatch_Prefix{Prefix: p.Prefix}}, nil
	case *matcherv3.StringMatcher_SafeRegex:
		return &v1alpha3.StringMatch{MatchType: &v1alpha3.StringMatch_Regex{Regex: p.SafeRegex.GetRegex()}}, nil
	}
	return nil, fmt.Errorf("string matcher %T is not supported", sm.GetMatchPattern())
}

func exact(s string) *v1alpha3.StringMatch {
	return &v1alpha3.StringMatch{MatchType: &v1alpha3.StringMatch_Exact{Exact: s}}
}
