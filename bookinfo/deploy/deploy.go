package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/meshlab/meshlab/internal/kube"
)

// DefaultRolloutTimeout bounds the wait for Bookinfo's six Deployments (image pulls included).
const DefaultRolloutTimeout = 5 * time.Minute

// Deploy renders Bookinfo for opts, applies it, and waits for its rollouts (w.Timeout, default
// DefaultRolloutTimeout).
func Deploy(ctx context.Context, c *kube.Client, opts Options, w kube.WaitOptions) error {
	objs, err := Render(opts)
	if err != nil {
		return err
	}
	if _, err := c.Apply(ctx, objs); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	if w.Timeout <= 0 {
		w.Timeout = DefaultRolloutTimeout
	}
	if err := kube.WaitRollouts(ctx, c.Kube, kube.Workloads(objs), w); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	return nil
}

// Remove deletes what Deploy applied. The namespace goes too unless it is "default", which
// meshlab never owns.
func Remove(ctx context.Context, c *kube.Client, opts Options) error {
	objs, err := Render(opts)
	if err != nil {
		return err
	}
	if objs[0].GetKind() == "Namespace" && objs[0].GetName() == "default" {
		objs = objs[1:]
	}
	if _, err := c.Delete(ctx, objs); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	return nil
}
