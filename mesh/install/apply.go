package install

import (
	"context"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/meshlab/meshlab/internal/kube"
)

// Apply server-side applies what Render gave, in its order, through meshlab's one applier
// (field manager "meshlab", conflicts forced: the installer owns these objects).
func Apply(ctx context.Context, c *kube.Client, objs []runtime.Object) ([]kube.Applied, error) {
	us, err := kube.ToUnstructured(objs)
	if err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	applied, err := c.Apply(ctx, us)
	if err != nil {
		return applied, fmt.Errorf("install: %w", err)
	}
	return applied, nil
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
// meshlab's label are deleted: one of the same name that another mesh installed stays (and is
// named to o.Kept). It returns what it deleted and every failure.
func Uninstall(ctx context.Context, c *kube.Client, objs []runtime.Object, o UninstallOptions) ([]string, error) {
	us, err := kube.ToUnstructured(objs)
	if err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	keep := us[:0]
	for _, u := range us {
		if u.GetKind() != "CustomResourceDefinition" || o.Purge {
			keep = append(keep, u)
		}
	}
	deleted, kept, err := c.DeleteOwned(ctx, keep, isMeshlabs)
	if o.Kept != nil {
		for _, k := range kept {
			o.Kept(k)
		}
	}
	if err != nil {
		return deleted, fmt.Errorf("install: %w", err)
	}
	return deleted, nil
}

// WriteYAML writes the objects as one multi-document YAML stream (`--dry-run` output).
func WriteYAML(w io.Writer, objs []runtime.Object) error {
	us, err := kube.ToUnstructured(objs)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	for i, u := range us {
		y, err := yaml.Marshal(u.Object)
		if err != nil {
			return fmt.Errorf("install: encode %s: %w", kube.Describe(u), err)
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
