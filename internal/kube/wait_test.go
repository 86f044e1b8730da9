package kube

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
	o := WaitOptions{Interval: time.Millisecond, Report: func(s string) {
		rec.report(s)
		// Each new status makes progress: worker1 becomes Ready, then worker2 registers Ready.
		if strings.Contains(s, "not Ready: worker1") {
			_, _ = c.CoreV1().Nodes().UpdateStatus(ctx, node("worker1", corev1.ConditionTrue), metav1.UpdateOptions{})
		} else if strings.Contains(s, "1 not registered") {
			_, _ = c.CoreV1().Nodes().Create(ctx, node("worker2", corev1.ConditionTrue), metav1.CreateOptions{})
		}
	}}
	if err := WaitNodesReady(ctx, c, 3, o); err != nil {
		t.Fatal(err)
	}
	if len(rec.lines) < 2 || !strings.Contains(rec.lines[0], "3 node(s) to be Ready: 1 of 3 Ready [cp1]; not Ready: worker1 (KubeletNotReady: cni not initialized); 1 not registered yet") {
		t.Errorf("reports = %q", rec.lines)
	}
}

func TestNodesReadyTimeoutSaysWhatIsMissing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := fake.NewClientset(node("cp1", corev1.ConditionFalse))
	o := WaitOptions{Interval: time.Millisecond, Report: func(string) { cancel() }}
	err := WaitNodesReady(ctx, c, 1, o)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "not Ready: cp1") {
		t.Errorf("err = %v", err)
	}
}

// A single rollout reports its state until done (the CoreDNS wait of the cluster phases).
func TestWaitRolloutReportsUntilAvailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	two := int32(2)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: "kube-system", Generation: 1},
		Spec:   appsv1.DeploymentSpec{Replicas: &two},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, UpdatedReplicas: 2}}
	c := fake.NewClientset(d)
	var rec recorder
	o := WaitOptions{Interval: time.Millisecond, Report: func(s string) {
		rec.report(s)
		up := d.DeepCopy()
		up.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, UpdatedReplicas: 2, AvailableReplicas: 2}
		_, _ = c.AppsV1().Deployments("kube-system").UpdateStatus(ctx, up, metav1.UpdateOptions{})
	}}
	if err := WaitRollouts(ctx, c, []Workload{{"Deployment", "kube-system", "coredns"}}, o); err != nil {
		t.Fatal(err)
	}
	if len(rec.lines) != 1 || rec.lines[0] != "Deployment kube-system/coredns to roll out: 0 of 2 replicas available" {
		t.Errorf("reports = %q", rec.lines)
	}
}

func TestWaitRolloutsSaysWhatItWaitsFor(t *testing.T) {
	one := int32(1)
	ready := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "bookinfo", Name: "details-v1", Generation: 1},
		Spec:   appsv1.DeploymentSpec{Replicas: &one},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, UpdatedReplicas: 1, AvailableReplicas: 1}}
	slow := ready.DeepCopy()
	slow.Name, slow.Status.AvailableReplicas = "reviews-v2", 0
	c := fake.NewClientset(ready, slow)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	o := WaitOptions{Interval: time.Millisecond}
	err := WaitRollouts(ctx, c, []Workload{{"Deployment", "bookinfo", "details-v1"}, {"Deployment", "bookinfo", "reviews-v2"}}, o)
	if err == nil || !strings.Contains(err.Error(), "reviews-v2: 0 of 1 replicas available") || strings.Contains(err.Error(), "details-v1") {
		t.Fatalf("err = %v", err)
	}
	if err := WaitRollouts(context.Background(), c, []Workload{{"Deployment", "bookinfo", "details-v1"}}, o); err != nil {
		t.Fatal(err)
	}
	// Timeout bounds the wait by itself, and a missing workload says so.
	err = WaitRollouts(context.Background(), c, []Workload{{"DaemonSet", "bookinfo", "gone"}}, WaitOptions{Interval: time.Millisecond, Timeout: 20 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `waiting for DaemonSet bookinfo/gone to roll out: gave up after`) ||
		!strings.Contains(err.Error(), `last seen: daemonsets.apps "gone" not found`) {
		t.Fatalf("missing DaemonSet: %v", err)
	}
}

func TestRolloutStatusByKind(t *testing.T) {
	three, part := int32(3), int32(2)
	cases := []struct {
		name string
		done bool
		want string
		got  func() (bool, string)
	}{
		{"deployment unobserved", false, "controller has not seen the latest spec", func() (bool, string) {
			return DeploymentStatus(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Status: appsv1.DeploymentStatus{ObservedGeneration: 1}})
		}},
		{"deployment stalled", false, "1 of 3 replicas updated (ProgressDeadlineExceeded: too slow)", func() (bool, string) {
			return DeploymentStatus(&appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: &three}, Status: appsv1.DeploymentStatus{UpdatedReplicas: 1,
				Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "too slow"}}}})
		}},
		{"deployment done", true, "", func() (bool, string) {
			return DeploymentStatus(&appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: &three}, Status: appsv1.DeploymentStatus{UpdatedReplicas: 3, AvailableReplicas: 3}})
		}},
		{"daemonset updating", false, "1 of 2 pods updated", func() (bool, string) {
			return DaemonSetStatus(&appsv1.DaemonSet{Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, UpdatedNumberScheduled: 1, NumberAvailable: 2}})
		}},
		{"daemonset unavailable", false, "0 of 2 pods available", func() (bool, string) {
			return DaemonSetStatus(&appsv1.DaemonSet{Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2}})
		}},
		{"daemonset done", true, "", func() (bool, string) {
			return DaemonSetStatus(&appsv1.DaemonSet{Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberAvailable: 2}})
		}},
		{"statefulset not ready", false, "2 of 3 replicas ready", func() (bool, string) {
			return StatefulSetStatus(&appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: &three}, Status: appsv1.StatefulSetStatus{UpdatedReplicas: 3, ReadyReplicas: 2}})
		}},
		{"statefulset partition", false, "0 of 1 replicas updated", func() (bool, string) {
			return StatefulSetStatus(&appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: &three, UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &part}}}, Status: appsv1.StatefulSetStatus{ReadyReplicas: 3, AvailableReplicas: 3}})
		}},
		{"statefulset done", true, "", func() (bool, string) {
			return StatefulSetStatus(&appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: &three}, Status: appsv1.StatefulSetStatus{UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}})
		}},
	}
	for _, c := range cases {
		done, status := c.got()
		if done != c.done || status != c.want {
			t.Errorf("%s: (%v, %q), want (%v, %q)", c.name, done, status, c.done, c.want)
		}
	}
}
