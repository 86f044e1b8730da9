package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/meshlab/meshlab/internal/kube"
)

// VerifyFieldManager owns the routing verify applies, so it never takes over the user's fields
// for longer than a scenario.
const VerifyFieldManager = "meshlab-verify"

// KubeRouter applies routing samples to a cluster in Namespace: a plain create or update under
// its own field manager, so restoring gives back exactly what was there.
type KubeRouter struct {
	Client    *kube.Client
	Namespace string
}

var _ Router = KubeRouter{}

// Apply implements Router: each object's current version (or its absence) is saved first, then
// new objects are created and existing ones get the sample's spec; restore deletes what did not
// exist and writes back what did (spec, labels and annotations).
func (k KubeRouter) Apply(ctx context.Context, objs []*unstructured.Unstructured) (func(context.Context) error, error) {
	type saved struct {
		obj  *unstructured.Unstructured
		prev *unstructured.Unstructured // nil: did not exist
	}
	var done []saved
	restore := func(ctx context.Context) error {
		var errs []error
		for _, s := range slices.Backward(done) {
			if err := k.put(ctx, s.obj, s.prev); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	for _, o := range objs {
		o = o.DeepCopy()
		o.SetNamespace(k.Namespace)
		ri, err := k.resource(o)
		if err != nil {
			return restore, err
		}
		prev, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			prev = nil
		case err != nil:
			return restore, fmt.Errorf("save %s/%s: %w", k.Namespace, key(o), err)
		}
		done = append(done, saved{obj: o, prev: prev})
		if prev == nil {
			// A new object: a plain create, owned by verify's field manager.
			if _, err := ri.Create(ctx, o, metav1.CreateOptions{FieldManager: VerifyFieldManager}); err != nil {
				return restore, fmt.Errorf("apply %s/%s: %w", k.Namespace, key(o), err)
			}
			continue
		}
		// An existing object gets the sample's spec whole (an update, not a merge), so nothing
		// of the user's routing mixes into the scenario; its metadata stays the user's.
		upd := prev.DeepCopy()
		upd.Object["spec"] = o.Object["spec"]
		if _, err := ri.Update(ctx, upd, metav1.UpdateOptions{FieldManager: VerifyFieldManager}); err != nil {
			return restore, fmt.Errorf("apply %s/%s: %w", k.Namespace, key(o), err)
		}
	}
	return restore, nil
}

// resource is where o is served, in Namespace whatever o says.
func (k KubeRouter) resource(o *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	o = o.DeepCopy()
	o.SetNamespace(k.Namespace)
	return k.Client.Resource(o)
}

// put makes the cluster hold prev again for obj's name: delete when prev is nil, otherwise an
// update of the current object with prev's content.
func (k KubeRouter) put(ctx context.Context, obj, prev *unstructured.Unstructured) error {
	ri, err := k.resource(obj)
	if err != nil {
		return err
	}
	if prev == nil {
		if err := ri.Delete(ctx, obj.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("restore %s/%s (delete): %w", k.Namespace, key(obj), err)
		}
		return nil
	}
	back := prev.DeepCopy()
	back.SetManagedFields(nil)
	cur, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		back.SetResourceVersion("")
		back.SetUID("")
		_, err = ri.Create(ctx, back, metav1.CreateOptions{})
	case err == nil:
		back.SetResourceVersion(cur.GetResourceVersion())
		_, err = ri.Update(ctx, back, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("restore %s/%s: %w", k.Namespace, key(obj), err)
	}
	return nil
}
