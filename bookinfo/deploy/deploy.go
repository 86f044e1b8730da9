package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// NewClient builds a Client from a kubeconfig file.
func NewClient(kubeconfig string, log *slog.Logger) (*Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("deploy: kubeconfig %s: %w", kubeconfig, err)
	}
	// A CLI applying a dozen objects and polling six rollouts: client-go's default 5 QPS would
	// make the waits about the rate limiter rather than the cluster.
	cfg.QPS, cfg.Burst = 50, 100
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("deploy: kubeconfig %s: %w", kubeconfig, err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("deploy: kubeconfig %s: %w", kubeconfig, err)
	}
	return &Client{Dynamic: dyn, Kube: kube, Log: log}, nil
}

// DefaultRolloutTimeout bounds the wait for Bookinfo's six Deployments (image pulls included).
const DefaultRolloutTimeout = 5 * time.Minute

// Deploy renders Bookinfo for opts, applies it, and waits up to timeout for its rollouts.
func (c *Client) Deploy(ctx context.Context, opts Options, timeout time.Duration) error {
	objs, err := Render(opts)
	if err != nil {
		return err
	}
	if err := c.Apply(ctx, objs); err != nil {
		return err
	}
	if timeout <= 0 {
		timeout = DefaultRolloutTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.WaitRollouts(ctx, namespaceOf(objs), Workloads(objs))
}

// Remove deletes what Deploy applied. The namespace goes too unless it is "default", which
// meshlab never owns.
func (c *Client) Remove(ctx context.Context, opts Options) error {
	objs, err := Render(opts)
	if err != nil {
		return err
	}
	if objs[0].GetKind() == "Namespace" && objs[0].GetName() == "default" {
		objs = objs[1:]
	}
	return c.Delete(ctx, objs)
}

func namespaceOf(objs []*unstructured.Unstructured) string {
	for _, o := range objs {
		if o.GetNamespace() != "" {
			return o.GetNamespace()
		}
	}
	return DefaultNamespace
}
