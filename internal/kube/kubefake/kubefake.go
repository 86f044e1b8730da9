// Package kubefake gives unit tests of code that applies through internal/kube what a real
// cluster's discovery would: a REST mapper for the built-in kinds, CRDs, and the Istio kinds
// meshlab's CRDs serve. Production code never uses it.
package kubefake

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// clusterScoped are the built-in kinds that are not namespaced (kubectl api-resources
// --namespaced=false on Kubernetes 1.37, without the API's review kinds).
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "ComponentStatus": true,
	"ClusterRole": true, "ClusterRoleBinding": true,
	"CustomResourceDefinition": true, "APIService": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"MutatingAdmissionPolicy": true, "MutatingAdmissionPolicyBinding": true,
	"StorageClass": true, "CSIDriver": true, "CSINode": true, "VolumeAttachment": true, "VolumeAttributesClass": true,
	"PriorityClass": true, "RuntimeClass": true, "IngressClass": true, "IPAddress": true, "ServiceCIDR": true,
	"CertificateSigningRequest": true, "ClusterTrustBundle": true,
	"FlowSchema": true, "PriorityLevelConfiguration": true,
	"DeviceClass": true, "ResourceSlice": true,
}

// istioKinds are the kinds meshlab's CRDs serve (mesh/crds), all namespaced.
func istioKinds() []schema.GroupVersionKind {
	out := []schema.GroupVersionKind{{Group: "config.istio.io", Version: "v1alpha2", Kind: "RouteRule"}}
	for _, v := range []string{"v1", "v1beta1", "v1alpha3"} {
		for _, k := range []string{"VirtualService", "DestinationRule", "Gateway"} {
			out = append(out, schema.GroupVersionKind{Group: "networking.istio.io", Version: v, Kind: k})
		}
	}
	return out
}

// Mapper maps every kind client-go's scheme knows, CustomResourceDefinition, and meshlab's
// Istio kinds, with their scope, as a cluster with meshlab installed would.
func Mapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for gvk := range scheme.Scheme.AllKnownTypes() {
		if strings.HasSuffix(gvk.Kind, "List") || strings.HasSuffix(gvk.Kind, "Options") || gvk.Kind == "WatchEvent" {
			continue
		}
		scope := meta.RESTScopeNamespace
		if clusterScoped[gvk.Kind] {
			scope = meta.RESTScopeRoot
		}
		m.Add(gvk, scope)
	}
	m.Add(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}, meta.RESTScopeRoot)
	for _, gvk := range istioKinds() {
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	return m
}
