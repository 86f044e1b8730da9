// Package phases is the Kubernetes part of `meshlab up` and `meshlab down`: the Go phases that
// surround the kubernetes playbook (host facts, bundle upload, kubeadm config, worker joins,
// kubeconfig, CNI, waits). The lab's one ordered list (lab/phases.go) places them among the
// playbook's phases.
//
// The playbook (playbooks/kubernetes.yaml) does host work in shell; everything that needs Go —
// cross-host checks, tokens, certificates, the API — is a phase here. Each one reports the same
// events and error contract as playbook tasks, and is idempotent: on a finished lab every step
// says "already done".
package phases

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
)

// Playbook is the name of the embedded playbook these phases belong to.
const Playbook = "kubernetes"

// Remote paths meshlab uses on the hosts.
const (
	RemoteBundleDir  = "/var/lib/meshlab/bundle"
	RemoteConfigDir  = "/etc/kubernetes/meshlab"
	RemoteInitConfig = RemoteConfigDir + "/kubeadm-init.yaml"
	RemoteJoinConfig = RemoteConfigDir + "/kubeadm-join.yaml"
)

// Defaults.
const (
	DefaultWaitTimeout = 10 * time.Minute
	DefaultJoinTimeout = 10 * time.Minute
)

// Options shape the Kubernetes phases of one action.
type Options struct {
	Lab *inventory.Lab
	// Kubeconfig is where the admin kubeconfig is written (0600): the lab folder's.
	Kubeconfig string
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
	// Force lets up and down work on hosts meshlab cannot prove it set up for this lab (see
	// Ownership); without it such a host stops the run before anything changes.
	Force bool
	// FirstBootTimeout bounds the wait for cloud-init and the package manager's locks on each
	// host (default DefaultFirstBootTimeout).
	FirstBootTimeout time.Duration
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
	// The hosts file's mirrors as the playbook writes them (empty without mirrors).
	registryMirrors []RegistryHosts
	aptMirrors      map[string]*AptSource
	// testClient replaces the kubeconfig's API client in kubeClient (tests).
	testClient func() (kubernetes.Interface, error)

	mu      sync.Mutex
	learned *learned // the facts phase's findings (nil until it ran)
	access  *Access  // how this machine reaches the API server (nil until the kubeconfig phase)

	// Tests: the API server's port and which addresses count as on a network of this machine.
	apiPort  int
	attached func(netip.Addr) bool
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
	if o.Kubeconfig == "" {
		return nil, errors.New("kubernetes phases: no kubeconfig path (the lab folder's)")
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
	p := &plan{Options: o, initHost: cps[0]}
	var err error
	if p.registryMirrors, p.aptMirrors, err = mirrorVars(o.Lab.Mirrors); err != nil {
		return nil, err
	}
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

func (p *plan) kubeconfigPath() string { return p.Kubeconfig }

// PlaybookVars are the values the kubernetes playbook's templates get from the Go side, typed
// here and turned into the template's .Vars map in one place (Map), under the names the
// playbook's vars section declares.
type PlaybookVars struct {
	InitHost       string        // the host that runs kubeadm init
	InitConfig     string        // where KubeadmConfig uploads the init config
	RemovePackages bool          // down --remove-packages
	Bundle         string        // remote folder of the uploaded bundle; "" online
	BundleImages   []BundleImage // the bundle's images, sorted by reference
	// RegistryMirrors are containerd's hosts.toml files, one per mirrored registry.
	RegistryMirrors []RegistryHosts
	// AptMirrors has the keys debian, docker and kubernetes, each nil unless mirrored.
	AptMirrors map[string]*AptSource
	Force      bool // --force: the reset's own ownership checks stand aside
}

// Map is the template data: the playbook's own var names.
func (v PlaybookVars) Map() map[string]any {
	return map[string]any{
		"initHost":        v.InitHost,
		"initConfig":      v.InitConfig,
		"removePackages":  v.RemovePackages,
		"bundle":          v.Bundle,
		"bundleImages":    v.BundleImages,
		"registryMirrors": v.RegistryMirrors,
		"aptMirrors":      v.AptMirrors,
		"force":           v.Force,
	}
}

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
func (p *plan) vars() PlaybookVars {
	v := PlaybookVars{InitHost: p.initHost.Name, InitConfig: RemoteInitConfig,
		RemovePackages: p.RemovePackages, BundleImages: []BundleImage{}, Force: p.Force,
		RegistryMirrors: p.registryMirrors, AptMirrors: p.aptMirrors}
	if v.RegistryMirrors == nil {
		v.RegistryMirrors = []RegistryHosts{}
	}
	if v.AptMirrors == nil { // the playbook reads all three names
		v.AptMirrors = map[string]*AptSource{"debian": nil, "docker": nil, "kubernetes": nil}
	}
	if p.offline() {
		v.Bundle = RemoteBundleDir
		v.BundleImages = bundleImages(p.manifest)
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

// Set is the Go phases of one lab's Kubernetes cluster, sharing the options they were made
// with. Where each one runs among the playbook's phases is decided by the lab's one list of
// phases (lab/phases.go), not here.
type Set struct {
	p *plan
}

// New checks the options (one control plane, a readable bundle) and returns the phases.
func New(o Options) (*Set, error) {
	p, err := newPlan(o)
	if err != nil {
		return nil, err
	}
	return &Set{p: p}, nil
}

// Offline says whether the cluster installs from a bundle (so UploadBundle has work to do).
func (s *Set) Offline() bool { return s.p.offline() }

// Vars are the playbook vars these phases provide.
func (s *Set) Vars() PlaybookVars { return s.p.vars() }

// Facts gathers each host's facts and checks them across hosts (after connect).
func (s *Set) Facts() engine.Phase { return &Facts{plan: s.p} }

// FirstBoot waits until cloud-init and apt/dpkg runs of a freshly booted host are done (after
// facts, before anything installs).
func (s *Set) FirstBoot() engine.Phase { return &FirstBoot{plan: s.p} }

// Claim checks every host's ownership before up changes anything and claims the free ones.
func (s *Set) Claim() engine.Phase { return &Ownership{plan: s.p, claim: true} }

// CheckOwner checks every host's ownership before down resets anything.
func (s *Set) CheckOwner() engine.Phase { return &Ownership{plan: s.p} }

// RecordOwnership records the cluster's CA in every node's marker (after the joins).
func (s *Set) RecordOwnership() engine.Phase { return &RecordOwnership{plan: s.p} }

// UploadBundle puts the offline bundle on every host (before the container runtime).
func (s *Set) UploadBundle() engine.Phase { return &UploadBundle{plan: s.p} }

// KubeadmConfig renders and uploads kubeadm's init config (before kubeadm init).
func (s *Set) KubeadmConfig() engine.Phase { return &KubeadmConfig{plan: s.p} }

// Kubeconfig fetches the admin kubeconfig into the lab's folder (after kubeadm init).
func (s *Set) Kubeconfig() engine.Phase { return &Kubeconfig{plan: s.p} }

// Join joins the workers with a fresh token.
func (s *Set) Join() engine.Phase { return &Join{plan: s.p} }

// CNI applies Flannel.
func (s *Set) CNI() engine.Phase { return &CNI{plan: s.p} }

// Wait waits for Ready nodes and CoreDNS.
func (s *Set) Wait() engine.Phase { return &Wait{plan: s.p} }

// NetworkCheck probes the API server from every node and warns about firewalls (after kubeadm
// init, before the joins).
func (s *Set) NetworkCheck() engine.Phase { return &NetworkCheck{plan: s.p} }

// PodNetworkCheck probes the kubelets and the pod network between the nodes (once they are Ready).
func (s *Set) PodNetworkCheck() engine.Phase { return &PodNetworkCheck{plan: s.p} }

// Untaint lets workloads run on the control plane when the lab has no workers (after wait).
func (s *Set) Untaint() engine.Phase { return &Untaint{plan: s.p} }

// RemoveKubeconfig forgets the kubeconfig of a cluster that was reset (the end of down).
func (s *Set) RemoveKubeconfig() engine.Phase { return &RemoveKubeconfig{plan: s.p} }
