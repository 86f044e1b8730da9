package pilot

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// The path through the API server's pod proxy is exercised on the lab cluster (cluster/e2e);
// here: a control plane with no ready pod is named, with the command that shows why.
func TestFetchStatusInClusterNeedsAReadyPod(t *testing.T) {
	notReady := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "meshlab-system", Name: "meshlab-pilot-1",
		Labels: map[string]string{"app": "meshlab-pilot"}},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}}}
	kube := fake.NewClientset(notReady)
	_, err := FetchStatusInCluster(context.Background(), kube, "meshlab-system", "app=meshlab-pilot", 15014)
	if err == nil || !strings.Contains(err.Error(), "no ready control-plane pod") ||
		!strings.Contains(err.Error(), "kubectl -n meshlab-system get pods -l app=meshlab-pilot") {
		t.Fatalf("err = %v", err)
	}
}
