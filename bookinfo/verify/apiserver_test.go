package verify

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/internal/kubetest"
	"github.com/meshlab/meshlab/mesh/crds"
)

// TestKubeRouterOnRealAPIServer applies every scenario's samples to a real kube-apiserver (with
// meshlab's CRDs) over a user's own VirtualService, and checks that restoring leaves exactly
// the user's objects: same spec and labels, nothing of the samples left behind.
func TestKubeRouterOnRealAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	c.InstallCRDs(t, crds.All)
	kc, err := kube.NewClient(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	dyn := kc.Dynamic
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	vsGVR := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	drGVR := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
	if _, err := c.Client(t).CoreV1().Namespaces().Create(ctx, nsObject(testNS), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	user := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "reviews", "namespace": testNS, "labels": map[string]any{"owner": "me"}},
		"spec": map[string]any{"hosts": []any{"reviews"}, "http": []any{map[string]any{"route": []any{
			map[string]any{"destination": map[string]any{"host": "reviews", "subset": "v3"}}}}}},
	}}
	if _, err := dyn.Resource(vsGVR).Namespace(testNS).Create(ctx, user, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		var out []any
		for _, gvr := range []schema.GroupVersionResource{vsGVR, drGVR} {
			l, err := dyn.Resource(gvr).Namespace(testNS).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range l.Items {
				out = append(out, []any{o.GetKind(), o.GetName(), o.GetLabels(), o.Object["spec"]})
			}
		}
		b, _ := json.Marshal(out)
		return string(b)
	}
	before := snapshot()
	r := KubeRouter{Client: kc, Namespace: testNS}
	for _, s := range Scenarios() {
		objs, err := scenarioObjects(s)
		if err != nil {
			t.Fatal(err)
		}
		restore, err := r.Apply(ctx, objs)
		if err != nil {
			t.Fatalf("%s: apply: %v", s.Name, err)
		}
		if snapshot() == before {
			t.Fatalf("%s: apply changed nothing", s.Name)
		}
		// Restore as runScenario does after Ctrl+C: from a cancelled context's values.
		cctx, ccancel := context.WithCancel(ctx)
		ccancel()
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(cctx), RestoreTimeout)
		if err := restore(rctx); err != nil {
			t.Fatalf("%s: restore: %v", s.Name, err)
		}
		rcancel()
		if after := snapshot(); after != before {
			t.Fatalf("%s: routing not restored:\nbefore %s\nafter  %s", s.Name, before, after)
		}
	}
}

func nsObject(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}
