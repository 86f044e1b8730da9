package xdsnames

import "strings"

// Security policies travel to a sidecar as ECDS resources (envoy.config.core.v3.
// TypedExtensionConfig, go-control-plane's ExtensionConfigType), one per policy that selects the
// proxy: the control plane picks them (it knows the pod's labels), the typed_config holds Istio's
// own spec proto (istio.security.v1beta1.AuthorizationPolicy or RequestAuthentication), and the
// name says which policy it is: "<prefix><namespace>/<name>". Istio's Envoy gets RBAC and
// jwt_authn filters instead; meshlab's sidecar evaluates Istio's policies themselves (mesh/authz,
// mesh/jwtauth), the same way whether they come from files or from the control plane, so the
// control plane sends them as they are rather than a translation the sidecar would have to undo.
const (
	PolicyAuthz       = "meshlab.authz/"         // an enforced AuthorizationPolicy
	PolicyAuthzDryRun = "meshlab.authz-dry-run/" // an AuthorizationPolicy annotated istio.io/dry-run
	PolicyJWT         = "meshlab.jwt/"           // a RequestAuthentication
)

// PolicyName is the ECDS resource name of a policy.
func PolicyName(prefix, namespace, name string) string { return prefix + namespace + "/" + name }

// ParsePolicyName splits an ECDS resource name into its prefix, namespace and name.
func ParsePolicyName(s string) (prefix, namespace, name string, ok bool) {
	for _, p := range []string{PolicyAuthzDryRun, PolicyAuthz, PolicyJWT} {
		if rest, found := strings.CutPrefix(s, p); found {
			namespace, name, ok = strings.Cut(rest, "/")
			return p, namespace, name, ok && namespace != "" && name != ""
		}
	}
	return "", "", "", false
}
