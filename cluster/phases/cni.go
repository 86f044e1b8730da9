package phases

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/cluster/cni"
	"github.com/meshlab/meshlab/provision/engine"
)

// CNI installs Flannel through the API (server-side apply) and, in an offline lab, keeps
// CoreDNS from forwarding queries off the machine.
type CNI struct{ plan *plan }

func (*CNI) Title() string { return "Install the pod network (Flannel)" }
func (*CNI) Name() string  { return "cni" }

const flannelTask = "Apply Flannel"

// Objects are the Flannel objects for this lab, from the embedded manifest: online with the
// pinned images, offline with the bundle's flannel image (the bundle's own copy of upstream's
// manifest is not used: its CNI config asks for CNI 1.0.0, which the bundle's flannel CNI
// plugin, v0.9.1, does not speak). A hash of the CNI config on the pod template rolls the
// DaemonSet when the config changes, so a changed config reaches the nodes.
func (c *CNI) Objects(nets map[string]NodeNet) ([]*unstructured.Unstructured, error) {
	lab := c.plan.Lab
	var ips []string
	for _, h := range lab.Hosts { // in the hosts file's order, so the manifest is stable
		if n, ok := nets[h.Name]; ok {
			ips = append(ips, n.IP.String())
		}
	}
	o := cni.Options{PodCIDR: lab.Network.PodCIDR, Image: lab.Versions.Flannel.Image,
		CNIPluginImage: lab.Versions.Flannel.CNIPlugin, IPMasq: lab.Network.PodMasquerade}
	switch {
	case c.plan.offline() && c.plan.manifest.Source == bundle.SourceOnline:
		// Upstream's images, side-loaded: the CNI plugin image installs the flannel binary (the
		// release's CNI plugins lack it). No masquerading: a bundle's lab has no internet to reach.
		o = cni.Options{PodCIDR: lab.Network.PodCIDR, Image: lab.Versions.Flannel.Image,
			CNIPluginImage: lab.Versions.Flannel.CNIPlugin, Offline: true}
	case c.plan.offline():
		o = cni.Options{PodCIDR: lab.Network.PodCIDR, Image: lab.Versions.Flannel.Image, Offline: true,
			// The bundle installs the flannel CNI binary itself; its scratch image copies the
			// config with install-conf (there is no cp). No masquerading: the lab NATs nothing.
			InstallConf: []string{"/opt/bin/install-conf", "/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist"}}
		if img := c.plan.manifest.Versions["image-flannel"]; img != "" {
			o.Image = img
		}
	}
	o.NodeIPs = ips
	objs, err := cni.Flannel(o)
	if err != nil {
		return nil, err
	}
	if err := cni.StampConfigHash(objs); err != nil {
		return nil, err
	}
	return objs, nil
}

func (c *CNI) Run(ctx context.Context, r *engine.Run) error {
	t := newTask(r, nil, "cni", flannelTask)
	var nets map[string]NodeNet
	if !r.DryRun || r.Probe {
		var err error
		if nets, err = c.plan.nodeNets(ctx, r); err != nil {
			return t.Fail("", "see the facts phase's lines for each host's addresses; set internalAddress in the hosts file", err)
		}
	}
	objs, err := c.Objects(nets)
	if err != nil {
		return t.Fail("", "", err)
	}
	if r.DryRun {
		r.Logf(nil, "cni", "would apply %d Flannel objects (server-side apply) with pod network %s", len(objs), c.plan.Lab.Network.PodCIDR)
		return nil
	}
	kc, err := c.plan.client()
	if err != nil {
		return t.Fail("", "", err)
	}
	applied, err := kc.Apply(ctx, objs)
	if err != nil {
		return t.Fail("server-side apply (kube-flannel)", "check the API server is reachable with the lab's kubeconfig", err)
	}
	changed := 0
	for _, a := range applied {
		if a.Changed {
			changed++
		}
	}
	if changed == 0 {
		t.Skip("")
	} else {
		t.Done(fmt.Sprintf("%d of %d objects created or changed", changed, len(objs)))
	}
	if c.plan.offline() {
		return c.localDNS(ctx, r, kc.Kube)
	}
	none, err := noNameserver(ctx, r)
	if err != nil {
		return err
	}
	if none {
		// CoreDNS forwards to the nodes' resolv.conf; with no server there its forward plugin
		// refuses to start ("no nameservers found") and CoreDNS never becomes ready.
		return c.localDNS(ctx, r, kc.Kube)
	}
	return nil
}

// noNameserver says whether no host's /etc/resolv.conf names a DNS server (hosts without the
// internet, such as a local lab's, whose mirrors are reached by address).
func noNameserver(ctx context.Context, r *engine.Run) (bool, error) {
	const check = "grep -qs '^[[:space:]]*nameserver[[:space:]]' /etc/resolv.conf"
	for _, h := range r.Hosts {
		if h.Transport == nil {
			continue
		}
		t := newTask(r, h, "cni", dnsTask)
		has, err := t.test(ctx, check)
		if err != nil {
			return false, t.Fail(check, "", err)
		}
		if has {
			return false, nil
		}
	}
	return true, nil
}
