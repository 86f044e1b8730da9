package stack

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/bookinfo/deploy"
)

// DefaultWaitTimeout bounds each rollout wait (image pulls or side-loaded starts included).
const DefaultWaitTimeout = 5 * time.Minute

// rolledOut says whether a Deployment exists, runs image in its first container, and has every
// replica updated and available: the guard of the phases that apply Deployments.
func rolledOut(ctx context.Context, kube kubernetes.Interface, ns, name, image string) (bool, error) {
	d, err := kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read Deployment %s/%s: %w", ns, name, err)
	}
	cs := d.Spec.Template.Spec.Containers
	if len(cs) == 0 || (image != "" && cs[0].Image != image) {
		return false, nil
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas >= want && s.AvailableReplicas >= want, nil
}

// applier is the server-side applier and rollout waiter of bookinfo/deploy over the clients.
func (c *Clients) applier() *deploy.Client {
	return &deploy.Client{Dynamic: c.Dynamic, Kube: c.Kube, Log: slog.New(slog.DiscardHandler), Poll: c.Poll}
}

// waitRollouts waits up to timeout for the Deployments.
func (c *Clients) waitRollouts(ctx context.Context, timeout time.Duration, ns string, names ...string) error {
	if timeout <= 0 {
		timeout = DefaultWaitTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.applier().WaitRollouts(ctx, ns, names)
}
