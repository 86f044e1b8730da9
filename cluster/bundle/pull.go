package bundle

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// containerdImageName is the index annotation `ctr images import` names an OCI archive's image
// by: the full upstream reference, so the playbook's import guard finds it as it finds any other.
const containerdImageName = "io.containerd.image.name"

// Puller fetches the online bundle's images from their registries (or the mirrors standing in
// for them) with go-containerregistry, which checks every blob against its digest as it reads it.
type Puller struct {
	// Mirrors maps an upstream registry (registry.k8s.io, docker.io) to the mirror URL pulls go
	// to instead, in the hosts file's form: http://10.0.0.1:5000/v2/registry.k8s.io (a path is
	// the repository prefix under which the mirror serves that registry). The bundle keeps the
	// upstream names.
	Mirrors map[string]string
	// MirrorsOnly refuses a pull from a registry that has no mirror (tests, air-gapped builds):
	// nothing is fetched from the internet by mistake.
	MirrorsOnly bool
	Platform    v1.Platform       // default linux/amd64
	Transport   http.RoundTripper // nil: remote.DefaultTransport
}

// PulledImage is one image written into a bundle.
type PulledImage struct {
	Ref    string // the upstream reference, as manifests ask for it
	File   string // images/<flat name>.tar, relative to the bundle
	Digest string // sha256:... of the image manifest the bundle holds (one platform)
}

// source is where ref is pulled from: the upstream itself, or its mirror under the same path.
func (p Puller) source(ref name.Reference) (name.Repository, error) {
	up := ref.Context()
	registry := upstreamHost(up)
	m, ok := p.Mirrors[registry]
	if !ok && p.MirrorsOnly {
		return name.Repository{}, fmt.Errorf("%s: no mirror for %s, and pulls go to mirrors only", ref, registry)
	}
	if !ok {
		return up, nil
	}
	u, err := url.Parse(m)
	if err != nil || u.Host == "" {
		return name.Repository{}, fmt.Errorf("mirror of %s: %q is not a URL", up.RegistryStr(), m)
	}
	prefix := strings.Trim(strings.TrimPrefix(strings.Trim(u.Path, "/"), "v2"), "/")
	repo := up.RepositoryStr()
	if prefix != "" {
		repo = prefix + "/" + repo
	}
	var opts []name.Option
	if u.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	return name.NewRepository(u.Host+"/"+repo, opts...)
}

// upstreamHost is the registry as image names and mirror settings write it (docker.io, which
// go-containerregistry calls index.docker.io).
func upstreamHost(r name.Repository) string {
	if h := r.RegistryStr(); h != name.DefaultRegistry {
		return h
	}
	return "docker.io"
}

func (p Puller) remoteOptions(ctx context.Context) []remote.Option {
	plat := p.Platform
	if plat.OS == "" {
		plat = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithPlatform(plat)}
	if p.Transport != nil {
		opts = append(opts, remote.WithTransport(p.Transport))
	}
	return opts
}

// Resolve returns the digest of ref's image manifest for the platform: what the tag points at
// now (an index is resolved to its platform's manifest).
func (p Puller) Resolve(ctx context.Context, ref string) (string, error) {
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	src, err := p.source(r)
	if err != nil {
		return "", err
	}
	img, err := remote.Image(src.Tag(r.Identifier()), p.remoteOptions(ctx)...)
	if err != nil {
		return "", fmt.Errorf("resolve %s (from %s): %w", ref, src, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", ref, err)
	}
	return d.String(), nil
}

// Pull writes the image ref at digest into bundleDir/images as an OCI archive that containerd
// imports under ref. Pulling by digest makes the registry's answer checkable: a manifest or
// blob that does not hash to what was asked for is refused.
func (p Puller) Pull(ctx context.Context, ref, digest, bundleDir string) (PulledImage, error) {
	r, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return PulledImage{}, fmt.Errorf("image %q: %w", ref, err)
	}
	src, err := p.source(r)
	if err != nil {
		return PulledImage{}, err
	}
	img, err := remote.Image(src.Digest(digest), p.remoteOptions(ctx)...)
	if err != nil {
		return PulledImage{}, fmt.Errorf("pull %s@%s (from %s): %w", ref, digest, src, err)
	}
	rel := DirImages + "/" + flatName(r) + ".tar"
	dst := filepath.Join(bundleDir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return PulledImage{}, err
	}
	if err := writeOCIArchive(dst, img, ref, r.TagStr()); err != nil {
		return PulledImage{}, fmt.Errorf("pull %s@%s (from %s): %w", ref, digest, src, err)
	}
	return PulledImage{Ref: ref, File: rel, Digest: digest}, nil
}

// flatName turns registry.k8s.io/coredns/coredns:v1.12.1 into registry.k8s.io_coredns_coredns_v1.12.1.
func flatName(t name.Tag) string {
	return strings.NewReplacer("/", "_", ":", "_").Replace(t.Context().Name() + "_" + t.TagStr())
}

// writeOCIArchive stores img as a tar of an OCI image layout whose index names it ref (for
// containerd) and tag (the OCI ref name). The layout is written beside dst first and the tar
// appears under its name only when complete.
func writeOCIArchive(dst string, img v1.Image, ref, tag string) error {
	work, err := os.MkdirTemp(filepath.Dir(dst), ".oci-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	lp, err := layout.Write(work, empty.Index)
	if err != nil {
		return err
	}
	opts := []layout.Option{layout.WithAnnotations(map[string]string{
		containerdImageName: ref, "org.opencontainers.image.ref.name": tag})}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	if plat := cf.Platform(); plat != nil {
		opts = append(opts, layout.WithPlatform(*plat))
	}
	if err := lp.AppendImage(img, opts...); err != nil {
		return err
	}
	tmp := dst + ".partial"
	if err := tarDir(work, tmp); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}
