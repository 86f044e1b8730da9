package kubereg_test

import (
	"context"
	"strings"
	"testing"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/meshlab/meshlab/internal/golden"
	"github.com/meshlab/meshlab/internal/kubetest"
	"github.com/meshlab/meshlab/mesh/crds"
	"github.com/meshlab/meshlab/mesh/pilot/kubereg"
	"github.com/meshlab/meshlab/mesh/pilot/model"
)

// TestRegistryAgainstRealAPIServer creates Bookinfo's reviews service, three pods with their
// EndpointSlice, the samples' routing and the walk-through's RouteRule in a real apiserver, and
// checks the States the registry pushes, through additions and deletions.
func TestRegistryAgainstRealAPIServer(t *testing.T) {
	cluster := kubetest.Start(t)
	cluster.InstallCRDs(t, crds.All)
	cs := cluster.Client(t)
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	ic, err := istioclient.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// An invalid VirtualService stored before any webhook exists must be left out, not fatal.
	apply(ctx, t, dyn, badVS)
	makeReviews(ctx, t, cs)

	states := make(chan model.State, 64)
	reg := kubereg.NewFromClients(cs, ic, dyn, kubereg.Options{Log: testLogger(t)})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- reg.Run(runCtx, func(s model.State) { states <- s }) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	waitFor(ctx, t, states, "reviews with three endpoints and labels", func(s model.State) bool {
		return strings.Contains(summary(s), "service default/reviews vips=[10.96.0.50] ports=[http:9080->9080/] endpoints=[10.244.0.11(reviews-v1 version=v1) 10.244.0.12(reviews-v2 version=v2) 10.244.0.13(reviews-v3 version=v3)]")
	})
	apply(ctx, t, dyn, destinationRule)
	apply(ctx, t, dyn, virtualService50)
	s := waitFor(ctx, t, states, "the weighted VirtualService and its DestinationRule", func(s model.State) bool {
		return strings.Contains(summary(s), "vs default/reviews hosts=[reviews]") && strings.Contains(summary(s), "dr default/reviews host=reviews subsets=[v1 v2 v3]")
	})
	if strings.Contains(summary(s), "mysql") {
		t.Fatalf("the invalid VirtualService reached the State:\n%s", summary(s))
	}
	if got := s.Pods[mustAddr("10.244.0.12")]; got.Workload != "reviews-v2" || got.Labels["version"] != "v2" {
		t.Fatalf("pod identity of 10.244.0.12 = %+v", got)
	}

	// The walk-through's RouteRule, translated by mesh/config, joins the State.
	apply(ctx, t, dyn, routeRule)
	waitFor(ctx, t, states, "the translated RouteRule", func(s model.State) bool {
		n := 0
		for _, vs := range s.VirtualServices {
			if len(vs.Spec.Hosts) > 0 && strings.HasPrefix(vs.Spec.Hosts[0], "reviews") {
				n++
			}
		}
		return n == 2 // the VirtualService applied above and the RouteRule's translation
	})

	// Security policies: a valid one joins as it is; one stored past the webhook that does not
	// validate is applied closed (an ALLOW without rules) and reported, never dropped.
	apply(ctx, t, dyn, `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewer, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]}}]}]
`)
	apply(ctx, t, dyn, `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: details-viewer, namespace: default}
spec:
  selector: {matchLabels: {app: details}}
  rules: [{from: [{source: {principals: ["bookinfo-productpage"]}}]}]
`)
	s = waitFor(ctx, t, states, "both policies, the bad one closed", func(s model.State) bool {
		return len(s.AuthorizationPolicies) == 2 && len(s.Rejected) == 1
	})
	for _, p := range s.AuthorizationPolicies {
		if p.Name == "details-viewer" && len(p.Spec.Rules) != 0 {
			t.Fatalf("the invalid ALLOW policy is applied as %v, want no rules (allows nothing)", &p.Spec)
		}
	}
	if !strings.Contains(s.Rejected[0], "AuthorizationPolicy default/details-viewer") || !strings.Contains(s.Rejected[0], "deny-all") {
		t.Fatalf("rejection: %q", s.Rejected)
	}

	// Deleting the route and a pod (its slice updated, as the endpoint controller would) shows.
	if err := dyn.Resource(schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}).
		Namespace("default").Delete(ctx, "reviews", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	slice, err := cs.DiscoveryV1().EndpointSlices("default").Get(ctx, "reviews-abc", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	slice.Endpoints[2].Conditions.Ready = ptr(false)
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s = waitFor(ctx, t, states, "the route gone and reviews-v3 not ready", func(s model.State) bool {
		sum := summary(s)
		return !strings.Contains(sum, "vs default/reviews ") && !strings.Contains(sum, "10.244.0.13(")
	})
	golden.Check(t, "testdata/registry.golden", withoutAPIServerService(summary(s)))

	// A one-shot reader (mesh analyze) sees the same.
	one, err := kubereg.Snapshot(ctx, kubereg.NewFromClients(cs, ic, dyn, kubereg.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if summary(one) != summary(s) {
		t.Fatalf("Snapshot:\n%s\nwant:\n%s", summary(one), summary(s))
	}
	// A namespace selector (Istio's discoverySelectors) leaves other namespaces out.
	sel, err := labels.Parse("kubernetes.io/metadata.name=kube-system")
	if err != nil {
		t.Fatal(err)
	}
	other, err := kubereg.Snapshot(ctx, kubereg.NewFromClients(cs, ic, dyn, kubereg.Options{NamespaceSelector: sel}))
	if err != nil {
		t.Fatal(err)
	}
	if len(other.Services) != 0 || len(other.VirtualServices) != 0 || len(other.Pods) != 0 {
		t.Fatalf("selector for kube-system, State:\n%s", summary(other))
	}
}

func waitFor(ctx context.Context, t *testing.T, states <-chan model.State, what string, ok func(model.State) bool) model.State {
	t.Helper()
	var last model.State
	for {
		select {
		case s := <-states:
			if ok(s) {
				return s
			}
			last = s
		case <-ctx.Done():
			t.Fatalf("registry never pushed %s; last State:\n%s", what, summary(last))
		}
	}
}

func makeReviews(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "default", Labels: map[string]string{"app": "reviews"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: "10.96.0.50", Selector: map[string]string{"app": "reviews"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 9080, TargetPort: intstr.FromInt32(9080)}},
		},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews-abc", Namespace: "default", Labels: map[string]string{
			discoveryv1.LabelServiceName: "reviews", discoveryv1.LabelManagedBy: "meshlab-test"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(9080)), Protocol: ptr(corev1.ProtocolTCP)}},
	}
	for i, v := range []string{"v1", "v2", "v3"} {
		ip := "10.244.0.1" + string(rune('1'+i))
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: "reviews-" + v + "-5d8f9c-x" + v, Namespace: "default",
				Labels: map[string]string{"app": "reviews", "version": v, "pod-template-hash": "5d8f9c"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet",
					Name: "reviews-" + v + "-5d8f9c", UID: types.UID("uid-" + v), Controller: ptr(true)}},
			},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "reviews", Image: "reviews:" + v}}},
		}
		created, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// No kubelet here: set the status a kubelet would.
		created.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
		if _, err := cs.CoreV1().Pods("default").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: created.Name},
		})
	}
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func apply(ctx context.Context, t *testing.T, dyn dynamic.Interface, doc string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	gv, err := schema.ParseGroupVersion(u.GetAPIVersion())
	if err != nil {
		t.Fatal(err)
	}
	plural := strings.ToLower(u.GetKind()) + "s"
	if strings.HasSuffix(plural, "ys") { // authorizationpolicies
		plural = strings.TrimSuffix(plural, "ys") + "ies"
	}
	gvr := gv.WithResource(plural)
	if _, err := dyn.Resource(gvr).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

func ptr[T any](v T) *T { return &v }

const badVS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mysql, namespace: default}
spec:
  hosts: [mysql]
  tcp:
  - route:
    - destination: {host: mysql}
`

const virtualService50 = `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 50
    - destination: {host: reviews, subset: v3}
      weight: 50
`

const destinationRule = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
`

const routeRule = `apiVersion: config.istio.io/v1alpha2
kind: RouteRule
metadata: {name: reviews-default, namespace: default}
spec:
  destination: {name: reviews}
  precedence: 1
  route:
  - labels: {version: v1}
`
