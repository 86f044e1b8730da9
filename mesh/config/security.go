package config

import (
	"encoding/json"
	"errors"
	"fmt"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshlab/meshlab/mesh/authz"
	"github.com/meshlab/meshlab/mesh/jwtauth"
)

// Istio's security resources: AuthorizationPolicy and RequestAuthentication, security.istio.io
// v1 and v1beta1 (the same schema). They are parsed strictly (an unknown field is an error) and
// checked by the packages that enforce them, so whatever the proxy would refuse is refused when
// a file loads or at `kubectl apply`.

func (b *builder) addAuthorizationPolicy(apiVersion string, meta metav1.ObjectMeta, spec json.RawMessage) error {
	if meta.Name == "" {
		return errors.New("metadata.name is required")
	}
	p := &securityv1.AuthorizationPolicy{ObjectMeta: meta}
	p.APIVersion, p.Kind = apiVersion, "AuthorizationPolicy"
	if err := strictProto.Unmarshal(orEmpty(spec), &p.Spec); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	if errs := authz.Validate(p); len(errs) > 0 {
		return errors.Join(errs...)
	}
	if b.aps == nil {
		b.aps = map[string]*securityv1.AuthorizationPolicy{}
	}
	key := "AuthorizationPolicy/" + meta.Namespace + "/" + meta.Name
	b.aps[key] = p
	b.remember(key)
	return nil
}

func (b *builder) addRequestAuthentication(apiVersion string, meta metav1.ObjectMeta, spec json.RawMessage) error {
	if meta.Name == "" {
		return errors.New("metadata.name is required")
	}
	ra := &securityv1.RequestAuthentication{ObjectMeta: meta}
	ra.APIVersion, ra.Kind = apiVersion, "RequestAuthentication"
	if err := strictProto.Unmarshal(orEmpty(spec), &ra.Spec); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	if errs := jwtauth.Validate(ra); len(errs) > 0 {
		return errors.Join(errs...)
	}
	if b.ras == nil {
		b.ras = map[string]*securityv1.RequestAuthentication{}
	}
	key := "RequestAuthentication/" + meta.Namespace + "/" + meta.Name
	b.ras[key] = ra
	b.remember(key)
	return nil
}

func (s *Snapshot) validateSecurity() []error {
	var errs []error
	for _, p := range s.AuthorizationPolicies {
		for _, err := range authz.Validate(p) {
			errs = append(errs, fmt.Errorf("config: AuthorizationPolicy %s/%s: %w", p.Namespace, p.Name, err))
		}
	}
	for _, ra := range s.RequestAuthentications {
		for _, err := range jwtauth.Validate(ra) {
			errs = append(errs, fmt.Errorf("config: RequestAuthentication %s/%s: %w", ra.Namespace, ra.Name, err))
		}
	}
	return errs
}

// Workload is the proxy as the security policies see it.
func (p Proxy) PolicyWorkload() authz.Workload {
	return authz.Workload{Namespace: p.Namespace, Labels: p.Labels}
}

// SelectedAuthorizationPolicies are the AuthorizationPolicies that apply to the snapshot's proxy.
func (s *Snapshot) SelectedAuthorizationPolicies() []*securityv1.AuthorizationPolicy {
	if s.PoliciesSelected {
		return s.AuthorizationPolicies
	}
	return authz.Select(s.AuthorizationPolicies, s.Proxy.PolicyWorkload(), RootNamespace)
}

// SelectedRequestAuthentications are the RequestAuthentications that apply to the snapshot's proxy.
func (s *Snapshot) SelectedRequestAuthentications() []*securityv1.RequestAuthentication {
	if s.PoliciesSelected {
		return s.RequestAuthentications
	}
	return jwtauth.Select(s.RequestAuthentications, s.Proxy.PolicyWorkload(), RootNamespace)
}
