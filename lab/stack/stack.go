// Package stack is the part of `meshlab up` that comes after the Kubernetes cluster: the
// meshlab image built from the running binary and side-loaded to every node, the mesh's control
// plane and ingress gateway, the observability addons, Bookinfo, `meshlab verify bookinfo`, and
// a closing summary of the lab's URLs and kubeconfig.
//
// Every phase is idempotent: on a finished lab each step reports "already done". Phases reach the
// cluster through the lab's kubeconfig (written by cluster/phases) and the nodes through the run's
// transports, so they run after the cluster phases in the same action.
package stack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/meshlab/meshlab/bookinfo/verify"
	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/state"
	"github.com/meshlab/meshlab/provision/versions"
)

// Options shape the stack phases of one `meshlab up`.
type Options struct {
	Lab *inventory.Lab
	// Dir is the lab's folder: the kubeconfig is read and the image tarball written there.
	Dir state.LabDir
	// BundleDir is the offline bundle ("" online). Offline, every image is side-loaded (pull
	// policy Never), Bookinfo is the Go one from the meshlab image, and an addon whose image is
	// not in the bundle is skipped.
	BundleDir string
	// Version tags the meshlab image (with the binary's digest; see plan.image); the CLI's version.
	Version string
	// Executable is the meshlab binary put in the image (default os.Executable()).
	Executable string
	// ProxyExecutable is the sidecar binary put in the image (default: meshlab-proxy next to
	// Executable, else on PATH; `make build` builds both).
	ProxyExecutable string
	// CacheDir holds the netfilter .debs and layer (default <bundle cache root>/netfilter).
	CacheDir string
	// Verify is how much of the Bookinfo checklist the verify phase runs (default VerifyFull).
	Verify VerifyMode
	// WaitTimeout bounds each rollout and addon wait (default DefaultWaitTimeout).
	WaitTimeout time.Duration
	// Connect opens the cluster clients for a kubeconfig (default NewClients). Tests pass fakes.
	Connect func(kubeconfig string) (*Clients, error)
	// VerifyLab builds the lab the verify phase checks (default verify.NewClusterLab).
	VerifyLab func(verify.ClusterOptions) (verify.Lab, error)
	// Reach says where this machine reaches the lab's NodePorts; nil: on the first host's
	// address from the hosts file.
	Reach Reach
}

// Reach is how this machine reaches the nodes' ports. The cluster phases decide it when they
// write the kubeconfig: a node's address, or ports forwarded through the control plane's SSH
// connection for as long as the run lasts.
type Reach interface {
	// NodePort is host:port where this machine reaches NodePort port now.
	NodePort(ctx context.Context, port int) (string, error)
	// NodeHost is the address the NodePorts are on, as a user names it in a URL.
	NodeHost() string
	// AccessHint says how to reach the lab after the run ("" when directly).
	AccessHint() string
}

// plan is what the phases share: the resolved options and the bundle's image list.
type plan struct {
	Options
	bundleImages map[string]string // nil online
	clients      *Clients          // opened once, by the first phase that needs the cluster
	binary, tar  string            // the meshlab binary and its image tarball (imageTarball)
	proxyBinary  string            // the sidecar binary (imageTarball)
	digest       string            // the binary's sha256 prefix, set with tar
	noRetry      bool              // tests: verify checks fail at once instead of retrying
	markerPath   string            // tests: the side-load marker instead of install.ImageMarker
	// grafanaPassword is the Grafana admin password made by this run, shown once by the summary.
	grafanaPassword string
	// forward reaches a ClusterIP addon from here (default addons.PortForward); tests replace it.
	forward func(ctx context.Context, kubeconfig, addon string) (url string, stop func(), err error)
}

func newPlan(o Options) (*plan, error) {
	if o.Lab == nil {
		return nil, errors.New("stack: no lab")
	}
	if o.Dir == "" {
		return nil, errors.New("stack: no lab state folder")
	}
	if o.CacheDir == "" {
		o.CacheDir = filepath.Join(bundle.DefaultCacheRoot(os.Getenv), "netfilter")
	}
	if o.Connect == nil {
		o.Connect = NewClients
	}
	if o.VerifyLab == nil {
		o.VerifyLab = verify.NewClusterLab
	}
	p := &plan{Options: o}
	if err := p.readBundle(); err != nil {
		return nil, err
	}
	return p, nil
}

// readBundle loads the offline bundle's image list (nothing online).
func (p *plan) readBundle() error {
	if p.BundleDir == "" {
		return nil
	}
	m, err := bundle.Read(p.BundleDir)
	if err != nil {
		return err
	}
	p.bundleImages = m.Images
	if p.bundleImages == nil {
		p.bundleImages = map[string]string{}
	}
	return nil
}

func (p *plan) offline() bool                    { return p.BundleDir != "" }
func (p *plan) kubeconfigPath() string           { return p.Dir.Kubeconfig() }
func (p *plan) components() inventory.Components { return p.Lab.Components }

// pullPolicy is Never offline (a missing image must fail loudly, not reach for a registry) and
// IfNotPresent online (side-loaded images are found locally).
func (p *plan) pullPolicy() string {
	if p.offline() {
		return "Never"
	}
	return "IfNotPresent"
}

// cluster opens the clients on first use: the kubeconfig exists only after the cluster phases.
func (p *plan) cluster() (*Clients, error) {
	if p.clients != nil {
		return p.clients, nil
	}
	c, err := p.Connect(p.kubeconfigPath())
	if err != nil {
		return nil, err
	}
	p.clients = c
	return c, nil
}

// Set is the phases after the cluster, sharing the options they were made with. Components the
// hosts file leaves out are skipped by guards; their order is the lab's list (lab/phases.go).
type Set struct {
	p *plan
}

// New checks the options and returns the phases.
func New(o Options) (*Set, error) {
	p, err := newPlan(o)
	if err != nil {
		return nil, err
	}
	return &Set{p: p}, nil
}

// Image builds the meshlab image from the running binary.
func (s *Set) Image() engine.Phase { return &Image{plan: s.p} }

// SideLoad imports the meshlab image on every node.
func (s *Set) SideLoad() engine.Phase { return &SideLoad{plan: s.p} }

// Mesh installs the control plane and the ingress gateway.
func (s *Set) Mesh() engine.Phase { return &Mesh{plan: s.p} }

// Addons installs Zipkin or Jaeger, Prometheus and Grafana.
func (s *Set) Addons() engine.Phase { return &Addons{plan: s.p} }

// Bookinfo deploys Bookinfo with sidecars.
func (s *Set) Bookinfo() engine.Phase { return &Bookinfo{plan: s.p} }

// Verify runs `meshlab verify bookinfo`.
func (s *Set) Verify() engine.Phase { return &Verify{plan: s.p} }

// Summary prints the lab's URLs and kubeconfig.
func (s *Set) Summary() engine.Phase { return &Summary{plan: s.p} }

// needsMeshImage: the image carries the control plane, sidecars, gateway and the Go Bookinfo.
func (p *plan) needsMeshImage() bool {
	c := p.components()
	return c.Mesh || (c.Bookinfo && p.goBookinfo())
}

// goBookinfo says whether Bookinfo runs as meshlab's Go services from the meshlab image: with a
// bundle that lacks Istio's Bookinfo images (a bundle built from source cannot have them; an
// online bundle carries them, and then upstream's images run, side-loaded).
func (p *plan) goBookinfo() bool {
	if !p.offline() {
		return false
	}
	for _, svc := range versions.BookinfoServices() {
		if !p.inBundle(p.Lab.Versions.Bookinfo.Image(svc)) {
			return true
		}
	}
	return false
}
