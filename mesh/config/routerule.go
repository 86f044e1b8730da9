package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// routeRule is the seed-era config.istio.io/v1alpha2 RouteRule (Istio 0.2–0.7) that the original
// walk-through applies. It is translated into the VirtualService and DestinationRule Istio itself
// replaced it with: rules for one destination are ordered by precedence (highest first), and each
// route's labels become a subset named after them.
type routeRule struct {
	name        string
	namespace   string
	Destination struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace,omitempty"`
		Labels    map[string]string `json:"labels,omitempty"`
	} `json:"destination"`
	Precedence int `json:"precedence,omitempty"`
	Match      *struct {
		Source *struct {
			Name   string            `json:"name,omitempty"`
			Labels map[string]string `json:"labels,omitempty"`
		} `json:"source,omitempty"`
		Request *struct {
			Headers map[string]legacyStringMatch `json:"headers,omitempty"`
		} `json:"request,omitempty"`
	} `json:"match,omitempty"`
	Route []struct {
		Labels map[string]string `json:"labels,omitempty"`
		Weight int32             `json:"weight,omitempty"`
	} `json:"route,omitempty"`
	HTTPFault *struct {
		Delay *struct {
			Percent    float64 `json:"percent,omitempty"`
			FixedDelay string  `json:"fixedDelay"`
		} `json:"delay,omitempty"`
		Abort *struct {
			Percent    float64 `json:"percent,omitempty"`
			HTTPStatus int32   `json:"httpStatus"`
		} `json:"abort,omitempty"`
	} `json:"httpFault,omitempty"`
	HTTPReqTimeout *struct {
		SimpleTimeout struct {
			Timeout string `json:"timeout"`
		} `json:"simpleTimeout"`
	} `json:"httpReqTimeout,omitempty"`
	HTTPReqRetries *struct {
		SimpleRetry struct {
			Attempts      int32  `json:"attempts"`
			PerTryTimeout string `json:"perTryTimeout,omitempty"`
		} `json:"simpleRetry"`
	} `json:"httpReqRetries,omitempty"`
}

type legacyStringMatch struct {
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty"`
}

func (m legacyStringMatch) istio() *v1alpha3.StringMatch {
	switch {
	case m.Prefix != "":
		return &v1alpha3.StringMatch{MatchType: &v1alpha3.StringMatch_Prefix{Prefix: m.Prefix}}
	case m.Regex != "":
		return &v1alpha3.StringMatch{MatchType: &v1alpha3.StringMatch_Regex{Regex: m.Regex}}
	}
	return &v1alpha3.StringMatch{MatchType: &v1alpha3.StringMatch_Exact{Exact: m.Exact}}
}

func (b *builder) addRouteRule(apiVersion string, meta metav1.ObjectMeta, spec json.RawMessage) error {
	if apiVersion != "config.istio.io/v1alpha2" {
		return fmt.Errorf("RouteRule: apiVersion %s is not supported (want config.istio.io/v1alpha2)", apiVersion)
	}
	if meta.Name == "" {
		return errors.New("metadata.name is required")
	}
	rr := &routeRule{name: meta.Name, namespace: meta.Namespace}
	if err := strictJSON(spec, rr); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	if rr.Destination.Name == "" {
		return errors.New("spec.destination.name: required")
	}
	// Validate by translating once: the same checks as for a VirtualService then apply.
	if _, err := rr.httpRoute(); err != nil {
		return err
	}
	if b.routeRules == nil {
		b.routeRules = map[string]*routeRule{}
	}
	key := "RouteRule/" + meta.Namespace + "/" + meta.Name
	b.routeRules[key] = rr
	b.remember(key)
	return nil
}

// subsetName names the subset for a set of labels: version=v1 → "version-v1".
func subsetName(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"-"+labels[k])
	}
	return strings.Join(parts, ".")
}

func (rr *routeRule) httpRoute() (*v1alpha3.HTTPRoute, error) {
	host := rr.Destination.Name
	hr := &v1alpha3.HTTPRoute{Name: rr.name}
	if m := rr.Match; m != nil {
		hm := &v1alpha3.HTTPMatchRequest{}
		if m.Source != nil && len(m.Source.Labels) > 0 {
			hm.SourceLabels = m.Source.Labels
		}
		if m.Request != nil {
			for name, sm := range m.Request.Headers {
				if strings.EqualFold(name, "uri") {
					hm.Uri = sm.istio()
					continue
				}
				if hm.Headers == nil {
					hm.Headers = map[string]*v1alpha3.StringMatch{}
				}
				hm.Headers[strings.ToLower(name)] = sm.istio()
			}
		}
		hr.Match = []*v1alpha3.HTTPMatchRequest{hm}
	}
	routes := rr.Route
	if len(routes) == 0 {
		hr.Route = []*v1alpha3.HTTPRouteDestination{{Destination: &v1alpha3.Destination{Host: host}}}
	}
	for _, r := range routes {
		hr.Route = append(hr.Route, &v1alpha3.HTTPRouteDestination{
			Destination: &v1alpha3.Destination{Host: host, Subset: subsetName(r.Labels)},
			Weight:      r.Weight,
		})
	}
	if f := rr.HTTPFault; f != nil {
		hr.Fault = &v1alpha3.HTTPFaultInjection{}
		if f.Delay != nil {
			d, err := time.ParseDuration(f.Delay.FixedDelay)
			if err != nil {
				return nil, fmt.Errorf("spec.httpFault.delay.fixedDelay: %w", err)
			}
			hr.Fault.Delay = &v1alpha3.HTTPFaultInjection_Delay{
				HttpDelayType: &v1alpha3.HTTPFaultInjection_Delay_FixedDelay{FixedDelay: durationpb.New(d)},
				Percentage:    &v1alpha3.Percent{Value: orHundred(f.Delay.Percent)},
			}
		}
		if f.Abort != nil {
			hr.Fault.Abort = &v1alpha3.HTTPFaultInjection_Abort{
				ErrorType:  &v1alpha3.HTTPFaultInjection_Abort_HttpStatus{HttpStatus: f.Abort.HTTPStatus},
				Percentage: &v1alpha3.Percent{Value: orHundred(f.Abort.Percent)},
			}
		}
	}
	if t := rr.HTTPReqTimeout; t != nil {
		d, err := time.ParseDuration(t.SimpleTimeout.Timeout)
		if err != nil {
			return nil, fmt.Errorf("spec.httpReqTimeout.simpleTimeout.timeout: %w", err)
		}
		hr.Timeout = durationpb.New(d)
	}
	if r := rr.HTTPReqRetries; r != nil {
		hr.Retries = &v1alpha3.HTTPRetry{Attempts: r.SimpleRetry.Attempts}
		if r.SimpleRetry.PerTryTimeout != "" {
			d, err := time.ParseDuration(r.SimpleRetry.PerTryTimeout)
			if err != nil {
				return nil, fmt.Errorf("spec.httpReqRetries.simpleRetry.perTryTimeout: %w", err)
			}
			hr.Retries.PerTryTimeout = durationpb.New(d)
		}
	}
	vs := &v1alpha3.VirtualService{Hosts: []string{host}, Http: []*v1alpha3.HTTPRoute{hr}}
	if errs := validateVirtualService(vs); len(errs) > 0 {
		return nil, fmt.Errorf("as a VirtualService: %w", errors.Join(errs...))
	}
	return hr, nil
}

func orHundred(p float64) float64 {
	if p == 0 {
		return 100
	}
	return p
}

// translateRouteRules groups rules by destination and emits one VirtualService and one
// DestinationRule (with every subset the rules name) per destination.
func translateRouteRules(rules map[string]*routeRule, defaultNS string) ([]*networkingv1.VirtualService, []*networkingv1.DestinationRule) {
	byDest := map[string][]*routeRule{}
	for _, rr := range rules {
		ns := rr.Destination.Namespace
		if ns == "" {
			ns = rr.namespace
		}
		if ns == "" {
			ns = defaultNS
		}
		key := ns + "/" + rr.Destination.Name
		byDest[key] = append(byDest[key], rr)
	}
	var vss []*networkingv1.VirtualService
	var drs []*networkingv1.DestinationRule
	for _, key := range slices.Sorted(maps.Keys(byDest)) {
		rs := byDest[key]
		sort.Slice(rs, func(i, j int) bool {
			if rs[i].Precedence != rs[j].Precedence {
				return rs[i].Precedence > rs[j].Precedence
			}
			return rs[i].name < rs[j].name
		})
		ns, host, _ := strings.Cut(key, "/")
		meta := metav1.ObjectMeta{Name: "routerule-" + host, Namespace: ns}
		vs := &networkingv1.VirtualService{ObjectMeta: meta}
		vs.APIVersion, vs.Kind = "networking.istio.io/v1", "VirtualService"
		vs.Spec.Hosts = []string{host}
		subsets := map[string]map[string]string{}
		for _, rr := range rs {
			hr, _ := rr.httpRoute() // validated when added
			vs.Spec.Http = append(vs.Spec.Http, hr)
			for _, r := range rr.Route {
				subsets[subsetName(r.Labels)] = r.Labels
			}
		}
		vss = append(vss, vs)
		dr := &networkingv1.DestinationRule{ObjectMeta: meta}
		dr.APIVersion, dr.Kind = "networking.istio.io/v1", "DestinationRule"
		dr.Spec.Host = host
		for _, name := range slices.Sorted(maps.Keys(subsets)) {
			dr.Spec.Subsets = append(dr.Spec.Subsets, &v1alpha3.Subset{Name: name, Labels: subsets[name]})
		}
		drs = append(drs, dr)
	}
	return vss, drs
}
