package kubereg_test

import (
	"context"
	"strings"
	"testing"

	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshlab/meshlab/mesh/crds"
	"github.com/meshlab/meshlab/mesh/pilot/kubereg"
	"github.com/meshlab/meshlab/mesh/pilot/model"
)

// fakeClients serves the core objects given and discovery of every CRD. (A full Run on fake
// clients is not possible: they do not implement the watch-list bookmarks client-go's informers
// wait for; the real apiserver tests cover Run.)
func fakeClients(objs ...runtime.Object) (*fake.Clientset, *istiofake.Clientset, *dynamicfake.FakeDynamicClient) {
	core := fake.NewClientset(objs...)
	core.Resources = []*metav1.APIResourceList{
		{GroupVersion: "networking.istio.io/v1", APIResources: []metav1.APIResource{{Name: "virtualservices"}, {Name: "destinationrules"}}},
		{GroupVersion: "config.istio.io/v1alpha2", APIResources: []metav1.APIResource{{Name: "routerules"}}},
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{crds.RouteRules: "RouteRuleList"})
	return core, istiofake.NewSimpleClientset(), dyn
}

// Without the CRDs the registry fails at once and says what to do, instead of waiting forever.
func TestRegistryWithoutCRDs(t *testing.T) {
	core, ic, dyn := fakeClients()
	core.Resources = nil
	err := kubereg.NewFromClients(core, ic, dyn, kubereg.Options{}).Run(context.Background(), func(model.State) {})
	if err == nil || !strings.Contains(err.Error(), "meshlab mesh install") {
		t.Fatalf("Run: %v, want an error naming the fix", err)
	}
}
