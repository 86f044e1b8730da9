package kubereg

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshlab/meshlab/mesh/config"
)

// Problem is a stored resource the registry leaves out of the State because the proxy could not
// apply it (it was stored before the validating webhook was registered, or with it bypassed).
type Problem struct {
	Resource string // "VirtualService default/reviews"
	Err      error
}

// routing collects the Istio resources that pass mesh/config's validation, plus the VirtualServices
// and DestinationRules translated from RouteRules, sorted by namespace and name.
func routing(vss []*networkingv1.VirtualService, drs []*networkingv1.DestinationRule, rrs []*unstructured.Unstructured) (
	[]*networkingv1.VirtualService, []*networkingv1.DestinationRule, []Problem) {
	var problems []Problem
	var outVS []*networkingv1.VirtualService
	for _, vs := range vss {
		if err := (&config.Snapshot{VirtualServices: []*networkingv1.VirtualService{vs}}).Validate(); err != nil {
			problems = append(problems, Problem{key("VirtualService", vs.Namespace, vs.Name), err})
			continue
		}
		outVS = append(outVS, vs)
	}
	var outDR []*networkingv1.DestinationRule
	for _, dr := range drs {
		if err := (&config.Snapshot{DestinationRules: []*networkingv1.DestinationRule{dr}}).Validate(); err != nil {
			problems = append(problems, Problem{key("DestinationRule", dr.Namespace, dr.Name), err})
			continue
		}
		outDR = append(outDR, dr)
	}
	tvs, tdr, rrProblems := routeRules(rrs)
	problems = append(problems, rrProblems...)
	outVS, outDR = append(outVS, tvs...), append(outDR, tdr...)
	slices.SortFunc(outVS, func(a, b *networkingv1.VirtualService) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	slices.SortFunc(outDR, func(a, b *networkingv1.DestinationRule) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return outVS, outDR, problems
}

// peerAuthentications keeps the PeerAuthentications that pass mesh/config's validation, sorted.
func peerAuthentications(in []*securityv1.PeerAuthentication) ([]*securityv1.PeerAuthentication, []Problem) {
	var out []*securityv1.PeerAuthentication
	var problems []Problem
	for _, pa := range in {
		if err := (&config.Snapshot{PeerAuthentications: []*securityv1.PeerAuthentication{pa}}).Validate(); err != nil {
			problems = append(problems, Problem{key("PeerAuthentication", pa.Namespace, pa.Name), err})
			continue
		}
		out = append(out, pa)
	}
	slices.SortFunc(out, func(a, b *securityv1.PeerAuthentication) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out, problems
}

// routeRules translates the legacy config.istio.io/v1alpha2 RouteRules with mesh/config, which
// owns the translation (rules per destination ordered by precedence, labels → subsets). Each
// rule is parsed alone first so one bad rule drops only itself; the good ones are then
// translated together, because rules for one destination merge into one VirtualService.
func routeRules(rrs []*unstructured.Unstructured) ([]*networkingv1.VirtualService, []*networkingv1.DestinationRule, []Problem) {
	if len(rrs) == 0 {
		return nil, nil, nil
	}
	sorted := slices.Clone(rrs)
	slices.SortFunc(sorted, func(a, b *unstructured.Unstructured) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	var problems []Problem
	var stream bytes.Buffer
	for _, rr := range sorted {
		what := key("RouteRule", rr.GetNamespace(), rr.GetName())
		doc, err := json.Marshal(map[string]any{
			"apiVersion": rr.GetAPIVersion(), "kind": rr.GetKind(),
			"metadata": map[string]any{"name": rr.GetName(), "namespace": rr.GetNamespace()},
			"spec":     rr.Object["spec"],
		})
		if err == nil {
			_, err = config.Parse(what, doc)
		}
		if err != nil {
			problems = append(problems, Problem{what, err})
			continue
		}
		fmt.Fprintf(&stream, "---\n%s\n", doc)
	}
	if stream.Len() == 0 {
		return nil, nil, problems
	}
	snap, err := config.Parse("RouteRules", stream.Bytes())
	if err != nil {
		// Each rule parsed alone; together they can only fail on a translation conflict.
		return nil, nil, append(problems, Problem{"RouteRules", err})
	}
	return snap.VirtualServices, snap.DestinationRules, problems
}
