package standin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/internal/image"
	"github.com/meshlab/meshlab/provision/versions"
)

// MirrorURL is the hosts file's mirror URL for an upstream registry on this registry: every
// upstream is served under its own host name as a path prefix, as one registry standing in for
// several needs (containerd's override_path).
func (r *Registry) MirrorURL(upstream string) string {
	return "http://" + r.Addr + "/v2/" + upstream
}

// Push stores img on the registry under the upstream reference ref (at <upstream host>/<path>)
// and returns its digest.
func (r *Registry) Push(ctx context.Context, ref string, img v1.Image) (string, error) {
	up, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("push %q: %w", ref, err)
	}
	host := up.RegistryStr()
	if host == name.DefaultRegistry {
		host = "docker.io"
	}
	dst, err := name.NewTag(r.Addr+"/"+host+"/"+up.RepositoryStr()+":"+up.TagStr(), name.Insecure)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	if err := remote.Write(dst, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s to %s: %w", ref, dst, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// UpstreamImages are the images a lab pulls by their upstream names, made here because the
// real ones cannot be fetched:
//   - every image of a bundle built from source, as it is (kubeadm's, Flannel's daemon,
//     Prometheus, Jaeger), with a cp added to Flannel's, whose upstream manifest copies its
//     CNI config with cp;
//   - Flannel's CNI plugin installer: the bundle's flannel CNI binary at /flannel, and cp;
//   - Istio's six Bookinfo images: the meshlab image starting `meshlab bookinfo serve` for its
//     service and version on 9080, as upstream's images start their service.
//
// Zipkin's and Grafana's are not made: neither server can be built here. busybox is a static
// busybox (Busybox) whose cp the Flannel images use; work holds the layers written.
func UpstreamImages(bundleDir string, set versions.Set, meshlab v1.Image, busybox, work string) (map[string]v1.Image, error) {
	m, err := bundle.Read(bundleDir)
	if err != nil {
		return nil, err
	}
	if m.Source != bundle.SourceFromSource {
		return nil, fmt.Errorf("standin: %s is a %s bundle; the stand-in images are made from one built from source", bundleDir, m.Source)
	}
	cp, err := image.NewLayer(filepath.Join(work, "busybox-cp.layer.tar"), []image.Entry{
		image.Binary("/bin/busybox", busybox), {Path: "/bin/cp", Link: "busybox"},
	})
	if err != nil {
		return nil, fmt.Errorf("standin: cp layer: %w", err)
	}
	out := map[string]v1.Image{}
	for ref, file := range m.Images {
		img, err := image.ReadTarball(filepath.Join(bundleDir, filepath.FromSlash(file)), ref)
		if err != nil {
			return nil, err
		}
		if ref == set.Flannel.Image {
			if img, err = mutate.AppendLayers(img, cp); err != nil {
				return nil, fmt.Errorf("standin: %s: %w", ref, err)
			}
		}
		out[ref] = img
	}
	plugin, err := image.Build(image.Spec{Ref: set.Flannel.CNIPlugin, Base: []v1.Layer{cp},
		Files:      []image.Entry{image.Binary("/flannel", filepath.Join(bundleDir, bundle.DirCNI, "flannel"))},
		Entrypoint: []string{"/bin/cp"}}, work)
	if err != nil {
		return nil, fmt.Errorf("standin: %s: %w", set.Flannel.CNIPlugin, err)
	}
	out[set.Flannel.CNIPlugin] = plugin.Image
	cf, err := meshlab.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("standin: meshlab image: %w", err)
	}
	if len(cf.Config.Entrypoint) == 0 {
		return nil, errors.New("standin: the meshlab image has no entrypoint")
	}
	for _, svc := range versions.BookinfoServices() {
		app, version, _ := strings.Cut(svc, "-") // details-v1, reviews-v2
		c := cf.DeepCopy()
		c.Config.Entrypoint = []string{cf.Config.Entrypoint[0], "bookinfo", "serve", "--service", app, "--version", version, "--listen", ":9080"}
		c.Config.Cmd = nil
		img, err := mutate.ConfigFile(meshlab, c)
		if err != nil {
			return nil, fmt.Errorf("standin: Bookinfo %s: %w", svc, err)
		}
		out[set.Bookinfo.Image(svc)] = img
	}
	return out, nil
}

// Busybox returns a static busybox taken from Debian's busybox-static .deb (apt-get download,
// kept in cacheDir).
func Busybox(ctx context.Context, cacheDir string) (string, error) {
	bin := filepath.Join(cacheDir, "busybox-static", "busybox")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	dl := filepath.Join(cacheDir, "busybox-static", "download")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return "", err
	}
	if out, err := runIn(ctx, dl, "apt-get", "download", "-q", "busybox-static"); err != nil {
		return "", fmt.Errorf("apt-get download busybox-static: %w: %s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dl, "busybox-static_*.deb"))
	if len(debs) == 0 {
		return "", fmt.Errorf("apt-get download busybox-static left no .deb in %s", dl)
	}
	root := filepath.Join(dl, "root")
	if out, err := runIn(ctx, dl, "dpkg-deb", "-x", debs[0], root); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %w: %s", debs[0], err, out)
	}
	if err := os.Rename(filepath.Join(root, "bin", "busybox"), bin); err != nil {
		return "", fmt.Errorf("busybox-static: %w", err)
	}
	return bin, nil
}

func runIn(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func execCommand(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	return cmd
}
