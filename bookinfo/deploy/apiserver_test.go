package deploy

import (
	"context"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/internal/kubetest"
	"github.com/meshlab/meshlab/mesh/crds"
)

func startAPIServer(t *testing.T) (*kube.Client, *kubetest.Cluster) {
	t.Helper()
	c := kubetest.Start(t)
	c.InstallCRDs(t, crds.All)
	ext, err := apiextensionsclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// meshlab's CRDs include the Gateway (bookinfo-gateway.yaml needs it): wait until it serves.
	for {
		crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "gateways.networking.istio.io", metav1.GetOptions{})
		if err == nil && established(crd) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the Gateway CRD was not established within 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cfg, err := kube.Load(kube.LoadOptions{Kubeconfig: c.Kubeconfig(t)})
	if err != nil {
		t.Fatal(err)
	}
	client, err := kube.NewClient(cfg.REST)
	if err != nil {
		t.Fatal(err)
	}
	return client, c
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// TestDeployOnRealAPIServer applies Bookinfo to a real kube-apiserver (server-side apply, twice:
// it must be idempotent), checks what landed, waits (no controllers run, so the wait must fail
// and say what it waited for), and deletes it.
func TestDeployOnRealAPIServer(t *testing.T) {
	c, cluster := startAPIServer(t)
	cs := cluster.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	objs, err := Render(Options{Offline: true, MeshlabVersion: "v9"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.Apply(ctx, objs); err != nil {
			t.Fatal(err)
		}
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, DefaultNamespace, metav1.GetOptions{})
	if err != nil || ns.Labels[InjectionLabel] != InjectionValue {
		t.Fatalf("namespace: %v %v", ns.Labels, err)
	}
	d, err := cs.AppsV1().Deployments(DefaultNamespace).Get(ctx, "reviews-v2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "meshlab.local/meshlab:v9" {
		t.Fatalf("reviews-v2 image %s", img)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	err = kube.WaitRollouts(wctx, c.Kube, kube.Workloads(objs), kube.WaitOptions{Interval: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "productpage-v1: controller has not seen the latest spec") {
		t.Fatalf("wait without a controller manager: %v", err)
	}
	if err := Remove(ctx, c, Options{Offline: true}); err != nil {
		t.Fatal(err)
	}
	list, err := cs.AppsV1().Deployments(DefaultNamespace).List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("deployments left after delete: %d %v", len(list.Items), err)
	}
	if err := Remove(ctx, c, Options{Offline: true}); err != nil {
		t.Fatalf("deleting twice must be fine: %v", err)
	}
}
