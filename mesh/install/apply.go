package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// resources maps the kinds Render produces to their API resources. A fixed table instead of
// discovery: the set is closed, and a typo here fails the unit tests, not an install.
var resources = map[string]struct {
	resource   string
	namespaced bool
}{
	"CustomResourceDefinition":       {"customresourcedefinitions", false},
	"Namespace":                      {"namespaces", false},
	"ServiceAccount":                 {"serviceaccounts", true},
	"ClusterRole":                    {"clusterroles", false},
	"ClusterRoleBinding":             {"clusterrolebindings", false},
	"Secret":                         {"secrets", true},
	"Deployment":                     {"deployments", true},
	"Service":                        {"services", true},
	"MutatingWebhookConfiguration":   {"mutatingwebhookconfigurations", false},
	"ValidatingWebhookConfiguration": {"validatingwebhookconfigurations", false},
}

// toUnstructured converts a rendered object and finds where it is served.
func toUnstructured(obj runtime.Object) (*unstructured.Unstructured, schema.GroupVersionResource, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, schema.GroupVersionResource{}, fmt.Errorf("install: convert %T: %w", obj, err)
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	gvk := u.GroupVersionKind()
	r, ok := resources[gvk.Kind]
	if !ok {
		return nil, schema.GroupVersionResource{}, fmt.Errorf("install: no resource known for kind %s", gvk.Kind)
	}
	return u, gvk.GroupVersion().WithResource(r.resource), nil
}

func describe(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return u.GetKind() + " " + ns + "/" + u.GetName()
	}
	return u.GetKind() + " " + u.GetName()
}

// Apply server-side-applies every object in order, as field manager "meshlab" with force (the
// installer owns these objects). report, if not nil, is called after each object.
func Apply(ctx context.Context, dc dynamic.Interface, objs []runtime.Object, report func(what string)) error {
	for _, obj := range objs {
		u, gvr, err := toUnstructured(obj)
		if err != nil {
			return err
		}
		data, err := json.Marshal(u.Object)
		if err != nil {
			return fmt.Errorf("install: encode %s: %w", describe(u), err)
		}
		var ri dynamic.ResourceInterface = dc.Resource(gvr)
		if resources[u.GetKind()].namespaced {
			ri = dc.Resource(gvr).Namespace(u.GetNamespace())
		}
		_, err = ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: ptr(true)})
		if err != nil {
			return fmt.Errorf("install: apply %s: %w", describe(u), err)
		}
		if report != nil {
			report(describe(u))
		}
	}
	return nil
}

// UninstallOptions choose what uninstall removes besides the control plane.
type UninstallOptions struct {
	// Purge also deletes the CRDs, and with them every VirtualService, DestinationRule and
	// RouteRule in the cluster. Off by default: a reinstall should find the user's routing.
	Purge bool
	// Kept, if not nil, is told of each object left because it lacks meshlab's label.
	Kept func(what string)
}

// Uninstall deletes what Render describes, webhooks first (so nothing calls a server that is
// going away) and the namespace last; objects already gone are fine. Only objects carrying
// meshlab's label are deleted: one of the same name that another mesh installed stays.
// All failures are returned.
func Uninstall(ctx context.Context, dc dynamic.Interface, objs []runtime.Object, o UninstallOptions, report func(what string)) error {
	var errs []error
	for i := len(objs) - 1; i >= 0; i-- {
		u, gvr, err := toUnstructured(objs[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if u.GetKind() == "CustomResourceDefinition" && !o.Purge {
			continue
		}
		var ri dynamic.ResourceInterface = dc.Resource(gvr)
		if resources[u.GetKind()].namespaced {
			ri = dc.Resource(gvr).Namespace(u.GetNamespace())
		}
		live, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("install: look up %s: %w", describe(u), err))
			continue
		case !isMeshlabs(live):
			if o.Kept != nil {
				o.Kept(describe(u))
			}
			continue
		}
		// The UID precondition: delete the object just checked, not one re-created meanwhile.
		uid := live.GetUID()
		err = ri.Delete(ctx, u.GetName(), metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationBackground),
			Preconditions: &metav1.Preconditions{UID: &uid}})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("install: delete %s: %w", describe(u), err))
		case report != nil:
			report(describe(u))
		}
	}
	return errors.Join(errs...)
}

// WriteYAML writes the objects as one multi-document YAML stream (`--dry-run` output).
func WriteYAML(w io.Writer, objs []runtime.Object) error {
	for i, obj := range objs {
		u, _, err := toUnstructured(obj)
		if err != nil {
			return err
		}
		y, err := yaml.Marshal(u.Object)
		if err != nil {
			return fmt.Errorf("install: encode %s: %w", describe(u), err)
		}
		sep := "---\n"
		if i == 0 {
			sep = ""
		}
		if _, err := io.WriteString(w, sep+strings.TrimRight(string(y), "\n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}
