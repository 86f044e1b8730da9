package crds_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// sampleFiles are Istio's Bookinfo networking samples, unchanged (kept by mesh/config), and the
// walk-through's RouteRules.
func sampleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../config/testdata/istio-samples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("samples: %v (%d files)", err, len(files))
	}
	return append(files, "../config/testdata/legacy-routerules.yaml")
}

// routingDocs returns the VirtualService, DestinationRule and RouteRule documents of a file.
func routingDocs(t *testing.T, path string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch u.GetKind() {
		case "VirtualService", "DestinationRule", "RouteRule":
			if u.GetNamespace() == "" {
				u.SetNamespace("default")
			}
			out = append(out, u)
		}
	}
}

// applySSA server-side-applies u as `kubectl apply --server-side` would.
func applySSA(ctx context.Context, dyn dynamic.Interface, u *unstructured.Unstructured) error {
	gv, err := schema.ParseGroupVersion(u.GetAPIVersion())
	if err != nil {
		return err
	}
	data, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	force := true
	_, err = dyn.Resource(gv.WithResource(strings.ToLower(u.GetKind())+"s")).Namespace(u.GetNamespace()).
		Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "crds-test", Force: &force})
	return err
}
