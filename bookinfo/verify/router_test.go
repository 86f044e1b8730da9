package verify

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"

	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/internal/kube/kubefake"
	"github.com/meshlab/meshlab/mesh/config"
)

func scenarioByName(t *testing.T, name string) Scenario {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no scenario %s", name)
	return Scenario{}
}

func TestScenarioObjectsLaterSampleWins(t *testing.T) {
	objs, err := scenarioObjects(scenarioByName(t, "reviews-test-v2"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, key(o))
	}
	got := strings.Join(keys, ",")
	// destination-rule-all (4 DRs), all-v1 without its reviews, then test-v2's reviews.
	if !strings.HasSuffix(got, "VirtualService reviews") || strings.Count(got, "VirtualService reviews") != 1 || len(objs) != 8 {
		t.Fatalf("objects: %s", got)
	}
}

func TestFileRouterRestoresExactly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routes.yaml")
	userRoutes := "# the user's own routing, kept byte for byte\n" +
		"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: reviews\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v3}\n" +
		"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: mine\nspec:\n  hosts: [details]\n  http:\n  - route:\n    - destination: {host: details}\n"
	if err := os.WriteFile(path, []byte(userRoutes), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := scenarioObjects(scenarioByName(t, "ratings-test-abort"))
	if err != nil {
		t.Fatal(err)
	}
	restore, err := FileRouter{Path: path}.Apply(context.Background(), objs)
	if err != nil {
		t.Fatal(err)
	}
	applied, _ := os.ReadFile(path)
	snap, err := config.Parse("routes.yaml", applied)
	if err != nil {
		t.Fatalf("the applied routes must load in the sidecar's parser: %v", err)
	}
	names := map[string]bool{}
	for _, vs := range snap.VirtualServices {
		names[vs.Name] = true
	}
	if !names["mine"] || !names["ratings"] || len(snap.DestinationRules) != 4 {
		t.Fatalf("applied: VirtualServices %v, %d DestinationRules", names, len(snap.DestinationRules))
	}
	if err := restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if back, _ := os.ReadFile(path); string(back) != userRoutes {
		t.Fatalf("restored file differs:\n%s", back)
	}
}

func TestFileRouterRemovesFileThatDidNotExist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routes.yaml")
	restore, err := FileRouter{Path: path}.Apply(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file left behind: %v", err)
	}
}

// failingRouter records restores; the scenario fails (nothing serves pages) but routing is
// restored, also when the context is already cancelled (Ctrl+C).
type failingRouter struct{ restored int }

func (f *failingRouter) Apply(context.Context, []*unstructured.Unstructured) (func(context.Context) error, error) {
	return func(ctx context.Context) error {
		if ctx.Err() != nil {
			return errors.New("restore got a cancelled context")
		}
		f.restored++
		return nil
	}, nil
}

func TestScenarioRestoresAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := &failingRouter{}
	_, err := runScenario(ctx, r, Browser{BaseURL: "http://127.0.0.1:1"}, scenarioByName(t, "all-v1"))
	if err == nil || r.restored != 1 {
		t.Fatalf("err=%v restored=%d; want a failure and one restore", err, r.restored)
	}
	if strings.Contains(err.Error(), "NOT RESTORED") {
		t.Fatalf("restore must run without the cancelled context: %v", err)
	}
}

func TestKubeRouterRestoresExactly(t *testing.T) {
	vsGVR := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	drGVR := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
	user := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "reviews", "namespace": testNS, "labels": map[string]any{"owner": "me"}},
		"spec":     map[string]any{"hosts": []any{"reviews"}, "http": []any{map[string]any{"route": []any{map[string]any{"destination": map[string]any{"host": "reviews", "subset": "v3"}}}}}},
	}}
	scheme := runtime.NewScheme()
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{
		vsGVR: "VirtualServiceList", drGVR: "DestinationRuleList"}, user.DeepCopy())
	objs, err := scenarioObjects(scenarioByName(t, "reviews-test-v2"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	restore, err := KubeRouter{Client: &kube.Client{Dynamic: dyn, Mapper: kubefake.Mapper()}, Namespace: testNS}.Apply(ctx, objs)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	vs, err := dyn.Resource(vsGVR).Namespace(testNS).Get(ctx, "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http"); len(m) != 2 {
		t.Fatalf("applied reviews has %d http routes, want test-v2's 2", len(m))
	}
	if err := restore(ctx); err != nil {
		t.Fatalf("restore: %v", err)
	}
	vs, err = dyn.Resource(vsGVR).Namespace(testNS).Get(ctx, "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gotSpec, _, _ := unstructured.NestedMap(vs.Object, "spec")
	wantSpec, _, _ := unstructured.NestedMap(user.Object, "spec")
	if !equalJSON(gotSpec, wantSpec) || vs.GetLabels()["owner"] != "me" {
		t.Fatalf("reviews not restored: %v", vs.Object)
	}
	for _, gvr := range []schema.GroupVersionResource{vsGVR, drGVR} {
		list, err := dyn.Resource(gvr).Namespace(testNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if gvr == vsGVR && len(list.Items) != 1 || gvr == drGVR && len(list.Items) != 0 {
			t.Fatalf("%s left behind: %d objects", gvr.Resource, len(list.Items))
		}
	}
}

func equalJSON(a, b map[string]any) bool {
	return runtime.DeepCopyJSONValue(a) != nil && strings.EqualFold(toJSON(a), toJSON(b))
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
