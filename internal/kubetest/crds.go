package kubetest

import (
	"context"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// InstallCRDs creates the CRDs crds returns (meshlab's: crds.All from mesh/crds) and waits until
// each is Established (served), so the test can create resources right after. The CRDs come from
// the caller so that this package, below mesh/, imports none of it.
func (c *Cluster) InstallCRDs(t testing.TB, crds func() ([]*apiextensionsv1.CustomResourceDefinition, error)) {
	t.Helper()
	all, err := crds()
	if err != nil {
		t.Fatalf("kubetest: CRDs: %v", err)
	}
	cs, err := apiextensionsclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatalf("kubetest: apiextensions client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, crd := range all {
		if _, err := cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
			t.Fatalf("kubetest: create CRD %s: %v", crd.Name, err)
		}
	}
	for _, crd := range all {
		for {
			got, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err == nil && established(got) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("kubetest: CRD %s not established: %v", crd.Name, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}
