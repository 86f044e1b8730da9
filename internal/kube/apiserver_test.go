package kube_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/internal/kubetest"
)

// batch is a CRD and a resource of its kind in one apply, with a namespace and one workload
// of each kind: what kubectl apply -f of a mixed file does. (The namespace has a label: an
// apply that owns no field at all leaves no managedFields, and the apiserver then records a
// "before-first-apply" manager on the next apply, a change of its own making.)
const batch = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: v1
kind: Namespace
metadata: {name: kit, labels: {team: kit}}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: kit}
spec: {size: 3}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: kit}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web:1}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kit}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: agent:1}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: kit}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: db:1}]}
`

func parse(t *testing.T, docs string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range strings.Split(docs, "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

// TestToolkitOnRealAPIServer loads the kubeconfig the way commands do, applies a CRD with a
// resource of its kind in one call (twice: the second changes nothing), waits for rollouts
// (no controllers run: the waits must say so, then pass once the test plays the controllers),
// waits for a node, and deletes everything, twice.
func TestToolkitOnRealAPIServer(t *testing.T) {
	cluster := kubetest.Start(t)
	path := cluster.Kubeconfig(t)
	t.Setenv("KUBECONFIG", path)
	cfg, err := kube.Load(kube.LoadOptions{Lab: "/nonexistent/lab/kubeconfig"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Source.Kind != kube.FromEnv || cfg.Source.String() != "kubeconfig "+path+" (from $KUBECONFIG)" {
		t.Fatalf("source %v", cfg.Source)
	}
	c, err := kube.NewClient(cfg.REST)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	objs := parse(t, batch)
	applied, err := c.Apply(ctx, objs)
	if err != nil {
		t.Fatalf("apply: %v (applied %v)", err, applied)
	}
	if len(applied) != len(objs) || applied[2].Object != "Widget kit/w" || !applied[2].Changed {
		t.Fatalf("applied %+v", applied)
	}
	w, err := c.Dynamic.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}).
		Namespace("kit").Get(ctx, "w", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mf := w.GetManagedFields(); len(mf) != 1 || mf[0].Manager != kube.FieldManager || mf[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Fatalf("widget's managed fields %+v", mf)
	}
	again, err := c.Apply(ctx, parse(t, batch))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range again {
		if a.Changed {
			t.Errorf("second apply changed %s", a.Object)
		}
	}

	// No controller manager: nothing rolls out, and the error says what was waited for.
	ws := kube.Workloads(objs)
	err = kube.WaitRollouts(ctx, c.Kube, ws, kube.WaitOptions{Interval: 100 * time.Millisecond, Timeout: 2 * time.Second})
	for _, want := range []string{"waiting for 3 rollouts", "DaemonSet kit/agent: controller has not seen the latest spec",
		"Deployment kit/web: controller has not seen the latest spec", "StatefulSet kit/db: controller has not seen the latest spec"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("wait without controllers: %v; want %q", err, want)
		}
	}
	playControllers(ctx, t, c)
	if err := kube.WaitRollouts(ctx, c.Kube, ws, kube.WaitOptions{Interval: 100 * time.Millisecond, Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	n, err := c.Kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := c.Kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kube.WaitNodesReady(ctx, c.Kube, 1, kube.WaitOptions{Interval: 100 * time.Millisecond, Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}

	deleted, err := c.Delete(ctx, objs)
	if err != nil || len(deleted) != len(objs) || deleted[0] != "StatefulSet kit/db" {
		t.Fatalf("delete: %v %v", deleted, err)
	}
	if _, err := c.Kube.AppsV1().Deployments("kit").Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("web after delete: %v", err)
	}
	// The CRD is going away: its Widget kind goes with it; a second delete is still fine.
	if _, err := c.Delete(ctx, objs); err != nil {
		t.Fatalf("second delete: %v", err)
	}
}

// playControllers marks each workload rolled out, as the controllers would.
func playControllers(ctx context.Context, t *testing.T, c *kube.Client) {
	t.Helper()
	apps := c.Kube.AppsV1()
	d, err := apps.Deployments("kit").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
	if _, err := apps.Deployments("kit").UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ds, err := apps.DaemonSets("kit").Get(ctx, "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, DesiredNumberScheduled: 1, CurrentNumberScheduled: 1,
		UpdatedNumberScheduled: 1, NumberReady: 1, NumberAvailable: 1}
	if _, err := apps.DaemonSets("kit").UpdateStatus(ctx, ds, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := apps.StatefulSets("kit").Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st.Status = appsv1.StatefulSetStatus{ObservedGeneration: st.Generation, Replicas: 1, ReadyReplicas: 1, CurrentReplicas: 1,
		UpdatedReplicas: 1, AvailableReplicas: 1}
	if _, err := apps.StatefulSets("kit").UpdateStatus(ctx, st, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestGetterOnRealAPIServer: what Helm is handed reaches the same apiserver.
func TestGetterOnRealAPIServer(t *testing.T) {
	cluster := kubetest.Start(t)
	cfg, err := kube.Load(kube.LoadOptions{Kubeconfig: cluster.Kubeconfig(t)})
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Getter("meshlab-addons")
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dc.ServerVersion(); err != nil {
		t.Fatal(err)
	}
	m, err := g.ToRESTMapper()
	if err != nil {
		t.Fatal(err)
	}
	if rm, err := m.RESTMapping(schema.GroupKind{Group: "apps", Kind: "Deployment"}); err != nil || rm.Resource.Resource != "deployments" {
		t.Fatalf("mapping %v %v", rm, err)
	}
}
