// Package phases is the Kubernetes part of `meshlab up` and `meshlab down`: the Go phases that
// surround the kubernetes playbook (host facts, bundle upload, kubeadm config, worker joins,
// kubeconfig, CNI, waits) and the ordered lists the command runs.
//
// The playbook (playbooks/kubernetes.yaml) does host work in shell; everything that needs Go —
// cross-host checks, tokens, certificates, the API — is a phase here. Each one reports the same
// events and error contract as playbook tasks, and is idempotent: on a finished lab every step
// says "already done".
package phases

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/playbook"
)

// Playbook is the name of the embedded playbook these phases belong to.
const Playbook = "kubernetes"

// Remote paths meshlab uses on the hosts.
const (
	RemoteBundleDir  = "/var/lib/meshlab/bundle"
	RemoteConfigDir  = "/etc/kubernetes/meshlab"
	RemoteInitConfig = RemoteConfigDir + "/kubeadm-init.yaml"
	RemoteJoinConfig = RemoteConfigDir + "/kubeadm-join.yaml"
	// KubeconfigName is the admin kubeconfig in the lab's state folder.
	KubeconfigName = "kubeconfig"
)

// Defaults.
const (
	DefaultWaitTimeout = 10 * time.Minute
	DefaultJoinTimeout = 10 * time.Minute
)

// Options shape the Kubernetes phases of one action.
type Options struct {
	Lab    *inventory.Lab
	LabDir string // the lab's state folder: the kubeconfig is written here (0600)
	// BundleDir is a local offline bundle ("" installs from the internet). Its manifest says
	// which files each host needs.
	BundleDir string
	// RemovePackages makes `down` also remove the Kubernetes packages.
	RemovePackages bool
	// WaitTimeout bounds the wait for Ready nodes and CoreDNS (default DefaultWaitTimeout).
	WaitTimeout time.Duration
	// TokenTTL is the lifetime of the join token (default kubeadm.DefaultTokenTTL).
	TokenTTL time.Duration
	// IgnorePreflightErrors is passed to kubeadm init and join.
	IgnorePreflightErrors []string
}

// BundleImage is one image of the offline bundle, as the playbook's import task sees it.
type BundleImage struct {
	Ref  string // registry.k8s.io/pause:3.10.1
	File string // images/...tar, relative to the bundle
}

// plan is what the phases share: the resolved options and the bundle's manifest.
type plan struct {
	Options
	initHost inventory.Host
	manifest *bundle.Manifest // nil online
}

func newPlan(o Options) (*plan, error) {
	if o.Lab == nil {
		return nil, errors.New("kubernetes phases: no lab")
	}
	cps := o.Lab.ControlPlanes()
	if len(cps) == 0 {
		return nil, errors.New("the hosts file has no control-plane host: mark one with role: control-plane")
	}
	if len(cps) > 1 {
		// Joining further control planes needs certificate upload and a load-balanced endpoint.
		return nil, fmt.Errorf("the hosts file has %d control-plane hosts; meshlab sets up one for now (make the others workers)", len(cps))
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
	p := &plan{Options: o, initHost: cps[0]}
	if o.BundleDir != "" {
		m, err := bundle.Read(o.BundleDir)
		if err != nil {
			return nil, fmt.Errorf("--bundle %s: %w", o.BundleDir, err)
		}
		p.manifest = m
	}
	return p, nil
}

func (p *plan) offline() bool { return p.manifest != nil }

func (p *plan) kubeconfigPath() string { return filepath.Join(p.LabDir, KubeconfigName) }

// client connects to the lab's cluster with the kubeconfig the kubeconfig phase wrote, named
// explicitly: $KUBECONFIG must not point the lab's own phases at another cluster.
func (p *plan) client() (*kube.Client, error) {
	cfg, err := kube.Load(kube.LoadOptions{Kubeconfig: p.kubeconfigPath()})
	if err != nil {
		return nil, err
	}
	return kube.NewClient(cfg.REST)
}

// vars are the playbook vars the Go side provides.
func (p *plan) vars() map[string]any {
	v := map[string]any{
		"initHost":       p.initHost.Name,
		"initConfig":     RemoteInitConfig,
		"removePackages": p.RemovePackages,
		"bundle":         "",
		"bundleImages":   []BundleImage{},
	}
	if p.offline() {
		v["bundle"] = RemoteBundleDir
		v["bundleImages"] = bundleImages(p.manifest)
	}
	return v
}

// bundleImages lists the manifest's images sorted by reference, so renders are stable.
func bundleImages(m *bundle.Manifest) []BundleImage {
	out := make([]BundleImage, 0, len(m.Images))
	for ref, file := range m.Images {
		out = append(out, BundleImage{Ref: ref, File: file})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out
}

// Up returns the `meshlab up` action for the kubernetes playbook and the vars its templates need:
// connect → facts → preflight → os-prep → [bundle upload] → container-runtime → kubernetes →
// kubeadm config → control-plane → kubeconfig → join → cni → wait.
func Up(pb *playbook.Playbook, o Options) (engine.Phases, map[string]any, error) {
	p, err := newPlan(o)
	if err != nil {
		return nil, nil, err
	}
	ps := engine.UpPhases(pb)
	steps := []struct {
		after bool
		at    string
		add   []engine.Phase
	}{
		{true, "connect", []engine.Phase{&Facts{}}},
		{false, "control-plane", []engine.Phase{&KubeadmConfig{plan: p}}},
		{true, "control-plane", []engine.Phase{&Kubeconfig{plan: p}, &Join{plan: p}, &CNI{plan: p}, &Wait{plan: p}}},
	}
	if p.offline() {
		steps = append(steps, struct {
			after bool
			at    string
			add   []engine.Phase
		}{false, "container-runtime", []engine.Phase{&UploadBundle{plan: p}}})
	}
	for _, s := range steps {
		if s.after {
			err = ps.InsertAfter(s.at, s.add...)
		} else {
			err = ps.InsertBefore(s.at, s.add...)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("playbook %s does not fit the kubernetes phases: %w", pb.Name, err)
		}
	}
	return ps, p.vars(), nil
}

// Down returns the `meshlab down` action: the playbook's reset phases, then the lab's kubeconfig
// is removed (it names a cluster that no longer exists).
func Down(pb *playbook.Playbook, o Options) (engine.Phases, map[string]any, error) {
	p, err := newPlan(o)
	if err != nil {
		return nil, nil, err
	}
	ps := append(engine.DownPhases(pb), &RemoveKubeconfig{plan: p})
	return ps, p.vars(), nil
}
