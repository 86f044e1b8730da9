package phases

import (
	"context"
	"fmt"

	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/cluster/kubeconfig"
	"github.com/meshlab/meshlab/cluster/wait"
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
	cfg, err := kubeconfig.RESTConfig(w.plan.kubeconfigPath())
	if err != nil {
		return newTask(r, nil, "wait", "Connect to the API").Fail("", "", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return newTask(r, nil, "wait", "Connect to the API").Fail("", "", err)
	}
	steps := []struct {
		name string
		wait func(ctx context.Context, o wait.Options) error
	}{
		{fmt.Sprintf("All %d nodes Ready", len(r.Hosts)), func(ctx context.Context, o wait.Options) error {
			return wait.NodesReady(ctx, cs, len(r.Hosts), o)
		}},
		{"CoreDNS available", func(ctx context.Context, o wait.Options) error {
			return wait.DeploymentAvailable(ctx, cs, "kube-system", "coredns", o)
		}},
	}
	for _, s := range steps {
		t := newTask(r, nil, "wait", s.name)
		waited := false
		o := wait.Options{Report: func(what string) {
			if !waited {
				t.Begin("")
				waited = true
			}
			t.Waiting(what)
		}}
		wctx, cancel := context.WithTimeout(ctx, w.plan.WaitTimeout)
		err := s.wait(wctx, o)
		cancel()
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
