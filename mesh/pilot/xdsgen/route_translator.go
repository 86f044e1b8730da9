package xdsgen

import (
	"math"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// PercentDenominator is the resolution of fault percentages: Envoy's MILLION, so 0.0001 %.
const PercentDenominator = 1_000_000

// RouteConfiguration renders a service port's ordered routes as one virtual host. An Istio route
// with several match blocks (ORed) becomes one Envoy route per block, in order, all with the same
// name and action; metadata "route" numbers the Istio route so the blocks can be regrouped.
func RouteConfiguration(h *config.Host, svc *config.Service) *routev3.RouteConfiguration {
	vh := &routev3.VirtualHost{Name: xdsnames.RouteName(h.FQDN, h.Port), Domains: domains(h, svc)}
	for i, rt := range h.Routes {
		action := routeAction(rt)
		fault := faultConfig(rt.Fault)
		if len(rt.Matches) == 0 {
			vh.Routes = append(vh.Routes, envoyRoute(rt, i, nil, action, fault))
		}
		for _, m := range rt.Matches {
			vh.Routes = append(vh.Routes, envoyRoute(rt, i, m, action, fault))
		}
	}
	return &routev3.RouteConfiguration{
		Name:         xdsnames.RouteName(h.FQDN, h.Port),
		VirtualHosts: []*routev3.VirtualHost{vh},
		Metadata:     metadata(map[string]any{xdsnames.KeyVirtualService: h.VirtualService}),
	}
}

// domains lists the names a request may use for this service port, as Istio's virtual hosts do.
func domains(h *config.Host, svc *config.Service) []string {
	port := ":" + strconv.Itoa(int(h.Port))
	short := strings.TrimSuffix(h.FQDN, ".svc.cluster.local")
	names := []string{h.FQDN, short + ".svc", short, h.Service}
	if svc != nil {
		for _, vip := range svc.VIPs {
			names = append(names, vip.Unmap().String())
		}
	}
	var out []string
	for _, n := range names {
		out = append(out, n, n+port)
	}
	return out
}

func envoyRoute(rt *config.Route, i int, m *config.Match, action *routev3.Route_Route, fault *anypb.Any) *routev3.Route {
	r := &routev3.Route{Name: rt.Name, Action: action, Match: routeMatch(m)}
	md := map[string]any{xdsnames.KeyRoute: float64(i), xdsnames.KeyCatchAll: m == nil}
	if m != nil {
		md[xdsnames.KeyMatch] = m.Name
		md[xdsnames.KeyAnyPath] = m.URI == nil // tells "no uri match" from an explicit prefix "/"
	}
	r.Metadata = metadata(md)
	if fault != nil {
		r.TypedPerFilterConfig = map[string]*anypb.Any{wellknown.Fault: fault}
	}
	return r
}

func routeMatch(m *config.Match) *routev3.RouteMatch {
	if m == nil {
		return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	}
	rm := &routev3.RouteMatch{}
	if m.URI != nil {
		switch m.URI.Kind {
		case config.MatchExact:
			rm.PathSpecifier = &routev3.RouteMatch_Path{Path: m.URI.Value}
		case config.MatchPrefix:
			rm.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: m.URI.Value}
		case config.MatchRegex:
			rm.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: m.URI.Value}}
		}
		if m.IgnoreURICase {
			rm.CaseSensitive = wrapperspb.Bool(false)
		}
	} else {
		rm.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/"} // route metadata anyPath says so
	}
	for _, pseudo := range []struct {
		name string
		sm   *config.StringMatcher
	}{{xdsnames.HeaderMethod, m.Method}, {xdsnames.HeaderAuthority, m.Authority}, {xdsnames.HeaderScheme, m.Scheme}} {
		if pseudo.sm != nil {
			rm.Headers = append(rm.Headers, headerMatcher(pseudo.name, *pseudo.sm, false))
		}
	}
	for _, h := range m.Headers {
		rm.Headers = append(rm.Headers, headerMatcher(strings.ToLower(h.Name), h.StringMatcher, false))
	}
	for _, h := range m.WithoutHeaders {
		rm.Headers = append(rm.Headers, headerMatcher(strings.ToLower(h.Name), h.StringMatcher, true))
	}
	for _, q := range m.Query {
		qm := &routev3.QueryParameterMatcher{Name: q.Name}
		if q.Kind == config.MatchPresent {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
		} else {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: stringMatcher(q.StringMatcher)}
		}
		rm.QueryParameters = append(rm.QueryParameters, qm)
	}
	return rm
}

func headerMatcher(name string, sm config.StringMatcher, invert bool) *routev3.HeaderMatcher {
	hm := &routev3.HeaderMatcher{Name: name, InvertMatch: invert}
	if sm.Kind == config.MatchPresent {
		hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
	} else {
		hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: stringMatcher(sm)}
	}
	return hm
}

func stringMatcher(sm config.StringMatcher) *matcherv3.StringMatcher {
	switch sm.Kind {
	case config.MatchPrefix:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: sm.Value}}
	case config.MatchRegex:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: sm.Value}}}
	}
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: sm.Value}}
}

func routeAction(rt *config.Route) *routev3.Route_Route {
	wc := &routev3.WeightedCluster{}
	for _, d := range rt.Destinations {
		wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{
			Name:   d.Cluster.Name,
			Weight: wrapperspb.UInt32(uint32(d.Weight)),
		})
	}
	on := rt.Retry.On.String()
	if on == "none" {
		// Istio has no spelling for "retry on nothing"; this one parses to no condition.
		on = "retriable-status-codes"
	}
	ra := &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: wc},
		Timeout:          durationpb.New(rt.Timeout), // 0 disables the timeout, as in Istio
		RetryPolicy: &routev3.RetryPolicy{
			RetryOn:    on,
			NumRetries: wrapperspb.UInt32(uint32(rt.Retry.Attempts)),
		},
	}
	if rt.Retry.PerTryTimeout > 0 {
		ra.RetryPolicy.PerTryTimeout = durationpb.New(rt.Retry.PerTryTimeout)
	}
	return &routev3.Route_Route{Route: ra}
}

func faultConfig(f *config.Fault) *anypb.Any {
	if f == nil {
		return nil
	}
	hf := &faultv3.HTTPFault{}
	if f.Delay != 0 || f.DelayPercent != 0 {
		hf.Delay = &faultcommonv3.FaultDelay{
			FaultDelaySecifier: &faultcommonv3.FaultDelay_FixedDelay{FixedDelay: durationpb.New(f.Delay)},
			Percentage:         fraction(f.DelayPercent),
		}
	}
	if f.AbortStatus != 0 || f.AbortPercent != 0 {
		hf.Abort = &faultv3.FaultAbort{
			ErrorType:  &faultv3.FaultAbort_HttpStatus{HttpStatus: uint32(f.AbortStatus)},
			Percentage: fraction(f.AbortPercent),
		}
	}
	a, _ := anypb.New(hf)
	return a
}

func fraction(percent float64) *typev3.FractionalPercent {
	return &typev3.FractionalPercent{
		Numerator:   uint32(math.Round(percent * PercentDenominator / 100)),
		Denominator: typev3.FractionalPercent_MILLION,
	}
}
