package stack

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/internal/kube"
)

// DefaultWaitTimeout bounds each rollout wait (image pulls or side-loaded starts included).
const DefaultWaitTimeout = 5 * time.Minute

// rolledOut says whether a Deployment exists, runs image in its first container, and has every
// replica updated and available: the guard of the phases that apply Deployments.
func rolledOut(ctx context.Context, cs kubernetes.Interface, ns, name, image string) (bool, error) {
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read Deployment %s/%s: %w", ns, name, err)
	}
	if !runs(d, image) {
		return false, nil
	}
	done, _ := kube.DeploymentStatus(d)
	return done, nil
}

func runs(d *appsv1.Deployment, image string) bool {
	cs := d.Spec.Template.Spec.Containers
	return len(cs) > 0 && (image == "" || cs[0].Image == image)
}

// waitRollouts waits up to timeout for the Deployments.
func (c *Clients) waitRollouts(ctx context.Context, timeout time.Duration, ns string, names ...string) error {
	if timeout <= 0 {
		timeout = DefaultWaitTimeout
	}
	ws := make([]kube.Workload, len(names))
	for i, n := range names {
		ws[i] = kube.Workload{Kind: "Deployment", Namespace: ns, Name: n}
	}
	return kube.WaitRollouts(ctx, c.Kube, ws, kube.WaitOptions{Timeout: timeout, Interval: c.Poll})
}
