package xds

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshlab/meshlab/mesh/authz"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// policies rebuilds the security policies from the ECDS resources (xdsnames.PolicyAuthz): they
// were selected for this proxy by the control plane, so the snapshot says so.
func policies(res *Resources, snap *config.Snapshot) error {
	snap.PoliciesSelected = true
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(res.Extensions)) {
		e := res.Extensions[name]
		prefix, ns, n, ok := xdsnames.ParsePolicyName(name)
		if !ok {
			errs = append(errs, fmt.Errorf("extension config %q: not a meshlab policy", name))
			continue
		}
		meta := metav1.ObjectMeta{Namespace: ns, Name: n}
		switch prefix {
		case xdsnames.PolicyAuthz, xdsnames.PolicyAuthzDryRun:
			p := &securityv1.AuthorizationPolicy{ObjectMeta: meta}
			p.APIVersion, p.Kind = "security.istio.io/v1", "AuthorizationPolicy"
			if prefix == xdsnames.PolicyAuthzDryRun {
				p.Annotations = map[string]string{authz.DryRunAnnotation: "true"}
			}
			if err := e.GetTypedConfig().UnmarshalTo(&p.Spec); err != nil {
				errs = append(errs, fmt.Errorf("extension config %q: %w", name, err))
				continue
			}
			snap.AuthorizationPolicies = append(snap.AuthorizationPolicies, p)
		case xdsnames.PolicyJWT:
			ra := &securityv1.RequestAuthentication{ObjectMeta: meta}
			ra.APIVersion, ra.Kind = "security.istio.io/v1", "RequestAuthentication"
			if err := e.GetTypedConfig().UnmarshalTo(&ra.Spec); err != nil {
				errs = append(errs, fmt.Errorf("extension config %q: %w", name, err))
				continue
			}
			snap.RequestAuthentications = append(snap.RequestAuthentications, ra)
		}
	}
	return errors.Join(errs...)
}

var _ = v1beta1.AuthorizationPolicy_ALLOW // the typed_config's message types are registered by this import
