package kubereg

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/meshlab/meshlab/mesh/authz"
	"github.com/meshlab/meshlab/mesh/jwtauth"
)

// policyMemory remembers the last valid version of every policy, by namespace/name.
type policyMemory struct {
	aps map[string]*securityv1.AuthorizationPolicy
	ras map[string]*securityv1.RequestAuthentication
}

// security returns the policies to apply and what was rejected. A policy that does not validate
// (stored before the webhook, or past it) is never dropped silently, because dropping an ALLOW or
// DENY policy opens the workloads it selects: it keeps its last good version, and one that was
// never good is applied closed (an ALLOW as a policy without rules, which allows nothing; a
// DENY as one that denies everything it selects). An AUDIT or RequestAuthentication without a
// good version is left out, which opens nothing (a request's token is then not verified, and
// rules that need a request principal do not match).
func (m *policyMemory) security(aps []*securityv1.AuthorizationPolicy, ras []*securityv1.RequestAuthentication) (
	[]*securityv1.AuthorizationPolicy, []*securityv1.RequestAuthentication, []string) {
	if m.aps == nil {
		m.aps, m.ras = map[string]*securityv1.AuthorizationPolicy{}, map[string]*securityv1.RequestAuthentication{}
	}
	var rejected []string
	var outAP []*securityv1.AuthorizationPolicy
	seen := map[string]bool{}
	for _, p := range aps {
		k := p.Namespace + "/" + p.Name
		seen[k] = true
		errs := authz.Validate(p)
		if len(errs) == 0 {
			m.aps[k] = p
			outAP = append(outAP, p)
			continue
		}
		why := fmt.Sprintf("AuthorizationPolicy %s: %v", k, errors.Join(errs...))
		switch good := m.aps[k]; {
		case good != nil:
			outAP = append(outAP, good)
			rejected = append(rejected, why+"; its last good version stays in force")
		case p.Spec.GetAction() == v1beta1.AuthorizationPolicy_AUDIT:
			rejected = append(rejected, why+"; not applied (an audit policy decides nothing)")
		default:
			outAP = append(outAP, closed(p))
			rejected = append(rejected, why+"; applied as deny-all to the workloads it selects until fixed")
		}
	}
	for k := range m.aps {
		if !seen[k] {
			delete(m.aps, k) // deleted: a later policy of that name starts afresh
		}
	}
	var outRA []*securityv1.RequestAuthentication
	seen = map[string]bool{}
	for _, ra := range ras {
		k := ra.Namespace + "/" + ra.Name
		seen[k] = true
		errs := jwtauth.Validate(ra)
		if len(errs) == 0 {
			m.ras[k] = ra
			outRA = append(outRA, ra)
			continue
		}
		why := fmt.Sprintf("RequestAuthentication %s: %v", k, errors.Join(errs...))
		if good := m.ras[k]; good != nil {
			outRA = append(outRA, good)
			rejected = append(rejected, why+"; its last good version stays in force")
		} else {
			rejected = append(rejected, why+"; not applied (tokens are not verified, so request principals do not match)")
		}
	}
	for k := range m.ras {
		if !seen[k] {
			delete(m.ras, k)
		}
	}
	slices.SortFunc(outAP, func(a, b *securityv1.AuthorizationPolicy) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	slices.SortFunc(outRA, func(a, b *securityv1.RequestAuthentication) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	slices.Sort(rejected)
	return outAP, outRA, rejected
}

// closed is a valid policy that selects what p selects and lets nothing through.
func closed(p *securityv1.AuthorizationPolicy) *securityv1.AuthorizationPolicy {
	c := &securityv1.AuthorizationPolicy{TypeMeta: p.TypeMeta, ObjectMeta: *p.ObjectMeta.DeepCopy()}
	c.Annotations = nil // never dry-run
	c.Spec.Selector = p.Spec.GetSelector()
	if p.Spec.GetAction() == v1beta1.AuthorizationPolicy_ALLOW {
		return c // no rules: matches nothing, so the selected workloads allow nothing
	}
	c.Spec.Action = v1beta1.AuthorizationPolicy_DENY
	c.Spec.Rules = []*v1beta1.Rule{{}}
	return c
}
