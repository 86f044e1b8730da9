package kube

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshlab/meshlab/internal/kube/kubefake"
)

func obj(apiVersion, kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name}}}
	if ns != "" {
		u.SetNamespace(ns)
	}
	if spec != nil {
		u.Object["spec"] = spec
	}
	return u
}

// store is a fake API that keeps applied objects and bumps resourceVersion only when an
// apply changes the content, as the apiserver does.
type store struct {
	mu      sync.Mutex
	objs    map[string]*unstructured.Unstructured // resource/ns/name
	rv      int
	patches []k8stesting.PatchAction
	deletes []string
}

func key(a k8stesting.Action, name string) string {
	return a.GetResource().Resource + "/" + a.GetNamespace() + "/" + name
}

func newStore(t *testing.T) (*store, *dynfake.FakeDynamicClient) {
	s := &store{objs: map[string]*unstructured.Unstructured{}}
	dyn := dynfake.NewSimpleDynamicClient(runtime.NewScheme())
	dyn.PrependReactor("get", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		name := a.(k8stesting.GetAction).GetName()
		if o, ok := s.objs[key(a, name)]; ok {
			return true, o.DeepCopy(), nil
		}
		return true, nil, apierrors.NewNotFound(a.GetResource().GroupResource(), name)
	})
	dyn.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		p := a.(k8stesting.PatchAction)
		s.patches = append(s.patches, p)
		var u unstructured.Unstructured
		if err := json.Unmarshal(p.GetPatch(), &u.Object); err != nil {
			t.Errorf("patch body: %v", err)
		}
		k := key(a, p.GetName())
		if old, ok := s.objs[k]; ok && equalJSON(old.Object["spec"], u.Object["spec"]) {
			return true, old.DeepCopy(), nil
		}
		s.rv++
		u.SetResourceVersion(string(rune('0' + s.rv)))
		s.objs[k] = &u
		return true, u.DeepCopy(), nil
	})
	dyn.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		d := a.(k8stesting.DeleteAction)
		k := key(a, d.GetName())
		if _, ok := s.objs[k]; !ok {
			return true, nil, apierrors.NewNotFound(a.GetResource().GroupResource(), d.GetName())
		}
		if pp := d.GetDeleteOptions().PropagationPolicy; pp == nil || *pp != metav1.DeletePropagationBackground {
			t.Errorf("delete %s: propagation %v, want Background", k, pp)
		}
		delete(s.objs, k)
		s.deletes = append(s.deletes, k)
		return true, nil, nil
	})
	return s, dyn
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func testObjects() []*unstructured.Unstructured {
	return []*unstructured.Unstructured{
		obj("v1", "Namespace", "", "demo", nil),
		obj("v1", "ServiceAccount", "demo", "app", nil),
		obj("apps/v1", "Deployment", "demo", "app", map[string]any{"replicas": int64(1)}),
		obj("networking.istio.io/v1", "VirtualService", "demo", "app", map[string]any{"hosts": []any{"app"}}),
	}
}

func TestApplyIsServerSideInOrderAndCountsChanges(t *testing.T) {
	s, dyn := newStore(t)
	c := &Client{Dynamic: dyn, Mapper: kubefake.Mapper()}
	ctx := context.Background()
	applied, err := c.Apply(ctx, testObjects())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range s.patches {
		got = append(got, p.GetResource().Resource+"/"+p.GetNamespace()+"/"+p.GetName())
		if p.GetPatchType() != "application/apply-patch+yaml" {
			t.Errorf("patch type %s, want server-side apply", p.GetPatchType())
		}
	}
	if want := "namespaces//demo serviceaccounts/demo/app deployments/demo/app virtualservices/demo/app"; strings.Join(got, " ") != want {
		t.Fatalf("applied %v, want %s", got, want)
	}
	for _, a := range applied {
		if !a.Changed {
			t.Errorf("%s: first apply not counted as a change", a.Object)
		}
	}
	if applied[2].Object != "Deployment demo/app" || applied[0].Object != "Namespace demo" {
		t.Errorf("applied = %+v", applied)
	}
	// The same objects again change nothing; a new spec changes one.
	objs := testObjects()
	objs[2].Object["spec"] = map[string]any{"replicas": int64(2)}
	applied, err = c.Apply(ctx, objs)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range applied {
		if a.Changed != (i == 2) {
			t.Errorf("second apply: %s changed=%v", a.Object, a.Changed)
		}
	}
}

// The options every meshlab apply carries: field manager "meshlab", conflicts forced.
func TestApplyFieldManagerAndForce(t *testing.T) {
	dyn := dynfake.NewSimpleDynamicClient(runtime.NewScheme())
	var opts []metav1.PatchOptions
	dyn.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		opts = append(opts, a.(k8stesting.PatchActionImpl).PatchOptions)
		return true, &unstructured.Unstructured{Object: map[string]any{}}, nil
	})
	c := &Client{Dynamic: dyn, Mapper: kubefake.Mapper()}
	if _, err := c.Apply(context.Background(), testObjects()[:1]); err != nil {
		t.Fatal(err)
	}
	if len(opts) != 1 || opts[0].FieldManager != "meshlab" || opts[0].Force == nil || !*opts[0].Force {
		t.Fatalf("patch options %+v", opts)
	}
}

func TestApplyNamesWhatItCannotMap(t *testing.T) {
	_, dyn := newStore(t)
	c := &Client{Dynamic: dyn, Mapper: kubefake.Mapper()}
	objs := append(testObjects()[:1], obj("example.com/v1", "Widget", "demo", "w", nil))
	applied, err := c.Apply(context.Background(), objs)
	var miss *MappingError
	if !errors.As(err, &miss) || len(applied) != 1 ||
		!strings.Contains(err.Error(), "apply Widget demo/w: the cluster serves no example.com/v1 Widget (is its CRD installed?)") {
		t.Fatalf("applied %v, err %v", applied, err)
	}
	_, err = c.Apply(context.Background(), []*unstructured.Unstructured{obj("apps/v1", "Deployment", "", "x", nil)})
	if err == nil || !strings.Contains(err.Error(), "Deployment x: Deployment is namespaced but the object names no namespace") {
		t.Fatalf("no namespace: %v", err)
	}
}

// learningMapper knows the Widget kind only after a Reset that follows the CRD becoming
// Established: discovery that lags the CRD, as on a real apiserver.
type learningMapper struct {
	meta.RESTMapper
	established func() bool
	learned     bool
	resets      int
}

func (m *learningMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	if gk.Kind == "Widget" && !m.learned {
		return nil, &meta.NoKindMatchError{GroupKind: gk, SearchedVersions: versions}
	}
	if gk.Kind == "Widget" {
		return &meta.RESTMapping{Resource: schema.GroupVersionResource{Group: gk.Group, Version: "v1", Resource: "widgets"},
			GroupVersionKind: gk.WithVersion("v1"), Scope: meta.RESTScopeNamespace}, nil
	}
	return m.RESTMapper.RESTMapping(gk, versions...)
}

func (m *learningMapper) Reset() {
	m.resets++
	m.learned = m.established()
}

func TestApplyWaitsForCRDsBeforeTheirResources(t *testing.T) {
	s, dyn := newStore(t)
	gets := 0
	// The CRD reports Established on the third look.
	dyn.PrependReactor("get", "customresourcedefinitions", func(a k8stesting.Action) (bool, runtime.Object, error) {
		gets++
		crd := obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com", nil)
		status := "False"
		if gets >= 3 {
			status = "True"
		}
		crd.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Established", "status": status}}}
		return true, crd, nil
	})
	m := &learningMapper{RESTMapper: kubefake.Mapper(), established: func() bool { return gets >= 3 }}
	c := &Client{Dynamic: dyn, Mapper: m}
	objs := []*unstructured.Unstructured{
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com", map[string]any{"group": "example.com"}),
		obj("v1", "Namespace", "", "demo", nil),
		obj("example.com/v1", "Widget", "demo", "w", map[string]any{"size": int64(1)}),
	}
	applied, err := c.Apply(context.Background(), objs)
	if err != nil {
		t.Fatalf("applied %v: %v", applied, err)
	}
	if len(applied) != 3 || s.patches[2].GetResource().Resource != "widgets" || gets < 3 {
		t.Fatalf("applied %v after %d looks at the CRD", applied, gets)
	}
	// Without a CRD in the batch, a missing kind is an error at once (after one fresh look).
	m.learned, gets = false, -100
	if _, err := c.Apply(context.Background(), objs[2:]); err == nil {
		t.Fatal("a Widget without its CRD applied")
	}
}

func TestDeleteReverseTolerantAndComplete(t *testing.T) {
	s, dyn := newStore(t)
	c := &Client{Dynamic: dyn, Mapper: kubefake.Mapper()}
	ctx := context.Background()
	objs := testObjects()
	if _, err := c.Apply(ctx, objs[:3]); err != nil { // the VirtualService never existed
		t.Fatal(err)
	}
	// A kind the cluster does not serve (its CRD is gone) has nothing to delete.
	objs = append(objs, obj("example.com/v1", "Widget", "demo", "w", nil))
	deleted, err := c.Delete(ctx, objs)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(deleted, ", "); got != "Deployment demo/app, ServiceAccount demo/app, Namespace demo" {
		t.Fatalf("deleted %s", got)
	}
	if len(s.objs) != 0 {
		t.Fatalf("left %v", s.objs)
	}
	// Every failure is reported, and deletion goes on past each.
	dyn.PrependReactor("delete", "serviceaccounts", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("forbidden today")
	})
	if _, err := c.Apply(ctx, objs[:3]); err != nil {
		t.Fatal(err)
	}
	deleted, err = c.Delete(ctx, objs[:3])
	if err == nil || !strings.Contains(err.Error(), "delete ServiceAccount demo/app: forbidden today") || len(deleted) != 2 {
		t.Fatalf("deleted %v, err %v", deleted, err)
	}
}

func TestToUnstructuredDropsServerFields(t *testing.T) {
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "demo"}}
	us, err := ToUnstructured([]runtime.Object{ns})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(us[0].Object)
	if string(b) != `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"demo"},"spec":{}}` {
		t.Fatalf("%s", b)
	}
}

// failingMapper is discovery that cannot reach the cluster.
type failingMapper struct{ meta.RESTMapper }

func (failingMapper) RESTMapping(schema.GroupKind, ...string) (*meta.RESTMapping, error) {
	return nil, errors.New("dial tcp 127.0.0.1:1: connection refused")
}

// Delete skips kinds the cluster does not serve, but not kinds nobody could look up: a
// cluster that cannot be reached is an error, never "nothing to delete".
func TestDeleteFailsWhenDiscoveryFails(t *testing.T) {
	_, dyn := newStore(t)
	c := &Client{Dynamic: dyn, Mapper: failingMapper{}}
	deleted, err := c.Delete(context.Background(), testObjects())
	if err == nil || len(deleted) != 0 || !strings.Contains(err.Error(), "delete Deployment demo/app: find where the cluster serves Deployment: dial tcp") {
		t.Fatalf("deleted %v, err %v", deleted, err)
	}
}
