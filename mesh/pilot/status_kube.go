package pilot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/mesh/pilot/server"
)

// FetchStatusInCluster reads /debug/status from a ready control-plane pod through the API
// server's pod proxy, so `meshlab mesh status --kubeconfig` works from wherever the kubeconfig
// does, with no port-forward and no route to the pod network. selector picks the control
// plane's pods in namespace; port is its debug port.
func FetchStatusInCluster(ctx context.Context, kube kubernetes.Interface, namespace, selector string, port int) ([]server.ProxyStatus, error) {
	pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("pilot status: list control-plane pods in %s: %w", namespace, err)
	}
	var pod string
	for i := range pods.Items {
		if p := &pods.Items[i]; p.DeletionTimestamp == nil && podReady(p) {
			pod = p.Name
			break
		}
	}
	if pod == "" {
		return nil, fmt.Errorf("pilot status: no ready control-plane pod (%s) in %s: kubectl -n %s get pods -l %s",
			selector, namespace, namespace, selector)
	}
	body, err := kube.CoreV1().Pods(namespace).ProxyGet("http", pod, strconv.Itoa(port), "/debug/status", nil).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("pilot status from pod %s/%s: %w", namespace, pod, err)
	}
	var out []server.ProxyStatus
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&out); err != nil {
		return nil, fmt.Errorf("pilot status from pod %s/%s: decode: %w", namespace, pod, err)
	}
	return out, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
