package kubereg

import (
	"istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/meshlab/meshlab/mesh/config"
)

// credentialKeys are the Secret keys of a TLS credential: Istio's and kubernetes.io/tls's.
var credentialKeys = []string{"cert", "key", "cacert", "tls.crt", "tls.key", "ca.crt"}

// credentialsOnly keeps, of a Secret in the cache, only what a credential is made of: the
// control plane has no use for other secrets' contents and should not hold them.
func credentialsOnly(obj any) (any, error) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return stripManagedFields(obj)
	}
	keep := map[string][]byte{}
	for _, k := range credentialKeys {
		if v, ok := s.Data[k]; ok {
			keep[k] = v
		}
	}
	s.Data, s.StringData, s.Annotations = keep, nil, nil
	return stripManagedFields(s)
}

// credentials are the Secrets the rules name with credentialName, each looked up in its rule's
// namespace, by "namespace/name". A Secret missing is left out (the proxy's clusters then fail
// their handshakes, and its compile warns).
func credentials(drs []*networkingv1.DestinationRule, secrets cache.GenericLister) map[string]config.Credential {
	var out map[string]config.Credential
	add := func(ns string, tp *v1alpha3.TrafficPolicy) {
		name := tp.GetTls().GetCredentialName()
		if name == "" {
			return
		}
		o, err := secrets.ByNamespace(ns).Get(name)
		s, ok := o.(*corev1.Secret)
		if err != nil || !ok {
			return
		}
		get := func(keys ...string) []byte {
			for _, k := range keys {
				if v, ok := s.Data[k]; ok {
					return v
				}
			}
			return nil
		}
		if out == nil {
			out = map[string]config.Credential{}
		}
		out[ns+"/"+name] = config.Credential{Cert: get("cert", "tls.crt"), Key: get("key", "tls.key"), CA: get("cacert", "ca.crt")}
	}
	for _, dr := range drs {
		add(dr.Namespace, dr.Spec.TrafficPolicy)
		for _, s := range dr.Spec.Subsets {
			add(dr.Namespace, s.GetTrafficPolicy())
		}
	}
	return out
}
