package install_test

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/internal/image"
	"github.com/meshlab/meshlab/mesh/inject"
	"github.com/meshlab/meshlab/mesh/install"
	"github.com/meshlab/meshlab/provision/transport"
)

// buildTestImage packs this test binary (any file will do) as the meshlab image.
func buildTestImage(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "meshlab.tar")
	if err := install.BuildImage(install.ImageSpec{Binary: self, ProxyBinary: self, Ref: inject.Image("test"), TarPath: tarPath, WorkDir: dir}); err != nil {
		t.Fatal(err)
	}
	return tarPath
}

func TestBuildImage(t *testing.T) {
	tarPath := buildTestImage(t)
	img, err := image.ReadTarball(tarPath, inject.Image("test"))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Fatalf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != inject.BinaryPath {
		t.Fatalf("entrypoint %v, want [%s]", cf.Config.Entrypoint, inject.BinaryPath)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d (%v), want one: FROM scratch plus the binary", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var tmpMode int64 = -1
	proxy := false
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Name == "tmp/" {
			tmpMode = h.Mode
		}
		proxy = proxy || h.Name == strings.TrimPrefix(inject.ProxyBinaryPath, "/")
	}
	if !proxy {
		t.Errorf("the image has no %s: injected sidecars could not start", inject.ProxyBinaryPath)
	}
	if tmpMode != 0o1777 {
		t.Fatalf("/tmp mode %o in the image, want 1777 (processes use os.TempDir)", tmpMode)
	}
}

// TestSideLoadOverLocalTransport runs the real upload and command through the local transport;
// `ctr` is a stand-in on PATH that checks the archive and records its arguments, because a
// containerd is not something a unit test may start.
func TestSideLoadOverLocalTransport(t *testing.T) {
	tarPath := buildTestImage(t)
	bin := t.TempDir()
	record := filepath.Join(bin, "ctr.args")
	stub := "#!/bin/sh\nfor a; do last=$a; done\ntar tf \"$last\" >/dev/null || exit 3\nprintf '%s ' \"$@\" > " + record + "\n"
	if err := os.WriteFile(filepath.Join(bin, "ctr"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	node := transport.NewLocal("node-1", transport.SudoAuto, "")
	for _, d := range []string{filepath.Dir(install.RemoteImageDir), install.RemoteImageDir} {
		if _, err := os.Stat(d); os.IsNotExist(err) {
			t.Cleanup(func() { os.Remove(d) }) // folders this test made (cleanups run in reverse)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var done []string
	if err := install.SideLoad(ctx, []transport.Transport{node}, tarPath, func(n string) { done = append(done, n) }); err != nil {
		t.Fatal(err)
	}
	args, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(args), "-n k8s.io images import --all-platforms "+install.RemoteImageDir+"/meshlab-image-") {
		t.Fatalf("ctr called with %q", args)
	}
	remote := strings.Fields(string(args))[5]
	if st, err := os.Stat(install.RemoteImageDir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("staging folder %s: %v, mode %v (want root's only)", install.RemoteImageDir, err, st.Mode())
	}
	if _, err := os.Stat(remote); !os.IsNotExist(err) {
		t.Fatalf("uploaded archive %s not removed after import (%v)", remote, err)
	}
	if len(done) != 1 || done[0] != "node-1" {
		t.Fatalf("reported %v", done)
	}
}
