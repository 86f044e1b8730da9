package xdsgen

import (
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/anypb"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/meshlab/meshlab/mesh/authz"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// AuthorizationPolicy renders one policy that selects the proxy as an ECDS resource carrying
// Istio's spec (xdsnames.PolicyAuthz explains the choice).
func AuthorizationPolicy(p *securityv1.AuthorizationPolicy) *corev3.TypedExtensionConfig {
	prefix := xdsnames.PolicyAuthz
	if dry, _ := strconv.ParseBool(p.Annotations[authz.DryRunAnnotation]); dry {
		prefix = xdsnames.PolicyAuthzDryRun
	}
	a, _ := anypb.New(&p.Spec) // marshalling a generated message cannot fail
	return &corev3.TypedExtensionConfig{Name: xdsnames.PolicyName(prefix, p.Namespace, p.Name), TypedConfig: a}
}

// RequestAuthentication renders one RequestAuthentication that selects the proxy.
func RequestAuthentication(ra *securityv1.RequestAuthentication) *corev3.TypedExtensionConfig {
	a, _ := anypb.New(&ra.Spec)
	return &corev3.TypedExtensionConfig{Name: xdsnames.PolicyName(xdsnames.PolicyJWT, ra.Namespace, ra.Name), TypedConfig: a}
}
