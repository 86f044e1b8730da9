package verify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshlab/meshlab/bookinfo/deploy"
)

// Router changes the mesh's routing for one scenario and puts the user's routing back.
// Implementations: KubeRouter (server-side apply on a cluster) and FileRouter (the routes file
// the sidecars of bookinfo/local watch).
type Router interface {
	// Apply saves what the objects would replace, applies them, and returns restore, which puts
	// the saved state back exactly. restore must be called even when Apply fails part way.
	Apply(ctx context.Context, objs []*unstructured.Unstructured) (restore func(context.Context) error, err error)
}

// key names an object across routers: "VirtualService reviews".
func key(o *unstructured.Unstructured) string { return o.GetKind() + " " + o.GetName() }

// FileRouter routes the namespace mesh of bookinfo/local by rewriting the file its sidecars
// watch: applied objects replace documents of the same kind and name, others stay.
type FileRouter struct{ Path string }

var _ Router = FileRouter{}

// Apply implements Router.
func (f FileRouter) Apply(_ context.Context, objs []*unstructured.Unstructured) (func(context.Context) error, error) {
	saved, err := os.ReadFile(f.Path)
	existed := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("routes file %s: %w", f.Path, err)
	}
	restore := func(context.Context) error {
		if !existed {
			return removeIfExists(f.Path)
		}
		return writeAtomic(f.Path, saved)
	}
	current, err := deploy.Decode(f.Path, saved)
	if err != nil {
		return restore, err
	}
	replaced := map[string]bool{}
	for _, o := range objs {
		replaced[key(o)] = true
	}
	current = slices.DeleteFunc(current, func(o *unstructured.Unstructured) bool { return replaced[key(o)] })
	var out []byte
	for _, o := range append(current, objs...) {
		doc, err := yaml.Marshal(o.Object)
		if err != nil {
			return restore, fmt.Errorf("routes file %s: encode %s: %w", f.Path, key(o), err)
		}
		out = append(append(out, "---\n"...), doc...)
	}
	if err := writeAtomic(f.Path, out); err != nil {
		return restore, err
	}
	return restore, nil
}

// writeAtomic replaces path by rename, so a sidecar never reads half a file.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".routes-*")
	if err != nil {
		return fmt.Errorf("routes file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("routes file %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil { // sidecars run as UID 1337 and must read it
		tmp.Close()
		return fmt.Errorf("routes file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("routes file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("routes file %s: %w", path, err)
	}
	return nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
