package bundle

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshlab/meshlab/provision/versions"
)

// SourceOptions configure a bundle built here from pinned source (CI has no internet, only the
// Go module proxy, Debian's archive and the npm registry).
type SourceOptions struct {
	SourceDir string       // tools/k8sbuild: one go.mod per component
	CacheRoot string       // e.g. /var/cache/meshlab/bundle; see DefaultCacheRoot
	Out       string       // if set, the finished bundle is copied here
	Versions  versions.Set // the pins; checked against what the go.mod files resolve
	Logger    *slog.Logger
}

// Result is a finished bundle.
type Result struct {
	Dir      string // the bundle: Out, or the cache directory when Out is empty
	CacheDir string // <CacheRoot>/<key>
	Manifest *Manifest
	Cached   bool // true when nothing had to be built
	Warnings []string
}

// DefaultCacheRoot is $MESHLAB_CACHE/bundle when that is set, else /var/cache/meshlab/bundle.
// getenv is os.Getenv in the CLI (passed in so tests and callers control it).
func DefaultCacheRoot(getenv func(string) string) string {
	if d := getenv("MESHLAB_CACHE"); d != "" {
		return filepath.Join(d, "bundle")
	}
	return "/var/cache/meshlab/bundle"
}

// BuildFromSource builds (or finds in the cache) the bundle for o.Versions: every binary
// compiled statically from the component modules in o.SourceDir, images assembled from them,
// runtime .debs fetched with apt-get download, and the adapted Flannel manifest. All outputs
// live under <CacheRoot>/<key>, where key hashes every input (the component go.mod/go.sum
// files, the Go version, the pins and this recipe), so a repeated build only re-verifies.
func BuildFromSource(ctx context.Context, o SourceOptions) (*Result, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pins, warnings, err := resolvePins(ctx, o.SourceDir, o.Versions)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	uis, err := planWebUIs(ctx, pins, o.CacheRoot, log)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	key, err := cacheKey(ctx, o.SourceDir, pins, o.Versions, uis)
	if err != nil {
		return nil, err
	}
	res := &Result{CacheDir: filepath.Join(o.CacheRoot, key), Warnings: warnings}
	bundleDir := filepath.Join(res.CacheDir, "bundle")
	m, verr := Verify(bundleDir)
	res.Cached = verr == nil
	if !res.Cached {
		if _, err := os.Stat(filepath.Join(bundleDir, ManifestName)); err == nil {
			// A finished bundle that no longer verifies was changed after the build: start its
			// layout afresh (the compiled binaries under build/ are kept).
			log.Warn("cached bundle failed verification; rebuilding it", "cache", res.CacheDir, "error", verr)
			if err := os.RemoveAll(bundleDir); err != nil {
				return nil, fmt.Errorf("bundle: %w", err)
			}
		}
		log.Info("building offline bundle from source", "cache", res.CacheDir)
		if m, err = buildInCache(ctx, o, pins, uis, res.CacheDir, log); err != nil {
			return nil, err
		}
	} else {
		log.Info("offline bundle found in cache", "cache", res.CacheDir)
	}
	res.Manifest, res.Dir = m, bundleDir
	if o.Out != "" && !sameDir(o.Out, bundleDir) {
		if err := copyTree(bundleDir, o.Out); err != nil {
			return nil, fmt.Errorf("bundle: copy to %s: %w", o.Out, err)
		}
		res.Dir = o.Out
	}
	return res, nil
}

// planWebUIs plans the web UI build of every component that has one.
func planWebUIs(ctx context.Context, p pinSet, cacheRoot string, log *slog.Logger) ([]*uiBuild, error) {
	var uis []*uiBuild
	for _, c := range components() {
		if c.UI == nil {
			continue
		}
		m := p.modules[c.Dir]
		u, notes, err := planWebUI(ctx, c, m.Version, m.Dir, cacheRoot)
		if err != nil {
			return nil, err
		}
		if len(notes) > 0 {
			log.Info("this machine's Node.js cannot build the web UI; using a pinned one", "component", c.Dir,
				"node", u.Node.String(), "because", strings.Join(notes, "; "))
		}
		uis = append(uis, u)
	}
	return uis, nil
}

func buildInCache(ctx context.Context, o SourceOptions, p pinSet, uis []*uiBuild, cache string, log *slog.Logger) (*Manifest, error) {
	bundleDir := filepath.Join(cache, "bundle")
	work := filepath.Join(cache, "work")
	for _, d := range []string{bundleDir, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
	}
	if err := removePartials(bundleDir); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(cache, "build.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	defer logf.Close()

	for _, c := range components() {
		start := time.Now()
		if c.built(cache) {
			log.Info("component ready (built before)", "component", c.Dir, "version", p.version(c))
			continue
		}
		var ui *uiBuild
		for _, u := range uis {
			if u.Component == c.Dir {
				ui = u
			}
		}
		done := reportBuild(log, c, p.version(c), heartbeat)
		err := buildComponent(ctx, o.SourceDir, cache, c, p.version(c), ui, logf, log)
		done()
		if err != nil {
			return nil, fmt.Errorf("bundle: %w (full log: %s)", err, logf.Name())
		}
		log.Info("component ready", "component", c.Dir, "version", p.version(c), "took", time.Since(start).Round(time.Second))
	}
	bin := func(name string) string {
		for _, c := range components() {
			for _, b := range c.Bins {
				if b.Name == name {
					return filepath.Join(c.binDir(cache), name)
				}
			}
		}
		return filepath.Join(cache, "build", "missing", name) // fails loudly when opened
	}

	debDir := filepath.Join(cache, "debs-download")
	runtime := RuntimeDebs(o.Versions)
	if err := fetchDebs(ctx, debDir, append(append([]Deb(nil), runtime...), netfilterDebs()...)); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	nf, err := netfilterLayer(ctx, debDir, work)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	refs := imageRefs{Kubernetes: p.Kubernetes, Pause: o.Versions.Images.Pause, Etcd: o.Versions.Images.Etcd,
		CoreDNS: o.Versions.Images.CoreDNS, Flannel: flannelImage(p.Flannel),
		Prometheus: o.Versions.Addons.Prometheus, Jaeger: o.Versions.Addons.Jaeger}
	start := time.Now()
	images, err := buildImages(imageSpecs(refs, bin, nf), bundleDir, work)
	if err != nil {
		return nil, fmt.Errorf("bundle: images: %w", err)
	}
	log.Info("images ready", "count", len(images), "took", time.Since(start).Round(time.Second))

	if err := placeFiles(bundleDir, bin, debDir, runtime); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	upstream, err := os.ReadFile(filepath.Join(p.modules["flannel"].Dir, "Documentation", "kube-flannel.yml"))
	if err != nil {
		return nil, fmt.Errorf("bundle: flannel manifest of %s: %w", p.Flannel, err)
	}
	adapted, err := AdaptFlannel(upstream, refs.Flannel)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if err := os.WriteFile(filepath.Join(bundleDir, DirManifests, "kube-flannel.yml"), adapted, 0o644); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}

	m := &Manifest{Schema: Schema, Source: SourceFromSource, Versions: p.versionsMap(o.Versions), Images: images}
	for _, d := range runtime {
		m.Debs = append(m.Debs, d.String())
	}
	if err := m.Index(bundleDir); err != nil {
		return nil, err
	}
	if err := m.Write(bundleDir); err != nil {
		return nil, err
	}
	return m, os.RemoveAll(work)
}

// placeFiles copies the host binaries, CNI plugins and runtime .debs into the bundle layout.
func placeFiles(bundleDir string, bin func(string) string, debDir string, runtime []Deb) error {
	for _, d := range []string{DirBin, DirCNI, DirDebs, DirManifests} {
		if err := os.MkdirAll(filepath.Join(bundleDir, d), 0o755); err != nil {
			return err
		}
	}
	// promtool stays in the Prometheus image only: bin/ is uploaded to every host, and no host
	// needs 57 MiB of config checker.
	for _, n := range []string{"kubeadm", "kubelet", "kubectl", "crictl"} {
		if err := copyFile(bin(n), filepath.Join(bundleDir, DirBin, n), 0o755); err != nil {
			return err
		}
	}
	for _, n := range []string{"bridge", "host-local", "loopback", "portmap", "flannel"} {
		if err := copyFile(bin(n), filepath.Join(bundleDir, DirCNI, n), 0o755); err != nil {
			return err
		}
	}
	for _, d := range runtime {
		f, err := debFile(debDir, d)
		if err != nil {
			return err
		}
		if err := copyFile(filepath.Join(debDir, f), filepath.Join(bundleDir, DirDebs, f), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func flannelImage(version string) string { return "ghcr.io/flannel-io/flannel:" + version }

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".partial"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, mode)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return os.Rename(tmp, dst)
}

func sameDir(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// removePartials deletes files an interrupted copy or image write left behind, so they are
// neither indexed nor mistaken for finished outputs.
func removePartials(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".partial") {
			err = os.Remove(p)
		}
		return err
	})
}

// clearBundle removes a previous bundle at dir (only if it has a manifest.json: never a
// directory meshlab did not write), so a copy into it leaves no stale files behind.
func clearBundle(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err != nil {
		return nil
	}
	for _, d := range []string{ManifestName, DirBin, DirCNI, DirImages, DirDebs, DirManifests} {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies the bundle's files (as its manifest lists them) and the manifest to dst.
func copyTree(src, dst string) error {
	m, err := Read(src)
	if err != nil {
		return err
	}
	if err := clearBundle(dst); err != nil {
		return err
	}
	for _, f := range append(m.Files, File{Path: ManifestName, Mode: 0o644}) {
		to := filepath.Join(dst, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err := copyFile(filepath.Join(src, filepath.FromSlash(f.Path)), to, os.FileMode(f.Mode)); err != nil {
			return err
		}
	}
	return nil
}

// stripV turns "3.6.5-0" into "v3.6.5": etcd's image tag carries a build suffix.
func stripV(tag string) string {
	if i := strings.IndexByte(tag, '-'); i >= 0 {
		tag = tag[:i]
	}
	return "v" + strings.TrimPrefix(tag, "v")
}
