package lab

import (
	"fmt"

	"github.com/meshlab/meshlab/cluster/phases"
	"github.com/meshlab/meshlab/lab/stack"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/playbook"
)

// This file is the whole of what a lab's `up` and `down` do, in order. Each entry is a phase of
// the playbook (host tasks in YAML, taken by name) or a Go phase of a part. `meshlab plan`
// prints this same list. To add a step, add it here: nothing else decides the order.

// upPhases is `meshlab up` (and `meshlab plan`): bare machines to a verified lab.
func upPhases(b *builder) engine.Phases {
	k, s := b.cluster, b.stack
	list := engine.Phases{
		engine.Connect{},                      // SSH to every host, sudo checked
		k.Facts(),                             // OS, addresses, MACs, product_uuid; unique across hosts
		k.Claim(),                             // every host is this lab's or free (then claimed), else stop
		k.FirstBoot(),                         // cloud-init and apt/dpkg runs of a fresh host finished
		b.play("preflight"),                   // kubeadm's requirements, ports, kernel modules
		b.play("os-prep"),                     // swap off, sysctls, modules at boot
		b.play("mirrors"),                     // apt sources and containerd hosts.toml of the hosts file's mirrors
		b.when(k.Offline(), k.UploadBundle()), // the offline bundle to every host
		b.play("container-runtime"),           // pinned containerd (Docker's or the bundle's)
		b.play("kubernetes"),                  // pinned kubeadm, kubelet, kubectl (held), images
		k.KubeadmConfig(),                     // kubeadm init config for the first control plane
		b.play("control-plane"),               // kubeadm init
		k.NetworkCheck(),                      // firewalls; the API server from every node (fails in seconds, not at join)
		k.Kubeconfig(),                        // the admin kubeconfig into the lab's folder (0600)
		k.Join(),                              // workers join with a fresh, short-lived token; tokens deleted
		k.RecordOwnership(),                   // the cluster CA's hash in every host's ownership marker
		k.CNI(),                               // Flannel
		k.Wait(),                              // every node Ready, CoreDNS ready
		k.PodNetworkCheck(),                   // kubelets from the control plane; VXLAN between every two nodes
		k.Untaint(),                           // a lab without workers runs its workloads on the control plane
	}
	if s == nil { // --stack=false: the cluster only
		return list
	}
	return append(list,
		s.Image(),    // the meshlab image, built from this binary
		s.SideLoad(), // imported on every node (no registry needed)
		s.Mesh(),     // control plane, injector, ingress gateway
		s.Addons(),   // Zipkin or Jaeger, Prometheus, Grafana (Helm)
		s.Bookinfo(), // Bookinfo with sidecars, and its gateway
		s.Verify(),   // meshlab verify bookinfo
		s.Summary(),  // the lab's URLs and kubeconfig
	)
}

// downPhases is `meshlab down`: the playbook's reset, then what meshlab kept about the cluster.
func downPhases(b *builder) engine.Phases {
	return engine.Phases{
		engine.Connect{},
		b.cluster.CheckOwner(),       // every host is this lab's (or has nothing to undo), else stop
		b.reset("reset"),             // kubeadm reset, CNI config, iptables; packages with --remove-packages
		engine.ForgetState{},         // the recorded tasks: the next up starts over
		b.cluster.RemoveKubeconfig(), // the kubeconfig names a cluster that is gone
	}
}

// builder makes the phases of one action and remembers the first playbook phase it could not
// find, so a playbook that lost a phase fails with its name rather than with a nil phase.
type builder struct {
	pb      *playbook.Playbook
	cluster *phases.Set
	stack   *stack.Set // nil without the stack
	used    map[string]bool
	err     error
}

// play is the playbook's phase of that name (from its phases section).
func (b *builder) play(name string) engine.Phase { return b.find(name, b.pb.Phases, "phases") }

// reset is the playbook's phase of that name from its reset section.
func (b *builder) reset(name string) engine.Phase { return b.find(name, b.pb.Reset, "reset") }

func (b *builder) find(name string, in []playbook.Phase, section string) engine.Phase {
	for _, ph := range in {
		if ph.Name == name {
			if b.used == nil {
				b.used = map[string]bool{}
			}
			b.used[section+"/"+name] = true
			return &engine.PlaybookPhase{Book: b.pb, Phase: ph}
		}
	}
	if b.err == nil {
		b.err = fmt.Errorf("playbook %s (%s) has no phase %q in its %s section; meshlab's lab needs it",
			b.pb.Name, b.pb.Source, name, section)
	}
	return nil
}

// when is p if cond holds, else nothing (dropped from the list by build).
func (b *builder) when(cond bool, p engine.Phase) engine.Phase {
	if cond {
		return p
	}
	return nil
}

// build drops the phases when left out, and reports a playbook phase the list needs but the
// playbook lacks, or one of the playbook's phases (of the section the action runs) that the list
// does not place: a phase added to the YAML alone would otherwise never run.
func (b *builder) build(list engine.Phases, section string, all []playbook.Phase) (engine.Phases, error) {
	if b.err != nil {
		return nil, b.err
	}
	for _, ph := range all {
		if !b.used[section+"/"+ph.Name] {
			return nil, fmt.Errorf("playbook %s (%s:%d): phase %q is not in the lab's list of phases (lab/phases.go): place it there",
				b.pb.Name, b.pb.Source, ph.Line, ph.Name)
		}
	}
	out := make(engine.Phases, 0, len(list))
	for _, p := range list {
		if p != nil {
			out = append(out, p)
		}
	}
	return out, nil
}
