package install

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
)

// PartOfLabel and PartOfValue mark every object meshlab installs. An object without them is not
// meshlab's: install does not take it over and uninstall does not delete it.
const (
	PartOfLabel = "app.kubernetes.io/part-of"
	PartOfValue = "meshlab"
)

// contested are the kinds another mesh installs under the same names: Istio's CRDs are
// virtualservices.networking.istio.io and friends, and webhook configurations are cluster-wide.
var contested = map[string]bool{
	"CustomResourceDefinition":       true,
	"MutatingWebhookConfiguration":   true,
	"ValidatingWebhookConfiguration": true,
}

// ErrNotMeshlabs marks objects in the cluster that meshlab would overwrite but did not make.
var ErrNotMeshlabs = errors.New("not meshlab's")

func isMeshlabs(u *unstructured.Unstructured) bool { return u.GetLabels()[PartOfLabel] == PartOfValue }

// CheckTakeover looks up the CRDs and webhook configurations among objs in the cluster and
// refuses (an error naming each, wrapping ErrNotMeshlabs) when one exists without meshlab's
// label: an installed Istio, say, whose CRDs and webhooks an apply would silently take over.
// Call it before Apply.
func CheckTakeover(ctx context.Context, dc dynamic.Interface, objs []runtime.Object) error {
	var theirs []string
	for _, obj := range objs {
		u, gvr, err := toUnstructured(obj)
		if err != nil {
			return err
		}
		if !contested[u.GetKind()] {
			continue
		}
		live, err := dc.Resource(gvr).Get(ctx, u.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return fmt.Errorf("install: look up %s: %w", describe(u), err)
		case !isMeshlabs(live):
			theirs = append(theirs, describe(u))
		}
	}
	if len(theirs) == 0 {
		return nil
	}
	return fmt.Errorf("install: the cluster already has %s without meshlab's label %s=%s (another mesh, such as Istio?): "+
		"meshlab would take them over, so it stops here. Remove that mesh first; or, if these really are meshlab's, "+
		"label them (kubectl label ... %s=%s): %w",
		strings.Join(theirs, ", "), PartOfLabel, PartOfValue, PartOfLabel, PartOfValue, ErrNotMeshlabs)
}
