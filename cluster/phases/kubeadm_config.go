package phases

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/meshlab/meshlab/cluster/kubeadm"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/transport"
)

// KubeadmConfig writes the generated `kubeadm init` configuration to the first control plane,
// where the playbook's control-plane phase runs `kubeadm init --config` with it. It does nothing
// once the control plane is initialised (the config only matters for init).
type KubeadmConfig struct {
	plan *plan
	host *engine.Host
	// containerNode is what systemd-detect-virt said of the init host (see containerNode).
	containerNode bool
}

var _ engine.Preparer = (*KubeadmConfig)(nil)

func (*KubeadmConfig) Title() string { return "Write the kubeadm init configuration" }
func (*KubeadmConfig) Name() string  { return "kubeadm-config" }

const initTask = "Write " + RemoteInitConfig

func (k *KubeadmConfig) Prepare(_ context.Context, r *engine.Run) error {
	k.host = findHost(r, k.plan.initHost.Name)
	if k.host == nil {
		return fmt.Errorf("control-plane host %s is not part of this run", k.plan.initHost.Name)
	}
	return nil
}

// Config renders the init configuration for the lab: the control plane advertises its node
// address (the one the other nodes reach it on, learned on the hosts) and its kubelet registers
// with it; the name or address the operator reaches it on is an extra certificate SAN.
func (k *KubeadmConfig) Config(cp NodeNet) ([]byte, error) {
	lab := k.plan.Lab
	return kubeadm.InitConfig(kubeadm.InitOptions{
		NodeName: k.host.Name, AdvertiseAddress: cp.IP.String(), NodeIP: cp.IP.String(),
		ExtraSANs:         operatorSANs(k.host.Address),
		KubernetesVersion: lab.Versions.Kubernetes.Version,
		PodCIDR:           lab.Network.PodCIDR, ServiceCIDR: lab.Network.ServiceCIDR,
		Offline: k.plan.offline(), IgnorePreflightErrors: k.plan.IgnorePreflightErrors,
		ContainerNodes: k.containerNode,
	})
}

// operatorSANs is the hosts file's address as a certificate SAN, unless it is a loopback address
// (a forwarded SSH port says nothing about where the API server is).
func operatorSANs(address string) []string {
	if ip, err := netip.ParseAddr(address); err == nil && ip.IsLoopback() {
		return nil
	}
	return []string{address}
}

// detectContainerNode asks systemd whether the init host is a container (a local-lab machine
// under runc, an LXC or nspawn host): its disk is the host's, which changes the kubelet's
// eviction settings. The init host decides for the cluster, since joining nodes take the
// kubelet configuration kubeadm init stores.
func (k *KubeadmConfig) detectContainerNode(ctx context.Context, t *task) error {
	const detect = "systemd-detect-virt --container --quiet"
	in, err := t.test(ctx, detect)
	if err != nil {
		return t.Fail(detect, "", err)
	}
	k.containerNode = in
	if in {
		t.Log("the host is a container: the kubelet's disk-based eviction is turned off (the disk is the host's)")
	}
	return nil
}

func (k *KubeadmConfig) Run(ctx context.Context, r *engine.Run) error {
	h := k.host
	t := newTask(r, h, "kubeadm-config", initTask)
	if h.Transport != nil {
		done, err := t.test(ctx, "test -f /etc/kubernetes/admin.conf")
		if err != nil {
			return t.Fail("test -f /etc/kubernetes/admin.conf", "", err)
		}
		if done {
			t.Skip("")
			return nil
		}
		if err := k.detectContainerNode(ctx, t); err != nil {
			return err
		}
	}
	if h.Transport == nil { // a dry run without --probe: the node address is learned on the host
		return r.Wet(h, "kubeadm-config", initTask, "would write the kubeadm init config (advertising the node address found on the host) to "+RemoteInitConfig, nil)
	}
	nets, err := k.plan.nodeNets(ctx, r)
	if err != nil {
		return t.Fail("", "see the facts phase's lines for each host's addresses; set internalAddress in the hosts file", err)
	}
	cfg, err := k.Config(nets[h.Name])
	if err != nil {
		return t.Fail("", "check the hosts file's network section and the control-plane address", err)
	}
	return r.Wet(h, "kubeadm-config", initTask, "would write the kubeadm init config ("+fmt.Sprint(len(cfg))+" bytes) to "+RemoteInitConfig, func() error {
		t.Begin("")
		mk := "install -d -m 0700 " + RemoteConfigDir
		if _, err := t.run(ctx, mk, time.Minute); err != nil {
			return t.Fail(mk, "", err)
		}
		if err := h.Transport.Put(ctx, bytes.NewReader(cfg), transport.Upload{Path: RemoteInitConfig, Mode: 0o600, Become: true}); err != nil {
			return t.Fail("sftp put "+RemoteInitConfig, "", err)
		}
		t.Log("kubeadm init config:\n%s", cfg)
		t.Done("")
		return nil
	})
}

func findHost(r *engine.Run, name string) *engine.Host {
	for _, h := range r.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}
