package stack

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/internal/kubetest"
	"github.com/meshlab/meshlab/mesh/gateway"
	"github.com/meshlab/meshlab/mesh/install"
	"github.com/meshlab/meshlab/provision/engine"
)

// rollOut plays the Deployment controller, which kubetest does not run: every Deployment in ns
// is marked rolled out as soon as it appears, until ctx ends.
func rollOut(ctx context.Context, t *testing.T, kube kubernetes.Interface, ns string) {
	for ctx.Err() == nil {
		list, err := kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err == nil {
			for i := range list.Items {
				d := &list.Items[i]
				if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas > 0 {
					continue
				}
				d.Status.ObservedGeneration, d.Status.Replicas = d.Generation, 1
				d.Status.UpdatedReplicas, d.Status.AvailableReplicas, d.Status.ReadyReplicas = 1, 1, 1
				if _, err := kube.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
					t.Logf("mark %s rolled out: %v", d.Name, err)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestMeshPhaseAgainstRealAPIServer applies the control plane and gateway to a real
// kube-apiserver (server-side apply, CRDs, webhooks, RBAC), then re-runs and sees every step
// already done.
func TestMeshPhaseAgainstRealAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	kc, err := kube.NewClient(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	cs := kc.Kube
	ps, p, _ := newTestPlan(t, nil)
	p.clients = &Clients{Client: kc, Poll: 100 * time.Millisecond}
	p.WaitTimeout = 2 * time.Minute

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	go rollOut(ctx, t, cs, install.Namespace)

	for round, want := range []string{"task.done", "task.skip"} {
		rec := &recorder{}
		if err := engine.Execute(ctx, testRun(rec), engine.Phases{ps[2]}); err != nil {
			t.Fatalf("round %d: %v\n%s", round, err, strings.Join(rec.tasks("mesh"), "\n"))
		}
		var ends []string
		for _, l := range rec.tasks("mesh") {
			if !strings.HasPrefix(l, "task.start") {
				ends = append(ends, l)
			}
		}
		if len(ends) != 2 || !strings.HasPrefix(ends[0], want) || !strings.HasPrefix(ends[1], want) {
			t.Fatalf("round %d: %v, want two %s", round, ends, want)
		}
	}
	svc, err := cs.CoreV1().Services(install.Namespace).Get(ctx, gateway.DeploymentName, metav1.GetOptions{})
	if err != nil || svc.Spec.Ports[0].NodePort != gateway.DefaultNodePort {
		t.Fatalf("gateway Service: %v %v", svc, err)
	}
	d, err := cs.AppsV1().Deployments(install.Namespace).Get(ctx, install.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("control plane: %v", err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != p.image() || !strings.HasPrefix(img, "meshlab.local/meshlab:v9-") {
		t.Fatalf("control plane runs %s, want %s (version v9 and the binary's digest)", img, p.image())
	}
}
