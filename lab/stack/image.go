package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/mesh/inject"
	"github.com/meshlab/meshlab/mesh/install"
	"github.com/meshlab/meshlab/provision/engine"
)

// Image builds the meshlab image from the running binary on the netfilter layer: the image of
// the control plane, every sidecar and init container (`meshlab mesh init` execs
// iptables-restore), the ingress gateway and the offline Bookinfo.
type Image struct{ plan *plan }

func (*Image) Title() string { return "Build the meshlab image" }
func (*Image) Name() string  { return "mesh-image" }

// ShouldRun: nothing in the cluster runs the image when neither the mesh nor the offline
// Bookinfo is wanted.
func (i *Image) ShouldRun(*engine.Run) bool { return i.plan.needsMeshImage() }

const imageTask = "Build the image from this binary"

func (i *Image) Run(ctx context.Context, r *engine.Run) error {
	t := newTask(r, nil, "mesh-image", imageTask)
	bin, tar, built, err := i.tarball(t)
	if err != nil || built {
		return err
	}
	t.Begin(bin + " + " + i.plan.proxyBinary)
	if err := BuildImage(ctx, bin, i.plan.proxyBinary, i.plan.image(), i.plan.CacheDir, tar); err != nil {
		return t.fail("the netfilter layer needs apt-get and dpkg-deb on this machine (Debian's archive)", err)
	}
	t.Done(fmt.Sprintf("%s → %s", i.plan.image(), tar))
	return nil
}

func (i *Image) DryRun(_ context.Context, r *engine.Run) error {
	t := newTask(r, nil, "mesh-image", imageTask)
	if _, _, err := i.plan.imageTarball(); err != nil {
		// A plan says what a run needs rather than failing: the run stops on this, in these words.
		t.Plan("would build the meshlab image, but first: " + err.Error())
		return nil
	}
	bin, tar, built, err := i.tarball(t)
	if err != nil || built {
		return err
	}
	t.Plan(fmt.Sprintf("would build %s from %s on the netfilter layer into %s", i.plan.image(), bin, tar))
	return nil
}

// BuildImage writes the meshlab image (ref) with binary at /usr/local/bin/meshlab and the sidecar
// binary proxy at /usr/local/bin/meshlab-proxy on the Debian netfilter layer (built in
// cacheDir) to tarPath, atomically: a failed build leaves no tarball behind for the guard to
// mistake as finished.
func BuildImage(ctx context.Context, binary, proxy, ref, cacheDir, tarPath string) error {
	nf, err := bundle.NetfilterLayer(ctx, cacheDir)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp(filepath.Dir(tarPath), ".meshlab-image-")
	if err != nil {
		return fmt.Errorf("meshlab image: %w", err)
	}
	defer os.RemoveAll(work)
	tmp := filepath.Join(work, "image.tar")
	if err := install.BuildImage(install.ImageSpec{Binary: binary, ProxyBinary: proxy, Ref: ref, TarPath: tmp, WorkDir: work, Base: []v1.Layer{nf}}); err != nil {
		return err
	}
	if err := os.Rename(tmp, tarPath); err != nil {
		return fmt.Errorf("meshlab image: %w", err)
	}
	return nil
}

// proxyBinaryName is the sidecar binary (cmd/meshlab-proxy) the image carries next to meshlab.
const proxyBinaryName = "meshlab-proxy"

// imageTarball returns the binary to package and the tarball it becomes, named by the digest of
// both binaries (computed once per run).
func (p *plan) imageTarball() (binary, tar string, err error) {
	if p.tar != "" {
		return p.binary, p.tar, nil
	}
	bin := p.Executable
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return "", "", fmt.Errorf("meshlab image: find this binary: %w", err)
		}
	}
	proxy, err := p.findProxyBinary(bin)
	if err != nil {
		return "", "", err
	}
	h := sha256.New()
	for _, f := range []string{bin, proxy} {
		if err := hashFile(h, f); err != nil {
			return "", "", err
		}
	}
	p.binary, p.proxyBinary, p.digest = bin, proxy, hex.EncodeToString(h.Sum(nil))[:16]
	p.tar = p.Dir.ImageTarball(p.digest)
	return p.binary, p.tar, nil
}

// findProxyBinary: Options.ProxyExecutable, else meshlab-proxy beside the meshlab binary (as
// `make build` leaves them), else on PATH.
func (p *plan) findProxyBinary(meshlab string) (string, error) {
	if p.ProxyExecutable != "" {
		return p.ProxyExecutable, nil
	}
	next := filepath.Join(filepath.Dir(meshlab), proxyBinaryName)
	if _, err := os.Stat(next); err == nil {
		return next, nil
	}
	if path, err := exec.LookPath(proxyBinaryName); err == nil {
		return path, nil
	}
	return "", fmt.Errorf("meshlab image: the sidecar binary %s is neither next to %s nor on PATH: "+
		"build both with `make build` (or go build -o %s ./cmd/meshlab-proxy)", proxyBinaryName, meshlab, next)
}

func hashFile(h io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("meshlab image: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("meshlab image: read %s: %w", path, err)
	}
	return nil
}

// image is the meshlab image's ref. Its tag carries the binary's digest after the version: a
// rebuilt binary is a new image, so the side-load imports it and the Deployments roll out,
// where an unchanged version tag would leave pods on the old build. (Should the binary be
// unreadable, the image phase reports that; the ref then falls back to the version alone.)
func (p *plan) image() string {
	tag := p.Version
	if tag == "" {
		tag = "dev"
	}
	if _, _, err := p.imageTarball(); err == nil {
		tag += "-" + p.digest
	}
	return inject.Image(tag)
}

// tarball names the image tarball of this binary and says whether it is already built (then the
// step is reported as done); the name carries the binary's digest, so an existing tarball is
// exactly this build.
func (i *Image) tarball(t *task) (bin, tar string, built bool, err error) {
	bin, tar, err = i.plan.imageTarball()
	if err != nil {
		return "", "", false, t.fail("", err)
	}
	if _, err := os.Stat(tar); err == nil {
		t.Skip("")
		return bin, tar, true, nil
	}
	return bin, tar, false, nil
}
