package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/meshlab/meshlab/provision/versions"
)

// recipe changes whenever the driver builds differently from the same inputs (flags, layout,
// image contents), so that old cache entries are not reused.
const recipe = "meshlab-bundle-recipe-3"

// pinSet holds the versions the component go.mod files resolve to.
type pinSet struct {
	byDir      map[string]string   // component Dir → release version (the module's, mapped by Release)
	modules    map[string]resolved // component Dir → module version and source in the module cache
	Kubernetes string
	Flannel    string
	Pause      string // tag of the pause image, the version stamped into meshlab's pause
}

func (p pinSet) version(c component) string {
	if c.Module == "" {
		return p.Pause
	}
	return p.byDir[c.Dir]
}

func (p pinSet) versionsMap(s versions.Set) map[string]string {
	return map[string]string{
		"kubernetes":          p.Kubernetes,
		"etcd":                p.byDir["etcd"],
		"coredns":             p.byDir["coredns"],
		"pause":               p.Pause,
		"flannel":             p.Flannel,
		"crictl":              p.byDir["critools"],
		"cni-plugins":         p.byDir["cni"],
		"cni-plugin-flannel":  p.byDir["cniflannel"],
		"debian-containerd":   s.DebianRuntime.Containerd,
		"debian-runc":         s.DebianRuntime.Runc,
		"image-pause":         s.Images.Pause,
		"image-etcd":          s.Images.Etcd,
		"image-coredns":       s.Images.CoreDNS,
		"image-flannel":       flannelImage(p.Flannel),
		"prometheus":          p.byDir["prometheus"],
		"jaeger":              p.byDir["jaeger"],
		"image-prometheus":    s.Addons.Prometheus,
		"image-jaeger":        s.Addons.Jaeger,
		"kubernetes-platform": "linux/amd64",
	}
}

// resolvePins reads each component's module version and checks it against the pinned set.
// What kubeadm insists on (Kubernetes, etcd, CoreDNS) must match exactly: a mismatch is an
// error naming both versions. So must the addon images (Prometheus, Jaeger): the bundle tags
// them with the table's reference, which would otherwise name a release they are not. Versions
// only meshlab's table cares about (Flannel, crictl, CNI plugins) are warnings, because the
// module proxy may not serve the table's release.
func resolvePins(ctx context.Context, srcDir string, s versions.Set) (pinSet, []string, error) {
	p := pinSet{byDir: map[string]string{}, modules: map[string]resolved{}, Pause: tagOf(s.Images.Pause)}
	var errs, warns []string
	for _, c := range components() {
		if c.Module == "" {
			continue
		}
		r, err := resolveModule(ctx, filepath.Join(srcDir, c.Dir), c.Module)
		if err != nil {
			return p, nil, fmt.Errorf("bundle: pins: %w", err)
		}
		p.byDir[c.Dir] = c.release(r.Version)
		p.modules[c.Dir] = r
		if c.Dir == "flannel" {
			p.Flannel = r.Version
		}
	}
	p.Kubernetes = p.byDir["kubernetes"]
	check := func(what, got, want string, strict bool) {
		if got == want {
			return
		}
		msg := fmt.Sprintf("%s: tools/k8sbuild builds %s but the pinned-versions table says %s", what, got, want)
		if strict {
			errs = append(errs, msg)
		} else {
			warns = append(warns, msg)
		}
	}
	check("kubernetes", p.Kubernetes, s.Kubernetes.Version, true)
	check("etcd", p.byDir["etcd"], stripV(tagOf(s.Images.Etcd)), true)
	check("coredns", p.byDir["coredns"], tagOf(s.Images.CoreDNS), true)
	check("prometheus", p.byDir["prometheus"], "v"+strings.TrimPrefix(tagOf(s.Addons.Prometheus), "v"), true)
	check("jaeger", p.byDir["jaeger"], "v"+strings.TrimPrefix(tagOf(s.Addons.Jaeger), "v"), true)
	if !strings.Contains(s.Addons.Jaeger, jaegerAllInOne) {
		errs = append(errs, fmt.Sprintf("jaeger: tools/k8sbuild builds Jaeger v1's all-in-one, so the addons.jaeger pin "+
			"must be a %s image (the chart's v1 flags), not %s", jaegerAllInOne, s.Addons.Jaeger))
	}
	check("flannel", p.Flannel, s.Flannel.Version, false)
	check("crictl", p.byDir["critools"], s.Crictl, false)
	check("cni-plugins", p.byDir["cni"], s.CNIPlugins, false)
	if len(errs) > 0 {
		return p, warns, fmt.Errorf("bundle: pins disagree:\n  %s", strings.Join(errs, "\n  "))
	}
	return p, warns, nil
}

// cacheKey hashes every input of a build: the recipe, the Go toolchain, the go.mod, go.sum and
// .go files under srcDir, the resolved pins, the Debian pins and the web UI builds' own keys
// (their lockfiles and Node and npm versions).
func cacheKey(ctx context.Context, srcDir string, p pinSet, s versions.Set, uis []*uiBuild) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, recipe)
	gov, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("bundle: go env GOVERSION: %w", err)
	}
	fmt.Fprintf(h, "go=%s", gov)
	var files []string
	// Only what go build reads: editing build.sh or a README must not throw the cache away.
	err = filepath.WalkDir(srcDir, func(path string, d fs.DirEntry, err error) error {
		n := d.Name()
		if err == nil && d.Type().IsRegular() && (n == "go.mod" || n == "go.sum" || strings.HasSuffix(n, ".go")) {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("bundle: cache key: %w", err)
	}
	sort.Strings(files)
	for _, f := range files {
		rel, _ := filepath.Rel(srcDir, f)
		fmt.Fprintf(h, "file=%s\n", filepath.ToSlash(rel))
		if err := hashFile(h, f); err != nil {
			return "", fmt.Errorf("bundle: cache key: %w", err)
		}
	}
	vm := p.versionsMap(s)
	keys := make([]string, 0, len(vm))
	for k := range vm {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "pin %s=%s\n", k, vm[k])
	}
	for _, d := range append(RuntimeDebs(s), netfilterDebs()...) {
		fmt.Fprintf(h, "deb %s\n", d)
	}
	for _, u := range uis {
		fmt.Fprintf(h, "webui %s\n", u.Key)
	}
	return p.Kubernetes + "-" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

func hashFile(w io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
