package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
)

// FieldManager owns every field meshlab applies (server-side apply).
const FieldManager = "meshlab"

// CRDEstablishTimeout bounds the wait for CRDs applied in one Apply call to be served before
// the first object of a kind they define.
const CRDEstablishTimeout = time.Minute

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// Applied is one object Apply sent to the cluster.
type Applied struct {
	Object  string // Describe: "Kind namespace/name"
	Changed bool   // created, or its stored content changed (an apply that changes nothing keeps the resourceVersion)
}

// Apply server-side applies objs in the order given (callers list namespaces and CRDs first and
// webhook registrations last), as FieldManager, forcing conflicts: meshlab is the source of
// truth for what it applies. An object of a kind the cluster does not serve yet, after CRDs
// applied earlier in the same call, waits for those CRDs to be Established and reads discovery
// again (kubectl's answer to a CRD and its resources in one file). It returns what it applied,
// also when it stops at an error.
func (c *Client) Apply(ctx context.Context, objs []*unstructured.Unstructured) ([]Applied, error) {
	var done []Applied
	var crds []string // CRDs applied by this call, not yet seen Established
	for _, o := range objs {
		m, err := c.mapping(o)
		var miss *MappingError
		if errors.As(err, &miss) && len(crds) > 0 {
			if err := c.waitEstablished(ctx, crds); err != nil {
				return done, fmt.Errorf("apply %s: %w", Describe(o), err)
			}
			crds = nil
			m, err = c.mapping(o)
		}
		if err != nil {
			return done, fmt.Errorf("apply %w", err)
		}
		ri, err := c.resource(o, m)
		if err != nil {
			return done, fmt.Errorf("apply %w", err)
		}
		data, err := json.Marshal(o.Object)
		if err != nil {
			return done, fmt.Errorf("apply %s: encode: %w", Describe(o), err)
		}
		before := ""
		if cur, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{}); err == nil {
			before = cur.GetResourceVersion()
		}
		after, err := ri.Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: new(true)})
		if err != nil {
			return done, fmt.Errorf("apply %s: %w", Describe(o), err)
		}
		done = append(done, Applied{Object: Describe(o), Changed: before == "" || after.GetResourceVersion() != before})
		if m.Resource == crdResource {
			crds = append(crds, o.GetName())
		}
	}
	return done, nil
}

// waitEstablished polls the CRDs until each has the Established condition, then drops the
// mapper's cached discovery so their kinds are found.
func (c *Client) waitEstablished(ctx context.Context, names []string) error {
	ctx, cancel := context.WithTimeout(ctx, CRDEstablishTimeout)
	defer cancel()
	last := map[string]string{}
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for _, n := range names {
			crd, err := c.Dynamic.Resource(crdResource).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				last[n] = err.Error()
				return false, nil
			}
			if ok, why := established(crd); !ok {
				last[n] = why
				return false, nil
			}
			delete(last, n)
		}
		return true, nil
	})
	if err != nil {
		var s []string
		for _, n := range slices.Sorted(maps.Keys(last)) {
			s = append(s, "CRD "+n+": "+last[n])
		}
		return fmt.Errorf("waiting for CRDs to be Established: %s: %w", strings.Join(s, "; "), err)
	}
	if r, ok := c.Mapper.(meta.ResettableRESTMapper); ok {
		r.Reset()
	}
	return nil
}

func established(crd *unstructured.Unstructured) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != "Established" {
			continue
		}
		if m["status"] == "True" {
			return true, ""
		}
		return false, fmt.Sprintf("Established=%v %v %v", m["status"], m["reason"], m["message"])
	}
	return false, "no Established condition yet"
}

// Delete deletes objs in reverse order (what Apply made last goes first) with background
// propagation. Objects already gone, and kinds the cluster no longer serves, are fine. It goes
// on past failures and returns them all, with what it deleted.
func (c *Client) Delete(ctx context.Context, objs []*unstructured.Unstructured) ([]string, error) {
	var deleted []string
	var errs []error
	for _, o := range slices.Backward(objs) {
		ri, err := c.Resource(o)
		var miss *MappingError
		switch {
		case errors.As(err, &miss):
			continue // nothing of a kind that is not served can exist
		case err != nil:
			errs = append(errs, fmt.Errorf("delete %w", err))
			continue
		}
		err = ri.Delete(ctx, o.GetName(), metav1.DeleteOptions{PropagationPolicy: new(metav1.DeletePropagationBackground)})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("delete %s: %w", Describe(o), err))
		default:
			deleted = append(deleted, Describe(o))
		}
	}
	return deleted, errors.Join(errs...)
}

// DeleteOwned is Delete for objects this caller may prove it made: each is looked up first and
// deleted only when owned says the live object is the caller's (by its labels, say), with the
// live object's UID as a precondition, so an object re-created by someone else meanwhile is not
// deleted either. It returns what it deleted and what it kept because it was not owned.
func (c *Client) DeleteOwned(ctx context.Context, objs []*unstructured.Unstructured, owned func(live *unstructured.Unstructured) bool) (deleted, kept []string, err error) {
	var errs []error
	for _, o := range slices.Backward(objs) {
		ri, err := c.Resource(o)
		var miss *MappingError
		switch {
		case errors.As(err, &miss):
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("delete %w", err))
			continue
		}
		live, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("look up %s: %w", Describe(o), err))
			continue
		case !owned(live):
			kept = append(kept, Describe(o))
			continue
		}
		uid := live.GetUID()
		err = ri.Delete(ctx, o.GetName(), metav1.DeleteOptions{PropagationPolicy: new(metav1.DeletePropagationBackground),
			Preconditions: &metav1.Preconditions{UID: &uid}})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("delete %s: %w", Describe(o), err))
		default:
			deleted = append(deleted, Describe(o))
		}
	}
	return deleted, kept, errors.Join(errs...)
}

// Get returns the live object named like obj, or nil when there is none (or its kind is not
// served).
func (c *Client) Get(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, err := c.Resource(obj)
	var miss *MappingError
	switch {
	case errors.As(err, &miss):
		return nil, nil
	case err != nil:
		return nil, err
	}
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", Describe(obj), err)
	}
	return live, nil
}

// ToUnstructured converts typed objects (with their TypeMeta set) for Apply, without the
// fields a server-side apply must not send: an empty creationTimestamp and the status.
func ToUnstructured(objs []runtime.Object) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, fmt.Errorf("convert %T: %w", obj, err)
		}
		u := &unstructured.Unstructured{Object: m}
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		unstructured.RemoveNestedField(u.Object, "status")
		out = append(out, u)
	}
	return out, nil
}
