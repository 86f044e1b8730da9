package install

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/meshlab/meshlab/internal/image"
	"github.com/meshlab/meshlab/mesh/inject"
	"github.com/meshlab/meshlab/provision/transport"
)

// ImageSpec says what BuildImage builds and where the tarball goes.
type ImageSpec struct {
	Binary string // the static meshlab binary (CGO_ENABLED=0): the image has no libc
	// ProxyBinary is the static slim sidecar binary (cmd/meshlab-proxy), at
	// inject.ProxyBinaryPath: the injected proxy and init containers run it.
	ProxyBinary string
	Ref         string // the tag, inject.Image(version)
	TarPath     string // where the docker-save archive `ctr images import` reads is written
	WorkDir     string // for the layer file; must outlive the call
	// Base layers go under the binary. Empty means FROM scratch. The injected init container
	// runs `meshlab mesh init`, which execs iptables-restore: a cluster that injects sidecars
	// needs a netfilter userspace layer here (cluster/bundle builds one for kube-proxy).
	Base []v1.Layer
}

// BuildImage builds the meshlab image in-process: the base layers (none: FROM scratch), the
// meshlab binary at inject.BinaryPath as entrypoint and the sidecar binary at
// inject.ProxyBinaryPath, linux/amd64 — the image of the control plane and of every injected
// sidecar and init container.
func BuildImage(s ImageSpec) error {
	if s.ProxyBinary == "" {
		return errors.New("install: meshlab image: no sidecar binary (cmd/meshlab-proxy)")
	}
	img, err := image.Build(image.Spec{
		Ref:  s.Ref,
		OS:   "linux",
		Arch: "amd64",
		Base: s.Base,
		// /tmp exists in every image a process may use os.TempDir in (the gateway writes its
		// translated config there); scratch has none.
		Files: []image.Entry{image.Binary(inject.BinaryPath, s.Binary), image.Binary(inject.ProxyBinaryPath, s.ProxyBinary),
			{Path: "/tmp", Dir: true, Mode: 0o777 | fs.ModeSticky}},
		Entrypoint: []string{inject.BinaryPath},
		Labels:     map[string]string{"org.opencontainers.image.title": "meshlab"},
	}, s.WorkDir)
	if err != nil {
		return fmt.Errorf("install: meshlab image: %w", err)
	}
	if err := image.WriteTarball(s.TarPath, img); err != nil {
		return fmt.Errorf("install: meshlab image: %w", err)
	}
	return nil
}

// sideLoadParallel bounds concurrent uploads: each is the whole image over one SSH connection.
const sideLoadParallel = 4

// SideLoad copies the image tarball to every node and imports it into containerd's k8s.io
// namespace, where the kubelet looks, so no registry is needed. report, if not nil, is called
// (from several goroutines) as each node finishes. Every node is tried; failures are joined, each
// naming its node.
func SideLoad(ctx context.Context, nodes []transport.Transport, tarPath string, report func(node string)) error {
	sum, err := fileSHA256(tarPath)
	if err != nil {
		return err
	}
	// Named by content: two installs of different builds never race on one remote file. In a
	// root-only folder, not /tmp: a name anyone can predict in a world-writable folder is one
	// another user of the node can take first (a symlink, a directory, a file of their own).
	remote := path.Join(RemoteImageDir, "meshlab-image-"+sum[:16]+".tar")
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(sideLoadParallel)
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		g.Go(func() error {
			errs[i] = sideLoadOne(ctx, n, tarPath, remote)
			if errs[i] == nil && report != nil {
				report(n.Name())
			}
			return nil // keep going on the other nodes
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

// RemoteImageDir is where image archives wait on a node for their import (root's only).
const RemoteImageDir = "/var/lib/meshlab/images"

func sideLoadOne(ctx context.Context, n transport.Transport, tarPath, remote string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return fmt.Errorf("side-load to %s: %w", n.Name(), err)
	}
	defer f.Close()
	mk := "install -d -m 0700 -o root -g root " + transport.Quote(RemoteImageDir)
	if _, err := n.Run(ctx, transport.Cmd{Command: mk, Become: true}); err != nil {
		return fmt.Errorf("side-load to %s: %w", n.Name(), err)
	}
	if err := n.Put(ctx, f, transport.Upload{Path: remote, Mode: 0o600, Become: true}); err != nil {
		return fmt.Errorf("side-load to %s: upload %s: %w", n.Name(), remote, err)
	}
	q := transport.Quote(remote)
	// --all-platforms: a docker-save archive carries no platform index (docs/bundle.md).
	cmd := "ctr -n k8s.io images import --all-platforms " + q + "; s=$?; rm -f " + q + "; exit $s"
	if _, err := n.Run(ctx, transport.Cmd{Command: cmd, Become: true}); err != nil {
		return fmt.Errorf("side-load to %s: import: %w", n.Name(), err)
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("install: read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
