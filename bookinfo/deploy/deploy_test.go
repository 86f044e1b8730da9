package deploy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/meshlab/meshlab/internal/golden"
	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/internal/kube/kubefake"
	"github.com/meshlab/meshlab/provision/versions"
)

func render(t *testing.T, opts Options) []byte {
	t.Helper()
	objs, err := Render(opts)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString("---\n")
		out.Write(data)
	}
	return out.Bytes()
}

func TestRenderGolden(t *testing.T) {
	golden.Check(t, "testdata/bookinfo-online.yaml", render(t, Options{Images: versions.Default().Bookinfo}))
	golden.Check(t, "testdata/bookinfo-offline.yaml", render(t, Options{Offline: true, MeshlabVersion: "v0.1.0"}))
}

func TestRenderUsesVersionsTableAndInjectedNamespace(t *testing.T) {
	objs, err := Render(Options{Images: versions.Bookinfo{Registry: "registry.example/istio", Tag: "9.9.9"}})
	if err != nil {
		t.Fatal(err)
	}
	if objs[0].GetKind() != "Namespace" || objs[0].GetLabels()[InjectionLabel] != InjectionValue {
		t.Fatalf("first object: %v", objs[0].Object)
	}
	var deployments int
	for _, o := range objs {
		if o.GetNamespace() != DefaultNamespace && o.GetKind() != "Namespace" {
			t.Errorf("%s not in %s", kube.Describe(o), DefaultNamespace)
		}
		if o.GetKind() != "Deployment" {
			continue
		}
		deployments++
		cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		img := cs[0].(map[string]any)["image"].(string)
		if want := "registry.example/istio/examples-bookinfo-" + o.GetName() + ":9.9.9"; img != want {
			t.Errorf("%s: image %s, want %s", o.GetName(), img, want)
		}
	}
	if deployments != 6 {
		t.Fatalf("%d deployments, want 6", deployments)
	}
}

func TestRenderOfflineRunsGoBookinfo(t *testing.T) {
	objs, err := Render(Options{Offline: true, MeshlabVersion: "v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetName() != "reviews-v3" {
			continue
		}
		cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		c := cs[0].(map[string]any)
		args := strings.Join(toStrings(c["args"].([]any)), " ")
		if c["image"] != "meshlab.local/meshlab:v1.2.3" || c["imagePullPolicy"] != "Never" ||
			args != "bookinfo serve --service reviews --version v3 --listen :9080" {
			t.Fatalf("offline reviews-v3 container: %v", c)
		}
		return
	}
	t.Fatal("no reviews-v3")
}

func toStrings(a []any) []string {
	var s []string
	for _, v := range a {
		s = append(s, v.(string))
	}
	return s
}

// TestSamplesUnchanged checks every embedded sample against the copy the routing tests use
// (mesh/config/testdata/istio-samples), so the two copies of upstream's files cannot drift.
func TestSamplesUnchanged(t *testing.T) {
	files, err := filepath.Glob("manifests/*.yaml")
	authz, _ := filepath.Glob("manifests/authz-http/*.yaml")
	if err != nil || len(files) == 0 || len(authz) != 5 {
		t.Fatalf("no embedded samples: %v (%d authorization samples, want 5)", err, len(authz))
	}
	for _, f := range append(files, authz...) {
		rel, _ := filepath.Rel("manifests", f)
		data, err := Sample(rel)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := os.ReadFile(filepath.Join("../../mesh/config/testdata/istio-samples", rel))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, ref) {
			t.Errorf("embedded %s differs from upstream's copy in mesh/config/testdata", filepath.Base(f))
		}
	}
}

func TestApplyIsServerSideInOrder(t *testing.T) {
	dyn := dynfake.NewSimpleDynamicClient(runtime.NewScheme())
	var applied []string
	dyn.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchAction)
		if string(p.GetPatchType()) != "application/apply-patch+yaml" {
			t.Errorf("patch type %s, want server-side apply", p.GetPatchType())
		}
		applied = append(applied, a.GetResource().Resource+"/"+p.GetName())
		return true, &unstructured.Unstructured{}, nil
	})
	objs, err := Render(Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &kube.Client{Dynamic: dyn, Mapper: kubefake.Mapper()}
	if _, err := c.Apply(context.Background(), objs); err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(objs) || applied[0] != "namespaces/bookinfo" || applied[len(applied)-1] != "virtualservices/bookinfo" {
		t.Fatalf("applied %v", applied)
	}
}
