package phases

import (
	"context"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/provision/engine"
)

const dnsTask = "Keep CoreDNS answers inside the lab"

// localDNS drops the forward plugin from CoreDNS's Corefile: an offline lab must not send DNS
// queries off the machine (a lab's traffic stays on its own hosts). CoreDNS's reload plugin picks
// the change up; names outside the cluster then fail fast instead of leaving the machine.
func (c *CNI) localDNS(ctx context.Context, r *engine.Run, cs kubernetes.Interface) error {
	t := newTask(r, nil, "cni", dnsTask)
	cms := cs.CoreV1().ConfigMaps("kube-system")
	cm, err := cms.Get(ctx, "coredns", metav1.GetOptions{})
	if err != nil {
		return t.Fail("get configmap kube-system/coredns", "", err)
	}
	corefile, changed := StripForward(cm.Data["Corefile"])
	if !changed {
		t.Skip("")
		return nil
	}
	cm.Data["Corefile"] = corefile
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: kube.FieldManager}); err != nil {
		return t.Fail("update configmap kube-system/coredns", "", err)
	}
	t.Done("removed the forward plugin")
	return nil
}

// StripForward removes every `forward` directive (one line, or a block in braces) from a
// Corefile. changed is false when there was none.
func StripForward(corefile string) (out string, changed bool) {
	var b strings.Builder
	depth := 0 // > 0 while inside a forward block
	for _, line := range strings.SplitAfter(corefile, "\n") {
		trim := strings.TrimSpace(line)
		if depth > 0 {
			depth += strings.Count(trim, "{") - strings.Count(trim, "}")
			continue
		}
		if trim == "forward" || strings.HasPrefix(trim, "forward ") {
			changed = true
			depth = strings.Count(trim, "{") - strings.Count(trim, "}")
			continue
		}
		b.WriteString(line)
	}
	return b.String(), changed
}
