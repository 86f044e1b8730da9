package analyze

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"istio.io/api/security/v1beta1"

	"github.com/meshlab/meshlab/mesh/authz"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/model"
)

// Codes of the policy checks.
const (
	CodeAllowIgnoredOnTCP = "ML0201" // an ALLOW rule with HTTP-only fields, on a workload with TCP ports
	CodeDenyAllTCP        = "ML0202" // a DENY rule of HTTP-only fields and no port: it denies all TCP
)

// httpOnlyOnTCP finds rules that TCP traffic evaluates differently from what they say: Istio drops
// an ALLOW rule with HTTP-only fields on TCP (its workloads' TCP ports then deny), and keeps a DENY
// rule without those fields (it then denies every TCP connection).
func httpOnlyOnTCP(s model.State) []Message {
	var out []Message
	for _, p := range s.AuthorizationPolicies {
		res := "AuthorizationPolicy " + p.Namespace + "/" + p.Name
		for i, r := range p.Spec.GetRules() {
			fields := authz.HTTPOnlyFields(r)
			if r == nil || len(fields) == 0 {
				continue
			}
			field := fmt.Sprintf("spec.rules[%d]", i)
			switch p.Spec.GetAction() {
			case v1beta1.AuthorizationPolicy_DENY:
				if authz.RulePorts(r) == nil {
					out = append(out, Message{Level: Warning, Code: CodeDenyAllTCP, Resource: res, Field: field,
						Text: fmt.Sprintf("uses only HTTP attributes (%s) without a port: on TCP ports they cannot be evaluated and the rule denies all TCP traffic to the workloads it selects; name the HTTP ports in to.operation.ports", strings.Join(fields, ", "))})
				}
			case v1beta1.AuthorizationPolicy_ALLOW:
				tcp := tcpPortsOf(s, p.Namespace, p.Spec.GetSelector().GetMatchLabels(), authz.RulePorts(r))
				if len(tcp) > 0 {
					out = append(out, Message{Level: Warning, Code: CodeAllowIgnoredOnTCP, Resource: res, Field: field,
						Text: fmt.Sprintf("uses HTTP-only fields (%s): on TCP port %s this rule is ignored, so it allows no TCP traffic there", strings.Join(fields, ", "), strings.Join(tcp, ", "))})
				}
			}
		}
	}
	return out
}

// tcpPortsOf lists "port (service)" for the TCP ports of the services whose endpoints a policy in
// ns with selector sel selects, limited to ports when given.
func tcpPortsOf(s model.State, ns string, sel map[string]string, ports []string) []string {
	var out []string
	for _, svc := range s.Services {
		selected := false
		for _, e := range svc.Endpoints {
			if authz.Applies(ns, sel, authz.Workload{Namespace: svc.Namespace, Labels: e.Labels}, config.RootNamespace) {
				selected = true
			}
		}
		if !selected {
			continue
		}
		for _, p := range svc.Ports {
			port := p.EndpointPort(config.Endpoint{})
			if !isTCP(p) || ports != nil && !slices.Contains(ports, strconv.Itoa(int(port))) {
				continue
			}
			out = append(out, fmt.Sprintf("%d (%s)", port, svc.Name))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func isTCP(p config.Port) bool {
	v := p.Protocol
	if v == "" {
		v, _, _ = strings.Cut(p.Name, "-")
	}
	return strings.EqualFold(v, "tcp") || strings.EqualFold(v, "mongo") || strings.EqualFold(v, "mysql") || strings.EqualFold(v, "redis")
}
