package cni

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// FieldManager is the name meshlab's server-side applies own fields under.
const FieldManager = "meshlab"

// Applier server-side applies objects of any kind.
type Applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

// NewApplier builds an Applier for the cluster cfg points at.
func NewApplier(cfg *rest.Config) (*Applier, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	return &Applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// Apply server-side applies every object in order (namespaces first in a manifest that lists
// them first), forcing ownership of the fields it sets: meshlab is the source of truth for them.
// It returns how many objects changed: an apply that changes nothing keeps the object's
// resourceVersion, so 0 means the cluster already had exactly this.
func (a *Applier) Apply(ctx context.Context, objs []*unstructured.Unstructured) (changed int, err error) {
	force := true
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			a.mapper.Reset() // a CRD applied just before may not be in the cached discovery yet
			if m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
				return changed, fmt.Errorf("apply %s %s: %w", gvk.Kind, o.GetName(), err)
			}
		}
		data, err := o.MarshalJSON()
		if err != nil {
			return changed, fmt.Errorf("apply %s %s: %w", gvk.Kind, o.GetName(), err)
		}
		var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
		if m.Scope.Name() == "namespace" {
			ri = a.dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		before := ""
		if cur, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{}); err == nil {
			before = cur.GetResourceVersion()
		}
		after, err := ri.Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: &force})
		if err != nil {
			return changed, fmt.Errorf("apply %s %s/%s: %w", gvk.Kind, o.GetNamespace(), o.GetName(), err)
		}
		if after.GetResourceVersion() != before {
			changed++
		}
	}
	return changed, nil
}
