package phases

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/meshlab/meshlab/cluster/kubeconfig"
	"github.com/meshlab/meshlab/provision/engine"
)

// Kubeconfig fetches the admin kubeconfig from the first control plane into the lab's state
// folder (0600), pointing at where this machine reaches the API server (access.go): the hosts
// file's address, the node address on a network this machine shares, or a port forwarded through
// the control plane's SSH connection for the rest of the run.
type Kubeconfig struct{ plan *plan }

func (*Kubeconfig) Title() string { return "Fetch the admin kubeconfig" }
func (*Kubeconfig) Name() string  { return "kubeconfig" }

const adminConf = "/etc/kubernetes/admin.conf"

func (k *Kubeconfig) Run(ctx context.Context, r *engine.Run) error {
	h := findHost(r, k.plan.initHost.Name)
	if h == nil {
		return fmt.Errorf("control-plane host %s is not part of this run", k.plan.initHost.Name)
	}
	dest := k.plan.kubeconfigPath()
	t := newTask(r, h, "kubeconfig", "Fetch "+adminConf)
	if r.DryRun && h.Transport == nil {
		return r.Wet(h, "kubeconfig", t.Name(), "would fetch "+adminConf+" to "+dest, nil)
	}
	raw, err := h.Transport.Get(ctx, adminConf, true)
	if err != nil && r.DryRun { // probing before kubeadm init ran: there is nothing to fetch yet
		return r.Wet(h, "kubeconfig", t.Name(), "would fetch "+adminConf+" to "+dest+" once kubeadm init made it", nil)
	}
	if err != nil {
		return t.Fail("cat "+adminConf, "kubeadm init did not finish on this host: re-run `meshlab up`", err)
	}
	if r.DryRun { // a plan opens no tunnel
		return r.Wet(h, "kubeconfig", t.Name(), "would write "+dest, nil)
	}
	nets, err := k.plan.nodeNets(ctx, r)
	if err != nil {
		return t.Fail("", "see the facts phase's lines for each host's addresses; set internalAddress in the hosts file", err)
	}
	previous, _ := os.ReadFile(dest)
	acc, err := k.plan.decideAccess(ctx, r, h, raw, nets[h.Name], previous)
	if err != nil {
		return t.Fail("", "open 6443/tcp on "+h.Name+" to this machine, or allow TCP forwarding in its sshd (AllowTcpForwarding yes)", err)
	}
	r.Logf(h, "kubeconfig", "this machine reaches the API server %s", acc.How)
	if hint := acc.Hint(); hint != "" {
		r.Logf(h, "kubeconfig", "%s", hint)
	}
	out, err := kubeconfig.RewriteFor(raw, kubeconfig.Target{Server: acc.Server, TLSServerName: acc.TLSServerName}, r.Lab)
	if err != nil {
		return t.Fail("", "", fmt.Errorf("%s from %s: %w", adminConf, h.Name, err))
	}
	if bytes.Equal(previous, out) {
		t.Skip("")
		return nil
	}
	t.Begin("")
	if err := kubeconfig.Write(dest, out); err != nil {
		return t.Fail("", "", err)
	}
	t.Done(dest + " (server " + acc.Server + ")")
	return nil
}

// RemoveKubeconfig deletes the lab's kubeconfig after a reset.
type RemoveKubeconfig struct{ plan *plan }

func (*RemoveKubeconfig) Title() string { return "Remove the lab's kubeconfig" }
func (*RemoveKubeconfig) Name() string  { return "remove-kubeconfig" }

func (k *RemoveKubeconfig) Run(_ context.Context, r *engine.Run) error {
	p := k.plan.kubeconfigPath()
	t := newTask(r, nil, "remove-kubeconfig", "Remove "+p)
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		t.Skip("")
		return nil
	}
	if r.DryRun {
		r.Logf(nil, "remove-kubeconfig", "would remove %s", p)
		return nil
	}
	t.Begin("")
	if err := os.Remove(p); err != nil {
		return t.Fail("", "", err)
	}
	t.Done("")
	return nil
}
