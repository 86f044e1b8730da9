package phases

import (
	"context"
	"fmt"

	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/provision/engine"
)

// Wait waits until every host is a Ready node and CoreDNS is available, saying what it waits
// for as that changes. On a finished lab both are true at the first look: "already done".
type Wait struct{ plan *plan }

func (*Wait) Title() string { return "Wait for Ready nodes and CoreDNS" }
func (*Wait) Name() string  { return "wait" }

func (w *Wait) Run(ctx context.Context, r *engine.Run) error {
	if r.DryRun {
		r.Logf(nil, "wait", "would wait up to %s for %d Ready nodes and CoreDNS", w.plan.WaitTimeout, len(r.Hosts))
		return nil
	}
	kc, err := w.plan.client()
	if err != nil {
		return newTask(r, nil, "wait", "Connect to the API").Fail("", "", err)
	}
	cs := kc.Kube
	steps := []struct {
		name string
		wait func(ctx context.Context, o kube.WaitOptions) error
	}{
		{fmt.Sprintf("All %d nodes Ready", len(r.Hosts)), func(ctx context.Context, o kube.WaitOptions) error {
			return kube.WaitNodesReady(ctx, cs, len(r.Hosts), o)
		}},
		{"CoreDNS available", func(ctx context.Context, o kube.WaitOptions) error {
			return kube.WaitRollouts(ctx, cs, []kube.Workload{{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"}}, o)
		}},
	}
	for _, s := range steps {
		t := newTask(r, nil, "wait", s.name)
		waited := false
		o := kube.WaitOptions{Timeout: w.plan.WaitTimeout, Report: func(what string) {
			if !waited {
				t.Begin("")
				waited = true
			}
			t.Waiting(what)
		}}
		err := s.wait(ctx, o)
		if err != nil {
			return t.Fail("", "see `kubectl --kubeconfig "+w.plan.kubeconfigPath()+" get pods -A` for pods that do not start", err)
		}
		if waited {
			t.Done("")
		} else {
			t.Skip("")
		}
	}
	return nil
}
