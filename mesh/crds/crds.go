// Package crds holds the CustomResourceDefinitions of meshlab's config API and the validating
// admission webhook that checks their contents.
//
// Schema choice: the spec of every resource is x-kubernetes-preserve-unknown-fields, and all
// validation happens in the webhook (Validator), which runs mesh/config's parser and validators —
// the very code the proxy and the control plane use. A structural schema transcribed from Istio's
// protos would be a second, drifting copy of those rules, and could not say "the meshlab proxy
// does not support TCP routes" anyway; the webhook rejects with the resource and field path.
package crds

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

//go:embed manifests/*.yaml
var manifests embed.FS

// The resources, at their storage versions. VirtualService and DestinationRule are also served
// as v1beta1 and v1alpha3 (same schema, no conversion needed: Istio's versions are identical in
// shape), so Istio's samples apply whichever version they name.
var (
	VirtualServices  = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	DestinationRules = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
	RouteRules       = schema.GroupVersionResource{Group: "config.istio.io", Version: "v1alpha2", Resource: "routerules"}
	// PeerAuthentications, AuthorizationPolicies and RequestAuthentications are also served as
	// v1beta1 (Istio's versions are identical in shape).
	PeerAuthentications    = schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"}
	AuthorizationPolicies  = schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "authorizationpolicies"}
	RequestAuthentications = schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "requestauthentications"}
)

// ServedVersions lists every served version per group, for webhook rules and tests.
var ServedVersions = map[string][]string{
	"networking.istio.io": {"v1", "v1beta1", "v1alpha3"},
	"config.istio.io":     {"v1alpha2"},
	"security.istio.io":   {"v1", "v1beta1"},
}

// All decodes the embedded CRDs, sorted by name.
func All() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	names, err := fs.Glob(manifests, "manifests/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("crds: %w", err)
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, n := range names {
		data, err := manifests.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("crds: %w", err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096).Decode(crd); err != nil {
			return nil, fmt.Errorf("crds: %s: %w", n, err)
		}
		out = append(out, crd)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// WriteYAML writes the embedded manifests as one multi-document stream (for `kubectl apply -f`).
func WriteYAML(w io.Writer) error {
	names, err := fs.Glob(manifests, "manifests/*.yaml")
	if err != nil {
		return fmt.Errorf("crds: %w", err)
	}
	sort.Strings(names)
	for i, n := range names {
		data, err := manifests.ReadFile(n)
		if err != nil {
			return fmt.Errorf("crds: %w", err)
		}
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}
