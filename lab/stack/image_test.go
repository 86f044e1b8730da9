package stack

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/meshlab/meshlab/internal/image"
	"github.com/meshlab/meshlab/mesh/inject"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/transport"
)

// netfilterCache returns a cache folder for the netfilter layer, seeded with the .debs of a
// bundle build on this machine when there is one (else NetfilterLayer fetches them with
// apt-get download from Debian's archive).
func netfilterCache(t *testing.T) string {
	t.Helper()
	for _, bin := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s (Debian) to build the netfilter layer", bin)
		}
	}
	dir := t.TempDir()
	debs := filepath.Join(dir, "debs-download")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		t.Fatal(err)
	}
	found, _ := filepath.Glob("/var/cache/meshlab/bundle/*/debs-download/*.deb")
	for _, f := range found {
		_ = os.Symlink(f, filepath.Join(debs, filepath.Base(f)))
	}
	return dir
}

// layerFiles lists every path in the image's layers, without the leading "/" or "./".
func layerFiles(t *testing.T, tarPath, ref string) (map[string]bool, v1.Image) {
	t.Helper()
	img, err := image.ReadTarball(tarPath, ref)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")] = true
		}
		rc.Close()
	}
	return files, img
}

// TestImageOnTheNetfilterLayer builds the real image from this test binary: the netfilter
// layer from real Debian packages underneath, the binary on top.
func TestImageOnTheNetfilterLayer(t *testing.T) {
	cache := netfilterCache(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "meshlab.tar")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ref := inject.Image("test")
	if err := BuildImage(ctx, self, self, ref, cache, out); err != nil {
		t.Fatal(err)
	}
	files, img := layerFiles(t, out, ref)
	for _, want := range []string{"usr/local/bin/meshlab", "usr/local/bin/meshlab-proxy", "usr/sbin/iptables-restore", "usr/sbin/ip6tables-restore", "usr/sbin/xtables-nft-multi"} {
		if !files[want] {
			t.Errorf("image lacks /%s", want)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != inject.BinaryPath {
		t.Errorf("entrypoint %v, want [%s]", cf.Config.Entrypoint, inject.BinaryPath)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
		t.Errorf("the build left %d entries beside the tarball", len(entries)-1)
	}
}

// TestSideLoadOverLocalTransport runs the side-load phase's real commands through the local
// transport. `ctr` is a stand-in on PATH that checks the archive and remembers the import,
// because a containerd is not something a unit test may start.
func TestSideLoadOverLocalTransport(t *testing.T) {
	ps, p, _ := newTestPlan(t, nil)
	_, tarPath, _ := p.imageTarball()
	if err := os.WriteFile(tarPath, tarOf(t), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	p.markerPath = filepath.Join(bin, "state", "meshlab-image")
	imported := filepath.Join(bin, "imported")
	stub := `#!/bin/sh
case "$*" in
*"images import"*) for a; do last=$a; done; tar tf "$last" >/dev/null || exit 3; echo ` + p.image() + ` > ` + imported + ` ;;
*"images ls"*) cat ` + imported + ` 2>/dev/null ;;
*) exit 9 ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "ctr"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for round, want := range []string{"task.done", "task.skip"} {
		rec := &recorder{}
		r := &engine.Run{Action: "up", Sink: rec, Hosts: []*engine.Host{{Name: "node-1", Transport: transport.NewLocal("node-1", transport.SudoAuto, "")}}}
		if err := engine.Execute(ctx, r, engine.Phases{ps[1]}); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		got := rec.tasks("mesh-image-load")
		if len(got) == 0 || !strings.HasPrefix(got[len(got)-1], want) {
			t.Fatalf("round %d: %v, want %s last", round, got, want)
		}
	}
	if m, err := os.ReadFile(p.markerPath); err != nil || strings.TrimSpace(string(m)) != filepath.Base(tarPath) {
		t.Fatalf("marker %q, %v", m, err)
	}
}

// tarOf is a one-file tar archive, enough for the stand-in ctr's `tar tf`.
func tarOf(t *testing.T) []byte {
	t.Helper()
	var b strings.Builder
	w := tar.NewWriter(&b)
	if err := w.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: 2}); err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte("[]"))
	_ = w.Close()
	return []byte(b.String())
}
