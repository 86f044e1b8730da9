package kubereg

import (
	"strings"
	"testing"

	"istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"sigs.k8s.io/yaml"
)

func ap(t *testing.T, doc string) *securityv1.AuthorizationPolicy {
	t.Helper()
	p := &securityv1.AuthorizationPolicy{}
	if err := yaml.UnmarshalStrict([]byte(doc), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadPoliciesNeverOpen: an invalid update keeps the last good version; a policy never valid
// is applied closed; both are reported.
func TestBadPoliciesNeverOpen(t *testing.T) {
	var m policyMemory
	good := ap(t, `metadata: {name: details-viewer, namespace: default}
spec:
  selector: {matchLabels: {app: details}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]}}]}]`)
	bad := ap(t, `metadata: {name: details-viewer, namespace: default}
spec:
  selector: {matchLabels: {app: details}}
  rules: [{from: [{source: {principals: ["bookinfo-productpage"]}}]}]`)
	out, _, rejected := m.security([]*securityv1.AuthorizationPolicy{good}, nil)
	if len(out) != 1 || out[0] != good || len(rejected) != 0 {
		t.Fatalf("good policy: %v %v", out, rejected)
	}
	out, _, rejected = m.security([]*securityv1.AuthorizationPolicy{bad}, nil)
	if len(out) != 1 || out[0] != good || len(rejected) != 1 || !strings.Contains(rejected[0], "last good version stays") ||
		!strings.Contains(rejected[0], "spec.rules[0].from[0].source.principals[0]") {
		t.Fatalf("bad update: %v %v", out, rejected)
	}
	var fresh policyMemory
	denyBad := ap(t, `metadata: {name: deny-post, namespace: default}
spec:
  action: DENY
  rules: [{to: [{operation: {methods: ["POST"], paths: ["/a/*/b"]}}]}]`)
	out, _, rejected = fresh.security([]*securityv1.AuthorizationPolicy{bad, denyBad}, nil)
	if len(out) != 2 || len(rejected) != 2 {
		t.Fatalf("never good: %v %v", out, rejected)
	}
	for _, p := range out {
		switch p.Name {
		case "details-viewer":
			if p.Spec.Action != v1beta1.AuthorizationPolicy_ALLOW || len(p.Spec.Rules) != 0 {
				t.Errorf("bad ALLOW applied as %v", &p.Spec)
			}
		case "deny-post":
			if p.Spec.Action != v1beta1.AuthorizationPolicy_DENY || len(p.Spec.Rules) != 1 || p.Spec.Rules[0].To != nil {
				t.Errorf("bad DENY applied as %v", &p.Spec)
			}
		}
	}
}
