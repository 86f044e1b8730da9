package phases

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/meshlab/meshlab/provision/engine"
)

// controlPlaneTaints are the taints kubeadm puts on a control plane (the second is the name
// clusters made before v1.25 still carry).
var controlPlaneTaints = []string{"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"}

// Untaint lets workloads run on the control plane of a lab without workers. kubeadm taints the
// control plane NoSchedule, so in a one-machine lab the mesh, the addons and Bookinfo would stay
// Pending until their rollout waits gave up. With workers the taint stays: workloads go there.
type Untaint struct{ plan *plan }

var _ engine.Guard = (*Untaint)(nil)

func (*Untaint) Title() string { return "Let workloads run on the control plane (no workers)" }
func (*Untaint) Name() string  { return "untaint" }

// ShouldRun: only a lab without workers.
func (u *Untaint) ShouldRun(*engine.Run) bool { return len(u.plan.Lab.Workers()) == 0 }

const untaintTask = "Remove the control plane's NoSchedule taint"

func (u *Untaint) Run(ctx context.Context, r *engine.Run) error {
	node := u.plan.initHost.Name
	t := newTask(r, nil, "untaint", untaintTask)
	if r.DryRun {
		t.Plan("would remove the NoSchedule taint of " + node + " (the lab has no workers)")
		return nil
	}
	cs, err := u.plan.kubeClient()
	if err != nil {
		return t.Fail("", "", err)
	}
	removed, err := RemoveControlPlaneTaints(ctx, cs, node)
	if err != nil {
		return t.Fail("", "check the node with `kubectl --kubeconfig "+u.plan.kubeconfigPath()+" describe node "+node+"`", err)
	}
	if removed == 0 {
		t.Skip("")
		return nil
	}
	t.Begin("")
	t.Done(fmt.Sprintf("%s schedules workloads (the lab has no workers)", node))
	return nil
}

// RemoveControlPlaneTaints drops kubeadm's control-plane NoSchedule taints from a node and says
// how many it removed (0: none was there).
func RemoveControlPlaneTaints(ctx context.Context, cs kubernetes.Interface, name string) (int, error) {
	removed := 0
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("node %s: %w", name, err)
		}
		var keep []corev1.Taint
		removed = 0
		for _, tt := range n.Spec.Taints {
			if tt.Effect == corev1.TaintEffectNoSchedule && slices.Contains(controlPlaneTaints, tt.Key) {
				removed++
				continue
			}
			keep = append(keep, tt)
		}
		if removed == 0 {
			return nil
		}
		n.Spec.Taints = keep
		_, err = cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	return removed, err
}
