package wait

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func node(name string, ready corev1.ConditionStatus) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: "KubeletNotReady", Message: "cni not initialized"}}}}
}

// recorder keeps reported lines; the test flips cluster state when it sees a given report.
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) report(s string) { r.mu.Lock(); r.lines = append(r.lines, s); r.mu.Unlock() }

func TestNodesReadyWaitsForEveryNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := fake.NewClientset(node("cp1", corev1.ConditionTrue), node("worker1", corev1.ConditionFalse))
	var rec recorder
	o := Options{Interval: time.Millisecond, Report: func(s string) {
		rec.report(s)
		// Each new status makes progress: worker1 becomes Ready, then worker2 registers Ready.
		if strings.Contains(s, "not Ready: worker1") {
			_, _ = c.CoreV1().Nodes().UpdateStatus(ctx, node("worker1", corev1.ConditionTrue), metav1.UpdateOptions{})
		} else if strings.Contains(s, "1 not registered") {
			_, _ = c.CoreV1().Nodes().Create(ctx, node("worker2", corev1.ConditionTrue), metav1.CreateOptions{})
		}
	}}
	if err := NodesReady(ctx, c, 3, o); err != nil {
		t.Fatal(err)
	}
	if len(rec.lines) < 2 || !strings.Contains(rec.lines[0], "3 node(s) to be Ready: 1 of 3 Ready [cp1]; not Ready: worker1 (KubeletNotReady: cni not initialized); 1 not registered yet") {
		t.Errorf("reports = %q", rec.lines)
	}
}

func TestNodesReadyTimeoutSaysWhatIsMissing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := fake.NewClientset(node("cp1", corev1.ConditionFalse))
	o := Options{Interval: time.Millisecond, Report: func(string) { cancel() }}
	err := NodesReady(ctx, c, 1, o)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "not Ready: cp1") {
		t.Errorf("err = %v", err)
	}
}

func TestDeploymentAvailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	two := int32(2)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: "kube-system", Generation: 1},
		Spec: appsv1.DeploymentSpec{Replicas: &two}}
	c := fake.NewClientset(d)
	var rec recorder
	o := Options{Interval: time.Millisecond, Report: func(s string) {
		rec.report(s)
		up := d.DeepCopy()
		up.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, UpdatedReplicas: 2, AvailableReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}}
		_, _ = c.AppsV1().Deployments("kube-system").UpdateStatus(ctx, up, metav1.UpdateOptions{})
	}}
	if err := DeploymentAvailable(ctx, c, "kube-system", "coredns", o); err != nil {
		t.Fatal(err)
	}
	if len(rec.lines) != 1 || !strings.Contains(rec.lines[0], "kube-system/coredns to be available: 0 of 2 replicas available") {
		t.Errorf("reports = %q", rec.lines)
	}
}
