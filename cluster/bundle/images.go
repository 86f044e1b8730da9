package bundle

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/meshlab/meshlab/internal/image"
)

// iptablesNames are the commands kube-proxy and flanneld run; the Debian package leaves them to
// update-alternatives, which never runs for an extracted .deb, so the layer links them itself.
// They point at the nft back end, Debian 12's default, so rules land where the host's own
// iptables (also nft on Debian 12) shows them.
var iptablesNames = []string{"iptables", "iptables-save", "iptables-restore",
	"ip6tables", "ip6tables-save", "ip6tables-restore"}

// netfilterLayer makes the Debian-based layer for images that run iptables/nft: the extracted
// .debs without documentation, plus the alternatives links.
func netfilterLayer(ctx context.Context, debDir, work string) (v1.Layer, error) {
	root := filepath.Join(work, "netfilter-rootfs")
	if err := os.RemoveAll(root); err != nil {
		return nil, err
	}
	if err := extractDebs(ctx, debDir, root, netfilterDebs()); err != nil {
		return nil, fmt.Errorf("netfilter layer: %w", err)
	}
	entries, err := image.DirEntries(root, skipDocs)
	if err != nil {
		return nil, fmt.Errorf("netfilter layer: %w", err)
	}
	for _, n := range iptablesNames {
		entries = append(entries, image.Entry{Path: "/usr/sbin/" + n, Link: "xtables-nft-multi"})
	}
	return image.NewLayer(filepath.Join(work, "netfilter.layer.tar"), entries)
}

// imageRefs are the tags the bundle's images carry, the ones kubeadm and the manifests ask for.
type imageRefs struct {
	Kubernetes string // v1.34.2, tag of the four control-plane/proxy images
	Pause      string // registry.k8s.io/pause:3.10.1
	Etcd       string
	CoreDNS    string
	Flannel    string // ghcr.io/flannel-io/flannel:v0.28.10
	Prometheus string // docker.io/prom/prometheus:v3.10.0 (versions.Addons)
	Jaeger     string // docker.io/jaegertracing/all-in-one:1.76.0 (versions.Addons)
}

// jaegerAllInOne is the repository of Jaeger v1's all-in-one image, the binary the bundle
// builds; the addon chart runs it with v1's flags when the pin names it.
const jaegerAllInOne = "jaegertracing/all-in-one:"

// tmpDir is a world-writable /tmp (1777) for programs that call os.TempDir.
func tmpDir() image.Entry { return image.Entry{Path: "/tmp", Dir: true, Mode: 0o777 | fs.ModeSticky} }

// imageSpecs describes every image of the bundle, the cluster's then the addons'. bin(name) is
// the host path of a built binary. Static Go binaries sit FROM scratch with PATH set and an
// explicit entrypoint (go-containerregistry images have none by default); kube-proxy and
// flanneld get the netfilter layer underneath because they exec iptables.
func imageSpecs(r imageRefs, bin func(string) string, netfilter v1.Layer) []image.Spec {
	k8s := func(name string, base []v1.Layer) image.Spec {
		p := "/usr/local/bin/" + name
		return image.Spec{
			Ref:        "registry.k8s.io/" + name + ":" + r.Kubernetes,
			Base:       base,
			Files:      []image.Entry{image.Binary(p, bin(name))},
			Entrypoint: []string{p},
		}
	}
	nf := []v1.Layer{netfilter}
	cluster := []image.Spec{
		k8s("kube-apiserver", nil),
		k8s("kube-controller-manager", nil),
		k8s("kube-scheduler", nil),
		k8s("kube-proxy", nf),
		{Ref: r.Pause, Files: []image.Entry{image.Binary("/pause", bin("pause"))}, Entrypoint: []string{"/pause"}},
		{
			Ref: r.Etcd,
			Files: []image.Entry{
				image.Binary("/usr/local/bin/etcd", bin("etcd")),
				image.Binary("/usr/local/bin/etcdctl", bin("etcdctl")),
			},
			Entrypoint: []string{"/usr/local/bin/etcd"},
		},
		{
			Ref:        r.CoreDNS,
			Files:      []image.Entry{image.Binary("/coredns", bin("coredns"))},
			Entrypoint: []string{"/coredns"},
		},
		{
			Ref:  r.Flannel,
			Base: nf,
			Files: []image.Entry{
				image.Binary("/opt/bin/flanneld", bin("flanneld")),
				image.Binary("/opt/bin/install-conf", bin("install-conf")),
			},
			Entrypoint: []string{"/opt/bin/flanneld"},
		},
	}
	return append(cluster, addonImages(r, bin)...)
}

// addonImages are the Prometheus and Jaeger images. The addon charts pass arguments only, so
// each entrypoint is the server itself; Cmd is a default that starts it usefully without the
// chart. Prometheus's data directory /data (the chart mounts an emptyDir there) and /tmp are
// writable; its config comes from a ConfigMap at /etc/config.
func addonImages(r imageRefs, bin func(string) string) []image.Spec {
	return []image.Spec{
		{
			Ref: r.Prometheus,
			Files: []image.Entry{
				image.Binary("/bin/prometheus", bin("prometheus")),
				image.Binary("/bin/promtool", bin("promtool")),
				{Path: "/etc/config", Dir: true},
				{Path: "/data", Dir: true, Mode: 0o777},
				tmpDir(),
			},
			Entrypoint: []string{"/bin/prometheus"},
			Cmd:        []string{"--config.file=/etc/config/prometheus.yml", "--storage.tsdb.path=/data"},
			WorkingDir: "/data",
		},
		{
			Ref:        r.Jaeger,
			Files:      []image.Entry{image.Binary("/bin/jaeger-all-in-one", bin("jaeger-all-in-one")), tmpDir()},
			Entrypoint: []string{"/bin/jaeger-all-in-one"},
		},
	}
}

// buildImages writes each image as images/<flat name>.tar under out and returns tag → path
// relative to out. Existing tarballs are kept: their names carry the tag and the cache
// directory carries the hash of every input, so a present file is the right one.
func buildImages(specs []image.Spec, out, work string) (map[string]string, error) {
	dir := filepath.Join(out, DirImages)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	refs := map[string]string{}
	for _, s := range specs {
		tag, err := name.NewTag(s.Ref, name.StrictValidation)
		if err != nil {
			return nil, fmt.Errorf("image tag %q: %w", s.Ref, err)
		}
		rel := DirImages + "/" + image.FileName(tag) + ".tar"
		refs[s.Ref] = rel
		dst := filepath.Join(out, filepath.FromSlash(rel))
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		im, err := image.Build(s, work)
		if err != nil {
			return nil, err
		}
		if err := image.WriteTarball(dst, im); err != nil {
			return nil, err
		}
	}
	return refs, nil
}

// tagOf returns the tag part of an image reference ("registry.k8s.io/etcd:3.6.5-0" → "3.6.5-0").
func tagOf(ref string) string {
	if i := strings.LastIndex(ref, ":"); i >= 0 && !strings.Contains(ref[i:], "/") {
		return ref[i+1:]
	}
	return ""
}
