package phases

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestRemoveControlPlaneTaints(t *testing.T) {
	other := corev1.Taint{Key: "example.com/gpu", Effect: corev1.TaintEffectNoSchedule}
	cs := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cp1"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{
		{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}, other}}})
	n, err := RemoveControlPlaneTaints(context.Background(), cs, "cp1")
	if err != nil || n != 1 {
		t.Fatalf("removed %d, %v; want 1", n, err)
	}
	node, _ := cs.CoreV1().Nodes().Get(context.Background(), "cp1", metav1.GetOptions{})
	if len(node.Spec.Taints) != 1 || node.Spec.Taints[0] != other {
		t.Errorf("taints left: %v (want only the one meshlab did not set)", node.Spec.Taints)
	}
	if n, err := RemoveControlPlaneTaints(context.Background(), cs, "cp1"); err != nil || n != 0 {
		t.Errorf("second run: removed %d, %v; want nothing to do", n, err)
	}
	if _, err := RemoveControlPlaneTaints(context.Background(), cs, "nope"); err == nil {
		t.Error("a missing node must be an error")
	}
}

func TestUntaintOnlyWithoutWorkers(t *testing.T) {
	p := testPlan(false)
	if (&Untaint{plan: p}).ShouldRun(nil) {
		t.Error("a lab with a worker must keep the control plane's taint")
	}
	p.Lab.Hosts = p.Lab.Hosts[:1]
	if !(&Untaint{plan: p}).ShouldRun(nil) {
		t.Error("a one-machine lab must untaint its control plane")
	}
}
