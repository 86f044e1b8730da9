package install

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/meshlab/meshlab/internal/kube"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
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
func CheckTakeover(ctx context.Context, c *kube.Client, objs []runtime.Object) error {
	us, err := kube.ToUnstructured(objs)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	var theirs []string
	for _, u := range us {
		if !contested[u.GetKind()] {
			continue
		}
		live, err := c.Get(ctx, u)
		switch {
		case err != nil:
			return fmt.Errorf("install: %w", err)
		case live != nil && !isMeshlabs(live):
			theirs = append(theirs, kube.Describe(u))
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
