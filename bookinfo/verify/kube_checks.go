package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/provision/versions"
)

// podsReady checks that every Bookinfo workload has a Running pod with 2/2 containers ready
// (the application and its sidecar, native sidecars counted as kubectl counts them).
func podsReady(kube kubernetes.Interface, namespace string) CheckFunc {
	return func(ctx context.Context) (Observation, error) {
		pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return Observation{Observed: "cannot list pods"}, fmt.Errorf("list pods in %s: %w", namespace, err)
		}
		var problems []string
		ok, podless := 0, 0
		for _, w := range versions.BookinfoServices() {
			app, version, _ := strings.Cut(w, "-")
			var found []string
			good := false
			for i := range pods.Items {
				p := &pods.Items[i]
				if p.Labels["app"] != app || p.Labels["version"] != version || p.DeletionTimestamp != nil {
					continue
				}
				ready, total := readyCount(p)
				found = append(found, fmt.Sprintf("%s %d/%d %s", p.Name, ready, total, p.Status.Phase))
				if p.Status.Phase == corev1.PodRunning && ready == 2 && total == 2 {
					good = true
				}
			}
			switch {
			case good:
				ok++
			case len(found) == 0:
				podless++
				problems = append(problems, w+": no pod (deployment scaled to zero or not deployed?)")
			default:
				problems = append(problems, w+": "+strings.Join(found, ", "))
			}
		}
		o := Observation{Observed: fmt.Sprintf("%d/%d workloads with a pod 2/2 Ready", ok, len(versions.BookinfoServices()))}
		if len(problems) > 0 {
			o.Detail = strings.Join(problems, "; ")
			err := errors.New("not every Bookinfo workload has a ready pod with its sidecar")
			if podless > 0 {
				// A workload without any pod is not rolling out: waiting will not bring it.
				return o, final{err}
			}
			return o, err
		}
		return o, nil
	}
}

// readyCount counts containers as kubectl's READY column does: regular containers plus
// restartable (native sidecar) init containers. A finished init container (the capture set-up)
// reports Ready too, so init statuses count only for the restartable ones.
func readyCount(p *corev1.Pod) (ready, total int) {
	total = len(p.Spec.Containers)
	sidecars := map[string]bool{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
			total++
		}
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.Ready {
			ready++
		}
	}
	for _, s := range p.Status.InitContainerStatuses {
		if s.Ready && sidecars[s.Name] {
			ready++
		}
	}
	return ready, total
}

// controlPlaneReady checks that the control plane's pods are ready: without them sidecars get
// no routes and new pods get no sidecar.
func controlPlaneReady(kube kubernetes.Interface, namespace, selector string) CheckFunc {
	return func(ctx context.Context) (Observation, error) {
		pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return Observation{Observed: "status unreachable"}, fmt.Errorf("list %s pods in %s: %w", selector, namespace, err)
		}
		var ready int
		var notReady []string
		for i := range pods.Items {
			p := &pods.Items[i]
			r, t := readyCount(p)
			if p.Status.Phase == corev1.PodRunning && r == t && t > 0 {
				ready++
			} else {
				notReady = append(notReady, fmt.Sprintf("%s %d/%d %s", p.Name, r, t, p.Status.Phase))
			}
		}
		o := Observation{Observed: fmt.Sprintf("%d of %d pods ready", ready, len(pods.Items))}
		switch {
		case len(pods.Items) == 0:
			// Scaled to zero or never installed: not something waiting brings back.
			return o, final{fmt.Errorf("no control plane pods (%s) in %s", selector, namespace)}
		case ready == 0:
			o.Detail = strings.Join(notReady, ", ")
			return o, errors.New("the control plane is down")
		}
		return o, nil
	}
}
