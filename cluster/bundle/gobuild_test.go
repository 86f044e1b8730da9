package bundle

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestResolveModuleWithEmptyModuleCache is the fresh-machine case: with nothing in the module
// cache, `go list -m` knows the flannel module's version but not its directory, and the bundle
// build read Documentation/kube-flannel.yml relative to the working directory and failed
// ("open Documentation/kube-flannel.yml: no such file or directory"). resolveModule must fetch
// the module and name a directory that holds the file. It downloads flannel's go.mod graph and
// its source zip from the Go module proxy into a temporary cache.
func TestResolveModuleWithEmptyModuleCache(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads the flannel module from the Go module proxy (a few MB); not in -short")
	}
	modcache := t.TempDir()
	// The module cache is read-only by design; make it removable for t.TempDir's clean-up.
	t.Cleanup(func() {
		filepath.WalkDir(modcache, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	t.Setenv("GOMODCACHE", modcache)
	t.Setenv("GOFLAGS", "")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := resolveModule(ctx, "../../tools/k8sbuild/flannel", "github.com/flannel-io/flannel")
	if err != nil {
		t.Fatalf("resolveModule with an empty module cache: %v", err)
	}
	if r.Dir == "" || !filepath.IsAbs(r.Dir) {
		t.Fatalf("resolveModule gave Dir %q; want the module's absolute source directory", r.Dir)
	}
	rel, err := filepath.Rel(modcache, r.Dir)
	if err != nil || !filepath.IsLocal(rel) {
		t.Errorf("Dir %s is not in the (empty) module cache %s", r.Dir, modcache)
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "Documentation", "kube-flannel.yml")); err != nil {
		t.Errorf("the manifest the bundle reads is not where resolveModule says: %v", err)
	}
}
