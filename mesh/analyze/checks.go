package analyze

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"istio.io/api/networking/v1alpha3"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/model"
)

// index answers "is there a Service for this host" and "which subsets does it have".
type index struct {
	services map[string]*config.Service // by FQDN
	subsets  map[string]map[string]bool // FQDN → names of the subsets DestinationRules define
}

func newIndex(s model.State) *index {
	idx := &index{services: map[string]*config.Service{}, subsets: map[string]map[string]bool{}}
	for i := range s.Services {
		svc := &s.Services[i]
		idx.services[svc.FQDN()] = svc
	}
	for _, dr := range s.DestinationRules {
		host := fqdn(dr.Spec.Host, dr.Namespace)
		if idx.subsets[host] == nil {
			idx.subsets[host] = map[string]bool{}
		}
		for _, ss := range dr.Spec.Subsets {
			if ss != nil {
				idx.subsets[host][ss.Name] = true
			}
		}
	}
	return idx
}

// fqdn resolves a host as Istio does for a resource in namespace ns: a short name is a Service
// in ns, "name.ns" and "name.ns.svc" are completed with the cluster domain.
func fqdn(host, ns string) string {
	suffix := "." + config.ClusterDomain
	switch strings.Count(host, ".") {
	case 0:
		return host + "." + ns + suffix
	case 1:
		return host + suffix
	}
	if strings.HasSuffix(host, ".svc") {
		return host + strings.TrimPrefix(suffix, ".svc")
	}
	return host
}

// known reports whether host (already resolved) names a Service; a wildcard needs one match.
func (idx *index) known(host string) bool {
	if rest, ok := strings.CutPrefix(host, "*"); ok {
		for name := range idx.services {
			if strings.HasSuffix(name, rest) {
				return true
			}
		}
		return false
	}
	return idx.services[host] != nil
}

func unknownHosts(s model.State, idx *index) []Message {
	var out []Message
	bad := func(resource, field, host, resolved string) {
		out = append(out, Message{Level: Error, Code: CodeUnknownHost, Resource: resource, Field: field,
			Text: fmt.Sprintf("host %q matches no Service (looked for %s)", host, resolved)})
	}
	for _, vs := range s.VirtualServices {
		res := "VirtualService " + vs.Namespace + "/" + vs.Name
		if forMesh(vs.Spec.Gateways) {
			for i, h := range vs.Spec.Hosts {
				if r := fqdn(h, vs.Namespace); !idx.known(r) {
					bad(res, fmt.Sprintf("spec.hosts[%d]", i), h, r)
				}
			}
		}
		for i, route := range vs.Spec.Http {
			for j, d := range route.GetRoute() {
				if h := d.GetDestination().GetHost(); h != "" {
					if r := fqdn(h, vs.Namespace); !idx.known(r) {
						bad(res, fmt.Sprintf("spec.http[%d].route[%d].destination.host", i, j), h, r)
					}
				}
			}
		}
	}
	for _, dr := range s.DestinationRules {
		if r := fqdn(dr.Spec.Host, dr.Namespace); !idx.known(r) {
			bad("DestinationRule "+dr.Namespace+"/"+dr.Name, "spec.host", dr.Spec.Host, r)
		}
	}
	return out
}

// forMesh: a VirtualService without gateways, or naming the reserved gateway "mesh", applies to
// sidecars; one bound only to ingress gateways names external hosts, not Services.
func forMesh(gateways []string) bool {
	return len(gateways) == 0 || slices.Contains(gateways, "mesh")
}

func undefinedSubsets(s model.State, idx *index) []Message {
	var out []Message
	for _, vs := range s.VirtualServices {
		res := "VirtualService " + vs.Namespace + "/" + vs.Name
		for i, route := range vs.Spec.Http {
			for j, d := range route.GetRoute() {
				dst := d.GetDestination()
				if dst.GetSubset() == "" {
					continue
				}
				host := fqdn(dst.GetHost(), vs.Namespace)
				if idx.subsets[host][dst.GetSubset()] {
					continue
				}
				defined := slices.Sorted(maps.Keys(idx.subsets[host]))
				text := fmt.Sprintf("subset %q of host %s is defined by no DestinationRule", dst.GetSubset(), dst.GetHost())
				if len(defined) > 0 {
					text += " (defined: " + strings.Join(defined, ", ") + ")"
				}
				out = append(out, Message{Level: Error, Code: CodeUndefinedSubset, Resource: res,
					Field: fmt.Sprintf("spec.http[%d].route[%d].destination.subset", i, j), Text: text})
			}
		}
	}
	return out
}

// unreachableRules finds HTTP rules that can never be chosen: rules are tried in order and the
// first match wins, so anything after a rule that matches every request, or after a rule with
// exactly the same match conditions, is dead.
func unreachableRules(s model.State) []Message {
	var out []Message
	for _, vs := range s.VirtualServices {
		res := "VirtualService " + vs.Namespace + "/" + vs.Name
		catchAll := -1
		for i, route := range vs.Spec.Http {
			field := fmt.Sprintf("spec.http[%d]", i)
			if catchAll >= 0 {
				out = append(out, Message{Level: Warning, Code: CodeUnreachableRule, Resource: res, Field: field,
					Text: fmt.Sprintf("never matches: spec.http[%d] before it matches every request", catchAll)})
				continue
			}
			for j := 0; j < i; j++ {
				if len(route.GetMatch()) > 0 && sameMatch(vs.Spec.Http[j].GetMatch(), route.GetMatch()) {
					out = append(out, Message{Level: Warning, Code: CodeShadowedRule, Resource: res, Field: field,
						Text: fmt.Sprintf("never matches: spec.http[%d] has the same match conditions and comes first", j)})
					break
				}
			}
			if matchesAll(route.GetMatch()) {
				catchAll = i
			}
		}
	}
	return out
}

// matchesAll: no match list, or one entry with no condition but a "/" URI prefix (or nothing).
// The entries of a list are ORed, so a single match-everything entry makes the rule match all.
func matchesAll(ms []*v1alpha3.HTTPMatchRequest) bool {
	if len(ms) == 0 {
		return true
	}
	for _, m := range ms {
		c := proto.Clone(m).(*v1alpha3.HTTPMatchRequest)
		c.Name = ""
		if p, ok := c.GetUri().GetMatchType().(*v1alpha3.StringMatch_Prefix); ok && p.Prefix == "/" {
			c.Uri = nil
		}
		if proto.Equal(c, &v1alpha3.HTTPMatchRequest{}) {
			return true
		}
	}
	return false
}

func sameMatch(a, b []*v1alpha3.HTTPMatchRequest) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := proto.Clone(a[i]).(*v1alpha3.HTTPMatchRequest), proto.Clone(b[i]).(*v1alpha3.HTTPMatchRequest)
		x.Name, y.Name = "", ""
		if !proto.Equal(x, y) {
			return false
		}
	}
	return true
}
