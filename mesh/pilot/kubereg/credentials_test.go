package kubereg

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	"github.com/meshlab/meshlab/mesh/config"
)

func TestCredentialsOfTheNamedSecretsOnly(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "bank-client", Namespace: "shop"}, Data: map[string][]byte{"tls.crt": []byte("C"), "tls.key": []byte("K"), "ca.crt": []byte("A"), "other": []byte("x")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "ledger-ca", Namespace: "shop"}, Data: map[string][]byte{"cacert": []byte("L")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "bank-client", Namespace: "other"}, Data: map[string][]byte{"cert": []byte("X")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "db-password", Namespace: "shop"}, Data: map[string][]byte{"password": []byte("hunter2")}},
	} {
		o, _ := credentialsOnly(s)
		if err := idx.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	tls := func(name string) *v1alpha3.TrafficPolicy {
		return &v1alpha3.TrafficPolicy{Tls: &v1alpha3.ClientTLSSettings{Mode: v1alpha3.ClientTLSSettings_MUTUAL, CredentialName: name}}
	}
	drs := []*networkingv1.DestinationRule{
		{ObjectMeta: metav1.ObjectMeta{Name: "bank", Namespace: "shop"}, Spec: v1alpha3.DestinationRule{Host: "bank", TrafficPolicy: tls("bank-client")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "ledger", Namespace: "shop"}, Spec: v1alpha3.DestinationRule{Host: "ledger",
			Subsets: []*v1alpha3.Subset{{Name: "v1", TrafficPolicy: tls("ledger-ca")}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "gone", Namespace: "shop"}, Spec: v1alpha3.DestinationRule{Host: "gone", TrafficPolicy: tls("missing")}},
	}
	got := credentials(drs, cache.NewGenericLister(idx, schema.GroupResource{Resource: "secrets"}))
	want := map[string]config.Credential{
		"shop/bank-client": {Cert: []byte("C"), Key: []byte("K"), CA: []byte("A")},
		"shop/ledger-ca":   {CA: []byte("L")},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	o, _, _ := idx.GetByKey("shop/db-password")
	if s := o.(*corev1.Secret); len(s.Data) != 0 {
		t.Errorf("a Secret that is no credential kept its data in the cache: %v", s.Data)
	}
}
