package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/provision/versions"
)

func init() {
	registerIn("cluster", newClusterBundleCmd)
}

func newClusterBundleCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "bundle",
		Short: "Build or verify the offline bundle (Kubernetes binaries, images, CNI, .debs)",
	}
	c.AddCommand(newBundleBuildCmd(g), newBundleVerifyCmd(g))
	return c
}

type bundleBuildOptions struct {
	out           string
	fromSource    bool
	sourceDir     string
	cacheRoot     string
	arch          string
	allowUnpinned bool

	mirrors      []string // UPSTREAM=URL
	mirrorsOnly  bool
	skipImages   []string
	runtimeDebs  bool
	fallback     bool
	probeTimeout time.Duration
}

// Seams for the command's tests: the probe's targets and the source build (tens of minutes).
var (
	probeURLs       = bundle.ProbeURLs
	buildFromSource = bundle.BuildFromSource
)

func newBundleBuildCmd(g *globalOptions) *cobra.Command {
	o := bundleBuildOptions{}
	c := &cobra.Command{
		Use:   "build --out DIR",
		Short: "Create an offline bundle: from upstream downloads and registries, or --from-source on this machine",
		Long: `Create an offline bundle for 'meshlab up --bundle DIR'.

By default the pinned release files are downloaded and checked against the sha256 digests in
the pinned-versions table, every image the lab runs is pulled under its upstream name (each
tag resolved to a digest once, recorded in manifest.json, and pulled by digest from then on;
every blob is checked against its digest), and the Debian 12 runtime .debs are fetched with
apt-get download. --registry-mirror pulls an upstream registry's images through a mirror.

With --from-source everything is built here from pinned source (Go module proxy, Debian's
archive and the npm registry only): Kubernetes, etcd, CoreDNS, Flannel, crictl, CNI plugins,
Prometheus and Jaeger as static binaries, Prometheus's web UI with npm from the lockfile in its
module, their images with go-containerregistry, and the runtime .debs with apt-get download.
Outputs are cached by version under $MESHLAB_CACHE/bundle (default /var/cache/meshlab/bundle),
so a second build takes seconds.

--fallback-from-source first asks every upstream host the online build needs (a few seconds at
most) and builds from source instead when one does not answer, saying which and why.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, g) },
	}
	f := c.Flags()
	f.StringVar(&o.out, "out", "", "bundle directory to write")
	f.BoolVar(&o.fromSource, "from-source", false, "build everything here from pinned source instead of downloading releases")
	f.StringVar(&o.sourceDir, "source-dir", "tools/k8sbuild", "with --from-source: the component modules (tools/k8sbuild of the meshlab checkout)")
	f.StringVar(&o.cacheRoot, "cache", "", "cache root (default $MESHLAB_CACHE/bundle or /var/cache/meshlab/bundle)")
	f.StringVar(&o.arch, "arch", "amd64", "architecture of the downloaded release files and pulled images")
	f.BoolVar(&o.allowUnpinned, "allow-unpinned", false, "accept downloads that have no pinned sha256 (records the digest received)")
	f.StringArrayVar(&o.mirrors, "registry-mirror", nil, "`UPSTREAM=URL`: pull UPSTREAM's images (registry.k8s.io, docker.io, ghcr.io) through this mirror, as the hosts file's mirrors.registries (repeatable)")
	f.BoolVar(&o.mirrorsOnly, "mirrors-only", false, "refuse to pull from a registry that has no --registry-mirror")
	f.StringSliceVar(&o.skipImages, "skip-image", nil, "leave these image references out of the bundle (up skips the addons that need them)")
	f.BoolVar(&o.runtimeDebs, "runtime-debs", true, "fetch the Debian 12 runtime .debs with apt-get download (for hosts without apt access)")
	f.BoolVar(&o.fallback, "fallback-from-source", false, "probe the upstream hosts first and build --from-source when one does not answer")
	f.DurationVar(&o.probeTimeout, "probe-timeout", bundle.DefaultProbeTimeout, "with --fallback-from-source: how long the upstream hosts get to answer")
	return c
}

func (o *bundleBuildOptions) run(cmd *cobra.Command, g *globalOptions) error {
	if o.out == "" {
		return badInput(errors.New("--out DIR is required"))
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	if o.fromSource {
		return o.buildFromSource(cmd, g, log)
	}
	set := versions.Default()
	dls, err := set.Downloads(o.arch)
	if err != nil {
		return badInput(err)
	}
	puller, err := o.puller()
	if err != nil {
		return badInput(err)
	}
	images := o.images(set)
	if o.fallback {
		urls := probeURLs(dls, images, puller)
		if err := bundle.Probe(cmd.Context(), nil, urls, o.probeTimeout); err != nil {
			log.Warn("the online build cannot reach what it needs: building the bundle from source instead", "why", err)
			return o.buildFromSource(cmd, g, log)
		}
		log.Info("every upstream host answered: building the online bundle", "hosts", strings.Join(urls, " "))
	}
	for _, u := range bundle.Unpinned(dls) {
		log.Warn("unpinned download", "file", u)
	}
	if len(images) > 0 {
		log.Info("images are pinned by tag (the versions table has no image digests): each tag's digest is recorded in manifest.json at its first pull, and pulled by digest from then on",
			"images", len(images))
	}
	start := time.Now()
	oo := bundle.OnlineOptions{
		Out: o.out, Downloads: dls, AllowUnpinned: o.allowUnpinned, Logger: log,
		Versions: onlineVersions(set), Images: images, Puller: puller,
	}
	if o.runtimeDebs {
		oo.Debs = bundle.RuntimeDebs(set)
		oo.DebCache = filepath.Join(o.cache(), "debs-download")
	}
	m, err := bundle.BuildOnline(cmd.Context(), oo)
	if err != nil {
		return err
	}
	log.Info("online bundle ready", "dir", o.out, "images", len(m.Images), "took", time.Since(start).Round(time.Millisecond))
	return printBundle(cmd, g, o.out, m, "written")
}

func (o *bundleBuildOptions) cache() string {
	if o.cacheRoot != "" {
		return o.cacheRoot
	}
	return bundle.DefaultCacheRoot(os.Getenv)
}

func (o *bundleBuildOptions) buildFromSource(cmd *cobra.Command, g *globalOptions, log *slog.Logger) error {
	if st, err := os.Stat(o.sourceDir); err != nil || !st.IsDir() {
		return badInput(fmt.Errorf("--source-dir %s: not a directory (run from the meshlab checkout or pass the path of tools/k8sbuild)", o.sourceDir))
	}
	start := time.Now()
	res, err := buildFromSource(cmd.Context(), bundle.SourceOptions{
		SourceDir: o.sourceDir, CacheRoot: o.cache(), Out: o.out, Versions: versions.Default(), Logger: log,
	})
	if err != nil {
		return err
	}
	log.Info("bundle ready", "dir", res.Dir, "cache", res.CacheDir, "cached", res.Cached,
		"took", time.Since(start).Round(time.Millisecond))
	return printBundle(cmd, g, o.out, res.Manifest, "written")
}

// puller reads --registry-mirror UPSTREAM=URL, each URL in the hosts file's form.
func (o *bundleBuildOptions) puller() (bundle.Puller, error) {
	p := bundle.Puller{Mirrors: map[string]string{}, MirrorsOnly: o.mirrorsOnly}
	for _, m := range o.mirrors {
		up, u, ok := strings.Cut(m, "=")
		parsed, err := url.Parse(u)
		if !ok || up == "" || err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			return p, fmt.Errorf("--registry-mirror %q: want UPSTREAM=URL, e.g. registry.k8s.io=http://10.0.0.1:5000/v2/registry.k8s.io", m)
		}
		p.Mirrors[up] = u
	}
	if o.arch != "" {
		p.Platform = v1.Platform{OS: "linux", Architecture: o.arch}
	}
	return p, nil
}

// images are the lab's images without --skip-image ones.
func (o *bundleBuildOptions) images(set versions.Set) []string {
	var out []string
	for _, ref := range set.LabImages() {
		if !slices.Contains(o.skipImages, ref) {
			out = append(out, ref)
		}
	}
	return out
}

// onlineVersions are the pins an online bundle records.
func onlineVersions(s versions.Set) map[string]string {
	return map[string]string{
		"kubernetes": s.Kubernetes.Version, "crictl": s.Crictl, "cni-plugins": s.CNIPlugins,
		"flannel": s.Flannel.Version, "image-flannel": s.Flannel.Image, "image-flannel-cni-plugin": s.Flannel.CNIPlugin,
		"image-pause": s.Images.Pause, "image-etcd": s.Images.Etcd, "image-coredns": s.Images.CoreDNS,
		"debian-containerd": s.DebianRuntime.Containerd, "debian-runc": s.DebianRuntime.Runc,
		"bookinfo": s.Bookinfo.Tag,
	}
}

func newBundleVerifyCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "verify DIR",
		Short: "Check every file of a bundle against the sha256 in its manifest.json",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := bundle.Verify(args[0])
			if err != nil {
				return err
			}
			return printBundle(cmd, g, args[0], m, "verified")
		},
	}
}

// printBundle reports a bundle; status says what was done to it ("written", "verified").
func printBundle(cmd *cobra.Command, g *globalOptions, dir string, m *bundle.Manifest, status string) error {
	w := cmd.OutOrStdout()
	if g.output == "json" {
		return json.NewEncoder(w).Encode(struct {
			Dir      string           `json:"dir"`
			Status   string           `json:"status"`
			Manifest *bundle.Manifest `json:"manifest"`
		}{dir, status, m})
	}
	var size int64
	for _, f := range m.Files {
		size += f.Size
	}
	fmt.Fprintf(w, "bundle %s %s: %d files, %.1f MiB (sha256 of each in manifest.json)\n",
		dir, status, len(m.Files), float64(size)/(1<<20))
	keys := make([]string, 0, len(m.Versions))
	for k := range m.Versions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %-20s %s\n", k, m.Versions[k])
	}
	return nil
}
