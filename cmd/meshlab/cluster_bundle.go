package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"time"

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
}

func newBundleBuildCmd(g *globalOptions) *cobra.Command {
	o := bundleBuildOptions{}
	c := &cobra.Command{
		Use:   "build --out DIR",
		Short: "Create an offline bundle: from upstream downloads, or --from-source on this machine",
		Long: `Create an offline bundle for 'meshlab up --bundle DIR'.

By default the pinned release files are downloaded and checked against the sha256 digests in
the pinned-versions table. With --from-source everything is built here from pinned source
(Go module proxy, Debian's archive and the npm registry only): Kubernetes, etcd, CoreDNS,
Flannel, crictl, CNI plugins, Prometheus and Jaeger as static binaries, Prometheus's web UI
with npm from the lockfile in its module, their images with go-containerregistry, and the
runtime .debs with apt-get download. Outputs are cached by version under $MESHLAB_CACHE/bundle
(default /var/cache/meshlab/bundle), so a second build takes seconds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.out == "" {
				return badInput(errors.New("--out DIR is required"))
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			start := time.Now()
			var m *bundle.Manifest
			if o.fromSource {
				if st, err := os.Stat(o.sourceDir); err != nil || !st.IsDir() {
					return badInput(fmt.Errorf("--source-dir %s: not a directory (run from the meshlab checkout or pass the path of tools/k8sbuild)", o.sourceDir))
				}
				cache := o.cacheRoot
				if cache == "" {
					cache = bundle.DefaultCacheRoot(os.Getenv)
				}
				res, err := bundle.BuildFromSource(cmd.Context(), bundle.SourceOptions{
					SourceDir: o.sourceDir, CacheRoot: cache, Out: o.out, Versions: versions.Default(), Logger: log,
				})
				if err != nil {
					return err
				}
				m = res.Manifest
				log.Info("bundle ready", "dir", res.Dir, "cache", res.CacheDir, "cached", res.Cached,
					"took", time.Since(start).Round(time.Millisecond))
			} else {
				dls, err := versions.Default().Downloads(o.arch)
				if err != nil {
					return badInput(err)
				}
				for _, u := range bundle.Unpinned(dls) {
					log.Warn("unpinned download", "file", u)
				}
				m, err = bundle.BuildOnline(cmd.Context(), bundle.OnlineOptions{
					Out: o.out, Downloads: dls, AllowUnpinned: o.allowUnpinned, Logger: log,
					Versions: map[string]string{"kubernetes": versions.Default().Kubernetes.Version},
				})
				if err != nil {
					return err
				}
			}
			return printBundle(cmd, g, o.out, m, "written")
		},
	}
	f := c.Flags()
	f.StringVar(&o.out, "out", "", "bundle directory to write")
	f.BoolVar(&o.fromSource, "from-source", false, "build everything here from pinned source instead of downloading releases")
	f.StringVar(&o.sourceDir, "source-dir", "tools/k8sbuild", "with --from-source: the component modules (tools/k8sbuild of the meshlab checkout)")
	f.StringVar(&o.cacheRoot, "cache", "", "with --from-source: cache root (default $MESHLAB_CACHE/bundle or /var/cache/meshlab/bundle)")
	f.StringVar(&o.arch, "arch", "amd64", "architecture of the downloaded release files")
	f.BoolVar(&o.allowUnpinned, "allow-unpinned", false, "accept downloads that have no pinned sha256 (records the digest received)")
	return c
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
