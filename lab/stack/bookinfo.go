package stack

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshlab/meshlab/bookinfo/deploy"
	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/provision/engine"
)

// Bookinfo deploys Istio's Bookinfo (bookinfo.yaml and bookinfo-gateway.yaml, unchanged) into an
// injected namespace: the upstream images online (and from a bundle that carries them), the Go
// Bookinfo from the side-loaded meshlab image from a bundle that does not.
type Bookinfo struct{ plan *plan }

func (*Bookinfo) Title() string { return "Deploy Bookinfo" }
func (*Bookinfo) Name() string  { return "bookinfo" }

func (b *Bookinfo) ShouldRun(*engine.Run) bool { return b.plan.components().Bookinfo }

const bookinfoTask = "Deploy Bookinfo and wait for its rollouts"

func (b *Bookinfo) options() deploy.Options {
	return deploy.Options{Namespace: deploy.DefaultNamespace, Images: b.plan.Lab.Versions.Bookinfo,
		Offline: b.plan.goBookinfo(), MeshlabImage: b.plan.image(), MeshlabVersion: b.plan.Version}
}

func (b *Bookinfo) Run(ctx context.Context, r *engine.Run) error {
	t := newTask(r, nil, "bookinfo", bookinfoTask)
	o := b.options()
	objs, err := deploy.Render(o)
	if err != nil {
		return t.fail("", err)
	}
	c, err := b.plan.cluster()
	if err != nil {
		return t.fail("", err)
	}
	done, err := allRolledOut(ctx, c, objs)
	if err != nil {
		return t.fail("", err)
	}
	if done {
		t.Skip("")
		return nil
	}
	t.Begin(fmt.Sprintf("namespace %s, offline %v", o.Namespace, o.Offline))
	if _, err := c.Apply(ctx, objs); err != nil {
		return t.fail("", err)
	}
	var names []string
	for _, w := range kube.Workloads(objs) {
		names = append(names, w.Name)
	}
	r.Waiting(nil, "bookinfo", fmt.Sprintf("waiting for %d Bookinfo deployments to roll out", len(names)))
	if err := c.waitRollouts(ctx, b.plan.WaitTimeout, o.Namespace, names...); err != nil {
		return t.fail("kubectl -n "+o.Namespace+" get pods shows which pod is not ready (2/2 with the sidecar)", err)
	}
	t.Done(fmt.Sprintf("%d deployments ready in %s", len(names), o.Namespace))
	return nil
}

// allRolledOut: every Deployment of the render runs its rendered image and is rolled out.
func allRolledOut(ctx context.Context, c *Clients, objs []*unstructured.Unstructured) (bool, error) {
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		done, err := rolledOut(ctx, c.Kube, o.GetNamespace(), o.GetName(), firstImage(o))
		if err != nil || !done {
			return false, err
		}
	}
	return true, nil
}

// firstImage is the image of a Deployment's first container ("" if it has none).
func firstImage(d *unstructured.Unstructured) string {
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(cs) == 0 {
		return ""
	}
	m, _ := cs[0].(map[string]any)
	img, _ := m["image"].(string)
	return img
}

func (b *Bookinfo) DryRun(_ context.Context, r *engine.Run) error {
	o := b.options()
	what := "the upstream images"
	if o.Offline {
		what = "the Go services of " + o.MeshlabImage
	}
	newTask(r, nil, "bookinfo", bookinfoTask).Plan(fmt.Sprintf("would deploy Bookinfo into %s (injected) with %s", o.Namespace, what))
	return nil
}
